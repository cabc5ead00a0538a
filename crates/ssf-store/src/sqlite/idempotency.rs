//! Idempotency keys on SQLite (D-TX-16): claimed, answered and looked up inside the writer's
//! transaction, so a key and the SETs of its request commit together or not at all. The writer
//! runs one job at a time, so of two requests with one key the second finds the first's row.

use sqlx::{SqliteConnection, SqlitePool};
use ssf_types::{StreamId, UnixMillis};

use super::outbox;
use crate::{
    error::{StoreError, StoreResult},
    model::{
        idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentEnqueue, Respond},
        outbox::{EnqueueReport, NewSet},
    },
    rows::IdempotencyRow,
    sql,
};

/// Claims the key, then queues `sets` and stores the response; or returns the live record that
/// holds the key. Also returns the streams to wake.
pub(super) async fn enqueue(
    conn: &mut SqliteConnection,
    sets: Vec<NewSet>,
    claim: IdempotencyClaim,
    respond: Respond,
    now: UnixMillis,
) -> StoreResult<(IdempotentEnqueue, Vec<StreamId>)> {
    let expires_at = now.plus_millis(sql::millis(claim.window));
    let claimed: Option<(String,)> = sqlx::query_as(sql::CLAIM_IDEMPOTENCY)
        .bind(&claim.client_id)
        .bind(&claim.key)
        .bind(&claim.request_hash)
        .bind(now.0)
        .bind(expires_at.0)
        .bind(now.0)
        .fetch_optional(&mut *conn)
        .await?;
    if claimed.is_none() {
        let record = select(&mut *conn, &claim.client_id, &claim.key)
            .await?
            .ok_or_else(StoreError::idempotency_key_vanished)?;
        return Ok((IdempotentEnqueue::Existing(record), Vec::new()));
    }
    let (report, woken) = if sets.is_empty() {
        (EnqueueReport::default(), Vec::new())
    } else {
        outbox::enqueue(conn, sets, now).await?
    };
    let response = respond.call(&report);
    sqlx::query(sql::RESPOND_IDEMPOTENCY)
        .bind(&claim.client_id)
        .bind(&claim.key)
        .bind(i64::from(response.status))
        .bind(&response.body)
        .execute(&mut *conn)
        .await?;
    Ok((IdempotentEnqueue::Enqueued { report, response }, woken))
}

/// The record of a key, read through `executor` (the writer's transaction or the read pool).
async fn select<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    client_id: &str,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row: Option<IdempotencyRow> = sqlx::query_as(sql::SELECT_IDEMPOTENCY)
        .bind(client_id)
        .bind(key)
        .fetch_optional(executor)
        .await?;
    row.map(IdempotencyRow::into_record).transpose()
}

/// The record of a key, from the read pool.
pub(super) async fn record(
    pool: &SqlitePool,
    client_id: &str,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    select(pool, client_id, key).await
}

/// Deletes the keys expired by `now`.
pub(super) async fn purge(conn: &mut SqliteConnection, now: UnixMillis) -> StoreResult<u64> {
    let done = sqlx::query(sql::PURGE_IDEMPOTENCY)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
