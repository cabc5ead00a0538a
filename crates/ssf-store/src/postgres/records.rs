//! Audit log and OAuth clients on PostgreSQL.

use sqlx::{PgConnection, PgPool};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::{StoreError, StoreResult},
    model::{AuditEntry, AuditQuery, ClientRecord, NewAuditEntry, OAuthClient},
    rows::{AuditRow, ClientRow},
    sql,
};

pub(super) async fn append_audit(
    conn: &mut PgConnection,
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

pub(super) async fn list_audit(pool: &PgPool, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
    let rows = sqlx::query_as::<_, AuditRow>(sql::LIST_AUDIT)
        .bind(query.after_id.unwrap_or(0))
        .bind(query.stream_id.as_ref().map(StreamId::as_str))
        .bind(i64::from(query.limit))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(AuditRow::into_entry).collect()
}

async fn select_client(
    e: impl sqlx::PgExecutor<'_>,
    client_id: &str,
) -> StoreResult<Option<ClientRecord>> {
    sqlx::query_as::<_, ClientRow>(sql::SELECT_CLIENT)
        .bind(client_id)
        .fetch_optional(e)
        .await?
        .map(ClientRow::into_record)
        .transpose()
}

pub(super) async fn upsert_client(
    conn: &mut PgConnection,
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
    select_client(&mut *conn, &client.client_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("upserted client not found".to_owned()))
}

pub(super) async fn get_client(
    pool: &PgPool,
    client_id: &str,
) -> StoreResult<Option<ClientRecord>> {
    select_client(pool, client_id).await
}

pub(super) async fn list_clients(pool: &PgPool) -> StoreResult<Vec<ClientRecord>> {
    let rows = sqlx::query_as::<_, ClientRow>(sql::LIST_CLIENTS)
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(ClientRow::into_record).collect()
}

pub(super) async fn delete_client(conn: &mut PgConnection, client_id: &str) -> StoreResult<bool> {
    let done = sqlx::query(sql::DELETE_CLIENT)
        .bind(client_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
