//! Durable state of the bridge, on SQLite (one file, WAL, `synchronous=FULL`; the default) or
//! PostgreSQL (shared by several bridge nodes), chosen by the location in `jit.database`, with
//! migrations for each (`migrations/sqlite`, `migrations/postgres`).
//!
//! Every ticket event is one transaction: the delivery id (replay protection), the ticket's
//! state, the grant changes, the queued events (outbox) and the audit rows commit together or
//! not at all. So a crash never leaves a grant without its event or an event without its grant,
//! and a restart neither forgets a grant nor sends one twice.
//!
//! Both backends run the same SQL through sqlx's `Any` driver (`$N` placeholders, BIGINT epoch
//! milliseconds, JSON as TEXT). Transactions that apply ticket events or expiries hold the
//! write lock: `BEGIN IMMEDIATE` on SQLite (whose writes go through one connection behind a
//! mutex), a bridge-wide advisory transaction lock on PostgreSQL, so nodes apply them one at a
//! time and each reads what the previous one committed. Emitters take turns
//! ([`JitStore::sending_turn`]). See the crate README, "Several nodes".

mod apply;
mod backend;
mod by_hand;
mod outbox;
mod records;
mod settle;
mod sql;

use std::path::Path;

use sqlx::Connection;
use ssf_store::StoreUrl;
use ssf_types::UnixMillis;

use self::backend::Connections;
pub use self::{
    apply::{ApplyOutcome, ApplyReport, Change, Intake},
    backend::{MIGRATOR, PG_MIGRATIONS_TABLE, PG_MIGRATOR, SendTurn, migrate},
    by_hand::HandRevoke,
    outbox::{OutboxRow, OutboxStatus},
    records::{AuditRow, EffectiveRow, GrantRow, GrantStatus},
};
use crate::{
    config::{JitConfig, SystemConfig},
    error::JitError,
    lifecycle::TicketState,
    ticket::TicketEvent,
};

/// The bridge's database.
#[derive(Debug)]
pub struct JitStore {
    db: Connections,
}

impl JitStore {
    /// Opens the database at `location` and applies its migrations: a file path or
    /// `sqlite://<path>` (the file and its directory are created if needed) or a
    /// `postgres://user:password@host/db` URL (PostgreSQL options such as
    /// `?options=-c%20search_path%3Djit` pass through).
    pub async fn open(location: &str) -> Result<Self, JitError> {
        Self::open_at(backend::parse(location)?).await
    }

    /// Opens (creating it if needed) the SQLite file at `path`.
    pub async fn open_path(path: impl AsRef<Path>) -> Result<Self, JitError> {
        Self::open_at(StoreUrl::Sqlite(path.as_ref().to_path_buf())).await
    }

    async fn open_at(location: StoreUrl) -> Result<Self, JitError> {
        let shown = location.to_string();
        let db = Connections::open(location).await.map_err(|e| match e {
            JitError::Database(source) => JitError::Open {
                location: shown.clone(),
                source,
            },
            other => other,
        })?;
        tracing::debug!(database = %shown, "jit store open");
        Ok(Self { db })
    }

    /// Where the database is; its `Display` hides any password.
    pub fn location(&self) -> &StoreUrl {
        &self.db.location
    }

    /// The SQLite file, or `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        self.db.path()
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
        intake: Intake,
        now: UnixMillis,
    ) -> Result<ApplyReport, JitError> {
        let mut conn = self.db.writer().await?;
        let mut tx = self.db.begin(&mut conn).await?;
        let report =
            apply::apply_event(&mut tx, config, system, event, record_delivery, intake, now)
                .await?;
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
        let mut conn = self.db.writer().await?;
        let mut tx = self.db.begin(&mut conn).await?;
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

    /// Records a refused webhook in the audit trail (`action = "refused"`), so that an operator
    /// finds every webhook that changed nothing and why (`ssf jit audit`). `ticket_id` is what
    /// the body claims, when it could be read; `detail` says whether the sender was verified.
    pub async fn record_refused(
        &self,
        system: &str,
        ticket_id: Option<&str>,
        reason: &str,
        detail: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<(), JitError> {
        let mut conn = self.db.writer().await?;
        let mut tx = conn.begin().await?;
        let mut detail = detail.clone();
        detail["reason"] = serde_json::Value::from(reason);
        sql::audit(
            &mut tx,
            now,
            Some(system),
            ticket_id,
            None,
            "refused",
            None,
            None,
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every active grant whose `expires_at` is not after `now`, queueing the events that
    /// follow. Returns the changes.
    pub async fn expire_due(
        &self,
        config: &JitConfig,
        now: UnixMillis,
    ) -> Result<Vec<Change>, JitError> {
        let mut conn = self.db.writer().await?;
        let mut tx = self.db.begin(&mut conn).await?;
        let changes = apply::expire_due(&mut tx, config, now).await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// Ends the active grant `grant_id` by hand (D-JIT-16), in one transaction: the grant is
    /// `revoked` with `end_reason` `by_hand: by <actor>: <reason>`, an audit row
    /// `revoke_by_hand` names the actor and the reason, and the user's access on the asset is
    /// settled, queueing the revoke event when no other ticket still grants it. An unknown id
    /// is [`JitError::UnknownGrant`], a grant no longer active [`JitError::GrantNotActive`];
    /// both change nothing. [`Bridge::revoke_by_hand`](crate::Bridge::revoke_by_hand) checks
    /// `actor` and `reason` first and wakes the emitter.
    pub async fn revoke_by_hand(
        &self,
        config: &JitConfig,
        grant_id: &str,
        actor: &str,
        reason: &str,
        now: UnixMillis,
    ) -> Result<HandRevoke, JitError> {
        let mut conn = self.db.writer().await?;
        let mut tx = self.db.begin(&mut conn).await?;
        let done = by_hand::revoke_by_hand(&mut tx, config, grant_id, actor, reason, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Forgets delivery ids received before `before` (they are kept for `delivery_retention`).
    pub async fn prune_deliveries(&self, before: UnixMillis) -> Result<u64, JitError> {
        let mut conn = self.db.writer().await?;
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
                .fetch_optional(&self.db.pool)
                .await?;
        row.map(|(s,)| {
            serde_json::from_str(&s).map_err(|e| JitError::CorruptValue {
                what: "ticket state",
                source: e.into(),
            })
        })
        .transpose()
    }

    /// Grants, newest first; only active ones when `active_only`.
    pub async fn grants(&self, active_only: bool) -> Result<Vec<GrantRow>, JitError> {
        records::grants(&self.db.pool, None, active_only).await
    }

    /// The grants of one ticket (all statuses), oldest first.
    pub async fn ticket_grants(
        &self,
        system: &str,
        ticket_id: &str,
    ) -> Result<Vec<GrantRow>, JitError> {
        records::grants(&self.db.pool, Some((system, ticket_id)), false).await
    }

    /// The tickets of `system` that hold at least one active grant.
    pub async fn tickets_with_active_grants(&self, system: &str) -> Result<Vec<String>, JitError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT ticket_id FROM jit_grants WHERE system = $1 AND status = 'active' ORDER BY ticket_id",
        )
        .bind(system)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// What the app was last told for every (user, asset) pair.
    pub async fn effective(&self) -> Result<Vec<EffectiveRow>, JitError> {
        records::effective(&self.db.pool).await
    }

    /// The audit trail of a ticket (oldest first), or of everything when `ticket` is `None`.
    pub async fn audit(&self, ticket: Option<(&str, &str)>) -> Result<Vec<AuditRow>, JitError> {
        records::audit(&self.db.pool, ticket).await
    }

    /// Outbox rows (oldest first), of one status or all.
    pub async fn outbox(&self, status: Option<OutboxStatus>) -> Result<Vec<OutboxRow>, JitError> {
        outbox::list(&self.db.pool, status).await
    }

    /// The rows due for sending at `now`, in queue order, without those stuck behind a row of
    /// their (user, asset) that waits for a retry.
    pub async fn due(&self, now: UnixMillis, limit: usize) -> Result<Vec<OutboxRow>, JitError> {
        outbox::due(&self.db.pool, now, limit).await
    }

    /// Marks a row sent, keeping the transmitter's answer; audits the SET `jti`s.
    pub async fn mark_sent(
        &self,
        seq: i64,
        response: &serde_json::Value,
        now: UnixMillis,
    ) -> Result<(), JitError> {
        let mut conn = self.db.writer().await?;
        let mut tx = conn.begin().await?;
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
        let mut conn = self.db.writer().await?;
        outbox::mark_retry(&mut conn, seq, error, next_at).await
    }

    /// Marks a row failed for good (kept for inspection) and audits it.
    pub async fn mark_failed(
        &self,
        seq: i64,
        error: &str,
        now: UnixMillis,
    ) -> Result<(), JitError> {
        let mut conn = self.db.writer().await?;
        let mut tx = conn.begin().await?;
        outbox::mark_failed(&mut tx, seq, error, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a failed row back in line (after the cause is fixed).
    pub async fn retry_failed(&self, seq: i64, now: UnixMillis) -> Result<bool, JitError> {
        let mut conn = self.db.writer().await?;
        outbox::retry_failed(&mut conn, seq, now).await
    }

    /// This emitter's turn to send the outbox, or `None` while another emitter has it (of
    /// this process, or of another node on the same PostgreSQL database). Holding the turn
    /// while sending keeps every row sent once at a time and in order per (user, asset) over
    /// all nodes; a node that dies releases it with its connection.
    pub async fn sending_turn(&self) -> Result<Option<SendTurn>, JitError> {
        self.db.sending_turn().await
    }

    /// The value of an SQLite pragma (`journal_mode`, `synchronous`), for diagnostics and
    /// tests. On PostgreSQL there are no pragmas: a [`JitError::Config`].
    pub async fn pragma(&self, name: &str) -> Result<String, JitError> {
        if self.db.location.is_postgres() {
            return Err(JitError::Config(format!(
                "pragma {name:?}: pragmas exist on SQLite only, and this bridge database is PostgreSQL"
            )));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(JitError::Internal(format!("pragma name {name:?}").into()));
        }
        // Safe: `name` is lowercase letters and underscores only.
        let sql = format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}()");
        let (value,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.db.pool)
            .await?;
        Ok(value)
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.db.close().await;
    }
}
