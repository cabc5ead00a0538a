//! The narrow seam between the shared store code and the two database engines.
//!
//! The logic of an operation (which statements, in which order, what the rows mean) is written
//! once, generic over an [`Engine`]: an [`sqlx::Database`] plus the few statements whose text
//! differs per engine. On PostgreSQL those take row locks (`FOR UPDATE`, `FOR KEY SHARE`) where
//! several nodes may write at once; on SQLite the single group-commit writer already serialises
//! every write, so they are the plain statements. How a write reaches the database (the SQLite
//! writer task, or a retried PostgreSQL transaction with `NOTIFY`) stays with each backend.
//!
//! Generic code names its bounds in one `where` clause per `impl` block (Rust does not imply
//! `where` clauses of a trait); see `transmitter::streams` for the pattern.

use std::future::Future;

use sqlx::{Postgres, Sqlite};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::StoreResult,
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{EnqueueReport, NewSet},
    },
    sql,
};

/// What the shared store code needs of a database engine beyond [`sqlx::Database`].
pub(crate) trait Engine: sqlx::Database {
    /// Rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Appends bind placeholder number `n` (from 1, in order) to `sql`, for statements built
    /// at run time with many parameters.
    fn push_placeholder(sql: &mut String, n: usize);

    /// Whether a receiver batch inserts its (`iss`, `jti`) keys in key order: on PostgreSQL two
    /// nodes recording overlapping batches then take the key locks in the same order instead of
    /// deadlocking.
    const SORTED_KEY_INSERTS: bool;
    /// Whether one multi-row upsert must not touch a row twice (PostgreSQL refuses it).
    const DISTINCT_ROWS_PER_UPSERT: bool;

    /// `(status, delivery, revision)` of a client's stream (`$1` stream, `$2` client), locked
    /// against concurrent updates, status changes and enqueues until commit.
    const STREAM_STATE_FOR_UPDATE: &'static str;
    /// The same with a lock that only keeps the stream from vanishing or changing status: polls
    /// and activity updates go on.
    const STREAM_STATE_FOR_KEY_SHARE: &'static str;
    /// `(min_verification_interval_secs, last_verification_at)` of a client's stream, locked:
    /// two nodes cannot both pass the interval check.
    const VERIFICATION_FOR_UPDATE: &'static str;

    /// Hands out the oldest ready SETs of one stream (`$1`) to a poll: leases at most `$4` rows
    /// to owner `$2` until `$3`, returning `(id, jti, set_jwt)`. PostgreSQL skips rows other
    /// nodes hold locked (`FOR UPDATE SKIP LOCKED`); SQLite runs it inside the writer's
    /// `BEGIN IMMEDIATE` transaction, where no other writer can interleave.
    const HAND_OUT_POLL: &'static str;
    /// A statement that records a poll as activity and returns the stream's `(status,
    /// delivery)` (`$1` stream, `$2` client, `$3` now), locking the row; `None`: read with
    /// `sql::SELECT_POLL_STREAM`, then touch with `sql::TOUCH_STREAM` once the checks passed.
    const POLL_TOUCH_RETURNING: Option<&'static str>;

    /// Moves the queued SETs of a stream whose delivery method changed to `to` (the outbox's
    /// per-subject order differs per engine; see each backend's `outbox`).
    fn rechannel<'c>(
        conn: &'c mut Self::Connection,
        stream_id: &'c StreamId,
        to: DeliveryMethod,
        status: StreamStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c;

    /// Queues `sets` (in the caller's transaction); returns the report and the streams to wake.
    /// Only reads its arguments (a PostgreSQL transaction may run again).
    fn enqueue<'c>(
        conn: &'c mut Self::Connection,
        sets: &'c [NewSet],
        now: UnixMillis,
    ) -> impl Future<Output = StoreResult<(EnqueueReport, Vec<StreamId>)>> + Send + 'c;

    /// Releases the next waiting SET of each (stream, subject key) whose in-flight SET finished;
    /// returns the streams to wake.
    fn promote(
        conn: &mut Self::Connection,
        keys: Vec<SubjectKey>,
    ) -> impl Future<Output = StoreResult<Vec<StreamId>>> + Send + '_;
}

/// A (stream, subject key) pair whose queue head may have moved.
pub(crate) type SubjectKey = (String, String);

impl Engine for Sqlite {
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    /// Anonymous `?`, not `$N`: sqlx looks every parameter's name up with
    /// `sqlite3_bind_parameter_name`, a linear scan, which makes binding named parameters
    /// quadratic in their number.
    fn push_placeholder(sql: &mut String, _n: usize) {
        sql.push('?');
    }

    const SORTED_KEY_INSERTS: bool = false;
    const DISTINCT_ROWS_PER_UPSERT: bool = false;

    // The writer runs one write at a time: no locks needed.
    const STREAM_STATE_FOR_UPDATE: &'static str = sql::SELECT_STREAM_STATE_SCOPED;
    const STREAM_STATE_FOR_KEY_SHARE: &'static str = sql::SELECT_STREAM_STATE_SCOPED;
    const VERIFICATION_FOR_UPDATE: &'static str = sql::SELECT_VERIFICATION;
    const HAND_OUT_POLL: &'static str = "UPDATE outbox SET state = 'leased', \
        lease_owner = $2, lease_until = $3, attempts = attempts + 1 WHERE id IN (SELECT id \
        FROM outbox WHERE stream_id = $1 AND state = 'pending' ORDER BY id LIMIT $4) \
        RETURNING id, jti, set_jwt";
    const POLL_TOUCH_RETURNING: Option<&'static str> = None;

    fn rechannel<'c>(
        conn: &'c mut Self::Connection,
        stream_id: &'c StreamId,
        to: DeliveryMethod,
        status: StreamStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c {
        crate::sqlite::outbox::rechannel(conn, stream_id, to, status)
    }

    fn promote(
        conn: &mut Self::Connection,
        keys: Vec<SubjectKey>,
    ) -> impl Future<Output = StoreResult<Vec<StreamId>>> + Send + '_ {
        crate::sqlite::outbox::promote(conn, keys)
    }

    fn enqueue<'c>(
        conn: &'c mut Self::Connection,
        sets: &'c [NewSet],
        now: UnixMillis,
    ) -> impl Future<Output = StoreResult<(EnqueueReport, Vec<StreamId>)>> + Send + 'c {
        crate::sqlite::outbox::enqueue(conn, sets, now)
    }
}

impl Engine for Postgres {
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    fn push_placeholder(sql: &mut String, n: usize) {
        sql.push('$');
        sql.push_str(&n.to_string());
    }

    const SORTED_KEY_INSERTS: bool = true;
    const DISTINCT_ROWS_PER_UPSERT: bool = true;

    const STREAM_STATE_FOR_UPDATE: &'static str = "SELECT status, delivery, revision \
        FROM streams WHERE stream_id = $1 AND client_id = $2 FOR UPDATE";
    const STREAM_STATE_FOR_KEY_SHARE: &'static str = "SELECT status, delivery, revision \
        FROM streams WHERE stream_id = $1 AND client_id = $2 FOR KEY SHARE";
    const VERIFICATION_FOR_UPDATE: &'static str = "SELECT min_verification_interval_secs, \
        last_verification_at FROM streams WHERE stream_id = $1 AND client_id = $2 FOR UPDATE";
    const HAND_OUT_POLL: &'static str = "UPDATE outbox SET state = 'leased', \
        lease_owner = $2, lease_until = $3, attempts = attempts + 1 WHERE id IN (SELECT id \
        FROM outbox WHERE stream_id = $1 AND state = 'pending' ORDER BY id LIMIT $4 \
        FOR UPDATE SKIP LOCKED) RETURNING id, jti, set_jwt";
    const POLL_TOUCH_RETURNING: Option<&'static str> = Some(
        "UPDATE streams SET last_activity_at = $3 \
         WHERE stream_id = $1 AND client_id = $2 RETURNING status, delivery",
    );

    fn rechannel<'c>(
        conn: &'c mut Self::Connection,
        stream_id: &'c StreamId,
        to: DeliveryMethod,
        status: StreamStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c {
        crate::postgres::outbox::rechannel(conn, stream_id, to, status)
    }

    fn promote(
        conn: &mut Self::Connection,
        keys: Vec<SubjectKey>,
    ) -> impl Future<Output = StoreResult<Vec<StreamId>>> + Send + '_ {
        crate::postgres::outbox::promote(conn, keys)
    }

    fn enqueue<'c>(
        conn: &'c mut Self::Connection,
        sets: &'c [NewSet],
        now: UnixMillis,
    ) -> impl Future<Output = StoreResult<(EnqueueReport, Vec<StreamId>)>> + Send + 'c {
        crate::postgres::outbox::enqueue(conn, sets, now)
    }
}
