//! PostgreSQL for the multi-node tests: a fresh schema per test on a real server (the shared
//! helper `ssf_store::conformance::pg`, which skips or fails as `SSF_REQUIRE_POSTGRES` says),
//! and [`PgStore`]s on it, one per simulated node.

use std::{sync::Arc, time::Duration};

use ssf_store::{
    PgOptions, PgStore,
    conformance::pg::{TestSchema, TestServer},
};
use ssf_types::SystemClock;

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
        let store = PgStore::connect(
            self.server.url(),
            Arc::new(SystemClock),
            self.schema.options(),
        );
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
