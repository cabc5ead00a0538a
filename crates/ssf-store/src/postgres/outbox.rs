//! The outbox on PostgreSQL: enqueue, push claim and outcomes, reaper, replay, counts.
//!
//! The same state machine as on SQLite (see `model::outbox`); what differs is how concurrent
//! transactions on several nodes are kept apart: see the module docs of [`super`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{
            ClaimedSet, DeliveryError, DeliveryOutcome, EnqueueReport, NewSet, OutboxCounts,
            OutboxEntry, OutboxId, OutboxState, OutcomeReport, ParkedQuery, ReplaySelector,
        },
    },
    rows::{ClaimRow, OutboxRow},
    sql,
};

/// The claim: the SQLite statement with `FOR UPDATE OF o SKIP LOCKED` on the inner select, so
/// workers on every node claim disjoint rows without waiting for each other. A row locked by
/// another claim (or by a transaction finishing it) is skipped, never returned twice.
const CLAIM_PUSH: &str = "UPDATE outbox SET state = 'leased', lease_owner = $1, lease_until = $2, \
    attempts = attempts + 1 WHERE id IN (SELECT o.id FROM outbox o \
      WHERE o.state = 'pending' AND o.channel = 'push' AND o.next_attempt_at <= $3 \
      AND EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = o.stream_id AND s.status = 'enabled') \
      ORDER BY o.next_attempt_at, o.id LIMIT $4 FOR UPDATE OF o SKIP LOCKED) \
    RETURNING id, stream_id, jti, subject_key, set_jwt, attempts, created_at, lease_until";

/// `sql::SELECT_STREAM_STATE` with a key-share lock: a status change, update or delete of the
/// stream (which lock it `FOR UPDATE`) waits for the enqueue, and the enqueue for them, so no SET
/// is queued as `pending` on a stream paused meanwhile, or kept for one disabled meanwhile.
/// Polls and activity updates (no-key updates) do not conflict with it.
const SELECT_STREAM_STATE_FOR_SHARE: &str =
    "SELECT status, delivery FROM streams WHERE stream_id = $1 FOR KEY SHARE";

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

pub(super) use self::order::settle;
use self::order::{IN_FLIGHT, keys_with};
pub(crate) use self::order::{SubjectKey, promote};

/// Rows per multi-row insert (a power of two; 6 parameters each).
const ROWS_PER_INSERT: usize = 128;
/// Ids per `IN` list (a power of two).
const IDS_PER_STATEMENT: usize = 128;
/// `(status, delivery)` of a stream regardless of owner, locked (shared) until commit.
pub(super) async fn stream_state(
    conn: &mut PgConnection,
    stream_id: &str,
) -> StoreResult<Option<(StreamStatus, DeliveryMethod)>> {
    let row: Option<(String, String)> = sqlx::query_as(SELECT_STREAM_STATE_FOR_SHARE)
        .bind(stream_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|(status, delivery)| {
        Ok((
            StreamStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("stream status {status:?}")))?,
            DeliveryMethod::parse(&delivery)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery method {delivery:?}")))?,
        ))
    })
    .transpose()
}

fn ready_state(status: StreamStatus) -> OutboxState {
    if status == StreamStatus::Enabled {
        OutboxState::Pending
    } else {
        OutboxState::Held
    }
}

/// Writes `sets` (one transaction: the caller's job); returns the report and the streams to wake.
pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    sets: &[NewSet],
    now: UnixMillis,
) -> StoreResult<(EnqueueReport, Vec<StreamId>)> {
    let mut streams: HashMap<StreamId, Option<(StreamStatus, DeliveryMethod)>> = HashMap::new();
    // Sorted, so two enqueues lock shared streams in the same order.
    let mut ids: Vec<&StreamId> = sets.iter().map(|s| &s.stream_id).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let state = stream_state(conn, id.as_str()).await?;
        streams.insert(id.clone(), state);
    }
    for set in sets {
        debug_assert!(streams.contains_key(&set.stream_id));
    }
    let mut report = EnqueueReport::default();
    // Push keys that already have a queued SET: new SETs of those keys wait behind it.
    let mut push_keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for set in sets {
        if let Some(Some((status, DeliveryMethod::Push))) = streams.get(&set.stream_id)
            && *status != StreamStatus::Disabled
        {
            let keys = push_keys.entry(set.stream_id.as_str()).or_default();
            keys.insert(set.subject_key.as_str());
        }
    }
    // Keys with a queued SET: new SETs of those wait. `locked`: keys whose in-flight row this
    // transaction holds, which therefore cannot finish before the new SETs are committed.
    let mut busy: HashSet<(&str, &str)> = HashSet::new();
    let mut locked: HashSet<(&str, &str)> = HashSet::new();
    for (stream, keys) in &push_keys {
        let keys: Vec<&str> = keys.iter().copied().collect();
        for key in keys_with(conn, IN_FLIGHT, stream, &keys).await? {
            if let Some(key) = keys.iter().find(|k| **k == key) {
                locked.insert((stream, key));
            }
        }
        for key in keys_with(conn, (sql::WAITING_KEYS_PREFIX, ""), stream, &keys).await? {
            if let Some(key) = keys.iter().find(|k| **k == key) {
                busy.insert((stream, key));
            }
        }
    }
    busy.extend(locked.iter().copied());
    let mut unsettled: BTreeSet<SubjectKey> = BTreeSet::new();
    let mut rows: Vec<(&NewSet, DeliveryMethod, OutboxState)> = Vec::with_capacity(sets.len());
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
    for chunk in sql::pow2_chunks(&rows, ROWS_PER_INSERT) {
        // Safe: only generated placeholders are interpolated.
        let text = format!(
            "{}{}",
            sql::INSERT_OUTBOX_PREFIX,
            sql::outbox_values(chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(text)).bind(now.0);
        for (set, delivery, state) in chunk {
            query = query
                .bind(set.stream_id.as_str())
                .bind(set.jti.as_str())
                .bind(set.subject_key.as_str())
                .bind(delivery.as_str())
                .bind(state.as_str())
                .bind(set.set_jwt.as_str());
        }
        query.execute(&mut *conn).await.map_err(|e| match &e {
            // Another node queued or released a SET of one of these keys meanwhile: retried.
            sqlx::Error::Database(db) if db.constraint() == Some(super::ONE_IN_FLIGHT) => {
                StoreError::Database(e)
            }
            _ => StoreError::conflict_or(e, || {
                "a jti of this batch is already queued for its stream".to_owned()
            }),
        })?;
    }
    report.queued = rows.len() as u64;
    let mut wake: BTreeSet<StreamId> = settle(conn, unsettled).await?.into_iter().collect();
    for (set, _, state) in &rows {
        if *state == OutboxState::Pending {
            wake.insert(set.stream_id.clone());
        }
    }
    let mut dropped: Vec<StreamId> = streams
        .into_iter()
        .filter(|(_, state)| state.is_none_or(|(status, _)| status == StreamStatus::Disabled))
        .map(|(id, _)| id)
        .collect();
    dropped.sort();
    report.dropped_streams = dropped;
    Ok((report, wake.into_iter().collect()))
}

pub(super) async fn claim_push(
    conn: &mut PgConnection,
    owner: &str,
    max: u32,
    lease_ms: i64,
    now: UnixMillis,
) -> StoreResult<Vec<ClaimedSet>> {
    let rows = sqlx::query_as::<_, ClaimRow>(CLAIM_PUSH)
        .bind(owner)
        .bind(now.plus_millis(lease_ms).0)
        .bind(now.0)
        .bind(i64::from(max))
        .fetch_all(&mut *conn)
        .await?;
    let mut claimed: Vec<ClaimedSet> = rows.into_iter().map(ClaimRow::into_claimed).collect();
    // RETURNING order is unspecified.
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Applies push outcomes; returns the report and the streams to wake.
pub(super) async fn record_outcomes(
    conn: &mut PgConnection,
    owner: &str,
    outcomes: &[DeliveryOutcome],
    now: UnixMillis,
) -> StoreResult<(OutcomeReport, Vec<StreamId>)> {
    let mut report = OutcomeReport::default();
    let mut finished: Vec<SubjectKey> = Vec::new();
    let mut all: Vec<i64> = outcomes.iter().map(|o| o.id().0).collect();
    all.sort_unstable();
    all.dedup();
    sqlx::query(LOCK_FINISHING)
        .bind(all)
        .execute(&mut *conn)
        .await?;
    let mut delivered: Vec<OutboxId> = outcomes
        .iter()
        .filter_map(|o| match o {
            DeliveryOutcome::Delivered(id) => Some(*id),
            _ => None,
        })
        .collect();
    // Sorted: two transactions deleting overlapping rows lock them in the same order.
    delivered.sort();
    let mut deleted: HashSet<i64> = HashSet::new();
    for chunk in sql::pow2_chunks(&delivered, IDS_PER_STATEMENT) {
        // Safe: only generated placeholders are interpolated.
        let text = format!(
            "{}{}{}",
            sql::DELETE_DELIVERED_PREFIX,
            sql::param_list(1, chunk.len()),
            sql::DELETE_DELIVERED_RETURNING
        );
        let mut query = sqlx::query_as::<_, (String, String, String, i64)>(AssertSqlSafe(text));
        for id in chunk {
            query = query.bind(id.0);
        }
        for (stream_id, subject_key, channel, id) in query.fetch_all(&mut *conn).await? {
            deleted.insert(id);
            if channel == DeliveryMethod::Push.as_str() {
                finished.push((stream_id, subject_key));
            }
        }
    }
    for id in &delivered {
        if deleted.contains(&id.0) {
            report.applied += 1;
        } else {
            report.stale.push(*id);
        }
    }
    for outcome in outcomes {
        let (id, applied) = match outcome {
            DeliveryOutcome::Delivered(_) => continue,
            DeliveryOutcome::Retry {
                id,
                next_attempt_at,
                error,
            } => {
                let done = sqlx::query(sql::RETRY)
                    .bind(id.0)
                    .bind(owner)
                    .bind(next_attempt_at.0)
                    .bind(&error.code)
                    .bind(&error.description)
                    .execute(&mut *conn)
                    .await?;
                (*id, done.rows_affected() > 0)
            }
            DeliveryOutcome::Failed { id, error } => {
                let parked = park(conn, owner, *id, OutboxState::Failed, error, now).await?;
                (
                    *id,
                    parked.inspect(|key| finished.extend(key.clone())).is_some(),
                )
            }
            DeliveryOutcome::DeadLetter { id, error } => {
                let parked = park(conn, owner, *id, OutboxState::Dead, error, now).await?;
                (
                    *id,
                    parked.inspect(|key| finished.extend(key.clone())).is_some(),
                )
            }
        };
        if applied {
            report.applied += 1;
        } else {
            report.stale.push(id);
        }
    }
    let woken = promote(conn, finished).await?;
    Ok((report, woken))
}

/// Parks a leased row as failed or dead; returns `Some(key to promote, if push)` when applied.
async fn park(
    conn: &mut PgConnection,
    owner: &str,
    id: OutboxId,
    state: OutboxState,
    error: &DeliveryError,
    now: UnixMillis,
) -> StoreResult<Option<Option<SubjectKey>>> {
    let row: Option<(String, String, String)> = sqlx::query_as(sql::PARK)
        .bind(id.0)
        .bind(owner)
        .bind(state.as_str())
        .bind(&error.code)
        .bind(&error.description)
        .bind(now.0)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|(stream_id, subject_key, channel)| {
        (channel == DeliveryMethod::Push.as_str()).then_some((stream_id, subject_key))
    }))
}

/// Returns expired leases to the queue.
pub(super) async fn reap(conn: &mut PgConnection, now: UnixMillis) -> StoreResult<u64> {
    let done = sqlx::query(sql::REAP)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn next_push_due(pool: &PgPool) -> StoreResult<Option<UnixMillis>> {
    let row: (Option<i64>,) = sqlx::query_as(sql::NEXT_PUSH_DUE).fetch_one(pool).await?;
    Ok(row.0.map(UnixMillis))
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

pub(super) async fn drop_queued(conn: &mut PgConnection, stream_id: &StreamId) -> StoreResult<u64> {
    let done = sqlx::query(sql::DROP_QUEUED)
        .bind(stream_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn list_parked(
    pool: &PgPool,
    query: ParkedQuery,
) -> StoreResult<Vec<OutboxEntry>> {
    let rows = sqlx::query_as::<_, OutboxRow>(sql::LIST_PARKED)
        .bind(query.after.map_or(0, |id| id.0))
        .bind(query.stream_id.as_ref().map(StreamId::as_str))
        .bind(query.state.map(OutboxState::as_str))
        .bind(i64::from(query.limit))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(OutboxRow::into_entry).collect()
}

/// Requeues parked rows; returns how many and the streams to wake.
pub(super) async fn replay(
    conn: &mut PgConnection,
    selector: &ReplaySelector,
    now: UnixMillis,
) -> StoreResult<(u64, Vec<StreamId>)> {
    let rows: Vec<(i64, String, String, String)> = match selector {
        ReplaySelector::Stream(stream_id) => {
            sqlx::query_as(sql::SELECT_PARKED_OF_STREAM)
                .bind(stream_id.as_str())
                .fetch_all(&mut *conn)
                .await?
        }
        ReplaySelector::Ids(ids) => {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                let row = sqlx::query_as(sql::SELECT_PARKED_BY_ID)
                    .bind(id.0)
                    .fetch_optional(&mut *conn)
                    .await?;
                rows.extend(row);
            }
            rows
        }
    };
    let mut replayed = 0;
    let mut keys = Vec::new();
    let mut wake = BTreeSet::new();
    for (id, stream_id, subject_key, channel) in rows {
        let Some((status, _)) = stream_state(conn, &stream_id).await? else {
            continue;
        };
        if status == StreamStatus::Disabled {
            continue;
        }
        let state = if channel == DeliveryMethod::Push.as_str() {
            OutboxState::Waiting
        } else {
            ready_state(status)
        };
        sqlx::query(sql::REQUEUE)
            .bind(id)
            .bind(state.as_str())
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        replayed += 1;
        if state == OutboxState::Waiting {
            keys.push((stream_id, subject_key));
        } else {
            wake.insert(StreamId::new(stream_id));
        }
    }
    wake.extend(settle(conn, keys.into_iter().collect()).await?);
    Ok((replayed, wake.into_iter().collect()))
}

pub(super) async fn purge_parked(conn: &mut PgConnection, before: UnixMillis) -> StoreResult<u64> {
    let done = sqlx::query(sql::PURGE_PARKED)
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn counts(
    pool: &PgPool,
    stream_id: Option<&StreamId>,
) -> StoreResult<OutboxCounts> {
    let rows: Vec<(String, i64)> = match stream_id {
        Some(id) => {
            sqlx::query_as(sql::COUNT_STREAM)
                .bind(id.as_str())
                .fetch_all(pool)
                .await?
        }
        None => sqlx::query_as(sql::COUNT_ALL).fetch_all(pool).await?,
    };
    let mut counts = OutboxCounts::default();
    for (state, n) in rows {
        let state = OutboxState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox state {state:?}")))?;
        counts.add(state, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}
