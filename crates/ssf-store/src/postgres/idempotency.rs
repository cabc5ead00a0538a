//! Idempotency keys on PostgreSQL (D-TX-16), in the transaction that queues the request's SETs.
//! The claim is the first statement: a second request with the same key blocks on the primary
//! key until the first transaction ends, then finds its committed row (READ COMMITTED reads it
//! in the next statement) and queues nothing; if the first rolled back, the second claims the key.

use sqlx::{PgConnection, PgPool};
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
/// holds the key. Also returns the streams to wake. Reads only its arguments (the transaction
/// may run again).
pub(super) async fn enqueue(
    conn: &mut PgConnection,
    sets: &[NewSet],
    claim: &IdempotencyClaim,
    respond: &Respond,
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
        let row: Option<IdempotencyRow> = sqlx::query_as(sql::SELECT_IDEMPOTENCY)
            .bind(&claim.client_id)
            .bind(&claim.key)
            .fetch_optional(&mut *conn)
            .await?;
        let record = row
            .map(IdempotencyRow::into_record)
            .transpose()?
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

/// The record of a key.
pub(super) async fn record(
    pool: &PgPool,
    client_id: &str,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row: Option<IdempotencyRow> = sqlx::query_as(sql::SELECT_IDEMPOTENCY)
        .bind(client_id)
        .bind(key)
        .fetch_optional(pool)
        .await?;
    row.map(IdempotencyRow::into_record).transpose()
}

/// Deletes the keys expired by `now`.
pub(super) async fn purge(conn: &mut PgConnection, now: UnixMillis) -> StoreResult<u64> {
    let done = sqlx::query(sql::PURGE_IDEMPOTENCY)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
