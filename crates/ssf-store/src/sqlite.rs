//! The embedded default backend: one SQLite file in WAL mode.
//!
//! Writes go through one connection owned by a writer task with group commit (see
//! the `writer` module); reads use a small pool of their own connections, which WAL lets run in parallel
//! with the writer. Migrations under `migrations/sqlite/` are embedded and applied on open.
//!
//! The operations themselves are the engine-neutral ones of [`crate::transmitter`] and
//! [`crate::receiver`]; this module adds the writer (the crate-private `Backend` of
//! [`SqliteStore`] runs each write as one of its jobs) and the SQLite side of enqueue and
//! delivery method changes (`outbox`).

pub(crate) mod outbox;
pub mod receiver;
mod writer;

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use sqlx::Row;
use sqlx::{
    ConnectOptions, Sqlite, SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use ssf_types::{Clock, UnixMillis};

use crate::{
    backend::{Announce, Backend, BoxFut},
    error::StoreResult,
    wake::WakeHub,
};

use self::writer::Writer;

/// The embedded migrations (`migrations/sqlite`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced before the operation returns. A SET is safe
    /// from process crashes *and* power loss once `enqueue` returns. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is fsynced only at checkpoints. Commits are much cheaper and
    /// survive a process crash, but the last commits before a power loss or kernel panic may be
    /// lost: an acknowledged event could vanish. Only when the host's storage is trusted.
    Normal,
}

/// Options of [`SqliteStore::open`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; it and its directory are created if missing.
    pub path: PathBuf,
    /// Commit durability; see [`Durability`].
    pub durability: Durability,
    /// How long a statement waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// Read connections (reads run in parallel with the writer).
    pub read_connections: u32,
    /// At most this many write operations share one commit.
    pub max_group: usize,
}

impl SqliteOptions {
    /// Defaults for a file: FULL durability, 5 s busy timeout, 4 readers, groups of up to 256.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            max_group: 256,
        }
    }

    fn connect_options(&self) -> SqliteConnectOptions {
        let synchronous = match self.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        };
        SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(self.busy_timeout)
            .foreign_keys(true)
            .statement_cache_capacity(256)
    }

    /// What opening either SQLite store does: prepares the file (created if needed, readable by
    /// the owner only: see [`private_files`](crate::private_files)), applies `migrator` on the
    /// writer's connection, starts the writer and opens the read pool.
    pub(crate) async fn open_parts(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> StoreResult<(Writer, SqlitePool)> {
        crate::private_files::prepare_sqlite_file(&self.path)?;
        let connect = self.connect_options();
        let mut conn = connect.connect().await?;
        // `run_direct` rather than `run`: `run`'s `Acquire` bound makes callers' futures lose `Send`.
        migrator.run_direct(None, &mut conn, false).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(self.read_connections.max(1))
            .min_connections(0)
            .connect_with(connect)
            .await?;
        // SQLite created any missing -wal/-shm with the main file's mode; older ones may be looser.
        crate::private_files::tighten_sqlite_companions(&self.path)?;
        Ok((Writer::start(conn, self.max_group), readers))
    }
}

/// A [`TransmitterStore`](crate::TransmitterStore) in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: SqlitePool,
    clock: Arc<dyn Clock>,
    hub: Arc<WakeHub>,
}

impl SqliteStore {
    /// Opens (creating file and directory if needed, readable by the owner only: see
    /// [`private_files`](crate::private_files)) and migrates the database at
    /// `options.path`, taking times from `clock`.
    pub async fn open(options: SqliteOptions, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        let (writer, readers) = options.open_parts(&MIGRATOR).await?;
        Ok(Self {
            path: options.path,
            writer,
            readers,
            clock,
            hub: WakeHub::new(),
        })
    }

    /// Opens with default options.
    pub async fn open_path(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        Self::open(SqliteOptions::new(path.as_ref()), clock).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The wake-up hub (for embedding code that commits on its own).
    pub fn wake_hub(&self) -> &Arc<WakeHub> {
        &self.hub
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;

    fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    fn hub(&self) -> &Arc<WakeHub> {
        &self.hub
    }

    /// One job of the group-commit writer. There is no other node to tell.
    fn transact<I, T, Op>(
        &self,
        input: I,
        op: Op,
        _announce: fn(&T) -> Announce<'_>,
    ) -> impl Future<Output = StoreResult<T>> + Send
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

    async fn shut_down(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

impl SqliteStore {
    /// The value of a pragma on a read connection, e.g. `journal_mode`, `synchronous`
    /// (`2` is FULL, `1` NORMAL), `foreign_keys`, `busy_timeout`: for diagnostics and tests.
    pub async fn pragma(&self, name: &str) -> StoreResult<String> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(crate::StoreError::InvalidArgument(format!(
                "pragma name {name:?}"
            )));
        }
        // Safe: `name` is checked to be lowercase letters and underscores only.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(&self.readers)
            .await?;
        match row.try_get::<i64, _>(0) {
            Ok(n) => Ok(n.to_string()),
            Err(_) => Ok(row.try_get::<String, _>(0)?),
        }
    }
}
