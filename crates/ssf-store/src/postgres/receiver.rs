//! [`ReceiverStore`] on PostgreSQL, shared by every receiver node behind a load balancer.
//!
//! The same tables as the SQLite receiver (`migrations/postgres-receiver`), tracked in their own
//! migrations table (`_ssf_receiver_migrations`) so they can live in the transmitter's database
//! and schema. [`ReceiverStore::apply_batch`] is one transaction: `INSERT ... ON CONFLICT DO
//! NOTHING RETURNING` on (`iss`, `jti`) tells new SETs from duplicates. Two nodes recording the
//! same SET at once meet on that primary key: the second waits for the first to commit and then
//! sees a duplicate, so the SET is applied exactly once. State rows follow the event-time rule
//! in the upsert itself, so concurrent batches touching one row commute.
//!
//! Every batch that applied writes also appends them to the state change log and `NOTIFY`s
//! [`STATE_CHANNEL`] (see the `log` module); each store `LISTEN`s there (unless `PgOptions::listen` is
//! off), so a node's in-memory state can follow what the other nodes applied
//! ([`ReceiverStore::state_changes`]).

use std::sync::{Arc, LazyLock};

use sqlx::{PgConnection, PgPool, Postgres, migrate::Migrator};
use ssf_types::{Clock, UnixMillis};

mod log;

use super::{PgOptions, current_schema, listen, transaction};
#[cfg(doc)]
use crate::receiver::ReceiverStore;
use crate::{
    backend::{BoxFut, ReceiverBackend},
    error::StoreResult,
    receiver::{ApplyItem, ApplyResult, StateChanges},
    wake::{WakeHub, WorkSubscription},
};

/// The shared receiver batch, on PostgreSQL.
type Batch = crate::receiver::batch::Batch<Postgres>;

/// The channel on which receiver nodes announce committed state writes (in the `public` schema;
/// `ssf_rx_state_<schema>` elsewhere). The payload is the sending store's node id.
pub const STATE_CHANNEL: &str = "ssf_rx_state";

/// The receiver migrations as embedded (`migrations/postgres-receiver`).
static EMBEDDED: Migrator = sqlx::migrate!("migrations/postgres-receiver");

/// The table that tracks the receiver migrations, apart from the transmitter's.
pub const RECEIVER_MIGRATIONS_TABLE: &str = "_ssf_receiver_migrations";

/// The receiver migrations, tracked in [`RECEIVER_MIGRATIONS_TABLE`].
pub static RECEIVER_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = Migrator::with_migrations(EMBEDDED.iter().cloned().collect());
    migrator.dangerous_set_table_name(RECEIVER_MIGRATIONS_TABLE);
    migrator
});

/// Where a receiver node announces its state writes, and how it recognises its own.
#[derive(Debug, Clone)]
pub(crate) struct StateNotifier {
    /// The state channel of the store's schema.
    channel: String,
    /// This store instance's id, the payload of every notification it sends.
    node: String,
}

/// A [`ReceiverStore`] in a PostgreSQL database.
#[derive(Debug)]
pub struct PgReceiverStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    /// Where this node announces its state writes, and its node id.
    notifier: StateNotifier,
    /// Signalled by the `LISTEN` task when another node committed state writes.
    hub: Arc<WakeHub>,
    listener: listen::Listener,
}

impl PgReceiverStore {
    /// Connects to `url` and applies the receiver migrations (unless `options.run_migrations` is
    /// off), taking times from `clock`. With `options.listen` (the default) it also listens for
    /// the state writes of other nodes ([`ReceiverStore::state_change_signal`]).
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
        let notifier = StateNotifier {
            channel: listen::schema_channel(STATE_CHANNEL, &schema),
            node: uuid::Uuid::new_v4().simple().to_string(),
        };
        let hub = WakeHub::new();
        let listener = if options.listen {
            let connect = options.connect_options(url)?;
            let routes = listen::Routes {
                own_node: notifier.node.clone(),
                routes: vec![listen::Route {
                    channel: notifier.channel.clone(),
                    hub: Arc::clone(&hub),
                }],
            };
            listen::Listener::start(connect, routes).await?
        } else {
            listen::Listener::default()
        };
        Ok(Self {
            pool,
            clock,
            notifier,
            hub,
            listener,
        })
    }

    /// The `NOTIFY` channel this store announces state writes on.
    pub fn state_channel(&self) -> &str {
        &self.notifier.channel
    }

    /// Connects with default options.
    pub async fn connect_url(url: &str, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        Self::connect(url, clock, PgOptions::default()).await
    }

    /// The connection pool (for diagnostics and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Applies the receiver migrations on `pool` (what `ssf migrate` runs for a receiver).
pub async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    RECEIVER_MIGRATOR
        .run_direct(None, &mut *conn, false)
        .await?;
    Ok(())
}

impl ReceiverBackend for PgReceiverStore {
    type Db = Postgres;

    fn readers(&self) -> &PgPool {
        &self.pool
    }

    fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// One transaction, run again when it lost a race (see [`transaction!`]).
    async fn transact<I, T, Op>(&self, input: I, op: Op) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        Op: for<'c> Fn(&'c mut PgConnection, &'c I) -> BoxFut<'c, StoreResult<T>>
            + Send
            + Sync
            + 'static,
    {
        transaction!(self.pool, |tx| op(tx, &input).await)
    }

    /// One transaction that also appends the batch's state writes to the state change log and
    /// announces them to the other nodes at commit.
    async fn apply(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>> {
        let now = self.clock.now();
        transaction!(self.pool, |tx| {
            let (results, logged) = Batch::apply_items(tx, &items, now).await?;
            log::append(tx, &self.notifier, &logged, now).await?;
            Ok(results)
        })
    }

    async fn state_log_head(&self) -> StoreResult<Option<i64>> {
        log::head(&self.pool).await.map(Some)
    }

    async fn state_changes(&self, cursor: i64, limit: u32) -> StoreResult<StateChanges> {
        log::changes(&self.pool, &self.notifier.node, cursor, limit).await
    }

    async fn purge_state_log(&self, older_than: UnixMillis) -> StoreResult<u64> {
        transaction!(self.pool, |tx| log::purge(tx, older_than).await)
    }

    fn state_change_signal(&self) -> Option<WorkSubscription> {
        self.listener.is_running().then(|| self.hub.subscribe(None))
    }

    async fn shut_down(&self) {
        self.listener.stop();
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiver_has_its_own_migrations_table() {
        assert_eq!(RECEIVER_MIGRATOR.table_name, RECEIVER_MIGRATIONS_TABLE);
        assert_eq!(RECEIVER_MIGRATOR.iter().count(), EMBEDDED.iter().count());
    }
}
