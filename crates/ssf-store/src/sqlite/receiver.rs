//! [`ReceiverStore`] on SQLite: its own database file (e.g. `receiver.db`), separate from the
//! transmitter's, with its own migrations (`migrations/sqlite-receiver`).
//!
//! Writes go through the same single-writer group commit as the transmitter store (WAL,
//! `synchronous=FULL` by default). [`ReceiverStore::apply_batch`] is one writer job, so a batch is
//! one transaction: multi-row inserts record the (`iss`, `jti`) pairs with
//! `ON CONFLICT DO NOTHING RETURNING`, which tells duplicates apart, then the state writes and
//! audit rows of the new ones follow in the same transaction. Reads use their own connections.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use sqlx::{
    AssertSqlSafe, ConnectOptions, SqliteConnection, SqlitePool, sqlite::SqlitePoolOptions,
};
use ssf_types::{Clock, StreamId, UnixMillis};

mod audit;

use super::{
    SqliteOptions,
    writer::{BoxFut, Writer},
};
use crate::{
    error::{StoreError, StoreResult},
    model::{AuditEntry, AuditQuery, DeliveryMethod, NewAuditEntry, StreamStatus},
    receiver::batch::{CHUNK, values_sql},
    receiver::{
        ApplyItem, ApplyResult, ReceiverAuditQuery, ReceiverStore, ReceiverStream,
        ReceiverStreamRecord, StateRow, VERIFICATION_REQUEST_TTL_MS, verification_sql,
    },
};

/// The shared receiver batch, on SQLite.
type Batch = crate::receiver::batch::Batch<sqlx::Sqlite>;

/// The embedded receiver migrations (`migrations/sqlite-receiver`).
pub static RECEIVER_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("migrations/sqlite-receiver");

/// Rows deleted per purge transaction.
const PURGE_CHUNK: i64 = 5000;

/// A [`ReceiverStore`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteReceiverStore {
    path: PathBuf,
    writer: Writer,
    readers: SqlitePool,
    clock: Arc<dyn Clock>,
}

impl SqliteReceiverStore {
    /// Opens (creating file and directory if needed, owner-only as in
    /// [`private_files`](crate::private_files)) and migrates the receiver database at
    /// `options.path`, taking times from `clock`.
    pub async fn open(options: SqliteOptions, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        crate::private_files::prepare_sqlite_file(&options.path)?;
        let connect = options.connect_options();
        let mut conn = connect.connect().await?;
        // `run_direct` rather than `run`: `run`'s `Acquire` bound makes callers' futures lose `Send`.
        RECEIVER_MIGRATOR.run_direct(None, &mut conn, false).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .connect_with(connect)
            .await?;
        // SQLite created any missing -wal/-shm with the main file's mode; older ones may be looser.
        crate::private_files::tighten_sqlite_companions(&options.path)?;
        Ok(Self {
            path: options.path,
            writer: Writer::start(conn, options.max_group),
            readers,
            clock,
        })
    }

    /// Opens with default options (FULL durability).
    pub async fn open_path(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        Self::open(SqliteOptions::new(path.as_ref()), clock).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of a pragma on a read connection (`journal_mode`, `synchronous`: `2` is FULL),
    /// for diagnostics and tests.
    pub async fn pragma(&self, name: &str) -> StoreResult<String> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(StoreError::InvalidArgument(format!("pragma name {name:?}")));
        }
        // Safe: `name` is checked to be lowercase letters and underscores only.
        let sql = format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}()");
        let value: (String,) = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&self.readers)
            .await?;
        Ok(value.0)
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, StoreResult<T>> + Send + 'static,
    {
        self.writer.run(f).await
    }
}

const STREAM_COLS: &str = "stream_key, peer, issuer, stream_id, delivery, status, \
    status_reason, push_auth_sha256, config, expected_verification_state, \
    verification_requested_at, last_verified_at, created_at, updated_at";

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

#[async_trait]
impl ReceiverStore for SqliteReceiverStore {
    async fn apply_batch(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        self.write(move |c| {
            Box::pin(async move {
                Batch::apply_items(c, &items, now)
                    .await
                    .map(|(results, _)| results)
            })
        })
        .await
    }

    async fn is_seen(&self, iss: &str, jti: &str) -> StoreResult<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM received_sets WHERE iss = $1 AND jti = $2")
                .bind(iss)
                .bind(jti)
                .fetch_optional(&self.readers)
                .await?;
        Ok(row.is_some())
    }

    async fn seen_among(&self, keys: &[(String, String)]) -> StoreResult<Vec<bool>> {
        let mut seen = BTreeSet::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = values_sql::<sqlx::Sqlite>(
                "SELECT iss, jti FROM received_sets WHERE (iss, jti) IN (VALUES",
                chunk.len(),
                2,
                ")",
            );
            let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
            for (iss, jti) in chunk {
                query = query.bind(iss.as_str()).bind(jti.as_str());
            }
            seen.extend(query.fetch_all(&self.readers).await?);
        }
        Ok(keys.iter().map(|k| seen.contains(k)).collect())
    }

    async fn purge_seen(&self, older_than: UnixMillis) -> StoreResult<u64> {
        // In chunks, each its own writer job, so group commits of incoming SETs interleave
        // instead of waiting behind one huge delete.
        let mut total = 0;
        loop {
            let removed = self
                .write(move |c| {
                    Box::pin(async move {
                        let done = sqlx::query(
                            "DELETE FROM received_sets WHERE (iss, jti) IN (SELECT iss, jti \
                             FROM received_sets WHERE received_at < $1 LIMIT $2)",
                        )
                        .bind(older_than.0)
                        .bind(PURGE_CHUNK)
                        .execute(&mut *c)
                        .await?;
                        Ok(done.rows_affected())
                    })
                })
                .await?;
            total += removed;
            if removed < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn seen_count(&self) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM received_sets")
            .fetch_one(&self.readers)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn load_state(&self) -> StoreResult<Vec<StateRow>> {
        sqlx::query_as::<_, StateDbRow>(
            "SELECT kind, key, value, event_time, updated_at FROM receiver_state \
             ORDER BY kind, key",
        )
        .fetch_all(&self.readers)
        .await?
        .into_iter()
        .map(StateDbRow::into_row)
        .collect()
    }

    async fn state_rows(&self, kind: &str) -> StoreResult<Vec<StateRow>> {
        sqlx::query_as::<_, StateDbRow>(
            "SELECT kind, key, value, event_time, updated_at FROM receiver_state \
             WHERE kind = $1 ORDER BY key",
        )
        .bind(kind)
        .fetch_all(&self.readers)
        .await?
        .into_iter()
        .map(StateDbRow::into_row)
        .collect()
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.clock.now();
        self.write(move |c| {
            Box::pin(async move {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO receiver_audit (at, actor, action, stream_id, detail) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(now.0)
                .bind(entry.actor)
                .bind(entry.action)
                .bind(entry.stream_id.map(StreamId::into_string))
                .bind(serde_json::to_string(&entry.detail)?)
                .fetch_one(&mut *c)
                .await?;
                Ok(id)
            })
        })
        .await
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let query = ReceiverAuditQuery {
            stream_key: query.stream_id.map(StreamId::into_string),
            after_id: query.after_id,
            limit: query.limit,
            ..ReceiverAuditQuery::default()
        };
        audit::query(&self.readers, &query).await
    }

    async fn query_audit(&self, query: ReceiverAuditQuery) -> StoreResult<Vec<AuditEntry>> {
        audit::query(&self.readers, &query).await
    }

    async fn purge_audit(&self, older_than: UnixMillis) -> StoreResult<u64> {
        audit::purge(self, older_than).await
    }

    async fn upsert_stream(&self, stream: ReceiverStream) -> StoreResult<ReceiverStreamRecord> {
        let now = self.clock.now();
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
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
                    .bind(stream.stream_key)
                    .bind(stream.peer)
                    .bind(stream.issuer)
                    .bind(stream.stream_id.map(StreamId::into_string))
                    .bind(stream.delivery.as_str())
                    .bind(stream.status.as_str())
                    .bind(stream.status_reason)
                    .bind(stream.push_auth_sha256)
                    .bind(config)
                    .bind(now.0)
                    .fetch_one(&mut *c)
                    .await?
                    .into_record()
            })
        })
        .await
    }

    async fn get_stream(&self, stream_key: &str) -> StoreResult<Option<ReceiverStreamRecord>> {
        let sql = format!("SELECT {STREAM_COLS} FROM receiver_streams WHERE stream_key = $1");
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .bind(stream_key)
            .fetch_optional(&self.readers)
            .await?
            .map(StreamDbRow::into_record)
            .transpose()
    }

    async fn list_streams(&self) -> StoreResult<Vec<ReceiverStreamRecord>> {
        let sql = format!("SELECT {STREAM_COLS} FROM receiver_streams ORDER BY stream_key");
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await?
            .into_iter()
            .map(StreamDbRow::into_record)
            .collect()
    }

    async fn delete_stream(&self, stream_key: &str) -> StoreResult<bool> {
        let key = stream_key.to_owned();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(verification_sql::DELETE_STREAM)
                    .bind(&key)
                    .execute(&mut *c)
                    .await?;
                let done = sqlx::query("DELETE FROM receiver_streams WHERE stream_key = $1")
                    .bind(key)
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }

    async fn set_stream_status(
        &self,
        stream_key: &str,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<bool> {
        let (key, now) = (stream_key.to_owned(), self.clock.now());
        self.write(move |c| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE receiver_streams SET status = $2, status_reason = $3, \
                     updated_at = $4 WHERE stream_key = $1",
                )
                .bind(key)
                .bind(status.as_str())
                .bind(reason)
                .bind(now.0)
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }

    async fn set_expected_verification_state(
        &self,
        stream_key: &str,
        state: Option<String>,
    ) -> StoreResult<bool> {
        let (key, now) = (stream_key.to_owned(), self.clock.now());
        self.write(move |c| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE receiver_streams SET expected_verification_state = $2, \
                     verification_requested_at = $3, updated_at = $3 WHERE stream_key = $1",
                )
                .bind(&key)
                .bind(&state)
                .bind(now.0)
                .execute(&mut *c)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                if let Some(state) = &state {
                    sqlx::query(verification_sql::INSERT)
                        .bind(&key)
                        .bind(state)
                        .bind(now.0)
                        .execute(&mut *c)
                        .await?;
                }
                sqlx::query(verification_sql::PRUNE)
                    .bind(&key)
                    .bind(now.0 - VERIFICATION_REQUEST_TTL_MS)
                    .execute(&mut *c)
                    .await?;
                Ok(true)
            })
        })
        .await
    }

    async fn is_expected_verification_state(
        &self,
        stream_key: &str,
        state: &str,
    ) -> StoreResult<bool> {
        let since = self.clock.now().0 - VERIFICATION_REQUEST_TTL_MS;
        let (n,): (i64,) = sqlx::query_as(verification_sql::COUNT_SINCE)
            .bind(stream_key)
            .bind(state)
            .bind(since)
            .fetch_one(&self.readers)
            .await?;
        Ok(n > 0)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}
