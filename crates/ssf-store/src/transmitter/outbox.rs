//! The outbox on either engine: push claims and outcomes, the per-subject promotion, reaper,
//! replay, parked rows and counts (the state machine of `model::outbox`). Enqueue and delivery
//! method changes differ too much per engine (PostgreSQL keeps several nodes apart with locks and
//! a unique index) and stay with each backend, as hooks of [`Engine`].

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    marker::PhantomData,
};

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::{Engine, SubjectKey},
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

/// Rows per multi-row insert (a power of two; 6 parameters each).
const ROWS_PER_INSERT: usize = 128;
/// Ids per `IN` list (a power of two).
const IDS_PER_STATEMENT: usize = 128;
/// Subject keys per `IN` list (a power of two).
const KEYS_PER_STATEMENT: usize = 256;

/// The state a SET takes when it becomes ready on a stream of `status`.
pub(crate) fn ready_state(status: StreamStatus) -> OutboxState {
    if status == StreamStatus::Enabled {
        OutboxState::Pending
    } else {
        OutboxState::Held
    }
}

/// A SET about to be queued: its delivery method and first state.
pub(crate) type QueuedRow<'s> = (&'s NewSet, DeliveryMethod, OutboxState);

/// The streams of `sets` by id, and their `(status, delivery)` (`None`: no such stream).
pub(crate) type StreamStates = HashMap<StreamId, Option<(StreamStatus, DeliveryMethod)>>;

/// The subject keys of `sets` on push streams that are not disabled, by stream: new SETs of a
/// key that already has a queued SET wait behind it.
pub(crate) fn push_keys<'s>(
    sets: &'s [NewSet],
    streams: &StreamStates,
) -> BTreeMap<&'s str, BTreeSet<&'s str>> {
    let mut push_keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for set in sets {
        if let Some(Some((status, DeliveryMethod::Push))) = streams.get(&set.stream_id)
            && *status != StreamStatus::Disabled
        {
            let keys = push_keys.entry(set.stream_id.as_str()).or_default();
            keys.insert(set.subject_key.as_str());
        }
    }
    push_keys
}

/// Completes an enqueue's report with the rows queued and the streams missing or disabled;
/// returns it with the streams to wake (`wake` and those with a new pending row).
pub(crate) fn finish_enqueue(
    mut report: EnqueueReport,
    rows: &[QueuedRow<'_>],
    streams: StreamStates,
    mut wake: BTreeSet<StreamId>,
) -> (EnqueueReport, Vec<StreamId>) {
    report.queued = rows.len() as u64;
    for (set, _, state) in rows {
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
    (report, wake.into_iter().collect())
}

/// The outbox operations on engine `D`.
pub(crate) struct Outbox<D>(PhantomData<D>);

impl<D: Engine> Outbox<D>
where
    D::Arguments: IntoArguments<D>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    usize: ColumnIndex<D::Row>,
    for<'a> &'a str: ColumnIndex<D::Row> + Encode<'a, D> + Type<D>,
    for<'a> Option<&'a str>: Encode<'a, D>,
    for<'a> String: Encode<'a, D> + Decode<'a, D> + Type<D>,
    for<'a> Option<String>: Encode<'a, D>,
    for<'a> i64: Encode<'a, D> + Decode<'a, D> + Type<D>,
    for<'a> Option<i64>: Encode<'a, D>,
    for<'a> bool: Encode<'a, D> + Decode<'a, D> + Type<D>,
    for<'a> Option<bool>: Encode<'a, D>,
{
    /// `(status, delivery)` of a stream regardless of owner, read with [`Engine::STREAM_STATE`]
    /// (on PostgreSQL: locked, shared, until commit).
    pub(crate) async fn stream_state(
        conn: &mut D::Connection,
        stream_id: &str,
    ) -> StoreResult<Option<(StreamStatus, DeliveryMethod)>> {
        let row: Option<(String, String)> = sqlx::query_as(D::STREAM_STATE)
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

    /// The `(status, delivery)` of the streams of `sets`, read with [`Engine::STREAM_STATE`];
    /// in id order where [`Engine::LOCK_IN_KEY_ORDER`], so two enqueues lock shared streams in
    /// the same order.
    pub(crate) async fn stream_states(
        conn: &mut D::Connection,
        sets: &[NewSet],
    ) -> StoreResult<StreamStates> {
        let mut streams: StreamStates = HashMap::new();
        if D::LOCK_IN_KEY_ORDER {
            let mut ids: Vec<&StreamId> = sets.iter().map(|s| &s.stream_id).collect();
            ids.sort();
            ids.dedup();
            for id in ids {
                let state = Self::stream_state(conn, id.as_str()).await?;
                streams.insert(id.clone(), state);
            }
        } else {
            for set in sets {
                if !streams.contains_key(&set.stream_id) {
                    let state = Self::stream_state(conn, set.stream_id.as_str()).await?;
                    streams.insert(set.stream_id.clone(), state);
                }
            }
        }
        Ok(streams)
    }

    /// Inserts `rows` with multi-row statements; the database error is the caller's to map.
    pub(crate) async fn insert_rows(
        conn: &mut D::Connection,
        rows: &[QueuedRow<'_>],
        now: UnixMillis,
    ) -> Result<(), sqlx::Error> {
        for chunk in sql::pow2_chunks(rows, ROWS_PER_INSERT) {
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
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Which of `keys` of `stream` have a row matching the statement `(prefix, suffix)` (an `IN`
    /// list goes between them). A key may be listed more than once.
    pub(crate) async fn keys_with(
        conn: &mut D::Connection,
        (prefix, suffix): (&str, &str),
        stream: &str,
        keys: &[&str],
    ) -> StoreResult<Vec<String>> {
        let mut found = Vec::new();
        for chunk in sql::pow2_chunks(keys, KEYS_PER_STATEMENT) {
            // Safe: `prefix` and `suffix` are constants; only generated placeholders go between.
            let text = format!("{prefix}{}{suffix}", sql::param_list(2, chunk.len()));
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
        conn: &mut D::Connection,
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
            let waiting = (sql::WAITING_KEYS_PREFIX, "");
            for subject_key in Self::keys_with(conn, waiting, &stream_id, &keys).await? {
                let done = sqlx::query(sql::PROMOTE)
                    .bind(stream_id.as_str())
                    .bind(subject_key.as_str())
                    .execute(&mut *conn)
                    .await?;
                if D::rows_affected(&done) > 0 {
                    woken.insert(stream_id.clone());
                }
            }
        }
        Ok(woken.into_iter().map(StreamId::new).collect())
    }

    pub(crate) async fn claim_push(
        conn: &mut D::Connection,
        owner: &str,
        max: u32,
        lease_ms: i64,
        now: UnixMillis,
    ) -> StoreResult<Vec<ClaimedSet>> {
        let rows = sqlx::query_as::<_, ClaimRow>(D::CLAIM_PUSH)
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
    pub(crate) async fn record_outcomes(
        conn: &mut D::Connection,
        owner: &str,
        outcomes: &[DeliveryOutcome],
        now: UnixMillis,
    ) -> StoreResult<(OutcomeReport, Vec<StreamId>)> {
        let mut report = OutcomeReport::default();
        let mut finished: Vec<SubjectKey> = Vec::new();
        D::lock_finishing(conn, outcomes).await?;
        let mut delivered: Vec<OutboxId> = outcomes
            .iter()
            .filter_map(|o| match o {
                DeliveryOutcome::Delivered(id) => Some(*id),
                _ => None,
            })
            .collect();
        if D::LOCK_IN_KEY_ORDER {
            // Two transactions deleting overlapping rows lock them in the same order.
            delivered.sort();
        }
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
                    (*id, D::rows_affected(&done) > 0)
                }
                DeliveryOutcome::Failed { id, error } => {
                    let parked =
                        Self::park(conn, owner, *id, OutboxState::Failed, error, now).await?;
                    (
                        *id,
                        parked.inspect(|key| finished.extend(key.clone())).is_some(),
                    )
                }
                DeliveryOutcome::DeadLetter { id, error } => {
                    let parked =
                        Self::park(conn, owner, *id, OutboxState::Dead, error, now).await?;
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
        let woken = Self::promote(conn, finished).await?;
        Ok((report, woken))
    }

    /// Parks a leased row as failed or dead; returns `Some(key to promote, if push)` when applied.
    async fn park(
        conn: &mut D::Connection,
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
    pub(crate) async fn reap(conn: &mut D::Connection, now: UnixMillis) -> StoreResult<u64> {
        let done = sqlx::query(sql::REAP)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done))
    }

    pub(crate) async fn next_push_due(pool: &Pool<D>) -> StoreResult<Option<UnixMillis>> {
        let row: (Option<i64>,) = sqlx::query_as(sql::NEXT_PUSH_DUE).fetch_one(pool).await?;
        Ok(row.0.map(UnixMillis))
    }

    pub(crate) async fn drop_queued(
        conn: &mut D::Connection,
        stream_id: &StreamId,
    ) -> StoreResult<u64> {
        let done = sqlx::query(sql::DROP_QUEUED)
            .bind(stream_id.as_str())
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done))
    }

    pub(crate) async fn list_parked(
        pool: &Pool<D>,
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
    pub(crate) async fn replay(
        conn: &mut D::Connection,
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
            let Some((status, _)) = Self::stream_state(conn, &stream_id).await? else {
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
        wake.extend(D::release_queued(conn, keys).await?);
        Ok((replayed, wake.into_iter().collect()))
    }

    pub(crate) async fn purge_parked(
        conn: &mut D::Connection,
        before: UnixMillis,
    ) -> StoreResult<u64> {
        let done = sqlx::query(sql::PURGE_PARKED)
            .bind(before.0)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done))
    }

    pub(crate) async fn counts(
        pool: &Pool<D>,
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
            counts.add(parse_state(&state)?, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }

    /// Outbox rows by state of every stream with any, in one grouped query.
    pub(crate) async fn counts_by_stream(
        pool: &Pool<D>,
    ) -> StoreResult<BTreeMap<StreamId, OutboxCounts>> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as(sql::COUNT_BY_STREAM).fetch_all(pool).await?;
        let mut by_stream: BTreeMap<StreamId, OutboxCounts> = BTreeMap::new();
        for (stream_id, state, n) in rows {
            by_stream
                .entry(StreamId::new(stream_id))
                .or_default()
                .add(parse_state(&state)?, u64::try_from(n).unwrap_or(0));
        }
        Ok(by_stream)
    }
}

/// A stored outbox state, or [`StoreError::Corrupt`].
fn parse_state(state: &str) -> StoreResult<OutboxState> {
    OutboxState::parse(state).ok_or_else(|| StoreError::Corrupt(format!("outbox state {state:?}")))
}
