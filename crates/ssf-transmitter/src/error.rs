//! The transmitter's one error type and its single mapping to HTTP responses.
//!
//! Management API errors follow decision D-16: `401`/`403` carry `WWW-Authenticate: Bearer
//! error="..."` ([RFC 6750 §3]); every other error is JSON `{"error","error_description"}`. Poll
//! errors ([RFC 8936 §2.5]) use the same bodies. Descriptions never echo secrets or tokens.
//!
//! [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3
//! [RFC 8936 §2.5]: https://www.rfc-editor.org/rfc/rfc8936#section-2.5

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// The `Retry-After` of a `503`: long enough for a database fail-over or restart to begin,
/// short enough that producers do not pile up events meanwhile.
pub(crate) const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// The cause kept under [`ApiError::Internal`] and [`ApiError::Unavailable`] for the log: the
/// lower error itself, or its text when the cause is only text.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Every way a transmitter request can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No usable credentials (missing, malformed, expired, wrong issuer or signature, or a token
    /// in the query string): `401` with `error="invalid_token"` (or no error code when the
    /// request carried no credentials at all, RFC 6750 §3.1).
    #[error("{0}")]
    Unauthorized(String),
    /// The request carried no credentials at all: `401` with a bare `Bearer` challenge and no
    /// error code (RFC 6750 §3.1; the OIDF poll-endpoint-authorization test expects exactly this).
    #[error("a bearer access token is required")]
    MissingCredentials,
    /// Credentials without the needed scope: `403` with `error="insufficient_scope"`.
    #[error("this operation needs the `{0}` scope")]
    InsufficientScope(&'static str),
    /// The caller may not do this for another reason: `403`.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or invalid: `400`.
    #[error("{0}")]
    BadRequest(String),
    /// An OAuth token-endpoint error ([RFC 6749 §5.2]): `400`/`401` with `{"error": code}`.
    ///
    /// [RFC 6749 §5.2]: https://www.rfc-editor.org/rfc/rfc6749#section-5.2
    #[error("{description}")]
    OAuth {
        /// The RFC 6749 error code, e.g. `invalid_client`.
        code: &'static str,
        /// Human-readable text.
        description: String,
    },
    /// No such stream for this receiver (also for another receiver's stream, SSF-AUTH-05): `404`.
    #[error("no stream with this stream_id for this receiver")]
    StreamNotFound,
    /// Something else is missing: `404`.
    #[error("{0}")]
    NotFound(String),
    /// A conflicting resource exists: `409`.
    #[error("{0}")]
    Conflict(String),
    /// Too many requests, e.g. verification faster than `min_verification_interval`: `429`.
    #[error("{message}")]
    TooManyRequests {
        /// Why.
        message: String,
        /// Seconds until a retry may succeed (`Retry-After`).
        retry_after_secs: Option<u64>,
    },
    /// An `Idempotency-Key` already used by this client, within its window, for a request with
    /// another body (D-TX-16): `422`.
    #[error(
        "this Idempotency-Key was already used for a different request; use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// The body is larger than allowed: `413`.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body is not JSON: `415`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A fault on our side; details are logged, not returned: `500`.
    #[error("internal error")]
    Internal(#[source] Cause),
    /// A stored secret (a push `authorization_header`, D-TX-18) does not decrypt with the
    /// configured secrets keys: `500`. The text names the stream and never the value.
    #[error(
        "the stored authorization_header of stream {stream_id} cannot be read: {reason} \
         (check the transmitter's secrets key: transmitter.storage.secrets_key_file or \
         SSF_SECRETS_KEY, and previous_secrets_key_file during a rotation)"
    )]
    SecretUnreadable {
        /// The stream whose value failed.
        stream_id: ssf_types::StreamId,
        /// Why, without the value.
        reason: String,
    },
    /// Storage (or another dependency) is unavailable; nothing was done and the caller should
    /// retry: `503` with `Retry-After: 5` (`UNAVAILABLE_RETRY_AFTER_SECS`).
    #[error("temporarily unavailable; retry later")]
    Unavailable(#[source] Cause),
}

impl ApiError {
    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::MissingCredentials => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::OAuth { code, .. } if *code == "invalid_client" => StatusCode::UNAUTHORIZED,
            Self::OAuth { .. } => StatusCode::BAD_REQUEST,
            Self::StreamNotFound | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) | Self::SecretUnreadable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable error code of the JSON body.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "invalid_token",
            Self::MissingCredentials => "unauthorized",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::Forbidden(_) => "access_denied",
            Self::BadRequest(_) => "invalid_request",
            Self::OAuth { code, .. } => code,
            Self::StreamNotFound | Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Internal(_) | Self::SecretUnreadable { .. } => "server_error",
            Self::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

impl From<crate::mint::MintError> for ApiError {
    fn from(err: crate::mint::MintError) -> Self {
        use crate::mint::MintError as E;
        match err {
            E::Shape(_) => Self::BadRequest(err.to_string()),
            E::Signing(_) => Self::Internal(Box::new(err)),
        }
    }
}

impl From<crate::ingest::IngestError> for ApiError {
    fn from(err: crate::ingest::IngestError) -> Self {
        use crate::ingest::IngestError as E;
        match err {
            E::Invalid(why) => Self::BadRequest(why),
            E::Refused(why) => Self::Forbidden(why),
            E::KeyReused => Self::IdempotencyKeyReused,
            E::Mint(e) => Self::from(e),
            E::Store(e) => Self::from(e),
            E::SigningTask(_) => Self::Internal(Box::new(err)),
            E::Internal(detail) => Self::Internal(detail.into()),
        }
    }
}

impl From<ssf_store::StoreError> for ApiError {
    fn from(err: ssf_store::StoreError) -> Self {
        use ssf_store::StoreError as E;
        match err {
            E::StreamNotFound => Self::StreamNotFound,
            E::Conflict(_) | E::RevisionMismatch { .. } => {
                Self::Conflict("the resource was changed concurrently; retry".to_owned())
            }
            E::WrongDeliveryMethod { .. } | E::InvalidArgument(_) => {
                Self::BadRequest(err.to_string())
            }
            E::Closed | E::Unavailable(_) => Self::Unavailable(Box::new(err)),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(detail) | Self::Unavailable(detail) => {
                tracing::error!(error = %detail, status = status.as_u16(), "request failed");
            }
            Self::SecretUnreadable { .. } => {
                tracing::error!(error = %self, status = status.as_u16(), "request failed");
            }
            _ => tracing::debug!(error = %self, status = status.as_u16(), "request refused"),
        }
        let body = json!({ "error": self.code(), "error_description": self.to_string() });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        let challenge = match &self {
            Self::Unauthorized(_) => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                quote_safe(&self.to_string())
            )),
            Self::MissingCredentials => Some("Bearer realm=\"ssf\"".to_owned()),
            Self::InsufficientScope(scope) => Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            Self::OAuth { code, .. } if *code == "invalid_client" => {
                Some("Basic realm=\"ssf\"".to_owned())
            }
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        let retry_after = match &self {
            Self::TooManyRequests {
                retry_after_secs, ..
            } => *retry_after_secs,
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Keeps a description safe inside a quoted-string header parameter.
fn quote_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_carries_a_bearer_challenge() {
        let response = ApiError::Unauthorized("token expired".into()).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""));
    }

    #[test]
    fn missing_credentials_get_a_challenge_without_error_code_rfc6750_3_1() {
        let response = ApiError::MissingCredentials.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert_eq!(challenge, "Bearer realm=\"ssf\"");
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let response = ApiError::InsufficientScope("ssf.manage").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert_eq!(
            challenge,
            "Bearer error=\"insufficient_scope\", scope=\"ssf.manage\""
        );
    }

    #[test]
    fn an_unavailable_database_is_503_with_retry_after() {
        let err = ssf_store::StoreError::from(sqlx::Error::PoolTimedOut);
        let response = ApiError::from(err).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let other = ssf_store::StoreError::Corrupt("bad row".into());
        let response = ApiError::from(other).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn a_store_error_stays_the_source_of_the_answer() {
        use std::error::Error as _;
        let err = ApiError::from(ssf_store::StoreError::Corrupt("bad row".into()));
        let source = err.source().map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("stored value is invalid: bad row"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "internal error");
    }

    #[test]
    fn too_many_requests_sets_retry_after() {
        let response = ApiError::TooManyRequests {
            message: "slow down".into(),
            retry_after_secs: Some(7),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
