//! The store's error type.

use crate::model::DeliveryMethod;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed: a constraint, a corrupt file, a query it refused.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The database could not be reached or stayed busy: no connection within the pool's
    /// timeout, a connection refused or lost, the server shutting down or out of connections,
    /// a SQLite file locked past `busy_timeout`. Nothing was stored; the same operation may
    /// succeed when retried, so servers answer `503` with `Retry-After`.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] std::sync::Arc<sqlx::Error>),
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
    #[error("commit failed: {reason}")]
    CommitFailed {
        /// Why: the database's message, or this store's own.
        reason: String,
        /// The database's error, when the database refused the commit (one error for every
        /// operation of the group, hence shared).
        #[source]
        source: Option<std::sync::Arc<sqlx::Error>>,
    },
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
            Self::Closed | Self::Unavailable(_) => 503,
            Self::Database(_)
            | Self::Migrate(_)
            | Self::Io(_)
            | Self::Json(_)
            | Self::Corrupt(_)
            | Self::CommitFailed { .. } => 500,
        }
    }

    /// Whether the same operation may succeed when retried later: the database was
    /// unavailable or the store is shutting down. Nothing of the failed operation was stored.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Closed)
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

impl From<sqlx::Error> for StoreError {
    /// Sorts a database error into [`StoreError::Unavailable`] (retry later) or
    /// [`StoreError::Database`] (the operation itself failed), by [`database_unavailable`].
    fn from(err: sqlx::Error) -> Self {
        if database_unavailable(&err) {
            Self::Unavailable(std::sync::Arc::new(err))
        } else {
            Self::Database(err)
        }
    }
}

/// Whether `err` says the database is out of reach or busy rather than that the operation was
/// wrong: the caller may retry the same operation later. Also used by the other crates with
/// their own sqlx pools (the JIT store).
///
/// - pool: no connection within `acquire_timeout`, or the pool is closed;
/// - transport: I/O (connection refused or reset), a TLS failure, a protocol break, a crashed
///   SQLite worker;
/// - PostgreSQL SQLSTATE class `08` (connection exception), `57P01`..`57P03` (shutdown, cannot
///   connect now), `53300` (too many connections), `53100` (disk full);
/// - SQLite `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6), with their extended codes, and
///   `SQLITE_FULL` (13).
pub fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs and SQLite result codes that mean "not now" (see [`database_unavailable`]).
fn unavailable_code(code: &str) -> bool {
    if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "53100") {
        return true;
    }
    // SQLite reports the (extended) result code as a decimal number; the low byte is the
    // primary code.
    code.parse::<u32>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 13))
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
