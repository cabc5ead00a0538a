//! The outbox on SQLite, where it differs from PostgreSQL: enqueue and delivery method changes,
//! inside the writer's transaction (no other writer can interleave). The rest is in
//! `transmitter::outbox`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::{AssertSqlSafe, SqliteConnection};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{EnqueueReport, NewSet, OutboxState},
    },
    sql,
    transmitter::outbox::{self, ready_state},
};

/// The shared outbox operations, on SQLite.
type Outbox = outbox::Outbox<sqlx::Sqlite>;

/// Rows per multi-row insert (a power of two; 6 parameters each).
const ROWS_PER_INSERT: usize = 128;

/// Writes `sets` (one transaction: the caller's job); returns the report and the streams to wake.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    sets: &[NewSet],
    now: UnixMillis,
) -> StoreResult<(EnqueueReport, Vec<StreamId>)> {
    let mut streams: HashMap<StreamId, Option<(StreamStatus, DeliveryMethod)>> = HashMap::new();
    for set in sets {
        if !streams.contains_key(&set.stream_id) {
            let state = Outbox::stream_state(conn, set.stream_id.as_str()).await?;
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
        for key in Outbox::keys_with(conn, (sql::QUEUED_KEYS_PREFIX, ""), stream, &keys).await? {
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
