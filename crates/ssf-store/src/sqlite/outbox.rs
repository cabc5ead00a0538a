//! The outbox on SQLite, where it differs from PostgreSQL: enqueue and delivery method changes,
//! inside the writer's transaction (no other writer can interleave). The rest is in
//! `transmitter::outbox`.

use std::collections::{BTreeSet, HashSet};

use sqlx::SqliteConnection;
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{EnqueueReport, NewSet, OutboxState},
    },
    sql,
    transmitter::outbox::{self, QueuedRow, ready_state},
};

/// The shared outbox operations, on SQLite.
type Outbox = outbox::Outbox<sqlx::Sqlite>;

/// Writes `sets` (one transaction: the caller's job); returns the report and the streams to wake.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    sets: &[NewSet],
    now: UnixMillis,
) -> StoreResult<(EnqueueReport, Vec<StreamId>)> {
    let streams = Outbox::stream_states(conn, sets).await?;
    let mut report = EnqueueReport::default();
    let push_keys = outbox::push_keys(sets, &streams);
    let mut busy: HashSet<(&str, &str)> = HashSet::new();
    for (stream, keys) in &push_keys {
        let keys: Vec<&str> = keys.iter().copied().collect();
        for key in Outbox::keys_with(conn, (sql::QUEUED_KEYS_PREFIX, ""), stream, &keys).await? {
            if let Some(key) = keys.iter().find(|k| **k == key) {
                busy.insert((stream, key));
            }
        }
    }
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
        busy.insert(key);
        if state == OutboxState::Held {
            report.held += 1;
        }
        rows.push((set, delivery, state));
    }
    Outbox::insert_rows(conn, &rows, now).await.map_err(|e| {
        StoreError::conflict_or(e, || {
            "a jti of this batch is already queued for its stream".to_owned()
        })
    })?;
    Ok(outbox::finish_enqueue(
        report,
        &rows,
        streams,
        BTreeSet::new(),
    ))
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
