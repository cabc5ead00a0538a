//! The two backends the tests run on: an SQLite file in the harness's temp dir, or a fresh
//! schema on a real PostgreSQL server.
//!
//! The server is `SSF_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `.ci/postgres.sh` starts one). When it is unreachable the PostgreSQL tests print a note and
//! pass, unless `SSF_REQUIRE_POSTGRES=1` (set by `.ci/run`), which makes them fail.
#![allow(dead_code, unreachable_pub)]

use std::{path::Path, sync::Arc};

pub use ssf_store::conformance::pg::database_url;
use ssf_store::conformance::pg::{TestSchema, TestServer};

/// Runs each named `async fn name(db: Db)` once per backend, as tests `name::sqlite` and
/// `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::backends::Db::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = $crate::backends::Db::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )+};
}

/// Where a test's bridge keeps its state.
#[derive(Debug, Clone)]
pub enum Db {
    /// `jit.db` in the harness's temp dir.
    Sqlite,
    /// A schema of its own on the test server, dropped with the last clone.
    Postgres(Arc<Schema>),
}

impl Db {
    /// A fresh PostgreSQL schema, or `None` (after a note) when no server answers.
    pub async fn postgres() -> Option<Self> {
        let server = TestServer::connect().await?;
        Some(Self::Postgres(Arc::new(Schema::create(server).await)))
    }

    /// Another empty database of the same kind.
    pub async fn fresh(&self) -> Self {
        match self {
            Self::Sqlite => Self::Sqlite,
            Self::Postgres(db) => Self::Postgres(Arc::new(Schema::create(db.server.clone()).await)),
        }
    }

    /// The `jit.database` value.
    pub fn location(&self, dir: &Path) -> String {
        match self {
            Self::Sqlite => dir.join("jit.db").display().to_string(),
            Self::Postgres(schema) => schema.location(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// A schema of its own on the shared test server (`ssf_store::conformance::pg`).
#[derive(Debug)]
pub struct Schema {
    server: TestServer,
    schema: TestSchema,
}

impl Schema {
    async fn create(server: TestServer) -> Self {
        let schema = server.schema().await;
        Self { server, schema }
    }

    /// The server URL with this schema as the search path.
    pub fn location(&self) -> String {
        self.schema.location()
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }
}
