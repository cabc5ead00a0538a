//! Bearer-token extraction ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)):
//! the `Authorization` header only (SSF-AUTH-08); a token in the query string is refused
//! (SSF-AUTH-09), whatever the header says.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

use super::Principal;
use crate::{error::ApiError, state::AppState};

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if query_carries_token(parts.uri.query()) {
            return Err(ApiError::BadRequest(
                "access tokens are accepted in the Authorization header only, never in the URL"
                    .to_owned(),
            ));
        }
        let token = bearer_token(&parts.headers)?;
        state.auth.authenticate(state, token).await
    }
}

/// Whether the query string has an `access_token` parameter (SSF-AUTH-09).
pub(crate) fn query_carries_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
    })
}

/// The token of a single `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    let Some(value) = first else {
        return Err(ApiError::MissingCredentials);
    };
    if second.is_some() {
        return Err(ApiError::Unauthorized(
            "exactly one Authorization header is allowed".to_owned(),
        ));
    }
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".to_owned()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn query_tokens_are_detected_ssf_auth_09() {
        assert!(query_carries_token(Some("stream_id=x&access_token=abc")));
        assert!(query_carries_token(Some("access%5Ftoken=abc")));
        assert!(!query_carries_token(Some("stream_id=access_token")));
        assert!(!query_carries_token(None));
    }

    #[test]
    fn only_one_bearer_header_counts() {
        let mut h = HeaderMap::new();
        assert!(bearer_token(&h).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&h).unwrap(), "abc");
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer def"),
        );
        assert!(bearer_token(&h).is_err());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer_token(&h).is_err());
    }
}
