//! The store's error type.

use crate::model::DeliveryMethod;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed: I/O, lock timeout, constraint, corrupt file.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Creating the data directory failed.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// JSON could not be written or a stored JSON column could not be read.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value is not one this version understands.
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    /// A unique key already exists: a `stream_id`, or a `jti` within its stream.
    #[error("already exists: {0}")]
    Conflict(String),
    /// [`StreamUpdate::expected_revision`](crate::StreamUpdate) did not match: someone else
    /// updated the stream first.
    #[error("stream was changed concurrently (now at revision {current})")]
    RevisionMismatch {
        /// The stored revision.
        current: i64,
    },
    /// No stream with that id belongs to the calling client.
    #[error("stream not found")]
    StreamNotFound,
    /// The stream does not use the delivery method the operation needs (e.g. a poll on a push
    /// stream, POLL-21).
    #[error("stream does not use {expected} delivery")]
    WrongDeliveryMethod {
        /// The method the operation needs.
        expected: DeliveryMethod,
    },
    /// An argument is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operation ran, but committing its group failed; nothing of it is stored.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
}

impl StoreError {
    /// The HTTP status a management API answers for this error: the one place it is decided.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::StreamNotFound => 404,
            Self::Conflict(_) | Self::RevisionMismatch { .. } => 409,
            Self::WrongDeliveryMethod { .. } | Self::InvalidArgument(_) => 400,
            Self::Closed => 503,
            Self::Database(_)
            | Self::Migrate(_)
            | Self::Io(_)
            | Self::Json(_)
            | Self::Corrupt(_)
            | Self::CommitFailed(_) => 500,
        }
    }

    /// A key that could be neither claimed nor read: its record was purged between the two
    /// statements. The caller may retry.
    pub(crate) fn idempotency_key_vanished() -> Self {
        Self::Conflict("the idempotency key changed concurrently; retry".to_owned())
    }

    /// Maps a unique-constraint violation to [`StoreError::Conflict`], anything else to `Database`.
    pub(crate) fn conflict_or(err: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what()),
            _ => Self::Database(err),
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
