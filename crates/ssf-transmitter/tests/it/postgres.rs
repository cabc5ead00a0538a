//! PostgreSQL for the multi-node tests: a fresh schema per test on a real server (the shared
//! helper `ssf_store::conformance::pg`, which skips or fails as `SSF_REQUIRE_POSTGRES` says),
//! and [`PgStore`]s on it, one per simulated node.

use std::sync::Arc;

use ssf_store::{
    PgStore,
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
}
