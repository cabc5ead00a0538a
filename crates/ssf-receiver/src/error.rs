//! The one error enum of this crate: the client side (configuration, discovery, tokens, stream
//! management, the JWKS cache, the poller) and the server side (signing keys unavailable, a SET
//! that could not be recorded, shutdown). A refused SET is not an error but a
//! [`Verdict`](crate::pipeline::Verdict) with its RFC 8935 code; what the push endpoint and the
//! poller answer for a SET is decided from its [`Receipt`](crate::receive::Receipt).
//!
//! Texts are for the operator's logs and the CLI. They never contain a secret (tokens, client
//! secrets, `authorization_header`), and a transmitter's error body is cut to a bounded length.

use ssf_http::{HttpError, UrlError};
use ssf_types::{BodyError, StreamId};

/// The cause kept under a [`ReceiverError`]: the lower error itself, or its text when the cause
/// is only text (`"HTTP 500"`, `"no key set"`).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A [`Cause`] shared by several errors (every SET of one failed group commit).
pub type SharedCause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// The most of a transmitter's error body kept in [`ReceiverError::Transmitter`], in characters.
pub(crate) const MAX_ERROR_BODY_CHARS: usize = 512;

/// Everything that can go wrong in the receiver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverError {
    /// A setting cannot be used; found when the configuration is loaded.
    #[error("invalid receiver setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The setting, as written in `ssf.toml` (e.g. `transmitters[0].issuer`).
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL was refused before anything was sent (scheme, SSRF guard, syntax).
    #[error("URL refused: {0}")]
    Url(#[from] UrlError),
    /// A URL given by the transmitter or the configuration does not parse.
    #[error("invalid {what} URL: {reason}")]
    InvalidUrl {
        /// Which URL (e.g. `configuration_endpoint`).
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// The request did not get an HTTP answer: connection refused, timeout, blocked address.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The metadata document could not be fetched (SSF 1.0 §7.2, SSF-META-25): the transmitter
    /// answered with a status other than `200`.
    #[error("transmitter metadata at {url} answered HTTP {status}")]
    DiscoveryFailed {
        /// The discovery URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The metadata (or an authorization server's metadata) is not valid: unparsable, a value
    /// breaks a rule (SSF-META-11/21/24), or an endpoint we need is missing (SSF-META-25).
    #[error("invalid transmitter metadata: {0}")]
    InvalidMetadata(#[source] Cause),
    /// The `issuer` of a metadata document is not identical to the issuer the discovery URL was
    /// built from (SSF 1.0 §7.2.4, SSF-META-07; RFC 8414 §3.3): the document is not used.
    #[error("the {document} names issuer {found:?}, not the configured issuer")]
    IssuerMismatch {
        /// `ssf-configuration` or `oauth-authorization-server`.
        document: &'static str,
        /// The issuer the document named.
        found: String,
    },
    /// The transmitter does not offer an endpoint this operation needs (e.g. no
    /// `status_endpoint` in its metadata).
    #[error("the transmitter's metadata has no {0}")]
    MissingEndpoint(&'static str),
    /// An access token could not be obtained (RFC 6749 §5.2 error, bad response).
    #[error("could not obtain an access token: {0}")]
    Token(#[source] Cause),
    /// The transmitter answered a management or poll request with an error status. `error`
    /// and `description` come from its JSON body (`error`/`error_description` or RFC 8935
    /// `err`/`description`) or its `WWW-Authenticate` header; `body` is the raw body, cut short.
    #[error("{operation} failed: HTTP {status}{}", detail(error.as_deref(), description.as_deref()))]
    Transmitter {
        /// What was being done (e.g. `create stream`).
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The error code the transmitter gave, if any.
        error: Option<String>,
        /// The description the transmitter gave, if any.
        description: Option<String>,
        /// The response body (at most 512 characters).
        body: String,
        /// `Retry-After`, in whole seconds, when the transmitter sent one.
        retry_after_secs: Option<u64>,
    },
    /// A success answer whose body is not what the specification says.
    #[error("{operation}: unexpected response: {reason}")]
    InvalidResponse {
        /// What was being done.
        operation: &'static str,
        /// What is wrong with the answer.
        reason: String,
    },
    /// A stream configuration names another issuer than the one its metadata came from
    /// (SSF 1.0 §8.1.1.1–8.1.1.4, SSF-AUTH-14). The stream is never used afterwards
    /// (SSF-AUTH-15; CONF `receiver-stream-issuer-mismatch`).
    #[error("stream {stream_id} belongs to another issuer ({found:?}); it is not used")]
    ForeignStream {
        /// The stream's id (`?` when it had none).
        stream_id: String,
        /// The `iss` the configuration named.
        found: String,
    },
    /// A stream's `aud` does not contain the audience agreed for this receiver
    /// (SSF 1.0 §8.1.1.1.1, SSF-STREAM-30).
    #[error("stream {stream_id} is not addressed to this receiver's audience")]
    AudienceMismatch {
        /// The stream's id.
        stream_id: StreamId,
    },
    /// A request this client will not send, e.g. a PATCH without `stream_id` (SSF-STREAM-33)
    /// or an empty `events_requested` (SSF-STREAM-35).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The transmitter's JWKS could not be fetched or holds no usable key (not the SET's
    /// fault). A push endpoint answers `503` and a poller leaves the SET unacknowledged, so the
    /// transmitter retries; a SET is never accepted without verification.
    #[error("the transmitter's signing keys are unavailable: {0}")]
    JwksUnavailable(#[source] Cause),
    /// An accepted SET could not be recorded: the store failed and nothing of its batch was
    /// stored. The transmitter must deliver it again (push `503`, poll: no `ack`).
    #[error("the SET could not be recorded: {0}")]
    NotRecorded(#[source] SharedCause),
    /// A body could not be parsed as the protocol object it should be.
    #[error("{context}: {source}")]
    Body {
        /// Which object.
        context: &'static str,
        /// The parser's error.
        #[source]
        source: BodyError,
    },
    /// The receiver's store failed (stream bookkeeping).
    #[error("receiver store: {0}")]
    Store(#[from] ssf_store::StoreError),
    /// The operation was cancelled, or the apply task has stopped: the receiver is shutting
    /// down.
    #[error("cancelled: the receiver is shutting down")]
    Cancelled,
}

fn detail(error: Option<&str>, description: Option<&str>) -> String {
    match (error, description) {
        (Some(e), Some(d)) => format!(" ({e}: {d})"),
        (Some(e), None) => format!(" ({e})"),
        (None, Some(d)) => format!(" ({d})"),
        (None, None) => String::new(),
    }
}

impl ReceiverError {
    /// The HTTP status a transmitter answered with, if this error is such an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Transmitter { status, .. } | Self::DiscoveryFailed { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The `Retry-After` the transmitter sent with an error answer.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Transmitter {
                retry_after_secs: Some(secs),
                ..
            } => Some(std::time::Duration::from_secs(*secs)),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: transport failures, `408`, `425`, `429`, `5xx`,
    /// and an unavailable JWKS. Protocol violations and `4xx` answers are not retryable.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http(e) => !matches!(e, HttpError::Url(_) | HttpError::Blocked(_)),
            Self::JwksUnavailable(_) | Self::NotRecorded(_) | Self::Store(_) => true,
            Self::Transmitter { status, .. } | Self::DiscoveryFailed { status, .. } => {
                matches!(status, 408 | 425 | 429 | 500..=599)
            }
            _ => false,
        }
    }

    /// The HTTP status for this error when it stops a SET from being judged or recorded: `503`
    /// for unavailable keys, a SET not recorded and a shutdown (the transmitter retries,
    /// RFC 8935 §2.3 and PUSH-16), `500` otherwise.
    pub fn push_status(&self) -> u16 {
        match self {
            Self::JwksUnavailable(_) | Self::NotRecorded(_) | Self::Cancelled => 503,
            _ => 500,
        }
    }

    pub(crate) fn body(context: &'static str) -> impl FnOnce(BodyError) -> Self {
        move |source| Self::Body { context, source }
    }

    pub(crate) fn config(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmitter_errors_show_status_and_code() {
        let e = ReceiverError::Transmitter {
            operation: "create stream",
            status: 409,
            error: Some("conflict".into()),
            description: Some("one stream per receiver".into()),
            body: String::new(),
            retry_after_secs: None,
        };
        assert_eq!(
            e.to_string(),
            "create stream failed: HTTP 409 (conflict: one stream per receiver)"
        );
        assert_eq!(e.status(), Some(409));
        assert!(!e.is_transient());
        assert_eq!(e.push_status(), 500);
        let j = ReceiverError::JwksUnavailable("HTTP 500".into());
        assert!(j.is_transient());
        assert_eq!(j.push_status(), 503);
    }
}
