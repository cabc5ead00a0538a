//! The outbox on SQLite: enqueue, push claim and outcomes, reaper, replay, counts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::{AssertSqlSafe, SqliteConnection, SqlitePool};
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

/// The SQLite claim: one statement inside the writer's `BEGIN IMMEDIATE` transaction, so no
/// other writer can interleave. PostgreSQL adds `FOR UPDATE SKIP LOCKED` to the inner select.
const CLAIM_PUSH: &str = "UPDATE outbox SET state = 'leased', lease_owner = $1, lease_until = $2, \
    attempts = attempts + 1 WHERE id IN (SELECT o.id FROM outbox o \
      WHERE o.state = 'pending' AND o.channel = 'push' AND o.next_attempt_at <= $3 \
      AND EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = o.stream_id AND s.status = 'enabled') \
      ORDER BY o.next_attempt_at, o.id LIMIT $4) \
    RETURNING id, stream_id, jti, subject_key, set_jwt, attempts, created_at, lease_until";

/// Rows per multi-row insert (a power of two; 6 parameters each).
const ROWS_PER_INSERT: usize = 128;
/// Ids per `IN` list (a power of two).
const IDS_PER_STATEMENT: usize = 128;
/// Subject keys per `IN` list (a power of two).
const KEYS_PER_STATEMENT: usize = 256;

pub(crate) use crate::engine::SubjectKey;

/// `(status, delivery)` of a stream regardless of owner.
pub(super) async fn stream_state(
    conn: &mut SqliteConnection,
    stream_id: &str,
) -> StoreResult<Option<(StreamStatus, DeliveryMethod)>> {
    let row: Option<(String, String)> = sqlx::query_as(sql::SELECT_STREAM_STATE)
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
    conn: &mut SqliteConnection,
    sets: &[NewSet],
    now: UnixMillis,
) -> StoreResult<(EnqueueReport, Vec<StreamId>)> {
    let mut streams: HashMap<StreamId, Option<(StreamStatus, DeliveryMethod)>> = HashMap::new();
    for set in sets {
        if !streams.contains_key(&set.stream_id) {
            let state = stream_state(conn, set.stream_id.as_str()).await?;
            streams.insert(set.stream_id.clone(), state);
        }
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
    let mut busy: HashSet<(&str, &str)> = HashSet::new();
    for (stream, keys) in &push_keys {
        let keys: Vec<&str> = keys.iter().copied().collect();
        for key in keys_with(conn, sql::QUEUED_KEYS_PREFIX, stream, &keys).await? {
            if let Some(key) = keys.iter().find(|k| **k == key) {
                busy.insert((stream, key));
            }
        }
    }
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
        query.execute(&mut *conn).await.map_err(|e| {
            StoreError::conflict_or(e, || {
                "a jti of this batch is already queued for its stream".to_owned()
            })
        })?;
    }
    report.queued = rows.len() as u64;
    let mut wake = BTreeSet::new();
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

/// Which of `keys` of `stream` have a row matching the statement `prefix` (an `IN` list follows).
async fn keys_with(
    conn: &mut SqliteConnection,
    prefix: &str,
    stream: &str,
    keys: &[&str],
) -> StoreResult<Vec<String>> {
    let mut found = Vec::new();
    for chunk in sql::pow2_chunks(keys, KEYS_PER_STATEMENT) {
        // Safe: `prefix` is a constant and only generated placeholders are appended.
        let text = format!("{prefix}{}", sql::param_list(2, chunk.len()));
        let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(text)).bind(stream);
        for key in chunk {
            query = query.bind(*key);
        }
        found.extend(query.fetch_all(&mut *conn).await?.into_iter().map(|(k,)| k));
    }
    Ok(found)
}

/// Releases the next waiting SET of each key; returns the streams that got a ready SET.
pub(crate) async fn promote(
    conn: &mut SqliteConnection,
    keys: impl IntoIterator<Item = SubjectKey>,
) -> StoreResult<Vec<StreamId>> {
    let mut by_stream: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (stream, key) in keys {
        by_stream.entry(stream).or_default().insert(key);
    }
    let mut woken = BTreeSet::new();
    for (stream_id, keys) in by_stream {
        // Usually nothing waits: one statement per stream instead of one per key.
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        for subject_key in keys_with(conn, sql::WAITING_KEYS_PREFIX, &stream_id, &keys).await? {
            let done = sqlx::query(sql::PROMOTE)
                .bind(stream_id.as_str())
                .bind(subject_key.as_str())
                .execute(&mut *conn)
                .await?;
            if done.rows_affected() > 0 {
                woken.insert(stream_id.clone());
            }
        }
    }
    Ok(woken.into_iter().map(StreamId::new).collect())
}

pub(super) async fn claim_push(
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
    owner: &str,
    outcomes: Vec<DeliveryOutcome>,
    now: UnixMillis,
) -> StoreResult<(OutcomeReport, Vec<StreamId>)> {
    let mut report = OutcomeReport::default();
    let mut finished: Vec<SubjectKey> = Vec::new();
    let delivered: Vec<OutboxId> = outcomes
        .iter()
        .filter_map(|o| match o {
            DeliveryOutcome::Delivered(id) => Some(*id),
            _ => None,
        })
        .collect();
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
                    .bind(error.code)
                    .bind(error.description)
                    .execute(&mut *conn)
                    .await?;
                (id, done.rows_affected() > 0)
            }
            DeliveryOutcome::Failed { id, error } => {
                let parked = park(conn, owner, id, OutboxState::Failed, error, now).await?;
                (
                    id,
                    parked.inspect(|key| finished.extend(key.clone())).is_some(),
                )
            }
            DeliveryOutcome::DeadLetter { id, error } => {
                let parked = park(conn, owner, id, OutboxState::Dead, error, now).await?;
                (
                    id,
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
    conn: &mut SqliteConnection,
    owner: &str,
    id: OutboxId,
    state: OutboxState,
    error: DeliveryError,
    now: UnixMillis,
) -> StoreResult<Option<Option<SubjectKey>>> {
    let row: Option<(String, String, String)> = sqlx::query_as(sql::PARK)
        .bind(id.0)
        .bind(owner)
        .bind(state.as_str())
        .bind(error.code)
        .bind(error.description)
        .bind(now.0)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|(stream_id, subject_key, channel)| {
        (channel == DeliveryMethod::Push.as_str()).then_some((stream_id, subject_key))
    }))
}

/// Returns expired leases to the queue.
pub(super) async fn reap(conn: &mut SqliteConnection, now: UnixMillis) -> StoreResult<u64> {
    let done = sqlx::query(sql::REAP)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn next_push_due(pool: &SqlitePool) -> StoreResult<Option<UnixMillis>> {
    let row: (Option<i64>,) = sqlx::query_as(sql::NEXT_PUSH_DUE).fetch_one(pool).await?;
    Ok(row.0.map(UnixMillis))
}

/// Moves a stream's queued rows to a new delivery method. Push -> poll releases waiting rows
/// (poll hands out in id order anyway); poll -> push re-establishes one ready row per subject.
pub(crate) async fn rechannel(
    conn: &mut SqliteConnection,
    stream_id: &StreamId,
    to: DeliveryMethod,
    status: StreamStatus,
) -> StoreResult<()> {
    sqlx::query(sql::SET_CHANNEL)
        .bind(stream_id.as_str())
        .bind(to.as_str())
        .execute(&mut *conn)
        .await?;
    match to {
        DeliveryMethod::Poll => {
            sqlx::query(sql::RELEASE_WAITING)
                .bind(stream_id.as_str())
                .bind(ready_state(status).as_str())
                .execute(&mut *conn)
                .await?;
        }
        DeliveryMethod::Push => {
            let rows: Vec<(i64, String, String)> = sqlx::query_as(sql::SELECT_IN_FLIGHT)
                .bind(stream_id.as_str())
                .fetch_all(&mut *conn)
                .await?;
            let mut seen = HashSet::new();
            for (id, subject_key, _) in rows {
                if !seen.insert(subject_key) {
                    sqlx::query(sql::MAKE_WAITING)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn drop_queued(
    conn: &mut SqliteConnection,
    stream_id: &StreamId,
) -> StoreResult<u64> {
    let done = sqlx::query(sql::DROP_QUEUED)
        .bind(stream_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn list_parked(
    pool: &SqlitePool,
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
    conn: &mut SqliteConnection,
    selector: ReplaySelector,
    now: UnixMillis,
) -> StoreResult<(u64, Vec<StreamId>)> {
    let rows: Vec<(i64, String, String, String)> = match selector {
        ReplaySelector::Stream(stream_id) => {
            sqlx::query_as(sql::SELECT_PARKED_OF_STREAM)
                .bind(stream_id.as_str())
                .fetch_all(&mut *conn)
                .await?
        }
        ReplaySelector::Ids(mut ids) => {
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
    wake.extend(promote(conn, keys).await?);
    Ok((replayed, wake.into_iter().collect()))
}

pub(super) async fn purge_parked(
    conn: &mut SqliteConnection,
    before: UnixMillis,
) -> StoreResult<u64> {
    let done = sqlx::query(sql::PURGE_PARKED)
        .bind(before.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(super) async fn counts(
    pool: &SqlitePool,
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
