//! Choosing a backend from the configured database location: a file path or `sqlite://` URL
//! opens the embedded SQLite store (the default), a `postgres://` URL the PostgreSQL store.
//! `ssf serve` passes its configured value here; `ssf migrate` calls the `migrate_*` functions.

use std::{fmt, path::PathBuf, sync::Arc};

use ssf_types::Clock;

use crate::{
    error::{StoreError, StoreResult},
    postgres::{self, PgOptions, PgStore, receiver::PgReceiverStore},
    receiver::ReceiverStore,
    sqlite::{SqliteStore, receiver::SqliteReceiverStore},
    transmitter::TransmitterStore,
};

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl StoreUrl {
    /// Reads `value`: `postgres://...`/`postgresql://...` is PostgreSQL; `sqlite://<path>` or
    /// `sqlite:<path>` (query parameters ignored) and anything without a `scheme://` prefix is an
    /// SQLite file path. Other schemes and empty values are refused.
    pub fn parse(value: &str) -> StoreResult<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Err(StoreError::InvalidArgument(
                "empty database location".to_owned(),
            ));
        }
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self::Postgres(value.to_owned()));
        }
        if lower.starts_with("sqlite:") {
            let rest = &value["sqlite:".len()..];
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split_once('?').map_or(rest, |(path, _)| path);
            if path.is_empty() {
                return Err(StoreError::InvalidArgument(
                    "sqlite URL without a file path".to_owned(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = value.split_once("://")
            && !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(StoreError::InvalidArgument(format!(
                "unsupported database URL scheme {scheme:?}: use a file path, sqlite:// or \
                 postgres://"
            )));
        }
        Ok(Self::Sqlite(PathBuf::from(value)))
    }

    /// Whether this is a PostgreSQL location.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl fmt::Display for StoreUrl {
    /// The location with any password replaced by `***`, safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// `scheme://user:secret@host/db?password=secret` -> `scheme://user:***@host/db?password=***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => param.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Opens the transmitter store at `location` (see [`StoreUrl::parse`]) with default options,
/// applying migrations.
pub async fn open_transmitter_store(
    location: &str,
    clock: Arc<dyn Clock>,
) -> StoreResult<Arc<dyn TransmitterStore>> {
    Ok(match StoreUrl::parse(location)? {
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open_path(path, clock).await?),
        StoreUrl::Postgres(url) => {
            Arc::new(PgStore::connect(&url, clock, PgOptions::default()).await?)
        }
    })
}

/// Opens the receiver store at `location` (see [`StoreUrl::parse`]) with default options,
/// applying migrations.
pub async fn open_receiver_store(
    location: &str,
    clock: Arc<dyn Clock>,
) -> StoreResult<Arc<dyn ReceiverStore>> {
    Ok(match StoreUrl::parse(location)? {
        StoreUrl::Sqlite(path) => Arc::new(SqliteReceiverStore::open_path(path, clock).await?),
        StoreUrl::Postgres(url) => {
            Arc::new(PgReceiverStore::connect(&url, clock, PgOptions::default()).await?)
        }
    })
}

/// Options for PostgreSQL connections that only apply migrations.
fn migrate_only() -> PgOptions {
    PgOptions {
        max_connections: 1,
        listen: false,
        run_migrations: false,
        ..PgOptions::default()
    }
}

/// Applies the transmitter migrations at `location` and closes it again (`ssf migrate`).
pub async fn migrate_transmitter(location: &str, clock: Arc<dyn Clock>) -> StoreResult<()> {
    match StoreUrl::parse(location)? {
        StoreUrl::Sqlite(path) => SqliteStore::open_path(path, clock).await?.close().await,
        StoreUrl::Postgres(url) => {
            let pool = migrate_only().pool(&url).await?;
            let migrated = postgres::migrate(&pool).await;
            pool.close().await;
            migrated?;
        }
    }
    Ok(())
}

/// Applies the receiver migrations at `location` and closes it again (`ssf migrate`).
pub async fn migrate_receiver(location: &str, clock: Arc<dyn Clock>) -> StoreResult<()> {
    match StoreUrl::parse(location)? {
        StoreUrl::Sqlite(path) => {
            SqliteReceiverStore::open_path(path, clock)
                .await?
                .close()
                .await;
        }
        StoreUrl::Postgres(url) => {
            let pool = migrate_only().pool(&url).await?;
            let migrated = postgres::receiver::migrate(&pool).await;
            pool.close().await;
            migrated?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_choose_the_backend() {
        let pg = "postgres://ssf:s3cret@db.example:5432/ssf?sslmode=require";
        assert_eq!(
            StoreUrl::parse(pg).unwrap(),
            StoreUrl::Postgres(pg.to_owned())
        );
        assert!(
            StoreUrl::parse("postgresql://db/ssf")
                .unwrap()
                .is_postgres()
        );
        assert!(StoreUrl::parse("POSTGRES://db/ssf").unwrap().is_postgres());
        let sqlite = |p: &str| StoreUrl::Sqlite(PathBuf::from(p));
        assert_eq!(
            StoreUrl::parse("./ssf-data/ssf.db").unwrap(),
            sqlite("./ssf-data/ssf.db")
        );
        assert_eq!(
            StoreUrl::parse("sqlite://data/ssf.db").unwrap(),
            sqlite("data/ssf.db")
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/ssf.db?mode=rwc").unwrap(),
            sqlite("/var/ssf.db")
        );
        assert_eq!(StoreUrl::parse("sqlite:ssf.db").unwrap(), sqlite("ssf.db"));
        for bad in [
            "",
            "  ",
            "mysql://db/ssf",
            "sqlite://",
            "sqlite:?mode=memory",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_hides_the_password() {
        let url = StoreUrl::parse("postgres://ssf:s3cret@db:5432/ssf?x=1").unwrap();
        assert_eq!(url.to_string(), "postgres://ssf:***@db:5432/ssf?x=1");
        assert!(!format!("{url:?}").contains("s3cret"));
        let plain = StoreUrl::parse("postgres://postgres@127.0.0.1/postgres").unwrap();
        assert_eq!(plain.to_string(), "postgres://postgres@127.0.0.1/postgres");
        let odd = StoreUrl::parse("postgres://u:p@ss@host/db").unwrap();
        assert_eq!(odd.to_string(), "postgres://u:***@host/db");
        let query = StoreUrl::parse("postgres://db/ssf?user=a&password=s3cret&x=1").unwrap();
        assert_eq!(
            query.to_string(),
            "postgres://db/ssf?user=a&password=***&x=1"
        );
    }

    #[tokio::test]
    async fn paths_open_the_embedded_stores() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ssf_types::ManualClock::new(ssf_types::UnixMillis(0)));
        let tx_path = dir.path().join("tx.db");
        let location = format!("sqlite://{}", tx_path.display());
        migrate_transmitter(&location, clock.clone()).await.unwrap();
        let store = open_transmitter_store(&location, clock.clone())
            .await
            .unwrap();
        assert!(store.list_clients().await.unwrap().is_empty());
        store.close().await;
        let rx_path = dir.path().join("rx.db");
        let location = rx_path.to_str().unwrap();
        migrate_receiver(location, clock.clone()).await.unwrap();
        let store = open_receiver_store(location, clock).await.unwrap();
        assert_eq!(store.seen_count().await.unwrap(), 0);
        store.close().await;
        assert!(tx_path.exists() && rx_path.exists());
    }
}
