//! The outbox on PostgreSQL, where it differs from SQLite: enqueue, delivery method changes, the
//! locks before outcomes and the settling of SETs queued behind others. The rest is in
//! `transmitter::outbox`.
//!
//! The same state machine as on SQLite (see `model::outbox`); what differs is how concurrent
//! transactions on several nodes are kept apart: see the module docs of [`super`].

use std::collections::{BTreeSet, HashSet};

use sqlx::PgConnection;
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::SubjectKey,
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{DeliveryOutcome, EnqueueReport, NewSet, OutboxState},
    },
    sql,
    transmitter::outbox::{self, QueuedRow, ready_state},
};

/// The shared outbox operations, on PostgreSQL.
type Outbox = outbox::Outbox<sqlx::Postgres>;

/// Locks the rows a `record_outcomes` is about to delete or update, in id order.
const LOCK_FINISHING: &str = "SELECT id FROM outbox WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Poll -> push: hand-outs of a poll are void once the stream is pushed; back to the queue.
const VOID_POLL_LEASES: &str = "UPDATE outbox SET state = $2, lease_owner = NULL, \
    lease_until = NULL WHERE stream_id = $1 AND state = 'leased' AND lease_owner = $3";
/// Poll -> push: a later in-flight row of a key waits behind the first (leased ones included, so
/// the stream never has two in-flight push rows of one key).
const MAKE_WAITING_ANY: &str = "UPDATE outbox SET state = 'waiting', lease_owner = NULL, \
    lease_until = NULL WHERE id = $1 AND state IN ('pending', 'held', 'leased')";

mod order;

use self::order::IN_FLIGHT;
pub(crate) use self::order::settle;

/// Writes `sets` (one transaction: the caller's job); returns the report and the streams to wake.
pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    sets: &[NewSet],
    now: UnixMillis,
) -> StoreResult<(EnqueueReport, Vec<StreamId>)> {
    let streams = Outbox::stream_states(conn, sets).await?;
    let mut report = EnqueueReport::default();
    let push_keys = outbox::push_keys(sets, &streams);
    // Keys with a queued SET: new SETs of those wait. `locked`: keys whose in-flight row this
    // transaction holds, which therefore cannot finish before the new SETs are committed.
    let mut busy: HashSet<(&str, &str)> = HashSet::new();
    let mut locked: HashSet<(&str, &str)> = HashSet::new();
    for (stream, keys) in &push_keys {
        let keys: Vec<&str> = keys.iter().copied().collect();
        for key in Outbox::keys_with(conn, IN_FLIGHT, stream, &keys).await? {
            if let Some(key) = keys.iter().find(|k| **k == key) {
                locked.insert((stream, key));
            }
        }
        for key in Outbox::keys_with(conn, (sql::WAITING_KEYS_PREFIX, ""), stream, &keys).await? {
            if let Some(key) = keys.iter().find(|k| **k == key) {
                busy.insert((stream, key));
            }
        }
    }
    busy.extend(locked.iter().copied());
    let mut unsettled: BTreeSet<SubjectKey> = BTreeSet::new();
    let mut rows: Vec<QueuedRow<'_>> = Vec::with_capacity(sets.len());
    for set in sets {
        let Some(Some((status, delivery))) = streams.get(&set.stream_id).copied() else {
            continue;
        };
        if status == StreamStatus::Disabled {
            continue;
        }
        let key = (set.stream_id.as_str(), set.subject_key.as_str());
        let state = if delivery == DeliveryMethod::Push && busy.contains(&key) {
            OutboxState::Waiting
        } else {
            ready_state(status)
        };
        if state == OutboxState::Waiting && !locked.contains(&key) {
            unsettled.insert((key.0.to_owned(), key.1.to_owned()));
        }
        if delivery == DeliveryMethod::Push && state != OutboxState::Waiting {
            // This transaction's own ready SET is the in-flight row of the key.
            locked.insert(key);
        }
        busy.insert(key);
        if state == OutboxState::Held {
            report.held += 1;
        }
        rows.push((set, delivery, state));
    }
    Outbox::insert_rows(conn, &rows, now)
        .await
        .map_err(|e| match &e {
            // Another node queued or released a SET of one of these keys meanwhile: retried.
            sqlx::Error::Database(db) if db.constraint() == Some(super::ONE_IN_FLIGHT) => {
                StoreError::Database(e)
            }
            _ => StoreError::conflict_or(e, || {
                "a jti of this batch is already queued for its stream".to_owned()
            }),
        })?;
    let wake: BTreeSet<StreamId> = settle(conn, unsettled).await?.into_iter().collect();
    Ok(outbox::finish_enqueue(report, &rows, streams, wake))
}

/// Locks the rows `outcomes` are about to delete or update, in id order, before any of it.
pub(crate) async fn lock_finishing(
    conn: &mut PgConnection,
    outcomes: &[DeliveryOutcome],
) -> StoreResult<()> {
    let mut all: Vec<i64> = outcomes.iter().map(|o| o.id().0).collect();
    all.sort_unstable();
    all.dedup();
    sqlx::query(LOCK_FINISHING)
        .bind(all)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Moves a stream's queued rows to a new delivery method. Push -> poll releases waiting rows
/// (poll hands out in id order anyway); poll -> push voids poll hand-outs and re-establishes one
/// in-flight row per subject *before* the rows become push rows, so the per-subject unique index
/// holds at every statement.
pub(crate) async fn rechannel(
    conn: &mut PgConnection,
    stream_id: &StreamId,
    to: DeliveryMethod,
    status: StreamStatus,
) -> StoreResult<()> {
    match to {
        DeliveryMethod::Poll => {
            sqlx::query(sql::SET_CHANNEL)
                .bind(stream_id.as_str())
                .bind(to.as_str())
                .execute(&mut *conn)
                .await?;
            sqlx::query(sql::RELEASE_WAITING)
                .bind(stream_id.as_str())
                .bind(ready_state(status).as_str())
                .execute(&mut *conn)
                .await?;
        }
        DeliveryMethod::Push => {
            sqlx::query(VOID_POLL_LEASES)
                .bind(stream_id.as_str())
                .bind(ready_state(status).as_str())
                .bind(crate::transmitter::poll::POLL_LEASE_OWNER)
                .execute(&mut *conn)
                .await?;
            let rows: Vec<(i64, String, String)> = sqlx::query_as(sql::SELECT_IN_FLIGHT)
                .bind(stream_id.as_str())
                .fetch_all(&mut *conn)
                .await?;
            let mut seen = HashSet::new();
            let mut made_waiting = BTreeSet::new();
            for (id, subject_key, _) in rows {
                if !seen.insert(subject_key.clone()) {
                    sqlx::query(MAKE_WAITING_ANY)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    made_waiting.insert((stream_id.as_str().to_owned(), subject_key));
                }
            }
            sqlx::query(sql::SET_CHANNEL)
                .bind(stream_id.as_str())
                .bind(to.as_str())
                .execute(&mut *conn)
                .await?;
            // A push worker may be finishing a key's first row right now.
            settle(conn, made_waiting).await?;
        }
    }
    Ok(())
}
