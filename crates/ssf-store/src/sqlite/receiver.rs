//! [`ReceiverStore`] on SQLite: its own database file (e.g. `receiver.db`), separate from the
//! transmitter's, with its own migrations (`migrations/sqlite-receiver`).
//!
//! Writes go through the same single-writer group commit as the transmitter store (WAL,
//! `synchronous=FULL` by default). [`ReceiverStore::apply_batch`] is one writer job, so a batch is
//! one transaction: multi-row inserts record the (`iss`, `jti`) pairs with
//! `ON CONFLICT DO NOTHING RETURNING`, which tells duplicates apart, then the state writes and
//! audit rows of the new ones follow in the same transaction. Reads use their own connections.
//! The operations are the shared ones of `receiver::api`, over the crate-private `ReceiverBackend`.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
};

use sqlx::{AssertSqlSafe, Sqlite, SqliteConnection, SqlitePool};
use ssf_types::{Clock, UnixMillis};

use super::{SqliteOptions, writer::Writer};
#[cfg(doc)]
use crate::receiver::ReceiverStore;
use crate::{
    backend::{BoxFut, ReceiverBackend},
    error::{StoreError, StoreResult},
    receiver::{ApplyItem, ApplyResult},
};

/// The shared receiver batch, on SQLite.
type Batch = crate::receiver::batch::Batch<Sqlite>;

/// The embedded receiver migrations (`migrations/sqlite-receiver`).
pub static RECEIVER_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("migrations/sqlite-receiver");

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
}

impl ReceiverBackend for SqliteReceiverStore {
    type Db = Sqlite;

    fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// One job of the group-commit writer.
    fn transact<I, T, Op>(&self, input: I, op: Op) -> impl Future<Output = StoreResult<T>> + Send
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(&'c mut SqliteConnection, &'c I) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static,
    {
        self.writer.transact(input, op)
    }

    /// One writer job: one file, one node, no state change log.
    async fn apply(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>> {
        let now = self.clock.now();
        self.writer
            .transact(items, move |c, items| {
                Box::pin(async move {
                    let (results, _) = Batch::apply_items(c, items, now).await?;
                    Ok(results)
                })
            })
            .await
    }

    async fn shut_down(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}
