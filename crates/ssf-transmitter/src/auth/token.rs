//! The token endpoint: OAuth 2.0 client credentials grant
//! ([RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)) issuing short-lived JWT
//! access tokens ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)).
//!
//! Clients authenticate with `client_secret_basic` or `client_secret_post`
//! ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)); `scope` may narrow
//! the client's allowed scopes. Errors follow RFC 6749 §5.2 through [`ApiError::OAuth`].

use std::collections::BTreeSet;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::json;

use super::{AccessTokenClaims, Scope, jwt, secret};
use crate::{error::ApiError, state::AppState};

fn oauth(code: &'static str, description: &str) -> ApiError {
    ApiError::OAuth {
        code,
        description: description.to_owned(),
    }
}

/// `POST /oauth/token` (form-encoded): `grant_type=client_credentials`, optional `scope`.
pub(crate) async fn token_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if form_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(oauth(
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if params.iter().any(|(seen, _)| *seen == k) {
            return Err(oauth("invalid_request", "a parameter is repeated"));
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    let (client_id, client_secret) =
        client_credentials(&headers, param("client_id"), param("client_secret"))?;
    let client = state
        .auth
        .client(&client_id)
        .filter(|c| secret::verify_secret(&c.secret_hash, &client_secret))
        .ok_or_else(|| oauth("invalid_client", "client authentication failed"))?;

    match param("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(oauth(
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
        None => return Err(oauth("invalid_request", "grant_type is required")),
    }

    let allowed: BTreeSet<Scope> = client
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .collect();
    let scopes = match param("scope") {
        None => allowed,
        Some(requested) => {
            let mut granted = BTreeSet::new();
            for name in requested.split(' ').filter(|s| !s.is_empty()) {
                match Scope::parse(name).filter(|s| allowed.contains(s)) {
                    Some(scope) => granted.insert(scope),
                    None => {
                        return Err(oauth(
                            "invalid_scope",
                            "a requested scope is not allowed for this client",
                        ));
                    }
                };
            }
            granted
        }
    };
    if scopes.is_empty() {
        return Err(oauth(
            "invalid_scope",
            "no scope can be granted to this client",
        ));
    }

    let (access_token, claims) = issue_access_token(&state, &client.client_id, &scopes)?;
    tracing::info!(client_id = %client.client_id, scope = %claims.scope, "access token issued");
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": state.auth.ttl_secs(),
        "scope": claims.scope,
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Mints an access token for `client_id` with `scopes`, signed with the transmitter's current
/// key. Used by the token endpoint; also handy for the CLI and tests.
pub fn issue_access_token(
    state: &AppState,
    client_id: &str,
    scopes: &BTreeSet<Scope>,
) -> Result<(String, AccessTokenClaims), ApiError> {
    let now = state.clock.now().as_secs();
    let ttl = i64::try_from(state.auth.ttl_secs()).unwrap_or(600);
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: client_id.to_owned(),
        aud: state.auth.resource().to_owned(),
        exp: now.saturating_add(ttl),
        iat: now,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        scope: scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        client_id: client_id.to_owned(),
    };
    let key = state
        .signer
        .store()
        .current()
        .map_err(|e| ApiError::Internal(format!("key store: {e}").into()))?;
    let token = jwt::encode_jwt(key.as_ref(), jwt::ACCESS_TOKEN_TYP, &claims)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((token, claims))
}

/// The client id and secret from `Authorization: Basic` (RFC 6749 §2.3.1: both form-urlencoded
/// before base64) or from the body; using both methods at once is an error.
fn client_credentials(
    headers: &HeaderMap,
    body_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<(String, String), ApiError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds.trim());
    match (basic, body_secret) {
        (Some(_), Some(_)) => Err(oauth(
            "invalid_request",
            "use one client authentication method",
        )),
        (Some(encoded), None) => {
            let bad = || oauth("invalid_client", "client authentication failed");
            let decoded = STANDARD.decode(encoded).map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
            let id = form_decode(id);
            if body_id.is_some_and(|b| b != id) {
                return Err(oauth(
                    "invalid_request",
                    "client_id does not match the credentials",
                ));
            }
            Ok((id, form_decode(secret)))
        }
        (None, Some(secret)) => match body_id {
            Some(id) => Ok((id.to_owned(), secret.to_owned())),
            None => Err(oauth("invalid_client", "client authentication failed")),
        },
        (None, None) => Err(oauth("invalid_client", "client authentication is required")),
    }
}

fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("x={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let (id, secret) = client_credentials(&basic("rx%3A1", "s+e%2Bc"), None, None).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("rx:1", "s e+c"));
    }

    #[test]
    fn two_methods_or_none_are_refused() {
        assert!(client_credentials(&basic("a", "b"), Some("a"), Some("b")).is_err());
        assert!(client_credentials(&HeaderMap::new(), None, None).is_err());
        assert!(client_credentials(&HeaderMap::new(), None, Some("b")).is_err());
        assert_eq!(
            client_credentials(&HeaderMap::new(), Some("a"), Some("b")).unwrap(),
            ("a".to_owned(), "b".to_owned())
        );
    }
}
