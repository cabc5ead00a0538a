//! The two backends the tests run on: an SQLite file in the harness's temp dir, or a fresh
//! schema on a real PostgreSQL server.
//!
//! The server is `SSF_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `.ci/postgres.sh` starts one). When it is unreachable the PostgreSQL tests print a note and
//! pass, unless `SSF_REQUIRE_POSTGRES=1` (set by `.ci/run`), which makes them fail.
#![allow(dead_code, unreachable_pub)]

use std::{
    path::Path,
    sync::{Arc, OnceLock},
    time::Duration,
};

use sqlx::{Connection, PgConnection};

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
        let url = database_url();
        match probe(&url).await {
            Ok(()) => Some(Self::Postgres(Arc::new(Schema::create(&url).await))),
            Err(err) => {
                let required = std::env::var("SSF_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
                assert!(
                    !required,
                    "PostgreSQL at {url} is unreachable ({err}) and SSF_REQUIRE_POSTGRES=1: \
                     start it with `bash .ci/postgres.sh` or point SSF_TEST_DATABASE_URL at one"
                );
                eprintln!(
                    "SKIPPED: PostgreSQL at {url} is unreachable ({err}); \
                     set SSF_REQUIRE_POSTGRES=1 to make this a failure"
                );
                None
            }
        }
    }

    /// Another empty database of the same kind.
    pub async fn fresh(&self) -> Self {
        match self {
            Self::Sqlite => Self::Sqlite,
            Self::Postgres(schema) => Self::Postgres(Arc::new(Schema::create(&schema.url).await)),
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

/// The server the PostgreSQL tests use.
pub fn database_url() -> String {
    std::env::var("SSF_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether the server answers: asked once per test process, so an absent server costs one
/// connection attempt, not one per test.
async fn probe(url: &str) -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    if let Some(answer) = ANSWER.get() {
        return answer.clone();
    }
    let answer =
        match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(url)).await {
            Ok(Ok(conn)) => conn.close().await.map_err(|err| err.to_string()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("no answer within 5 s".to_owned()),
        };
    ANSWER.get_or_init(|| answer).clone()
}

/// A throwaway schema on the test server.
#[derive(Debug)]
pub struct Schema {
    pub name: String,
    url: String,
}

impl Schema {
    async fn create(url: &str) -> Self {
        let name = format!("ssf_jit_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(url).await.unwrap();
        // Safe: the name is generated above.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Self {
            name,
            url: url.to_owned(),
        }
    }

    /// The server URL with this schema as the search path (PostgreSQL's `options`).
    pub fn location(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which must not block: a thread of its own.
        let (name, url) = (self.name.clone(), self.url.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&url).await?;
                // Safe: the name was generated by `Schema::create`.
                let sql = format!("SET lock_timeout = '10s'; DROP SCHEMA {name} CASCADE");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}
