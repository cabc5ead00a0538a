//! Idempotency keys (D-TX-16), on either engine, in the transaction that queues the request's
//! SETs, so a key and the SETs of its request commit together or not at all. The claim is the
//! first statement. On SQLite the writer runs one job at a time, so of two requests with one key
//! the second finds the first's row. On PostgreSQL a second request with the same key blocks on
//! the primary key until the first transaction ends, then finds its committed row (READ
//! COMMITTED reads it in the next statement) and queues nothing; if the first rolled back, the
//! second claims the key.

use std::marker::PhantomData;

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::Engine,
    error::{StoreError, StoreResult},
    model::{
        idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentEnqueue, Respond},
        outbox::{EnqueueReport, NewSet},
    },
    rows::IdempotencyRow,
    sql,
};

/// The idempotency-key operations on engine `D`.
pub(crate) struct Idempotency<D>(PhantomData<D>);

impl<D: Engine> Idempotency<D>
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
    /// Claims the key, then queues `sets` and stores the response; or returns the live record that
    /// holds the key. Also returns the streams to wake. Reads only its arguments (the transaction
    /// may run again).
    pub(crate) async fn enqueue(
        conn: &mut D::Connection,
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
            let record = Self::record(&mut *conn, &claim.client_id, &claim.key)
                .await?
                .ok_or_else(StoreError::idempotency_key_vanished)?;
            return Ok((IdempotentEnqueue::Existing(record), Vec::new()));
        }
        let (report, woken) = if sets.is_empty() {
            (EnqueueReport::default(), Vec::new())
        } else {
            D::enqueue(conn, sets, now).await?
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

    /// The record of a key, read through `executor` (the transaction or the pool).
    pub(crate) async fn record<'e>(
        executor: impl Executor<'e, Database = D>,
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

    /// Deletes the keys expired by `now`.
    pub(crate) async fn purge(conn: &mut D::Connection, now: UnixMillis) -> StoreResult<u64> {
        let done = sqlx::query(sql::PURGE_IDEMPOTENCY)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done))
    }
}
