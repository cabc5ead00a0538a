//! The crate's error type and its one mapping to HTTP answers.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// The `Retry-After` of a `503` answered while the bridge's database is unavailable.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// The cause kept under a [`JitError`]: the lower error itself, or its text when the cause is only
/// text.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JitError {
    /// A setting cannot be used; the message names it.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No ticket system of this name is configured (`404`).
    #[error("no ticket system named {0:?} is configured")]
    UnknownSystem(String),
    /// The webhook body is over the limit (`413`).
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The webhook carries no valid signature or token (`401`). The reason is for the log; the
    /// answer never says what was expected.
    #[error("the webhook is not authenticated: {0}")]
    Unauthenticated(&'static str),
    /// The webhook's own timestamp is further in the future than the allowed clock skew
    /// (`401`). (A timestamp older than `max_age` is not an error: such a webhook may still
    /// take access away, see [`Intake::Late`](crate::Intake::Late).)
    #[error("the webhook's timestamp is outside the accepted window: {0}")]
    Stale(String),
    /// The payload cannot be read as this system's format (`400`).
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// An operator's request cannot be used (`400`), e.g. an empty reason for a revoke by hand;
    /// the message names the member and the rule.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No grant has this id (`404`).
    #[error("no grant has the id {0:?} (see `ssf jit grants --all`)")]
    UnknownGrant(String),
    /// The grant exists but is no longer in force (`409`): revoked or expired before, so there
    /// is nothing to revoke and nothing changed.
    #[error("grant {grant_id:?} is not active: it is {status} already")]
    GrantNotActive {
        /// The grant.
        grant_id: String,
        /// Its status (`revoked` or `expired`).
        status: String,
    },
    /// The payload (or a ticket list) is not JSON of the expected shape (`400`).
    #[error("bad payload: {what}: {source}")]
    BadJson {
        /// What was being read (e.g. `the body is not JSON`, `ticket list`).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database at this location could not be opened (`location` has no password).
    #[error(
        "cannot open the jit database {location}: {source} (check jit.database and that the server is reachable)"
    )]
    Open {
        /// Where, with any password replaced by `***`.
        location: String,
        /// What failed.
        source: sqlx::Error,
    },
    /// The migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file or directory could not be made.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The outbound HTTP client could not be built or a request failed.
    #[error("http: {0}")]
    Http(#[from] ssf_http::HttpError),
    /// A stored row does not read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A stored value of a row does not parse (a bug or a hand-edited database).
    #[error("corrupt row: {what}: {source}")]
    CorruptValue {
        /// Which value (e.g. `ticket state`, `subject`).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: Cause,
    },
    /// Something that should not happen.
    #[error("internal: {0}")]
    Internal(#[source] Cause),
}

impl JitError {
    /// The HTTP status and the `error` code of the JSON answer: the one place errors become
    /// wire values.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::UnknownSystem(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Stale(_) => (StatusCode::UNAUTHORIZED, "stale_webhook"),
            Self::BadPayload(_) | Self::BadJson { .. } | Self::Invalid(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            Self::UnknownGrant(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::GrantNotActive { .. } => (StatusCode::CONFLICT, "grant_not_active"),
            Self::Database(err) if ssf_store::database_unavailable(err) => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            }
            Self::Config(_)
            | Self::Database(_)
            | Self::Open { .. }
            | Self::Migrate(_)
            | Self::Io(_)
            | Self::Http(_)
            | Self::Corrupt(_)
            | Self::CorruptValue { .. }
            | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        }
    }
}

impl IntoResponse for JitError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let description = match &self {
            // Never say which signature or token was expected.
            Self::Unauthenticated(_) => {
                "the webhook signature or token is missing or wrong".to_owned()
            }
            Self::UnknownSystem(_) => "no ticket system is configured at this path".to_owned(),
            e if status.is_server_error() => {
                tracing::error!(error = %e, "jit webhook failed");
                "the webhook could not be processed; it may be retried".to_owned()
            }
            e => e.to_string(),
        };
        let mut response = (
            status,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Ticket systems retry a webhook on 5xx; say when the database may be back.
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        response
    }
}
