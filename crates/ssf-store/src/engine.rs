//! The narrow seam between the shared store code and the two database engines.
//!
//! The logic of an operation (which statements, in which order, what the rows mean) is written
//! once, generic over an [`Engine`]: an [`sqlx::Database`] plus what differs per engine:
//!
//! - a few statements: PostgreSQL takes row locks (`FOR UPDATE`, `FOR KEY SHARE`, `FOR UPDATE
//!   SKIP LOCKED` claims) where several nodes may write at once; on SQLite the single
//!   group-commit writer already serialises every write, so there they are the plain statements;
//! - the placeholder style of statements built at run time (`?` or `$N`), and whether rows are
//!   locked in key order and upserts kept free of repeated rows (PostgreSQL);
//! - hooks into the outbox code that stays per engine: enqueue, delivery method changes and the
//!   release of SETs queued behind others ([`Engine::enqueue`], [`Engine::rechannel`],
//!   [`Engine::release_queued`], [`Engine::lock_finishing`]).
//!
//! How a write reaches the database (a job of the SQLite writer task, or a PostgreSQL
//! transaction run again when it lost a race, with `NOTIFY`) is the other seam, `Backend`.
//!
//! Generic code names its `sqlx` bounds in one `where` clause per `impl` block: Rust does not
//! imply the `where` clauses of a trait, so they cannot live on [`Engine`] once.

use std::future::Future;

use sqlx::{Postgres, Sqlite};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::StoreResult,
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{DeliveryOutcome, EnqueueReport, NewSet},
    },
    sql,
    transmitter::outbox::Outbox,
};

/// A (stream, subject key) pair whose queue head may have moved.
pub(crate) type SubjectKey = (String, String);

/// What the shared store code needs of a database engine beyond [`sqlx::Database`].
pub(crate) trait Engine: sqlx::Database {
    /// Rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Appends bind placeholder number `n` (from 1, in order) to `sql`, for statements built
    /// at run time with many parameters.
    fn push_placeholder(sql: &mut String, n: usize);

    /// Whether writes that lock several rows take them in key order (PostgreSQL: concurrent
    /// transactions of several nodes then wait for each other instead of deadlocking).
    const LOCK_IN_KEY_ORDER: bool;
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
    /// `(status, delivery)` of a stream regardless of owner (`$1`), for enqueue and replay. On
    /// PostgreSQL with a key-share lock: a status change, update or delete of the stream (which
    /// lock it `FOR UPDATE`) waits for the enqueue, and the enqueue for them, so no SET is queued
    /// as `pending` on a stream paused meanwhile, or kept for one disabled meanwhile. Polls and
    /// activity updates (no-key updates) do not conflict with it.
    const STREAM_STATE: &'static str;

    /// The push claim: leases to owner `$1` until `$2` at most `$4` ready push rows due by `$3`
    /// of enabled streams. PostgreSQL adds `FOR UPDATE OF o SKIP LOCKED` to the inner select, so
    /// workers on every node claim disjoint rows without waiting for each other (a row locked by
    /// another claim, or by a transaction finishing it, is skipped, never returned twice); SQLite
    /// runs it inside the writer's `BEGIN IMMEDIATE` transaction, where no other writer can
    /// interleave.
    const CLAIM_PUSH: &'static str;
    /// Hands out the oldest ready SETs of one stream (`$1`) to a poll: leases at most `$4` rows
    /// to owner `$2` until `$3`, returning `(id, jti, set_jwt)`. PostgreSQL skips rows other
    /// nodes hold locked (`FOR UPDATE SKIP LOCKED`), like [`Self::CLAIM_PUSH`].
    const HAND_OUT_POLL: &'static str;
    /// A statement that records a poll as activity and returns the stream's `(status,
    /// delivery)` (`$1` stream, `$2` client, `$3` now), locking the row, so polls of one stream
    /// on several nodes take turns and a status change cannot slip in between the status check
    /// and the hand-out; `None`: read with `sql::SELECT_POLL_STREAM`, then touch with
    /// `sql::TOUCH_STREAM` once the checks passed.
    const POLL_TOUCH_RETURNING: Option<&'static str>;

    /// Queues `sets` (in the caller's transaction); returns the report and the streams to wake.
    /// Only reads its arguments (a PostgreSQL transaction may run again).
    fn enqueue<'c>(
        conn: &'c mut Self::Connection,
        sets: &'c [NewSet],
        now: UnixMillis,
    ) -> impl Future<Output = StoreResult<(EnqueueReport, Vec<StreamId>)>> + Send + 'c;

    /// Moves the queued SETs of a stream whose delivery method changed to `to`.
    fn rechannel<'c>(
        conn: &'c mut Self::Connection,
        stream_id: &'c StreamId,
        to: DeliveryMethod,
        status: StreamStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c;

    /// Locks the rows `outcomes` are about to delete or update, before any of it (PostgreSQL,
    /// in id order); nothing on SQLite.
    fn lock_finishing<'c>(
        conn: &'c mut Self::Connection,
        outcomes: &'c [DeliveryOutcome],
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c;

    /// Makes the keys of SETs this transaction queued as waiting (behind an in-flight SET) safe
    /// to commit; returns the streams with a released SET. SQLite: the promotion of
    /// [`Outbox::promote`]; PostgreSQL: `settle`, which also covers a row finishing on another
    /// node meanwhile.
    fn release_queued(
        conn: &mut Self::Connection,
        keys: Vec<SubjectKey>,
    ) -> impl Future<Output = StoreResult<Vec<StreamId>>> + Send + '_;
}

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

    const LOCK_IN_KEY_ORDER: bool = false;
    const DISTINCT_ROWS_PER_UPSERT: bool = false;

    // The writer runs one write at a time: no locks needed.
    const STREAM_STATE_FOR_UPDATE: &'static str = sql::SELECT_STREAM_STATE_SCOPED;
    const STREAM_STATE_FOR_KEY_SHARE: &'static str = sql::SELECT_STREAM_STATE_SCOPED;
    const VERIFICATION_FOR_UPDATE: &'static str = sql::SELECT_VERIFICATION;
    const STREAM_STATE: &'static str = sql::SELECT_STREAM_STATE;
    const CLAIM_PUSH: &'static str = "UPDATE outbox SET state = 'leased', lease_owner = $1, \
        lease_until = $2, attempts = attempts + 1 WHERE id IN (SELECT o.id FROM outbox o \
        WHERE o.state = 'pending' AND o.channel = 'push' AND o.next_attempt_at <= $3 \
        AND EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = o.stream_id \
        AND s.status = 'enabled') ORDER BY o.next_attempt_at, o.id LIMIT $4) \
        RETURNING id, stream_id, jti, subject_key, set_jwt, attempts, created_at, lease_until";
    const HAND_OUT_POLL: &'static str = "UPDATE outbox SET state = 'leased', \
        lease_owner = $2, lease_until = $3, attempts = attempts + 1 WHERE id IN (SELECT id \
        FROM outbox WHERE stream_id = $1 AND state = 'pending' ORDER BY id LIMIT $4) \
        RETURNING id, jti, set_jwt";
    const POLL_TOUCH_RETURNING: Option<&'static str> = None;

    fn enqueue<'c>(
        conn: &'c mut Self::Connection,
        sets: &'c [NewSet],
        now: UnixMillis,
    ) -> impl Future<Output = StoreResult<(EnqueueReport, Vec<StreamId>)>> + Send + 'c {
        crate::sqlite::outbox::enqueue(conn, sets, now)
    }

    fn rechannel<'c>(
        conn: &'c mut Self::Connection,
        stream_id: &'c StreamId,
        to: DeliveryMethod,
        status: StreamStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c {
        crate::sqlite::outbox::rechannel(conn, stream_id, to, status)
    }

    async fn lock_finishing<'c>(
        _conn: &'c mut Self::Connection,
        _outcomes: &'c [DeliveryOutcome],
    ) -> StoreResult<()> {
        Ok(())
    }

    fn release_queued(
        conn: &mut Self::Connection,
        keys: Vec<SubjectKey>,
    ) -> impl Future<Output = StoreResult<Vec<StreamId>>> + Send + '_ {
        Outbox::<Self>::promote(conn, keys)
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

    const LOCK_IN_KEY_ORDER: bool = true;
    const DISTINCT_ROWS_PER_UPSERT: bool = true;

    const STREAM_STATE_FOR_UPDATE: &'static str = "SELECT status, delivery, revision \
        FROM streams WHERE stream_id = $1 AND client_id = $2 FOR UPDATE";
    const STREAM_STATE_FOR_KEY_SHARE: &'static str = "SELECT status, delivery, revision \
        FROM streams WHERE stream_id = $1 AND client_id = $2 FOR KEY SHARE";
    const VERIFICATION_FOR_UPDATE: &'static str = "SELECT min_verification_interval_secs, \
        last_verification_at FROM streams WHERE stream_id = $1 AND client_id = $2 FOR UPDATE";
    const STREAM_STATE: &'static str =
        "SELECT status, delivery FROM streams WHERE stream_id = $1 FOR KEY SHARE";
    const CLAIM_PUSH: &'static str = "UPDATE outbox SET state = 'leased', lease_owner = $1, \
        lease_until = $2, attempts = attempts + 1 WHERE id IN (SELECT o.id FROM outbox o \
        WHERE o.state = 'pending' AND o.channel = 'push' AND o.next_attempt_at <= $3 \
        AND EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = o.stream_id \
        AND s.status = 'enabled') ORDER BY o.next_attempt_at, o.id LIMIT $4 \
        FOR UPDATE OF o SKIP LOCKED) \
        RETURNING id, stream_id, jti, subject_key, set_jwt, attempts, created_at, lease_until";
    const HAND_OUT_POLL: &'static str = "UPDATE outbox SET state = 'leased', \
        lease_owner = $2, lease_until = $3, attempts = attempts + 1 WHERE id IN (SELECT id \
        FROM outbox WHERE stream_id = $1 AND state = 'pending' ORDER BY id LIMIT $4 \
        FOR UPDATE SKIP LOCKED) RETURNING id, jti, set_jwt";
    const POLL_TOUCH_RETURNING: Option<&'static str> = Some(
        "UPDATE streams SET last_activity_at = $3 \
         WHERE stream_id = $1 AND client_id = $2 RETURNING status, delivery",
    );

    fn enqueue<'c>(
        conn: &'c mut Self::Connection,
        sets: &'c [NewSet],
        now: UnixMillis,
    ) -> impl Future<Output = StoreResult<(EnqueueReport, Vec<StreamId>)>> + Send + 'c {
        crate::postgres::outbox::enqueue(conn, sets, now)
    }

    fn rechannel<'c>(
        conn: &'c mut Self::Connection,
        stream_id: &'c StreamId,
        to: DeliveryMethod,
        status: StreamStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c {
        crate::postgres::outbox::rechannel(conn, stream_id, to, status)
    }

    fn lock_finishing<'c>(
        conn: &'c mut Self::Connection,
        outcomes: &'c [DeliveryOutcome],
    ) -> impl Future<Output = StoreResult<()>> + Send + 'c {
        crate::postgres::outbox::lock_finishing(conn, outcomes)
    }

    fn release_queued(
        conn: &mut Self::Connection,
        keys: Vec<SubjectKey>,
    ) -> impl Future<Output = StoreResult<Vec<StreamId>>> + Send + '_ {
        crate::postgres::outbox::settle(conn, keys.into_iter().collect())
    }
}
