//! The audit log and OAuth clients, on either engine.

use std::marker::PhantomData;

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::Engine,
    error::{StoreError, StoreResult},
    model::{AuditEntry, AuditQuery, ClientRecord, NewAuditEntry, OAuthClient},
    rows::{AuditRow, ClientRow},
    sql,
};

/// The audit log and OAuth client operations on engine `D`.
pub(crate) struct Records<D>(PhantomData<D>);

impl<D: Engine> Records<D>
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
    pub(crate) async fn append_audit(
        conn: &mut D::Connection,
        entry: NewAuditEntry,
        now: UnixMillis,
    ) -> StoreResult<i64> {
        let (id,): (i64,) = sqlx::query_as(sql::INSERT_AUDIT)
            .bind(now.0)
            .bind(entry.actor)
            .bind(entry.action)
            .bind(entry.stream_id.map(StreamId::into_string))
            .bind(serde_json::to_string(&entry.detail)?)
            .fetch_one(&mut *conn)
            .await?;
        Ok(id)
    }

    pub(crate) async fn list_audit(
        pool: &Pool<D>,
        query: AuditQuery,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query_as::<_, AuditRow>(sql::LIST_AUDIT)
            .bind(query.after_id.unwrap_or(0))
            .bind(query.stream_id.as_ref().map(StreamId::as_str))
            .bind(i64::from(query.limit))
            .fetch_all(pool)
            .await?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn select_client(
        e: impl Executor<'_, Database = D>,
        client_id: &str,
    ) -> StoreResult<Option<ClientRecord>> {
        sqlx::query_as::<_, ClientRow>(sql::SELECT_CLIENT)
            .bind(client_id)
            .fetch_optional(e)
            .await?
            .map(ClientRow::into_record)
            .transpose()
    }

    pub(crate) async fn upsert_client(
        conn: &mut D::Connection,
        client: OAuthClient,
        now: UnixMillis,
    ) -> StoreResult<ClientRecord> {
        sqlx::query(sql::UPSERT_CLIENT)
            .bind(&client.client_id)
            .bind(client.secret_hash)
            .bind(serde_json::to_string(&client.scopes)?)
            .bind(serde_json::to_string(&client.audience)?)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        Self::select_client(&mut *conn, &client.client_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("upserted client not found".to_owned()))
    }

    pub(crate) async fn get_client(
        pool: &Pool<D>,
        client_id: &str,
    ) -> StoreResult<Option<ClientRecord>> {
        Self::select_client(pool, client_id).await
    }

    pub(crate) async fn list_clients(pool: &Pool<D>) -> StoreResult<Vec<ClientRecord>> {
        let rows = sqlx::query_as::<_, ClientRow>(sql::LIST_CLIENTS)
            .fetch_all(pool)
            .await?;
        rows.into_iter().map(ClientRow::into_record).collect()
    }

    pub(crate) async fn delete_client(
        conn: &mut D::Connection,
        client_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(sql::DELETE_CLIENT)
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done) > 0)
    }
}
