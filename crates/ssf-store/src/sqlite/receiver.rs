//! [`ReceiverStore`] on SQLite: its own database file (e.g. `receiver.db`), separate from the
//! transmitter's, with its own migrations (`migrations/sqlite-receiver`).
//!
//! Writes go through the same single-writer group commit as the transmitter store (WAL,
//! `synchronous=FULL` by default). [`ReceiverStore::apply_batch`] is one writer job, so a batch is
//! one transaction: multi-row inserts record the (`iss`, `jti`) pairs with
//! `ON CONFLICT DO NOTHING RETURNING`, which tells duplicates apart, then the state writes and
//! audit rows of the new ones follow in the same transaction. Reads use their own connections.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, SqliteConnection, SqlitePool};
use ssf_types::{Clock, StreamId, UnixMillis};

mod audit;

use super::{SqliteOptions, writer::Writer};
use crate::{
    backend::BoxFut,
    error::{StoreError, StoreResult},
    model::{AuditEntry, AuditQuery, NewAuditEntry, StreamStatus},
    receiver::{
        ApplyItem, ApplyResult, ReceiverAuditQuery, ReceiverStore, ReceiverStream,
        ReceiverStreamRecord, StateRow,
    },
};

/// The shared receiver batch, on SQLite.
type Batch = crate::receiver::batch::Batch<sqlx::Sqlite>;
/// The shared receiver table operations, on SQLite.
type Tables = crate::receiver::tables::Tables<sqlx::Sqlite>;

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
        let (writer, readers) = options.open_parts(&RECEIVER_MIGRATOR).await?;
        Ok(Self {
            path: options.path,
            writer,
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
        Tables::is_seen(&self.readers, iss, jti).await
    }

    async fn seen_among(&self, keys: &[(String, String)]) -> StoreResult<Vec<bool>> {
        Tables::seen_among(&self.readers, keys).await
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
        Tables::seen_count(&self.readers).await
    }

    async fn load_state(&self) -> StoreResult<Vec<StateRow>> {
        Tables::load_state(&self.readers).await
    }

    async fn state_rows(&self, kind: &str) -> StoreResult<Vec<StateRow>> {
        Tables::state_rows(&self.readers, kind).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.clock.now();
        self.write(move |c| Box::pin(async move { Tables::append_audit(c, &entry, now).await }))
            .await
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let query = ReceiverAuditQuery {
            stream_key: query.stream_id.map(StreamId::into_string),
            after_id: query.after_id,
            limit: query.limit,
            ..ReceiverAuditQuery::default()
        };
        Tables::query_audit(&self.readers, &query).await
    }

    async fn query_audit(&self, query: ReceiverAuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Tables::query_audit(&self.readers, &query).await
    }

    async fn purge_audit(&self, older_than: UnixMillis) -> StoreResult<u64> {
        audit::purge(self, older_than).await
    }

    async fn upsert_stream(&self, stream: ReceiverStream) -> StoreResult<ReceiverStreamRecord> {
        let now = self.clock.now();
        self.write(move |c| Box::pin(async move { Tables::upsert_stream(c, &stream, now).await }))
            .await
    }

    async fn get_stream(&self, stream_key: &str) -> StoreResult<Option<ReceiverStreamRecord>> {
        Tables::get_stream(&self.readers, stream_key).await
    }

    async fn list_streams(&self) -> StoreResult<Vec<ReceiverStreamRecord>> {
        Tables::list_streams(&self.readers).await
    }

    async fn delete_stream(&self, stream_key: &str) -> StoreResult<bool> {
        let key = stream_key.to_owned();
        self.write(move |c| Box::pin(async move { Tables::delete_stream(c, &key).await }))
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
                Tables::set_stream_status(c, &key, status, reason.as_deref(), now).await
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
                Tables::set_expected_verification_state(c, &key, state.as_deref(), now).await
            })
        })
        .await
    }

    async fn is_expected_verification_state(
        &self,
        stream_key: &str,
        state: &str,
    ) -> StoreResult<bool> {
        Tables::is_expected_verification_state(&self.readers, stream_key, state, self.clock.now())
            .await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}
