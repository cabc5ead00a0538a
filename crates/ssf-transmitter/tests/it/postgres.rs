//! PostgreSQL for the multi-node tests: a fresh schema per test on a real server (the shared
//! helper `ssf_store::conformance::pg`, which skips or fails as `SSF_REQUIRE_POSTGRES` says),
//! and [`PgStore`]s on it, one per simulated node. Also [`on_both_backends!`], which runs a
//! test once on SQLite and once on PostgreSQL.

use std::{sync::Arc, time::Duration};

use ssf_store::{
    PgOptions, PgStore,
    conformance::pg::{TestSchema, TestServer},
};
use ssf_types::{Clock, SystemClock};

use crate::support::{Builder, TestServer as Transmitter};

/// Runs each named `async fn(Db)` twice: `NAME::sqlite` and `NAME::postgres` (skipped without a
/// server unless `SSF_REQUIRE_POSTGRES=1`).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::postgres::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::postgres::Db::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )+};
}
pub(crate) use on_both_backends;

/// Where a test's transmitter keeps its state.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// A SQLite file in the server's temp dir.
    Sqlite,
    /// A schema of its own on the test server.
    Postgres(Arc<Schema>),
}

impl Db {
    /// A fresh schema, or `None` when no server answers (see [`Schema::create`]).
    pub(crate) async fn postgres() -> Option<Self> {
        Schema::create().await.map(|s| Self::Postgres(Arc::new(s)))
    }

    /// A server builder on this backend.
    pub(crate) fn builder(&self) -> Builder {
        match self {
            Self::Sqlite => Transmitter::builder(),
            Self::Postgres(schema) => Transmitter::builder().postgres(Arc::clone(schema)),
        }
    }
}

/// A throwaway schema on the test server, dropped with this value.
#[derive(Debug)]
pub(crate) struct Schema {
    server: TestServer,
    schema: TestSchema,
}

impl Schema {
    /// A fresh empty schema, or `None` (after a note) when no server answers; panics instead
    /// when `SSF_REQUIRE_POSTGRES=1`.
    pub(crate) async fn create() -> Option<Self> {
        let server = TestServer::connect().await?;
        let schema = server.schema().await;
        Some(Self { server, schema })
    }

    /// A new node's store on this schema: its own pool and `LISTEN` connection.
    pub(crate) async fn node(&self) -> Arc<PgStore> {
        self.node_with(Arc::new(SystemClock)).await
    }

    /// A new node's store on this schema, on `clock`.
    pub(crate) async fn node_with(&self, clock: Arc<dyn Clock>) -> Arc<PgStore> {
        let store = PgStore::connect(self.server.url(), clock, self.schema.options());
        Arc::new(store.await.unwrap())
    }

    /// The server's URL (for a proxy in front of it).
    pub(crate) fn server_url(&self) -> &str {
        self.server.url()
    }

    /// A node's store on this schema reached through `url` (an outage proxy), giving up on a
    /// connection after `acquire_timeout`.
    pub(crate) async fn node_through(&self, url: &str, acquire_timeout: Duration) -> Arc<PgStore> {
        let options = PgOptions {
            acquire_timeout,
            ..self.schema.options()
        };
        Arc::new(
            PgStore::connect(url, Arc::new(SystemClock), options)
                .await
                .unwrap(),
        )
    }
}
