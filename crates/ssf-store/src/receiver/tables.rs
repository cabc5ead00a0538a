//! The receiver's tables on either engine: recorded (`iss`, `jti`) pairs, state rows, the audit
//! log and the receiver's streams. Batches are in [`super::batch`]. Purges delete in chunks, one
//! transaction each, so that batches of incoming SETs interleave (SQLite's group commits) and no
//! transaction holds many row locks for long (PostgreSQL).

use std::{collections::BTreeSet, marker::PhantomData};

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::Engine,
    error::{StoreError, StoreResult},
    model::{AuditEntry, DeliveryMethod, NewAuditEntry, StreamStatus},
    receiver::{
        ReceiverAuditQuery, ReceiverStream, ReceiverStreamRecord, StateRow,
        VERIFICATION_REQUEST_TTL_MS,
        audit_sql::{Bind, select},
        batch::{CHUNK, values_sql},
        verification_sql,
    },
    rows::AuditRow,
};

/// Columns of a `receiver_streams` row, in [`StreamDbRow`] order.
const STREAM_COLS: &str = "stream_key, peer, issuer, stream_id, delivery, status, \
    status_reason, push_auth_sha256, config, expected_verification_state, \
    verification_requested_at, last_verified_at, created_at, updated_at";

/// A `receiver_state` row.
#[derive(Debug, sqlx::FromRow)]
struct StateDbRow {
    kind: String,
    key: String,
    value: String,
    event_time: i64,
    updated_at: i64,
}

impl StateDbRow {
    fn into_row(self) -> StoreResult<StateRow> {
        Ok(StateRow {
            kind: self.kind,
            key: self.key,
            value: serde_json::from_str(&self.value)?,
            event_time: self.event_time,
            updated_at: UnixMillis(self.updated_at),
        })
    }
}

/// A `receiver_streams` row.
#[derive(Debug, sqlx::FromRow)]
struct StreamDbRow {
    stream_key: String,
    peer: String,
    issuer: String,
    stream_id: Option<String>,
    delivery: String,
    status: String,
    status_reason: Option<String>,
    push_auth_sha256: Option<String>,
    config: String,
    expected_verification_state: Option<String>,
    verification_requested_at: Option<i64>,
    last_verified_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl StreamDbRow {
    fn into_record(self) -> StoreResult<ReceiverStreamRecord> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("{what} {v:?}"));
        Ok(ReceiverStreamRecord {
            stream: ReceiverStream {
                delivery: DeliveryMethod::parse(&self.delivery)
                    .ok_or_else(|| corrupt("delivery method", &self.delivery))?,
                status: StreamStatus::parse(&self.status)
                    .ok_or_else(|| corrupt("stream status", &self.status))?,
                stream_key: self.stream_key,
                peer: self.peer,
                issuer: self.issuer,
                stream_id: self.stream_id.map(StreamId::new),
                status_reason: self.status_reason,
                push_auth_sha256: self.push_auth_sha256,
                config: serde_json::from_str(&self.config)?,
            },
            expected_verification_state: self.expected_verification_state,
            verification_requested_at: self.verification_requested_at.map(UnixMillis),
            last_verified_at: self.last_verified_at.map(UnixMillis),
            created_at: UnixMillis(self.created_at),
            updated_at: UnixMillis(self.updated_at),
        })
    }
}

/// The receiver's table operations on engine `D`.
pub(crate) struct Tables<D>(PhantomData<D>);

impl<D: Engine> Tables<D>
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
    /// Whether (`iss`, `jti`) was recorded.
    pub(crate) async fn is_seen(pool: &Pool<D>, iss: &str, jti: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM received_sets WHERE iss = $1 AND jti = $2")
                .bind(iss)
                .bind(jti)
                .fetch_optional(pool)
                .await?;
        Ok(row.is_some())
    }

    /// Which of `keys` (`iss`, `jti`) were recorded, in order.
    pub(crate) async fn seen_among(
        pool: &Pool<D>,
        keys: &[(String, String)],
    ) -> StoreResult<Vec<bool>> {
        let mut seen = BTreeSet::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = values_sql::<D>(
                "SELECT iss, jti FROM received_sets WHERE (iss, jti) IN (VALUES",
                chunk.len(),
                2,
                ")",
            );
            let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
            for (iss, jti) in chunk {
                query = query.bind(iss.as_str()).bind(jti.as_str());
            }
            seen.extend(query.fetch_all(pool).await?);
        }
        Ok(keys.iter().map(|k| seen.contains(k)).collect())
    }

    /// How many (`iss`, `jti`) pairs are recorded.
    pub(crate) async fn seen_count(pool: &Pool<D>) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM received_sets")
            .fetch_one(pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every state row, by kind and key.
    pub(crate) async fn load_state(pool: &Pool<D>) -> StoreResult<Vec<StateRow>> {
        sqlx::query_as::<_, StateDbRow>(
            "SELECT kind, key, value, event_time, updated_at FROM receiver_state \
             ORDER BY kind, key",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(StateDbRow::into_row)
        .collect()
    }

    /// The state rows of one kind, by key.
    pub(crate) async fn state_rows(pool: &Pool<D>, kind: &str) -> StoreResult<Vec<StateRow>> {
        sqlx::query_as::<_, StateDbRow>(
            "SELECT kind, key, value, event_time, updated_at FROM receiver_state \
             WHERE kind = $1 ORDER BY key",
        )
        .bind(kind)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(StateDbRow::into_row)
        .collect()
    }

    /// Appends an audit row; returns its id.
    pub(crate) async fn append_audit(
        conn: &mut D::Connection,
        entry: &NewAuditEntry,
        now: UnixMillis,
    ) -> StoreResult<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO receiver_audit (at, actor, action, stream_id, detail) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(now.0)
        .bind(entry.actor.as_str())
        .bind(entry.action.as_str())
        .bind(entry.stream_id.as_ref().map(StreamId::as_str))
        .bind(serde_json::to_string(&entry.detail)?)
        .fetch_one(&mut *conn)
        .await?;
        Ok(id)
    }

    /// Rows of [`ReceiverAuditQuery`], oldest first.
    pub(crate) async fn query_audit(
        pool: &Pool<D>,
        query: &ReceiverAuditQuery,
    ) -> StoreResult<Vec<AuditEntry>> {
        let (sql, binds) = select(query, |n| {
            let mut placeholder = String::new();
            D::push_placeholder(&mut placeholder, n);
            placeholder
        });
        let mut q = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql));
        for bind in binds {
            q = match bind {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q.fetch_all(pool)
            .await?
            .into_iter()
            .map(AuditRow::into_entry)
            .collect()
    }

    /// Inserts or replaces the stream `stream.stream_key`.
    pub(crate) async fn upsert_stream(
        conn: &mut D::Connection,
        stream: &ReceiverStream,
        now: UnixMillis,
    ) -> StoreResult<ReceiverStreamRecord> {
        let config = serde_json::to_string(&stream.config)?;
        let sql = format!(
            "INSERT INTO receiver_streams (stream_key, peer, issuer, stream_id, delivery, status, \
             status_reason, push_auth_sha256, config, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (stream_key) DO UPDATE SET peer = excluded.peer, \
             issuer = excluded.issuer, stream_id = excluded.stream_id, \
             delivery = excluded.delivery, status = excluded.status, \
             status_reason = excluded.status_reason, push_auth_sha256 = excluded.push_auth_sha256, \
             config = excluded.config, updated_at = excluded.updated_at RETURNING {STREAM_COLS}"
        );
        // Safe: `STREAM_COLS` is a constant.
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .bind(stream.stream_key.as_str())
            .bind(stream.peer.as_str())
            .bind(stream.issuer.as_str())
            .bind(stream.stream_id.as_ref().map(StreamId::as_str))
            .bind(stream.delivery.as_str())
            .bind(stream.status.as_str())
            .bind(stream.status_reason.as_deref())
            .bind(stream.push_auth_sha256.as_deref())
            .bind(config)
            .bind(now.0)
            .fetch_one(&mut *conn)
            .await?
            .into_record()
    }

    /// The stream `stream_key`.
    pub(crate) async fn get_stream(
        pool: &Pool<D>,
        stream_key: &str,
    ) -> StoreResult<Option<ReceiverStreamRecord>> {
        let sql = format!("SELECT {STREAM_COLS} FROM receiver_streams WHERE stream_key = $1");
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .bind(stream_key)
            .fetch_optional(pool)
            .await?
            .map(StreamDbRow::into_record)
            .transpose()
    }

    /// Every stream, by key.
    pub(crate) async fn list_streams(pool: &Pool<D>) -> StoreResult<Vec<ReceiverStreamRecord>> {
        let sql = format!("SELECT {STREAM_COLS} FROM receiver_streams ORDER BY stream_key");
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(StreamDbRow::into_record)
            .collect()
    }

    /// Deletes at most `limit` recorded (`iss`, `jti`) pairs received before `older_than`;
    /// returns how many.
    pub(crate) async fn purge_seen_chunk(
        conn: &mut D::Connection,
        older_than: UnixMillis,
        limit: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM received_sets WHERE (iss, jti) IN (SELECT iss, jti \
             FROM received_sets WHERE received_at < $1 LIMIT $2)",
        )
        .bind(older_than.0)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        Ok(D::rows_affected(&done))
    }

    /// Deletes at most `limit` audit rows and `limit` of their subject keys older than
    /// `older_than`; returns how many of each.
    pub(crate) async fn purge_audit_chunk(
        conn: &mut D::Connection,
        older_than: UnixMillis,
        limit: i64,
    ) -> StoreResult<(u64, u64)> {
        let rows = sqlx::query(
            "DELETE FROM receiver_audit WHERE id IN (SELECT id FROM receiver_audit \
             WHERE at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(older_than.0)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        let subjects = sqlx::query(
            "DELETE FROM receiver_audit_subjects WHERE (subject, iss, jti) IN \
             (SELECT subject, iss, jti FROM receiver_audit_subjects WHERE at < $1 LIMIT $2)",
        )
        .bind(older_than.0)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        Ok((D::rows_affected(&rows), D::rows_affected(&subjects)))
    }

    /// Deletes the stream `stream_key` and its verification requests.
    pub(crate) async fn delete_stream(
        conn: &mut D::Connection,
        stream_key: &str,
    ) -> StoreResult<bool> {
        sqlx::query(verification_sql::DELETE_STREAM)
            .bind(stream_key)
            .execute(&mut *conn)
            .await?;
        let done = sqlx::query("DELETE FROM receiver_streams WHERE stream_key = $1")
            .bind(stream_key)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done) > 0)
    }

    /// Sets the status of the stream `stream_key`.
    pub(crate) async fn set_stream_status(
        conn: &mut D::Connection,
        stream_key: &str,
        status: StreamStatus,
        reason: Option<&str>,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE receiver_streams SET status = $2, status_reason = $3, \
             updated_at = $4 WHERE stream_key = $1",
        )
        .bind(stream_key)
        .bind(status.as_str())
        .bind(reason)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
        Ok(D::rows_affected(&done) > 0)
    }

    /// Records the verification `state` the stream `stream_key` expects (`None`: none), and
    /// prunes its requests older than [`VERIFICATION_REQUEST_TTL_MS`].
    pub(crate) async fn set_expected_verification_state(
        conn: &mut D::Connection,
        stream_key: &str,
        state: Option<&str>,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE receiver_streams SET expected_verification_state = $2, \
             verification_requested_at = $3, updated_at = $3 WHERE stream_key = $1",
        )
        .bind(stream_key)
        .bind(state)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
        if D::rows_affected(&done) == 0 {
            return Ok(false);
        }
        if let Some(state) = state {
            sqlx::query(verification_sql::INSERT)
                .bind(stream_key)
                .bind(state)
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(verification_sql::PRUNE)
            .bind(stream_key)
            .bind(now.0 - VERIFICATION_REQUEST_TTL_MS)
            .execute(&mut *conn)
            .await?;
        Ok(true)
    }

    /// Whether `state` was requested for the stream `stream_key` within the last
    /// [`VERIFICATION_REQUEST_TTL_MS`] before `now`.
    pub(crate) async fn is_expected_verification_state(
        pool: &Pool<D>,
        stream_key: &str,
        state: &str,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let since = now.0 - VERIFICATION_REQUEST_TTL_MS;
        let (n,): (i64,) = sqlx::query_as(verification_sql::COUNT_SINCE)
            .bind(stream_key)
            .bind(state)
            .bind(since)
            .fetch_one(pool)
            .await?;
        Ok(n > 0)
    }
}
