//! `ssf migrate`: brings the schema of every store of the configuration up to date, or with
//! `--check` only lists what is pending. `ssf serve` migrates at start too; running this first
//! lets several nodes start on a database that is already current, and lets a deployment see
//! what a new version will change.
//!
//! Each store kind is a [`Migrations`] value (its embedded migrations per backend and the table
//! that tracks them); covering one more store is one more line in [`targets`].

use std::{collections::BTreeSet, path::Path, process::ExitCode};

use sqlx::{
    Connection, PgConnection, SqliteConnection, migrate::Migrator, sqlite::SqliteConnectOptions,
};
use ssf_store::{StoreError, StoreUrl};

use crate::{
    cli::MigrateArgs,
    input::{CmdResult, Context, EXIT_REJECTED, Failure},
    serve::{
        config::{self, ServeConfig},
        stores::{StoreLocation, explain},
    },
};

/// The migrations of one kind of store on each backend, and the tables that record them.
#[derive(Debug, Clone, Copy)]
struct Migrations {
    sqlite: &'static Migrator,
    sqlite_table: &'static str,
    postgres: &'static Migrator,
    postgres_table: &'static str,
}

/// The transmitter store's (`ssf_store::SqliteStore`, `ssf_store::PgStore`).
fn transmitter() -> Migrations {
    Migrations {
        sqlite: &ssf_store::sqlite::MIGRATOR,
        sqlite_table: "_sqlx_migrations",
        postgres: &ssf_store::postgres::MIGRATOR,
        postgres_table: "_sqlx_migrations",
    }
}

/// The receiver store's; on PostgreSQL in a table of its own so it can share a schema.
fn receiver() -> Migrations {
    Migrations {
        sqlite: &ssf_store::sqlite::receiver::RECEIVER_MIGRATOR,
        sqlite_table: "_sqlx_migrations",
        postgres: &ssf_store::postgres::receiver::RECEIVER_MIGRATOR,
        postgres_table: ssf_store::postgres::receiver::RECEIVER_MIGRATIONS_TABLE,
    }
}

/// The ticket bridge's (`ssf_jit::JitStore`); on PostgreSQL in a table of its own.
fn jit() -> Migrations {
    Migrations {
        sqlite: &ssf_jit::store::MIGRATOR,
        sqlite_table: "_sqlx_migrations",
        postgres: &ssf_jit::store::PG_MIGRATOR,
        postgres_table: ssf_jit::store::PG_MIGRATIONS_TABLE,
    }
}

/// One store to migrate.
#[derive(Debug)]
struct Target<'a> {
    name: &'static str,
    location: &'a StoreLocation,
    migrations: Migrations,
}

/// Every store of `config`: add a line here for a new store.
fn targets(config: &ServeConfig) -> Vec<Target<'_>> {
    let target = |name, location, migrations| Target {
        name,
        location,
        migrations,
    };
    let mut targets = Vec::new();
    targets.extend(
        config
            .transmitter
            .as_ref()
            .map(|t| target("transmitter", &t.database, transmitter())),
    );
    targets.extend(
        config
            .receiver
            .as_ref()
            .map(|r| target("receiver", &r.database, receiver())),
    );
    targets.extend(
        config
            .jit
            .as_ref()
            .map(|j| target("jit", &j.database, jit())),
    );
    targets
}

/// Runs `ssf migrate`.
pub(crate) fn run(args: MigrateArgs) -> CmdResult {
    let config = config::load(args.config.as_deref(), std::env::vars())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_runtime("starting the runtime")?;
    let mut pending_total = 0;
    for target in targets(&config) {
        let location = target.location;
        let fail = |e: StoreError| explain(&e, location, &format!("migrating the {}", target.name));
        let (pending, unknown) = runtime.block_on(status(&target)).map_err(fail)?;
        if !unknown.is_empty() {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "the {} database {location} has migrations this ssf does not know ({}): it \
                 was migrated by a newer version; run that version (or newer) instead",
                target.name,
                unknown.join(", ")
            )));
        }
        let names: Vec<String> = pending.iter().map(|m| describe(m)).collect();
        let line = if pending.is_empty() {
            "up to date".to_owned()
        } else if args.check {
            format!("{} pending: {}", pending.len(), names.join(", "))
        } else {
            runtime.block_on(apply(&target)).map_err(fail)?;
            format!("applied {}", names.join(", "))
        };
        pending_total += pending.len();
        println!("{:<12} {location}: {line}", target.name);
    }
    if args.check && pending_total > 0 {
        println!("run `ssf migrate` (without --check) to apply them");
        return Ok(ExitCode::from(EXIT_REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `0001 transmitter`.
fn describe(migration: &sqlx::migrate::Migration) -> String {
    format!("{:04} {}", migration.version, migration.description)
}

/// The embedded migrations not applied yet, and the versions applied that this binary does
/// not embed (a newer version migrated the database). Reads only; creates nothing.
async fn status(
    target: &Target<'_>,
) -> Result<(Vec<&'static sqlx::migrate::Migration>, Vec<String>), StoreError> {
    let (migrator, applied) = match &target.location.url {
        StoreUrl::Sqlite(path) => {
            let m = target.migrations;
            (m.sqlite, sqlite_applied(path, m.sqlite_table).await?)
        }
        StoreUrl::Postgres(url) => {
            let m = target.migrations;
            let mut conn = pg_connect(target.location, url).await?;
            let applied = pg_applied(&mut conn, m.postgres_table).await;
            conn.close().await?;
            (m.postgres, applied?)
        }
    };
    let embedded: BTreeSet<i64> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    let pending = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .collect();
    let unknown = applied
        .difference(&embedded)
        .map(|v| format!("{v:04}"))
        .collect();
    Ok((pending, unknown))
}

/// Applies the pending migrations (the migrator's lock keeps concurrent runs apart).
async fn apply(target: &Target<'_>) -> Result<(), StoreError> {
    match &target.location.url {
        StoreUrl::Sqlite(path) => {
            ssf_store::private_files::prepare_sqlite_file(path)?;
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true);
            let mut conn = SqliteConnection::connect_with(&options).await?;
            let ran = target.migrations.sqlite.run(&mut conn).await;
            conn.close().await?;
            ran?;
            ssf_store::private_files::tighten_sqlite_companions(path)?;
        }
        StoreUrl::Postgres(url) => {
            let mut conn = pg_connect(target.location, url).await?;
            let ran = target.migrations.postgres.run(&mut conn).await;
            conn.close().await?;
            ran?;
        }
    }
    Ok(())
}

async fn pg_connect(location: &StoreLocation, url: &str) -> Result<PgConnection, StoreError> {
    let options = location.pg_options().connect_options(url)?;
    let connect = PgConnection::connect_with(&options);
    match tokio::time::timeout(location.postgres.acquire_timeout, connect).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(StoreError::Unavailable(std::sync::Arc::new(
            sqlx::Error::PoolTimedOut,
        ))),
    }
}

/// The versions recorded in `table` (none when the table does not exist yet).
async fn pg_applied(conn: &mut PgConnection, table: &str) -> Result<BTreeSet<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(BTreeSet::new());
    }
    // Safe: `table` is one of the constants of this module, not input.
    let sql = format!("SELECT version FROM {table} WHERE success ORDER BY version");
    let versions: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    Ok(versions.into_iter().collect())
}

/// The versions recorded in `table` of the SQLite file at `path` (none when the file or the
/// table does not exist yet).
async fn sqlite_applied(path: &Path, table: &str) -> Result<BTreeSet<i64>, StoreError> {
    if !path.exists() {
        return Ok(BTreeSet::new());
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let exists: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_one(&mut conn)
            .await?;
    let versions: Vec<i64> = if exists == 0 {
        Vec::new()
    } else {
        // Safe: `table` is one of the constants of this module, not input.
        let sql = format!("SELECT version FROM {table} WHERE success ORDER BY version");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await?
    };
    conn.close().await?;
    Ok(versions.into_iter().collect())
}
