//! Where the roles keep their data: a database location per role (`transmitter.database`,
//! `receiver.database`), either an SQLite file (a path or `sqlite://`, the default) or a
//! PostgreSQL URL (`postgres://`, for several nodes on one database), plus the pool settings of
//! `[<role>.postgres]`. Opening goes through [`ssf_store::open`]'s [`StoreUrl`]; every failure is
//! turned into a message that says what to fix, and passwords never appear in it.

use std::{path::Path, sync::Arc, time::Duration};

use serde::Deserialize;
use ssf_store::{
    PgOptions, PgStore, SqliteStore, StoreError, StoreUrl, TransmitterStore,
    postgres::receiver::PgReceiverStore, receiver::ReceiverStore,
    sqlite::receiver::SqliteReceiverStore,
};
use ssf_types::Clock;

use crate::input::{Context, Failure, usage};

/// `[transmitter.postgres]` / `[receiver.postgres]`: the connection pool of a `postgres://`
/// database (ignored for SQLite).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PgSettings {
    /// Connections in this node's pool (a transmitter holds one more for `LISTEN`). Default 10.
    pub(crate) max_connections: u32,
    /// How long an operation waits for a free connection. Default `10s`.
    #[serde(with = "ssf_http::duration_serde")]
    pub(crate) acquire_timeout: Duration,
    /// The schema for the tables (it must exist); default the server's `search_path`.
    pub(crate) schema: Option<String>,
}

impl Default for PgSettings {
    fn default() -> Self {
        let defaults = PgOptions::default();
        Self {
            max_connections: defaults.max_connections,
            acquire_timeout: defaults.acquire_timeout,
            schema: None,
        }
    }
}

/// A role's configured database.
#[derive(Debug, Clone)]
pub(crate) struct StoreLocation {
    /// The setting it came from (`transmitter.database`), for messages.
    pub(crate) key: &'static str,
    /// The location; its `Display` hides passwords.
    pub(crate) url: StoreUrl,
    /// Pool settings, used for PostgreSQL.
    pub(crate) postgres: PgSettings,
}

impl StoreLocation {
    /// Reads `value` of the setting `key`; `where_set` says where it came from for messages.
    pub(crate) fn parse(
        key: &'static str,
        value: &str,
        postgres: PgSettings,
        where_set: &str,
    ) -> Result<Self, Failure> {
        let url = StoreUrl::parse(value).map_err(|e| {
            usage(format!(
                "invalid setting `{key}` in {where_set}: {e} (e.g. \"ssf-data/transmitter.db\" \
                 or \"postgres://ssf@db.example.com/ssf\")"
            ))
        })?;
        if let Some(schema) = &postgres.schema
            && (schema.is_empty() || schema.contains([',', '"', '\'', ' ']))
        {
            return Err(usage(format!(
                "invalid setting `{key}`'s postgres.schema {schema:?} in {where_set}: give one \
                 schema name (letters, digits, _)"
            )));
        }
        Ok(Self { key, url, postgres })
    }

    /// An SQLite file at `path` (a default location).
    pub(crate) fn sqlite(key: &'static str, path: &Path) -> Self {
        Self {
            key,
            url: StoreUrl::Sqlite(path.to_owned()),
            postgres: PgSettings::default(),
        }
    }

    /// The library's options for a serving node.
    pub(crate) fn pg_options(&self) -> PgOptions {
        PgOptions {
            max_connections: self.postgres.max_connections,
            acquire_timeout: self.postgres.acquire_timeout,
            schema: self.postgres.schema.clone(),
            ..PgOptions::default()
        }
    }

    /// Creates the parent directory of an SQLite file (mode 0700; the store creates the file
    /// itself with 0600).
    fn prepare(&self) -> Result<(), Failure> {
        if let StoreUrl::Sqlite(path) = &self.url
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            ssf_store::private_files::create_private_dir(parent)
                .or_runtime(format!("creating {}", parent.display()))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.url, &self.postgres.schema) {
            (StoreUrl::Postgres(_), Some(schema)) => write!(f, "{} (schema {schema})", self.url),
            _ => write!(f, "{}", self.url),
        }
    }
}

/// Opens the transmitter store (migrating it).
pub(crate) async fn open_transmitter(
    location: &StoreLocation,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn TransmitterStore>, Failure> {
    location.prepare()?;
    let opened: Result<Arc<dyn TransmitterStore>, StoreError> = match &location.url {
        StoreUrl::Sqlite(path) => SqliteStore::open_path(path, clock)
            .await
            .map(|s| Arc::new(s) as _),
        StoreUrl::Postgres(url) => PgStore::connect(url, clock, location.pg_options())
            .await
            .map(|s| Arc::new(s) as _),
    };
    let store = opened.map_err(|e| explain(&e, location, "opening the transmitter database"))?;
    tracing::info!(database = %location, "transmitter store open");
    Ok(store)
}

/// Opens the receiver store (migrating it).
pub(crate) async fn open_receiver(
    location: &StoreLocation,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn ReceiverStore>, Failure> {
    location.prepare()?;
    let opened: Result<Arc<dyn ReceiverStore>, StoreError> = match &location.url {
        StoreUrl::Sqlite(path) => SqliteReceiverStore::open_path(path, clock)
            .await
            .map(|s| Arc::new(s) as _),
        StoreUrl::Postgres(url) => PgReceiverStore::connect(url, clock, location.pg_options())
            .await
            .map(|s| Arc::new(s) as _),
    };
    let store = opened.map_err(|e| explain(&e, location, "opening the receiver database"))?;
    tracing::info!(database = %location, "receiver store open");
    Ok(store)
}

/// A runtime failure for `err` while `doing` something with `location`, saying what to fix.
/// The location is shown with its password hidden; sqlx's messages carry no URL.
pub(crate) fn explain(err: &StoreError, location: &StoreLocation, doing: &str) -> Failure {
    let key = location.key;
    let database = match err {
        StoreError::Database(e) => Some(e),
        StoreError::Unavailable(e) => Some(&**e),
        _ => None,
    };
    let hint = match (database, err) {
        (Some(sqlx::Error::Io(_)), _) => format!(
            "cannot reach the database server: check the host and port in `{key}` and that the \
             server is running and accepts connections from here"
        ),
        (Some(sqlx::Error::PoolTimedOut), _) => format!(
            "no database connection within {:?}: the server is slow, unreachable or out of \
             connections (check `{key}`, or raise the postgres.acquire_timeout of this role)",
            location.postgres.acquire_timeout
        ),
        (Some(sqlx::Error::Tls(_)), _) => format!(
            "the TLS handshake with the database failed: check `sslmode` (and `sslrootcert`) in \
             `{key}`"
        ),
        (Some(sqlx::Error::Database(db)), _) => match db.code().as_deref() {
            Some("28P01" | "28000") => format!(
                "the server refused the login: check the user and password in `{key}` (and the \
                 server's pg_hba.conf)"
            ),
            Some("3D000") => format!(
                "the database does not exist: create it (`createdb <name>`, or CREATE DATABASE) \
                 or fix its name in `{key}`"
            ),
            Some("3F000") => "the schema does not exist: create it (CREATE SCHEMA <name>) or \
                 fix postgres.schema"
                .to_owned(),
            Some("42501") => format!(
                "the database user lacks a privilege: grant it CREATE and USAGE on the schema, \
                 or use another user in `{key}`"
            ),
            Some("53300") => "the server has no free connection slots: lower postgres.\
                 max_connections on the nodes or raise the server's max_connections"
                .to_owned(),
            _ => format!("check `{key}`"),
        },
        (_, StoreError::Migrate(_)) => format!(
            "the schema could not be brought up to date: run `ssf migrate` to see which \
             migration fails, and check that `{key}` is not used by another, newer version"
        ),
        (_, StoreError::Io(_)) => format!(
            "check that the directory of `{key}` exists and is writable (or set `{key}` \
             elsewhere)"
        ),
        _ => format!("check `{key}`"),
    };
    Failure::Runtime(anyhow::anyhow!("{doing} {location}: {err}\nhint: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_hide_passwords() {
        let pg = StoreLocation::parse(
            "transmitter.database",
            "postgres://ssf:s3cret@db:5432/ssf",
            PgSettings {
                schema: Some("nodes".into()),
                ..PgSettings::default()
            },
            "ssf.toml",
        )
        .unwrap();
        assert!(pg.url.is_postgres());
        let shown = pg.to_string();
        assert!(
            !shown.contains("s3cret") && shown.contains("schema nodes"),
            "{shown}"
        );
        assert_eq!(pg.pg_options().schema.as_deref(), Some("nodes"));
        let file =
            StoreLocation::parse("receiver.database", "rx.db", PgSettings::default(), "f").unwrap();
        assert_eq!(file.url, StoreUrl::Sqlite("rx.db".into()));
        let err = StoreLocation::parse(
            "receiver.database",
            "mysql://db/x",
            PgSettings::default(),
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("receiver.database") && err.contains("postgres://"),
            "{err}"
        );
        let bad_schema = PgSettings {
            schema: Some("a,b".into()),
            ..PgSettings::default()
        };
        assert!(
            StoreLocation::parse("transmitter.database", "postgres://db/x", bad_schema, "f")
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_explained_without_the_password() {
        // Port 1 on loopback: nothing listens there; the pool retries until acquire_timeout.
        let location = StoreLocation::parse(
            "transmitter.database",
            "postgres://ssf:s3cret@127.0.0.1:1/ssf",
            PgSettings {
                acquire_timeout: Duration::from_secs(1),
                ..PgSettings::default()
            },
            "f",
        )
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ssf_types::SystemClock);
        let err = match open_transmitter(&location, clock).await {
            Ok(_) => panic!("nothing listens on port 1"),
            Err(err) => err.to_string(),
        };
        assert!(!err.contains("s3cret"), "{err}");
        assert!(
            err.contains("transmitter.database") && err.contains("postgres://ssf:***@"),
            "{err}"
        );
    }
}
