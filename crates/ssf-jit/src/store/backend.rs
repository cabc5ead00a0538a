//! The two backends behind [`JitStore`](super::JitStore): where the database is, how to connect,
//! the migrations, and the locks that keep several bridge nodes on one PostgreSQL database
//! consistent. Every query is shared: both run through sqlx's `Any` driver with `$N`
//! placeholders, BIGINT epoch milliseconds and TEXT JSON.

use std::{
    path::Path,
    sync::{Arc, LazyLock},
    time::Duration,
};

use sqlx::{
    Any, AnyConnection, AnyPool, ConnectOptions, Connection, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
    pool::PoolConnection,
};
use ssf_store::StoreUrl;
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

use crate::error::JitError;

/// The SQLite migrations (`migrations/sqlite`), tracked in `_sqlx_migrations` of the bridge's
/// own file.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

static PG_EMBEDDED: Migrator = sqlx::migrate!("migrations/postgres");

/// The table that tracks the PostgreSQL migrations, apart from the transmitter's and the
/// receiver's, so the bridge can share their database and schema.
pub const PG_MIGRATIONS_TABLE: &str = "_ssf_jit_migrations";

/// The PostgreSQL migrations (`migrations/postgres`), tracked in [`PG_MIGRATIONS_TABLE`].
pub static PG_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = Migrator::with_migrations(PG_EMBEDDED.iter().cloned().collect());
    migrator.dangerous_set_table_name(PG_MIGRATIONS_TABLE);
    migrator
});

/// Per-connection SQLite settings: WAL, `synchronous=FULL` (a committed grant survives a power
/// cut), foreign keys, and waiting up to 5 s for a lock instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// Taken by every transaction that applies a ticket event or an expiry, on PostgreSQL: one
/// writer at a time over all nodes, as SQLite's `BEGIN IMMEDIATE` gives on one file. Scoped by
/// schema, so bridges in different schemas of one database do not wait for each other.
const PG_WRITE_LOCK: &str =
    "SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema()), 74101)";

/// Taken (without waiting) by an emitter round on PostgreSQL: one node sends at a time.
const PG_SEND_LOCK: &str = "SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), 74102)";

/// Parses a database location: a file path, `sqlite://path` or `postgres://...`.
pub(crate) fn parse(location: &str) -> Result<StoreUrl, JitError> {
    StoreUrl::parse(location).map_err(|e| {
        JitError::Config(format!(
            "jit.database {location:?}: {e} (use a file path, sqlite://<path> or postgres://user@host/db)"
        ))
    })
}

/// The sqlx URL of an SQLite file: `?`, `#` and `%` are escaped so any UTF-8 path works.
fn sqlite_url(path: &Path) -> Result<String, JitError> {
    let text = path.to_str().ok_or_else(|| {
        JitError::Config(format!(
            "jit.database {}: the SQLite path must be valid UTF-8",
            path.display()
        ))
    })?;
    let escaped = text
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    Ok(format!("sqlite:{escaped}?mode=rwc"))
}

fn options(url: &str) -> Result<AnyConnectOptions, JitError> {
    sqlx::any::install_default_drivers();
    Ok(url.parse()?)
}

/// The open connections of one backend.
#[derive(Debug)]
pub(super) struct Connections {
    pub(super) location: StoreUrl,
    /// Reads everywhere; writes too on PostgreSQL.
    pub(super) pool: AnyPool,
    /// SQLite: the one writer connection (SQLite has one writer anyway).
    writer: Option<Mutex<AnyConnection>>,
    /// Emitters of this process take turns here before asking the database.
    sending: Arc<Mutex<()>>,
}

impl Connections {
    /// Connects to `location` and applies the migrations.
    pub(super) async fn open(location: StoreUrl) -> Result<Self, JitError> {
        match &location {
            StoreUrl::Sqlite(path) => {
                // Owner-only file and directory (SSF-SEC-14, D-TX-18); SQLite gives the -wal
                // and -shm it creates the same mode.
                ssf_store::private_files::prepare_sqlite_file(path)?;
                let connect = options(&sqlite_url(path)?)?;
                let mut writer = connect.connect().await?;
                sqlx::raw_sql(SQLITE_PRAGMAS).execute(&mut writer).await?;
                // `run_direct`: `run`'s `Acquire` bound makes callers' futures lose `Send`.
                MIGRATOR.run_direct(None, &mut writer, false).await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(2)
                    .min_connections(0)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                            Ok(())
                        })
                    })
                    .connect_with(connect)
                    .await?;
                ssf_store::private_files::tighten_sqlite_companions(path)?;
                Ok(Self {
                    location,
                    pool,
                    writer: Some(Mutex::new(writer)),
                    sending: Arc::default(),
                })
            }
            StoreUrl::Postgres(url) => {
                let pool = pg_pool(url, 8).await?;
                let mut conn = pool.acquire().await?;
                PG_MIGRATOR.run_direct(None, &mut *conn, false).await?;
                drop(conn);
                Ok(Self {
                    location,
                    pool,
                    writer: None,
                    sending: Arc::default(),
                })
            }
        }
    }

    /// The SQLite file, if that is the backend.
    pub(super) fn path(&self) -> Option<&Path> {
        match &self.location {
            StoreUrl::Sqlite(path) => Some(path),
            StoreUrl::Postgres(_) => None,
        }
    }

    /// A connection for writing: SQLite's one writer, or one from the PostgreSQL pool.
    pub(super) async fn writer(&self) -> Result<WriteConn<'_>, JitError> {
        Ok(match &self.writer {
            Some(writer) => WriteConn::Single(writer.lock().await),
            None => WriteConn::Pooled(self.pool.acquire().await?),
        })
    }

    /// Opens a write transaction on `conn`, taking the write lock: `BEGIN IMMEDIATE` on
    /// SQLite, the bridge-wide advisory lock on PostgreSQL (waits for another node's
    /// transaction to commit, so it reads what that one wrote).
    pub(super) async fn begin<'c>(
        &self,
        conn: &'c mut AnyConnection,
    ) -> Result<Transaction<'c, Any>, JitError> {
        match self.location {
            StoreUrl::Sqlite(_) => Ok(conn.begin_with("BEGIN IMMEDIATE").await?),
            StoreUrl::Postgres(_) => {
                let mut tx = conn.begin().await?;
                let _: (i32,) = sqlx::query_as(PG_WRITE_LOCK).fetch_one(&mut *tx).await?;
                Ok(tx)
            }
        }
    }

    /// This node's turn to send the outbox, or `None` while another emitter (of this process
    /// or, on PostgreSQL, of another node) has it.
    pub(super) async fn sending_turn(&self) -> Result<Option<SendTurn>, JitError> {
        let Ok(local) = Arc::clone(&self.sending).try_lock_owned() else {
            return Ok(None);
        };
        let shared = match self.location {
            StoreUrl::Sqlite(_) => None,
            StoreUrl::Postgres(_) => {
                // Held by an open transaction: a node that dies or drops the turn rolls back,
                // which releases the lock; it cannot outlive its holder.
                let mut tx = self.pool.begin().await?;
                let (got,): (bool,) = sqlx::query_as(PG_SEND_LOCK).fetch_one(&mut *tx).await?;
                if !got {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Some(tx)
            }
        };
        Ok(Some(SendTurn {
            _local: local,
            shared,
        }))
    }

    /// Closes the connections.
    pub(super) async fn close(self) {
        self.pool.close().await;
        if let Some(writer) = self.writer {
            let _ = writer.into_inner().close().await;
        }
    }
}

/// A PostgreSQL pool over `url` of at most `max` connections.
async fn pg_pool(url: &str, max: u32) -> Result<AnyPool, JitError> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url)?)
        .await?)
}

/// Applies the bridge's migrations at `location` (a file path, `sqlite://path` or
/// `postgres://...`) and closes it again: what `ssf migrate` runs. [`JitStore::open`]
/// applies them too, so this is only needed to migrate ahead of a start. Several nodes
/// migrating at once are fine: the migrator holds a lock while it works.
///
/// [`JitStore::open`]: super::JitStore::open
pub async fn migrate(location: &str) -> Result<(), JitError> {
    match parse(location)? {
        location @ StoreUrl::Sqlite(_) => Connections::open(location).await?.close().await,
        StoreUrl::Postgres(url) => {
            let pool = pg_pool(&url, 1).await?;
            let migrated = match pool.acquire().await {
                Ok(mut conn) => PG_MIGRATOR
                    .run_direct(None, &mut *conn, false)
                    .await
                    .map_err(JitError::from),
                Err(e) => Err(e.into()),
            };
            pool.close().await;
            migrated?;
        }
    }
    Ok(())
}

/// A write connection.
pub(super) enum WriteConn<'a> {
    Single(MutexGuard<'a, AnyConnection>),
    Pooled(PoolConnection<Any>),
}

impl std::ops::Deref for WriteConn<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Single(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for WriteConn<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Single(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

/// One emitter's turn to send ([`JitStore::sending_turn`](super::JitStore::sending_turn)).
/// Dropping it ends the turn; [`SendTurn::end`] does so at once.
#[derive(Debug)]
pub struct SendTurn {
    _local: OwnedMutexGuard<()>,
    shared: Option<Transaction<'static, Any>>,
}

impl SendTurn {
    /// Ends the turn, releasing the lock other nodes wait for.
    pub async fn end(self) {
        if let Some(tx) = self.shared
            && let Err(e) = tx.rollback().await
        {
            // The connection is gone, and the lock with it.
            tracing::debug!(error = %e, "jit emitter: ending the sending turn");
        }
    }
}
