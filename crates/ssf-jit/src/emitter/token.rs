//! The bearer token for `POST /events`: a static token, or an OAuth 2.0 client-credentials
//! token ([RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)) from the
//! transmitter's token endpoint, cached and renewed before it expires.

use std::{fmt, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ssf_http::{
    GuardedClient, Url,
    reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue},
};
use ssf_types::UnixMillis;
use ssf_types::secret::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::{config::EmitterConfig, error::JitError};

/// Why no token could be had.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The endpoint is unreachable or answered 5xx: try again later.
    Unavailable(String),
    /// The endpoint refused the client (4xx): the configuration needs fixing. Still retried
    /// later, so queued events go out once it is fixed.
    Refused(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "token endpoint unavailable: {why}"),
            Self::Refused(why) => write!(f, "token endpoint refused the client: {why}"),
        }
    }
}

/// Where tokens come from.
pub(crate) enum TokenSource {
    /// A fixed token.
    Static(SecretString),
    /// Client credentials against a token endpoint.
    ClientCredentials(Box<ClientCredentials>),
}

/// The client-credentials source and its cached token.
pub(crate) struct ClientCredentials {
    url: Url,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    refresh_before: Duration,
    cached: Mutex<Option<(SecretString, UnixMillis)>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(_) => f.write_str("TokenSource::Static([redacted])"),
            Self::ClientCredentials(c) => f
                .debug_struct("TokenSource::ClientCredentials")
                .field("url", &c.url.as_str())
                .field("client_id", &c.client_id)
                .field("scope", &c.scope)
                .finish_non_exhaustive(),
        }
    }
}

impl TokenSource {
    /// The source the configuration describes.
    pub(crate) fn from_config(config: &EmitterConfig) -> Result<Self, JitError> {
        if let Some(token) = &config.static_token {
            return Ok(Self::Static(token.clone()));
        }
        match (&config.token_url, &config.client_id, &config.client_secret) {
            (Some(url), Some(client_id), Some(secret)) => {
                Ok(Self::ClientCredentials(Box::new(ClientCredentials {
                    url: Url::parse(url)
                        .map_err(|e| JitError::Config(format!("jit.emitter.token_url: {e}")))?,
                    client_id: client_id.clone(),
                    client_secret: secret.clone(),
                    scope: config.scope.clone(),
                    refresh_before: config.refresh_before,
                    cached: Mutex::new(None),
                })))
            }
            _ => Err(JitError::Config(
                "jit.emitter: set static_token, or token_url, client_id and client_secret"
                    .to_owned(),
            )),
        }
    }

    /// A token valid at `now` (fetched if the cached one is missing or about to expire).
    pub(crate) async fn get(
        &self,
        client: &GuardedClient,
        now: UnixMillis,
    ) -> Result<SecretString, TokenError> {
        let c = match self {
            Self::Static(token) => return Ok(token.clone()),
            Self::ClientCredentials(c) => c,
        };
        let (url, client_id, client_secret, scope, refresh_before, cached) = (
            &c.url,
            &c.client_id,
            &c.client_secret,
            &c.scope,
            &c.refresh_before,
            &c.cached,
        );
        let mut cached = cached.lock().await;
        let margin = i64::try_from(refresh_before.as_millis()).unwrap_or(i64::MAX);
        if let Some((token, expires_at)) = cached.as_ref()
            && now.plus_millis(margin) < *expires_at
        {
            return Ok(token.clone());
        }
        let (token, expires_in) = fetch(client, url, client_id, client_secret, scope).await?;
        let lifetime = i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX);
        *cached = Some((token.clone(), now.plus_millis(lifetime)));
        tracing::debug!(
            client_id,
            expires_in_secs = expires_in.as_secs(),
            "access token obtained"
        );
        Ok(token)
    }

    /// Forgets the cached token (after a `401`).
    pub(crate) async fn invalidate(&self) {
        if let Self::ClientCredentials(c) = self {
            *c.cached.lock().await = None;
        }
    }
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn fetch(
    client: &GuardedClient,
    url: &Url,
    client_id: &str,
    secret: &SecretString,
    scope: &str,
) -> Result<(SecretString, Duration), TokenError> {
    let form = {
        // Not `Send`: finished before any await.
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if !scope.is_empty() {
            form.append_pair("scope", scope);
        }
        form.finish()
    };
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
    let basic = STANDARD.encode(format!(
        "{}:{}",
        form_encode(client_id),
        form_encode(secret.expose_secret())
    ));
    let auth = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
        TokenError::Refused("client credentials are not a valid header value".to_owned())
    })?;
    let request = client
        .post(url.clone())
        .map_err(|e| TokenError::Unavailable(e.to_string()))?
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .authorization(auth)
        .body(form);
    let response = request
        .send()
        .await
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    let status = response.status();
    let body = ssf_http::read_body_limited(response, 64 * 1024)
        .await
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(TokenError::Unavailable(format!(
            "token endpoint answered {status}"
        )));
    }
    if !status.is_success() {
        // RFC 6749 §5.2 error codes only; never the secret.
        let code = json
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown");
        return Err(TokenError::Refused(format!(
            "token endpoint answered {status} ({code})"
        )));
    }
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Refused("the token response has no access_token".to_owned()))?;
    let expires_in = json
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(300);
    Ok((
        SecretString::from(token.to_owned()),
        Duration::from_secs(expires_in),
    ))
}
