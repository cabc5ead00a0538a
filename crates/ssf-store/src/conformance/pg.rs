//! A PostgreSQL server for tests, shared by the crates whose tests need one: a fresh schema per
//! test, dropped afterwards.
//!
//! The server is `SSF_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `.ci/postgres.sh` starts one). When it is unreachable, [`TestServer::connect`] prints a note
//! and returns `None` (the test passes), unless `SSF_REQUIRE_POSTGRES=1` (set by `.ci/run`),
//! which makes it fail.

use std::{sync::OnceLock, time::Duration};

use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};

use crate::postgres::PgOptions;

/// The server the PostgreSQL tests use.
pub fn database_url() -> String {
    std::env::var("SSF_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether PostgreSQL tests must fail instead of skipping (`SSF_REQUIRE_POSTGRES=1`).
pub fn postgres_required() -> bool {
    std::env::var("SSF_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A reachable test server.
#[derive(Debug, Clone)]
pub struct TestServer {
    url: String,
    admin: PgPool,
}

impl TestServer {
    /// Connects, or returns `None` after printing a skip note; panics instead when
    /// [`postgres_required`].
    pub async fn connect() -> Option<Self> {
        let url = database_url();
        let admin = match probe(&url).await {
            Ok(()) => PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&url)
                .await
                .map_err(|err| err.to_string()),
            Err(err) => Err(err),
        };
        match admin {
            Ok(admin) => Some(Self { url, admin }),
            Err(err) => {
                assert!(
                    !postgres_required(),
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

    /// Creates an empty schema, dropped again when the returned value is.
    pub async fn schema(&self) -> TestSchema {
        let name = format!("ssf_t_{}", uuid::Uuid::new_v4().simple());
        // Safe: the name is generated above.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&self.admin)
            .await
            .unwrap();
        TestSchema {
            name,
            url: self.url.clone(),
        }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A small pool on the server's default schema (set-up and fault injection).
    pub fn admin(&self) -> &PgPool {
        &self.admin
    }
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
pub struct TestSchema {
    /// The schema's name.
    pub name: String,
    url: String,
}

impl TestSchema {
    /// The server URL with this schema as the search path (PostgreSQL's `options` parameter),
    /// for code that takes a database location rather than [`PgOptions`].
    pub fn location(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }

    /// Store options with this schema as the search path (4 connections).
    pub fn options(&self) -> PgOptions {
        PgOptions {
            max_connections: 4,
            schema: Some(self.name.clone()),
            ..PgOptions::default()
        }
    }
}

impl Drop for TestSchema {
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
                // Safe: the name was generated by `TestServer::schema`.
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
