//! The guarded reqwest client (rust-stack notes §3.2; checklist PUSH-05, PUSH-18, PUSH-20).

mod resolver;

use std::{error::Error as _, sync::Arc, time::Duration};

use reqwest::{
    Body, Method, Response,
    header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue},
    redirect,
};
use serde::Serialize;
use url::Url;

use crate::{BlockedAddress, ClientConfig, HttpError, UrlError, url_check::redact, validate_url};

/// Builds the shared outbound client: rustls, HTTP/1.1 and HTTP/2, pooled connections, the
/// configured timeouts and TCP keepalive, no redirects, no proxy taken from the environment,
/// and the SSRF-guarding DNS resolver.
///
/// Build one per process and clone it (clones share the pool).
///
/// Redirects are never followed: RFC 8935 gives them no meaning for SET delivery and following
/// one would let a receiver steer the transmitter past the URL checks (checklist PUSH-18). A
/// `3xx` comes back as a response and [`classify_status`](crate::classify_status) calls it a
/// permanent configuration error.
pub fn build_client(config: &ClientConfig) -> Result<GuardedClient, HttpError> {
    let user_agent =
        HeaderValue::from_str(&config.user_agent).map_err(|e| HttpError::InvalidConfig {
            setting: "user_agent",
            reason: e.to_string(),
        })?;
    let config = Arc::new(config.clone());
    let inner = reqwest::Client::builder()
        .tls_backend_rustls()
        .https_only(!config.allow_http)
        .redirect(redirect::Policy::none())
        .no_proxy()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .tcp_keepalive(config.tcp_keepalive)
        .user_agent(user_agent)
        .dns_resolver(resolver::GuardedResolver::new(Arc::clone(&config)))
        .build()
        .map_err(HttpError::Build)?;
    Ok(GuardedClient { inner, config })
}

/// A reqwest client that checks every destination: the URL (scheme, userinfo, IP literal)
/// before the request is built, and every resolved address of a host name in its DNS resolver.
///
/// The inner `reqwest::Client` is not exposed, so a request cannot skip the checks by accident.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    inner: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl GuardedClient {
    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// [`validate_url`] with this client's settings.
    pub fn validate(&self, url: &Url) -> Result<(), UrlError> {
        validate_url(url, &self.config)
    }

    /// Starts a request after checking `url`. The checks apply to IP literals here because the
    /// resolver is not consulted for them.
    pub fn request(&self, method: Method, url: Url) -> Result<GuardedRequest, UrlError> {
        self.validate(&url)?;
        let shown = redact(&url);
        Ok(GuardedRequest {
            inner: self.inner.request(method, url),
            url: shown,
        })
    }

    /// A `GET` request (discovery, JWKS, stream reads).
    pub fn get(&self, url: Url) -> Result<GuardedRequest, UrlError> {
        self.request(Method::GET, url)
    }

    /// A `POST` request (push delivery, RFC 8936 polls, stream management).
    pub fn post(&self, url: Url) -> Result<GuardedRequest, UrlError> {
        self.request(Method::POST, url)
    }
}

/// A request on its way out of a [`GuardedClient`]. Its URL is fixed and already checked.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct GuardedRequest {
    inner: reqwest::RequestBuilder,
    url: String,
}

impl GuardedRequest {
    /// Adds a header (e.g. `Content-Type: application/secevent+jwt` for RFC 8935 §2.1).
    pub fn header(self, name: HeaderName, value: HeaderValue) -> Self {
        Self {
            inner: self.inner.header(name, value),
            ..self
        }
    }

    /// Adds several headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        Self {
            inner: self.inner.headers(headers),
            ..self
        }
    }

    /// Sets `Authorization` to `value`, marked sensitive so it never shows in `Debug` output
    /// (SSF `authorization_header`, checklist PUSH-04).
    pub fn authorization(self, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.header(AUTHORIZATION, value)
    }

    /// Sets the body.
    pub fn body(self, body: impl Into<Body>) -> Self {
        Self {
            inner: self.inner.body(body),
            ..self
        }
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        Self {
            inner: self.inner.json(value),
            ..self
        }
    }

    /// Overrides the client's request timeout for this request (e.g. a long poll).
    pub fn timeout(self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.timeout(timeout),
            ..self
        }
    }

    /// Sends the request. Any status, including `3xx`, `4xx` and `5xx`, is an `Ok` response:
    /// judge it with [`classify_status`](crate::classify_status).
    pub async fn send(self) -> Result<Response, HttpError> {
        self.inner
            .send()
            .await
            .map_err(|source| map_error(self.url, source))
    }
}

/// Reads a response body, refusing more than `limit` bytes, so a hostile peer cannot make the
/// caller buffer an unbounded error body (e.g. the RFC 8935 §2.3 `{"err", "description"}` on 400).
pub async fn read_body_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    let url = redact(response.url());
    let too_large = |url: String| HttpError::BodyTooLarge { url, limit };
    if response
        .content_length()
        .is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large(url));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len().saturating_add(chunk.len()) > limit {
                    return Err(too_large(url));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(source) => return Err(map_error(url, source)),
        }
    }
}

fn map_error(url: String, source: reqwest::Error) -> HttpError {
    if let Some(blocked) = find_blocked(&source) {
        return HttpError::Blocked(blocked.clone());
    }
    if source.is_timeout() {
        HttpError::Timeout { url, source }
    } else if source.is_connect() {
        HttpError::Connect { url, source }
    } else {
        HttpError::Request { url, source }
    }
}

/// The resolver's refusal, wherever reqwest and hyper wrapped it in the source chain.
fn find_blocked(error: &reqwest::Error) -> Option<&BlockedAddress> {
    let mut next = error.source();
    while let Some(e) = next {
        if let Some(blocked) = e.downcast_ref::<BlockedAddress>() {
            return Some(blocked);
        }
        next = e.source();
    }
    None
}
