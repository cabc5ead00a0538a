//! Signing in: the admin credential, the session cookie and the CSRF token of each session.
//!
//! The credential is compared as a SHA-256 digest in constant time (like client secrets). A
//! session is 256 random bits in an `HttpOnly`, `SameSite=Strict` cookie scoped to
//! [`BASE_PATH`](crate::BASE_PATH) (`Secure` under TLS); the server keeps only its digest, so a
//! memory dump does not hand out live sessions. Each session has its own CSRF token that every
//! form carries and every `POST` handler checks ([`Session::check_csrf`]). A wrong credential
//! answers `401`, which `ssf serve`'s authentication throttle counts per address.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use ssf_types::{Clock, UnixMillis, secret::constant_time_eq};

use crate::{ConsoleConfig, ConsoleError, ConsoleState};

/// The session cookie's name.
pub const COOKIE: &str = "ssf_console";
/// Sessions kept at most; beyond, the least recently used is dropped.
const MAX_SESSIONS: usize = 1000;

/// A signed-in operator's session, as handlers see it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Session {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ConsoleError> {
        if constant_time_eq(self.csrf.as_bytes(), sent.as_bytes()) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

#[derive(Debug)]
struct Entry {
    csrf: String,
    created_at: UnixMillis,
    last_seen: UnixMillis,
}

/// The live sessions, by the SHA-256 of their cookie.
#[derive(Debug)]
pub struct Sessions {
    config: ConsoleConfig,
    clock: Arc<dyn Clock>,
    live: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Sessions {
    pub(crate) fn new(config: ConsoleConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            clock,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `token` is the admin credential (hashed like a client secret).
    fn admits(&self, token: &str) -> bool {
        ssf_transmitter::auth::verify_secret(&self.config.admin_token_hash, token.trim())
    }

    /// Starts a session; returns its cookie value.
    fn open(&self) -> String {
        let cookie = hex::encode(rand::random::<[u8; 32]>());
        let now = self.clock.now();
        let entry = Entry {
            csrf: hex::encode(rand::random::<[u8; 32]>()),
            created_at: now,
            last_seen: now,
        };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, e| self.alive(e, now));
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(digest(&cookie), entry);
        cookie
    }

    /// The session of `cookie`, if it is alive; touches it.
    fn find(&self, cookie: &str) -> Option<Session> {
        let now = self.clock.now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let key = digest(cookie);
        let entry = live.get_mut(&key)?;
        if !self.alive(entry, now) {
            live.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(Session {
            csrf: entry.csrf.clone(),
        })
    }

    fn close(&self, cookie: &str) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.remove(&digest(cookie));
    }

    fn alive(&self, entry: &Entry, now: UnixMillis) -> bool {
        let idle = millis(self.config.idle_timeout);
        let max = millis(self.config.max_session);
        now.0 - entry.last_seen.0 < idle && now.0 - entry.created_at.0 < max
    }

    fn set_cookie(&self, value: &str, max_age_secs: u64) -> HeaderValue {
        let secure = if self.config.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        let text = format!(
            "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// The session cookie of a request, if any.
fn cookie_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The middleware of every page but sign-in: a request without a live session is sent to the
/// sign-in page (`GET`) or refused (`POST`); with one, handlers get its [`Session`].
pub(crate) async fn require_session(
    State(state): State<ConsoleState>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = cookie_of(request.headers()).and_then(|c| state.sessions.find(c));
    match session {
        Some(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        None if request.method() == axum::http::Method::GET => {
            let back = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let next = crate::pages::encode(&back);
            Redirect::to(&format!("/console/sign-in?next={next}")).into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Html("Your console session has ended: sign in again."),
        )
            .into_response(),
    }
}

/// Only a console path may be the page to come back to (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.contains("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    next: String,
    error: Option<&'static str>,
}

/// `?next=` of the sign-in page.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// `GET /console/sign-in`.
pub(crate) async fn sign_in_page(Query(q): Query<NextQuery>) -> Result<Response, ConsoleError> {
    let page = SignInPage {
        next: safe_next(q.next.as_deref()),
        error: None,
    };
    Ok(Html(page.render()?).into_response())
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    token: String,
    next: Option<String>,
}

/// `POST /console/sign-in`: a session for the admin credential, `401` otherwise.
pub(crate) async fn sign_in(
    State(state): State<ConsoleState>,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    let next = safe_next(form.next.as_deref());
    if !state.sessions.admits(&form.token) {
        tracing::warn!("console sign-in with a wrong admin token");
        let page = SignInPage {
            next,
            error: Some("That is not the console's admin token."),
        };
        return Ok((StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response());
    }
    let cookie = state.sessions.open();
    tracing::info!("console sign-in");
    let max_age = state.sessions.config.max_session.as_secs();
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        state.sessions.set_cookie(&cookie, max_age),
    );
    Ok(response)
}

/// The CSRF field every form has.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

/// `POST /console/sign-out`: ends the session.
pub(crate) async fn sign_out(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    if let Some(cookie) = cookie_of(&headers) {
        state.sessions.close(cookie);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.sessions.set_cookie("", 0));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/console/access")), "/console/access");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/");
        assert_eq!(safe_next(Some("/console//evil.example")), "/console/");
        assert_eq!(safe_next(Some("/metrics")), "/console/");
        assert_eq!(safe_next(None), "/console/");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ssf_console=abc; b=2"),
        );
        assert_eq!(cookie_of(&headers), Some("abc"));
    }
}
