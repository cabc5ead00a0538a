//! Durable state of the bridge: one SQLite file (WAL, `synchronous=FULL`) with its own
//! migrations (`migrations/sqlite`).
//!
//! Every ticket event is one transaction: the delivery id (replay protection), the ticket's
//! state, the grant changes, the queued events (outbox) and the audit rows commit together or
//! not at all. So a crash never leaves a grant without its event or an event without its grant,
//! and a restart neither forgets a grant nor sends one twice.
//!
//! Writes go through one connection behind a mutex (the bridge writes a few rows per ticket
//! event; SQLite has one writer anyway) with `BEGIN IMMEDIATE`; reads use a small pool. SQL
//! uses `$N` placeholders and BIGINT epoch milliseconds, so a PostgreSQL variant can share it.

mod apply;
mod outbox;
mod records;
mod settle;
mod sql;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use sqlx::{
    ConnectOptions, Connection, SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use ssf_types::UnixMillis;
use tokio::sync::Mutex;

pub use self::{
    apply::{ApplyOutcome, ApplyReport, Change},
    outbox::{OutboxRow, OutboxStatus},
    records::{AuditRow, EffectiveRow, GrantRow, GrantStatus},
};
use crate::{
    config::{JitConfig, SystemConfig},
    error::JitError,
    lifecycle::TicketState,
    ticket::TicketEvent,
};

/// The embedded migrations (`migrations/sqlite`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The bridge's database.
#[derive(Debug)]
pub struct JitStore {
    path: PathBuf,
    writer: Mutex<SqliteConnection>,
    readers: SqlitePool,
}

impl JitStore {
    /// Opens (creating the file and its directory if needed) and migrates the database at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, JitError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let mut conn = connect.connect().await?;
        // `run_direct`: `run`'s `Acquire` bound makes callers' futures lose `Send`.
        MIGRATOR.run_direct(None, &mut conn, false).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .connect_with(connect)
            .await?;
        Ok(Self {
            path,
            writer: Mutex::new(conn),
            readers,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies one ticket event in one transaction: records its delivery id (a repeat is a
    /// [`ApplyOutcome::Duplicate`] that changes nothing), moves the ticket's state, changes
    /// grants, queues events and writes the audit trail.
    pub async fn apply_event(
        &self,
        config: &JitConfig,
        system: &SystemConfig,
        event: &TicketEvent,
        record_delivery: bool,
        now: UnixMillis,
    ) -> Result<ApplyReport, JitError> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let report =
            apply::apply_event(&mut tx, config, system, event, record_delivery, now).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Records a webhook that is about nothing the bridge acts on; `false` if it was seen before.
    pub async fn record_ignored(
        &self,
        system: &str,
        delivery_id: &str,
        ticket_id: Option<&str>,
        reason: &str,
        now: UnixMillis,
    ) -> Result<bool, JitError> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let new =
            sql::record_delivery(&mut tx, system, delivery_id, ticket_id, "ignored", now).await?;
        if new {
            let detail = serde_json::json!({ "delivery_id": delivery_id, "reason": reason });
            sql::audit(
                &mut tx,
                now,
                Some(system),
                ticket_id,
                None,
                "ignored",
                None,
                None,
                &detail,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Ends every active grant whose `expires_at` is not after `now`, queueing the events that
    /// follow. Returns the changes.
    pub async fn expire_due(
        &self,
        config: &JitConfig,
        now: UnixMillis,
    ) -> Result<Vec<Change>, JitError> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let changes = apply::expire_due(&mut tx, config, now).await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// Forgets delivery ids received before `before` (they are kept for `delivery_retention`).
    pub async fn prune_deliveries(&self, before: UnixMillis) -> Result<u64, JitError> {
        let mut conn = self.writer.lock().await;
        let done = sqlx::query("DELETE FROM jit_deliveries WHERE received_at < $1")
            .bind(before.0)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    }

    /// The known state of a ticket.
    pub async fn ticket(
        &self,
        system: &str,
        ticket_id: &str,
    ) -> Result<Option<TicketState>, JitError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT state FROM jit_tickets WHERE system = $1 AND ticket_id = $2")
                .bind(system)
                .bind(ticket_id)
                .fetch_optional(&self.readers)
                .await?;
        row.map(|(s,)| {
            serde_json::from_str(&s).map_err(|e| JitError::Corrupt(format!("ticket state: {e}")))
        })
        .transpose()
    }

    /// Grants, newest first; only active ones when `active_only`.
    pub async fn grants(&self, active_only: bool) -> Result<Vec<GrantRow>, JitError> {
        records::grants(&self.readers, None, active_only).await
    }

    /// The grants of one ticket (all statuses), oldest first.
    pub async fn ticket_grants(
        &self,
        system: &str,
        ticket_id: &str,
    ) -> Result<Vec<GrantRow>, JitError> {
        records::grants(&self.readers, Some((system, ticket_id)), false).await
    }

    /// The tickets of `system` that hold at least one active grant.
    pub async fn tickets_with_active_grants(&self, system: &str) -> Result<Vec<String>, JitError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT ticket_id FROM jit_grants WHERE system = $1 AND status = 'active' ORDER BY ticket_id",
        )
        .bind(system)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// What the app was last told for every (user, asset) pair.
    pub async fn effective(&self) -> Result<Vec<EffectiveRow>, JitError> {
        records::effective(&self.readers).await
    }

    /// The audit trail of a ticket (oldest first), or of everything when `ticket` is `None`.
    pub async fn audit(&self, ticket: Option<(&str, &str)>) -> Result<Vec<AuditRow>, JitError> {
        records::audit(&self.readers, ticket).await
    }

    /// Outbox rows (oldest first), of one status or all.
    pub async fn outbox(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxRow>, JitError> {
        outbox::list(&self.readers, status).await
    }

    /// The rows due for sending at `now`, in queue order, without those stuck behind a row of
    /// their (user, asset) that waits for a retry.
    pub async fn due(&self, now: UnixMillis, limit: usize) -> Result<Vec<OutboxRow>, JitError> {
        outbox::due(&self.readers, now, limit).await
    }

    /// Marks a row sent, keeping the transmitter's answer; audits the SET `jti`s.
    pub async fn mark_sent(
        &self,
        seq: i64,
        response: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<(), JitError> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        outbox::mark_sent(&mut tx, seq, response, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Schedules another attempt of a row at `next_at`.
    pub async fn mark_retry(
        &self,
        seq: i64,
        error: &str,
        next_at: UnixMillis,
    ) -> Result<(), JitError> {
        let mut conn = self.writer.lock().await;
        outbox::mark_retry(&mut conn, seq, error, next_at).await
    }

    /// Marks a row failed for good (kept for inspection) and audits it.
    pub async fn mark_failed(
        &self,
        seq: i64,
        error: &str,
        now: UnixMillis,
    ) -> Result<(), JitError> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        outbox::mark_failed(&mut tx, seq, error, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a failed row back in line (after the cause is fixed).
    pub async fn retry_failed(&self, seq: i64, now: UnixMillis) -> Result<bool, JitError> {
        let mut conn = self.writer.lock().await;
        outbox::retry_failed(&mut conn, seq, now).await
    }

    /// The value of a pragma (`journal_mode`, `synchronous`), for diagnostics and tests.
    pub async fn pragma(&self, name: &str) -> Result<String, JitError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(JitError::Internal(format!("pragma name {name:?}")));
        }
        // Safe: `name` is lowercase letters and underscores only.
        let sql = format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}()");
        let (value,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.readers)
            .await?;
        Ok(value)
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.readers.close().await;
        let conn = self.writer.into_inner();
        let _ = conn.close().await;
    }
}
