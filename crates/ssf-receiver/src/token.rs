//! Access tokens for a transmitter's stream management API and poll endpoint
//! ([SSF 1.0 §8](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8),
//! CAEPIOP §2.7).
//!
//! A [`TokenSource`] is either a static bearer token or the OAuth 2.0 client credentials grant
//! ([RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)). Client-credential
//! tokens are cached, renewed shortly before `expires_in` runs out, and re-obtained once when
//! the transmitter answers `401` (conformance `receiver-access-token-expiry`). Concurrent callers
//! share one token request. Tokens only ever travel in the `Authorization` header
//! (RFC 6750 §2.1, SSF-AUTH-08/09) and are [`SecretString`]s everywhere else.

use std::{fmt, sync::Arc, time::Duration};

use base64::Engine as _;
use serde_json::Value;
use ssf_http::{
    GuardedClient, GuardedRequest, Url,
    reqwest::{
        Response, StatusCode,
        header::{ACCEPT, CONTENT_TYPE, HeaderValue},
    },
};
use ssf_types::secret::{ExposeSecret, SecretString};
use ssf_types::{Clock, UnixMillis};
use tokio::sync::Mutex;
use url::form_urlencoded;

use crate::{
    config::{ClientAuthMethod, PeerAuth},
    discovery::{discover_token_endpoint, require_https},
    error::ReceiverError,
    wire::{ACCEPT_JSON, error_from, read_json},
};

/// Lifetime assumed when a token response has no `expires_in` (RFC 6749 §5.1 RECOMMENDED):
/// short, since a `401` re-obtains the token anyway.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Renew at most this long before expiry.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Client credentials for the OAuth 2.0 client credentials grant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The token endpoint.
    pub token_endpoint: Url,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: SecretString,
    /// `scope`, if any.
    pub scope: Option<String>,
    /// How the client authenticates at the token endpoint.
    pub auth_method: ClientAuthMethod,
}

impl ClientCredentials {
    /// Credentials for `token_endpoint` with HTTP Basic client authentication.
    pub fn new(
        token_endpoint: Url,
        client_id: impl Into<String>,
        client_secret: SecretString,
        scope: Option<String>,
    ) -> Self {
        Self {
            token_endpoint,
            client_id: client_id.into(),
            client_secret,
            scope,
            auth_method: ClientAuthMethod::ClientSecretBasic,
        }
    }
}

/// Where access tokens come from. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct TokenSource {
    kind: Arc<Kind>,
}

enum Kind {
    Static(SecretString),
    ClientCredentials(Box<Grant>),
}

struct Grant {
    http: GuardedClient,
    credentials: ClientCredentials,
    clock: Arc<dyn Clock>,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    token: SecretString,
    refresh_at: UnixMillis,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            Kind::Static(_) => f.write_str("TokenSource::Static([REDACTED])"),
            Kind::ClientCredentials(g) => f
                .debug_struct("TokenSource::ClientCredentials")
                .field("token_endpoint", &g.credentials.token_endpoint.as_str())
                .field("client_id", &g.credentials.client_id)
                .finish_non_exhaustive(),
        }
    }
}

impl TokenSource {
    /// A static bearer token issued out of band.
    pub fn bearer(token: SecretString) -> Self {
        Self {
            kind: Arc::new(Kind::Static(token)),
        }
    }

    /// The client credentials grant against `credentials.token_endpoint`, with expiry judged by
    /// `clock`.
    pub fn client_credentials(
        http: GuardedClient,
        credentials: ClientCredentials,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            kind: Arc::new(Kind::ClientCredentials(Box::new(Grant {
                http,
                credentials,
                clock,
                cached: Mutex::new(None),
            }))),
        }
    }

    /// The source a peer's `auth` setting describes. Without a `token_endpoint`, it is
    /// discovered from the RFC 8414 metadata of `authorization_server`, or of `issuer` (the
    /// transmitter's) when that is not set either.
    pub async fn from_config(
        http: &GuardedClient,
        auth: &PeerAuth,
        issuer: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ReceiverError> {
        match auth {
            PeerAuth::Bearer { token } => Ok(Self::bearer(token.clone())),
            PeerAuth::ClientCredentials {
                token_endpoint,
                authorization_server,
                client_id,
                client_secret,
                scope,
                auth_method,
            } => {
                let token_endpoint = match token_endpoint {
                    Some(url) => {
                        require_https(http, url, "token_endpoint")?;
                        crate::wire::parse_url(url, "token_endpoint")?
                    }
                    None => {
                        let server = authorization_server.as_deref().unwrap_or(issuer);
                        discover_token_endpoint(http, server).await?
                    }
                };
                let mut credentials = ClientCredentials::new(
                    token_endpoint,
                    client_id.clone(),
                    client_secret.clone(),
                    scope.clone(),
                );
                credentials.auth_method = *auth_method;
                Ok(Self::client_credentials(http.clone(), credentials, clock))
            }
        }
    }

    /// Whether a rejected token can be replaced by a new one (client credentials).
    pub fn is_refreshable(&self) -> bool {
        matches!(&*self.kind, Kind::ClientCredentials(_))
    }

    /// A token to use now: the static one, or a cached client-credentials token that is not
    /// about to expire, or a new one.
    pub async fn token(&self) -> Result<SecretString, ReceiverError> {
        match &*self.kind {
            Kind::Static(token) => Ok(token.clone()),
            Kind::ClientCredentials(grant) => grant.token(None).await,
        }
    }

    /// After `rejected` got a `401`: forgets it and obtains a new token (unless another caller
    /// already did). `None` for a static token, which cannot be renewed.
    pub async fn renew(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, ReceiverError> {
        match &*self.kind {
            Kind::Static(_) => Ok(None),
            Kind::ClientCredentials(grant) => grant.token(Some(rejected)).await.map(Some),
        }
    }

    /// Sends the request `make` builds with `Authorization: Bearer <token>`; after a `401`,
    /// renews the token and sends it once more (RFC 6750 §3.1 `invalid_token`). The second
    /// answer is returned whatever it is.
    pub async fn send(
        &self,
        make: impl Fn() -> Result<GuardedRequest, ReceiverError>,
    ) -> Result<Response, ReceiverError> {
        let token = self.token().await?;
        let response = make()?.authorization(bearer(&token)?).send().await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(renewed) = self.renew(&token).await? else {
            return Ok(response);
        };
        tracing::info!("access token refused with 401; retrying once with a new token");
        Ok(make()?.authorization(bearer(&renewed)?).send().await?)
    }
}

/// `Bearer <token>` as a header value.
fn bearer(token: &SecretString) -> Result<HeaderValue, ReceiverError> {
    HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
        .map_err(|_| ReceiverError::Token("the token is not a valid header value".into()))
}

impl Grant {
    async fn token(&self, rejected: Option<&SecretString>) -> Result<SecretString, ReceiverError> {
        // One request at a time: concurrent callers wait here and then find the new token.
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(c) = cached.as_ref() {
            let was_rejected =
                rejected.is_some_and(|r| r.expose_secret() == c.token.expose_secret());
            if !was_rejected && now < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        *cached = None;
        let (token, lifetime) = self.request().await?;
        let margin = (lifetime / 5).min(MAX_REFRESH_MARGIN);
        let ahead = i64::try_from((lifetime - margin).as_millis()).unwrap_or(i64::MAX);
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: now.plus_millis(ahead),
        });
        Ok(token)
    }

    /// One token request (RFC 6749 §4.4.2) and its answer (§5.1, §5.2).
    async fn request(&self) -> Result<(SecretString, Duration), ReceiverError> {
        let c = &self.credentials;
        let (form, basic) = token_request_body(c);
        let mut request = self
            .http
            .post(c.token_endpoint.clone())?
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(ACCEPT, ACCEPT_JSON)
            .body(form);
        if let Some(basic) = basic {
            let value = HeaderValue::from_str(basic.expose_secret())
                .map_err(|_| ReceiverError::Token("client credentials are not valid".into()))?;
            request = request.authorization(value);
        }
        let response = request.send().await.inspect_err(|_| count("error"))?;
        if response.status() != StatusCode::OK {
            count("refused");
            let err = error_from(response, "token request", self.clock.now()).await;
            return Err(ReceiverError::Token(Box::new(err)));
        }
        let body = read_json(response, 64 * 1024, "token request").await?;
        let parsed = parse_token_response(&body);
        count(if parsed.is_ok() { "ok" } else { "invalid" });
        parsed
    }
}

/// The form body of a client credentials request and, for `client_secret_basic`, the
/// `Authorization` value: id and secret form-encoded, then base64 (RFC 6749 §2.3.1).
fn token_request_body(c: &ClientCredentials) -> (String, Option<SecretString>) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if let Some(scope) = &c.scope {
        form.append_pair("scope", scope);
    }
    let mut basic = None;
    match c.auth_method {
        ClientAuthMethod::ClientSecretBasic => {
            let user: String = form_urlencoded::byte_serialize(c.client_id.as_bytes()).collect();
            let pass: String =
                form_urlencoded::byte_serialize(c.client_secret.expose_secret().as_bytes())
                    .collect();
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            basic = Some(SecretString::from(format!("Basic {encoded}")));
        }
        ClientAuthMethod::ClientSecretPost => {
            form.append_pair("client_id", &c.client_id);
            form.append_pair("client_secret", c.client_secret.expose_secret());
        }
    }
    (form.finish(), basic)
}

fn count(result: &'static str) {
    metrics::counter!("ssf_receiver_token_requests_total", "result" => result).increment(1);
}

/// `access_token` (required), `token_type` (must be `Bearer`, case-insensitive, RFC 6749 §7.1)
/// and `expires_in` (seconds; a numeric string is tolerated).
fn parse_token_response(body: &Value) -> Result<(SecretString, Duration), ReceiverError> {
    let bad = |what: &str| ReceiverError::Token(format!("the token response {what}").into());
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("has no access_token"))?;
    match body.get("token_type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("bearer") => {}
        None => tracing::warn!("token response without token_type; assuming Bearer"),
        Some(_) => return Err(bad("is not for a Bearer token")),
    }
    let expires_in = match body.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    let lifetime = expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
    Ok((SecretString::from(token.to_owned()), lifetime))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn token_response_rules_rfc6749_5_1() {
        let (t, life) = parse_token_response(
            &json!({"access_token": "abc", "token_type": "bearer", "expires_in": 120}),
        )
        .unwrap();
        assert_eq!(t.expose_secret(), "abc");
        assert_eq!(life, Duration::from_secs(120));
        let (_, life) = parse_token_response(
            &json!({"access_token": "abc", "token_type": "Bearer", "expires_in": "30"}),
        )
        .unwrap();
        assert_eq!(life, Duration::from_secs(30));
        let (_, life) = parse_token_response(&json!({"access_token": "abc"})).unwrap();
        assert_eq!(life, DEFAULT_LIFETIME);
        assert!(
            parse_token_response(&json!({"access_token": "abc", "token_type": "mac"})).is_err()
        );
        assert!(parse_token_response(&json!({"token_type": "Bearer"})).is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = TokenSource::bearer(SecretString::from("s3cr3t".to_owned()));
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }
}
