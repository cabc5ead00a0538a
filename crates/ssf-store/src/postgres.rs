//! The scale-out backend: one PostgreSQL database shared by every transmitter node.
//!
//! Every operation is one transaction on a connection from a [`PgPool`]; there is no group-commit
//! writer, the server handles concurrent writers. What SQLite gets from its single writer, this
//! backend gets from locks:
//!
//! - push workers and polls claim rows with `FOR UPDATE SKIP LOCKED` under a lease, so two nodes
//!   never get the same row and never wait for each other;
//! - enqueue reads its streams `FOR KEY SHARE` (status changes, which lock the stream `FOR
//!   UPDATE`, wait for it and it for them; polls do not) and the
//!   in-flight rows of its subject keys `FOR SHARE` (a row finishing concurrently waits until the
//!   SETs queued behind it are committed, so its promotion sees them);
//! - a partial unique index (`outbox_one_in_flight`) backs the per-subject order rule: at most one
//!   ready, held or leased push row per (stream, subject key). A transaction that loses that race
//!   (or a deadlock) is rolled back and run again.
//!
//! Wake-ups: a transaction that makes SETs deliverable sends `NOTIFY` on the schema's outbox
//! channel (see [`listen`]) before it commits, then wakes this node's [`WakeHub`] itself; a
//! background `LISTEN` task wakes the hub of every other node. A transaction that changes a
//! stream or a subject sends `NOTIFY` on the schema's configuration channel, which the same task
//! passes to the other nodes' [`config_changes`](crate::TransmitterStore::config_changes)
//! subscribers, so their routing caches follow at once (issue 6: stream management and ingest on
//! any node). Migrations under `migrations/postgres/` are embedded and applied on connect (unless
//! turned off).
//!
//! The operations themselves are the engine-neutral ones of [`crate::transmitter`] and
//! [`crate::receiver`], with the locking statements of this engine; this module adds the
//! retried transactions and their notifications (the crate-private `Backend` of [`PgStore`]),
//! the `LISTEN` task and the PostgreSQL side of the outbox (enqueue, delivery method changes,
//! `settle`).

pub mod listen;
pub(crate) mod outbox;
pub mod receiver;

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    PgConnection, PgPool, Postgres,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use ssf_types::{Clock, StreamId, UnixMillis};

use crate::{
    backend::{Announce, Backend, BoxFut, Work},
    error::{StoreError, StoreResult},
    wake::{WakeHub, WorkSubscription},
};

/// The embedded transmitter migrations (`migrations/postgres`), tracked in `_sqlx_migrations`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How often a transaction that lost a race (deadlock, serialization failure, the per-subject
/// unique index) is tried in all.
pub(crate) const MAX_ATTEMPTS: u32 = 10;

/// The unique index that allows one in-flight push SET per (stream, subject key).
pub(crate) const ONE_IN_FLIGHT: &str = "outbox_one_in_flight";

/// Runs `$body` in a transaction with `$tx: &mut PgConnection`, commits, and returns the body's
/// `StoreResult`. A body or commit that failed with a retryable error (see [`is_retryable`]) is
/// rolled back and run again, at most [`MAX_ATTEMPTS`] times in all: bodies must only read what
/// they were given, never consume it.
macro_rules! transaction {
    ($pool:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 1;
        loop {
            let mut guard = $pool.begin().await.map_err($crate::postgres::begin_error)?;
            // An async block, so that `?` in the body ends the attempt, not the caller.
            let result: $crate::error::StoreResult<_> = async {
                let $tx: &mut sqlx::PgConnection = &mut guard;
                $body
            }
            .await;
            let result = match result {
                Ok(value) => guard
                    .commit()
                    .await
                    .map(|()| value)
                    .map_err($crate::error::StoreError::from),
                // Dropping the transaction rolls it back.
                Err(err) => Err(err),
            };
            match result {
                Err(err)
                    if $crate::postgres::is_retryable(&err)
                        && attempt < $crate::postgres::MAX_ATTEMPTS =>
                {
                    tracing::debug!(%err, attempt, "postgres transaction lost a race; retrying");
                    tokio::time::sleep($crate::postgres::retry_pause(attempt)).await;
                    attempt += 1;
                }
                result => break result,
            }
        }
    }};
}
pub(crate) use transaction;

/// Why a transaction gave up when other nodes kept changing the subjects it queued for; the
/// transaction is run again (see [`is_retryable`]).
pub(crate) const UNSETTLED: &str =
    "other transactions kept finishing SETs of the same subjects; nothing was stored";

/// A short random pause before attempt `attempt + 1`, growing with `attempt`, so transactions
/// that collided do not collide again in lockstep.
pub(crate) fn retry_pause(attempt: u32) -> Duration {
    let ceiling_ms = 2u64 << attempt.min(6);
    let random = uuid::Uuid::new_v4().as_u128();
    Duration::from_micros((random % u128::from(ceiling_ms * 1000)) as u64)
}

/// A transaction could not start: [`StoreError::Closed`] once the store was closed.
pub(crate) fn begin_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolClosed => StoreError::Closed,
        err => StoreError::from(err),
    }
}

/// Whether `err` means "another transaction got in the way; run it again": a serialization
/// failure (`40001`), a deadlock (`40P01`), a violation of [`ONE_IN_FLIGHT`], or [`UNSETTLED`].
pub(crate) fn is_retryable(err: &StoreError) -> bool {
    if let StoreError::CommitFailed { reason, .. } = err {
        return reason == UNSETTLED;
    }
    let StoreError::Database(sqlx::Error::Database(db)) = err else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40001" | "40P01"))
        || (db.is_unique_violation() && db.constraint() == Some(ONE_IN_FLIGHT))
}

/// Options of [`PgStore::connect`] and [`receiver::PgReceiverStore::connect`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool (the `LISTEN` task has one more of its own).
    pub max_connections: u32,
    /// How long an operation waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// The schema for the tables (`search_path`); `None` uses the server's default (`public`).
    /// The schema must exist.
    pub schema: Option<String>,
    /// Apply the embedded migrations on connect (`ssf migrate` does it separately when off).
    pub run_migrations: bool,
    /// Run the `LISTEN` task that wakes this node when another node queues work or changes a
    /// stream or subject. Turn off only for tools that never wait for work and cache nothing
    /// (migrations, admin commands).
    pub listen: bool,
}

impl Default for PgOptions {
    /// 10 connections, 10 s acquire timeout, default schema, migrations and `LISTEN` on.
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            schema: None,
            run_migrations: true,
            listen: true,
        }
    }
}

impl PgOptions {
    /// Connect options for `url` (`postgres://user@host:port/db?...`) with these options applied.
    pub fn connect_options(&self, url: &str) -> StoreResult<PgConnectOptions> {
        let mut connect = PgConnectOptions::from_str(url)?.application_name("ssf-store");
        if let Some(schema) = &self.schema {
            connect = connect.options([("search_path", schema.as_str())]);
        }
        Ok(connect)
    }

    /// A pool on `url` with these options.
    pub(crate) async fn pool(&self, url: &str) -> StoreResult<PgPool> {
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(self.acquire_timeout)
            .connect_with(self.connect_options(url)?)
            .await?;
        Ok(pool)
    }
}

/// Where this node sends its wake-ups, and how it recognises its own.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    /// The outbox `NOTIFY` channel of the store's schema.
    channel: String,
    /// The configuration `NOTIFY` channel of the store's schema.
    config_channel: String,
    /// This store instance's id, the first word of every payload it sends.
    node: String,
}

/// A [`TransmitterStore`](crate::TransmitterStore) in a PostgreSQL database, for one or many nodes.
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    hub: Arc<WakeHub>,
    /// Signalled when another node changed a stream or subject (and after a lost `LISTEN`
    /// connection); `None` without the `LISTEN` task.
    config_hub: Option<Arc<WakeHub>>,
    notifier: Notifier,
    listener: listen::Listener,
}

impl PgStore {
    /// Connects to `url`, applies the migrations (unless `options.run_migrations` is off) and
    /// starts listening for other nodes' wake-ups, taking times from `clock`.
    pub async fn connect(
        url: &str,
        clock: Arc<dyn Clock>,
        options: PgOptions,
    ) -> StoreResult<Self> {
        let pool = options.pool(url).await?;
        if options.run_migrations {
            migrate(&pool).await?;
        }
        let schema = current_schema(&pool).await?;
        let notifier = Notifier {
            channel: listen::channel_for_schema(&schema),
            config_channel: listen::config_channel_for_schema(&schema),
            node: uuid::Uuid::new_v4().simple().to_string(),
        };
        let hub = WakeHub::new();
        let (listener, config_hub) = if options.listen {
            let config_hub = WakeHub::new();
            let routes = listen::Routes {
                own_node: notifier.node.clone(),
                routes: vec![
                    listen::Route {
                        channel: notifier.channel.clone(),
                        hub: Arc::clone(&hub),
                    },
                    listen::Route {
                        channel: notifier.config_channel.clone(),
                        hub: Arc::clone(&config_hub),
                    },
                ],
            };
            let connect = options.connect_options(url)?;
            let listener = listen::Listener::start(connect, routes).await?;
            (listener, Some(config_hub))
        } else {
            (listen::Listener::default(), None)
        };
        Ok(Self {
            pool,
            clock,
            hub,
            config_hub,
            notifier,
            listener,
        })
    }

    /// Connects with default options.
    pub async fn connect_url(url: &str, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        Self::connect(url, clock, PgOptions::default()).await
    }

    /// The connection pool (for diagnostics and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The wake-up hub (for embedding code that commits on its own).
    pub fn wake_hub(&self) -> &Arc<WakeHub> {
        &self.hub
    }

    /// The outbox `NOTIFY` channel this store sends and listens on (SETs to deliver).
    pub fn notify_channel(&self) -> &str {
        &self.notifier.channel
    }

    /// The configuration `NOTIFY` channel this store sends and listens on (streams and subjects
    /// changed); see [`listen`].
    pub fn config_channel(&self) -> &str {
        &self.notifier.config_channel
    }

    fn stop_listener(&self) {
        self.listener.stop();
    }
}

impl Backend for PgStore {
    type Db = Postgres;

    fn readers(&self) -> &PgPool {
        &self.pool
    }

    fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    fn hub(&self) -> &Arc<WakeHub> {
        &self.hub
    }

    /// Signalled for every stream or subject change another node commits on this schema, and
    /// once after each lost `LISTEN` connection; `None` with [`PgOptions::listen`] off.
    fn config_signal(&self) -> Option<WorkSubscription> {
        self.config_hub.as_ref().map(|hub| hub.subscribe(None))
    }

    /// One transaction, run again when it lost a race (see [`transaction!`]), which sends
    /// `NOTIFY` for what it announces before it commits.
    async fn transact<I, T, Op>(
        &self,
        input: I,
        op: Op,
        announce: fn(&T) -> Announce<'_>,
    ) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(&'c mut PgConnection, &'c I) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static,
    {
        transaction!(self.pool, |tx| {
            let value = op(&mut *tx, &input).await?;
            let Announce { work, config } = announce(&value);
            match work {
                Work::Nothing => {}
                Work::Streams(streams) => notify_in(tx, &self.notifier, Some(streams)).await?,
                Work::Everywhere => notify_in(tx, &self.notifier, None).await?,
            }
            if config {
                notify_config_in(tx, &self.notifier).await?;
            }
            Ok(value)
        })
    }

    async fn shut_down(&self) {
        self.stop_listener();
        self.pool.close().await;
    }
}

/// The schema the pool's connections use (the first existing one of the `search_path`).
pub(crate) async fn current_schema(pool: &PgPool) -> StoreResult<String> {
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(pool)
        .await?;
    schema.ok_or_else(|| {
        StoreError::InvalidArgument("the search_path names no existing schema".to_owned())
    })
}

/// Applies the transmitter migrations on `pool` (what `ssf migrate` runs). Several nodes starting
/// at once are fine: the migrator holds an advisory lock while it works.
pub async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    MIGRATOR.run_direct(None, &mut *conn, false).await?;
    Ok(())
}

/// Sends a wake-up for `streams` (`None`: every stream) on `notifier`'s channel; delivered to
/// the listening nodes when the surrounding transaction commits.
pub(crate) async fn notify_in(
    conn: &mut PgConnection,
    notifier: &Notifier,
    streams: Option<&[StreamId]>,
) -> StoreResult<()> {
    let payloads: Vec<String> = match streams {
        Some([]) => return Ok(()),
        Some(streams) => streams
            .iter()
            .map(|s| listen::payload(&notifier.node, Some(s)))
            .collect(),
        None => vec![listen::payload(&notifier.node, None)],
    };
    sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(&notifier.channel)
        .bind(payloads)
        .execute(conn)
        .await?;
    Ok(())
}

/// Announces that this transaction changed a stream or a subject, on `notifier`'s configuration
/// channel; delivered to the other listening nodes when the transaction commits, never on
/// rollback.
pub(crate) async fn notify_config_in(
    conn: &mut PgConnection,
    notifier: &Notifier,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&notifier.config_channel)
        .bind(listen::payload(&notifier.node, None))
        .execute(conn)
        .await?;
    Ok(())
}
