//! Rows as the store hands them out, and the read queries.

use serde::Serialize;
use serde_json::Value;
use sqlx::AnyPool;
use ssf_types::UnixMillis;

use crate::error::JitError;

/// A grant's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// In force.
    Active,
    /// Ended by the ticket (closed, reassigned, ...) or by hand (`end_reason` `by_hand: ...`).
    Revoked,
    /// Ended by the maximum grant duration.
    Expired,
}

impl GrantStatus {
    pub(crate) fn parse(s: &str) -> Result<Self, JitError> {
        match s {
            "active" => Ok(Self::Active),
            "revoked" => Ok(Self::Revoked),
            "expired" => Ok(Self::Expired),
            other => Err(JitError::Corrupt(format!("grant status {other:?}"))),
        }
    }
}

/// One grant a ticket gave one user on one asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrantRow {
    /// Its id.
    pub grant_id: String,
    /// The ticket system.
    pub system: String,
    /// The ticket.
    pub ticket_id: String,
    /// The subject key (`email:jane@example.com`).
    pub subject_key: String,
    /// The `sub_id` of its events.
    pub subject: Value,
    /// Asset type.
    pub asset_type: String,
    /// Asset id.
    pub asset_id: String,
    /// Access level.
    pub access: String,
    /// When it was granted.
    #[serde(with = "crate::time::millis")]
    pub granted_at: UnixMillis,
    /// When it ends at the latest.
    #[serde(with = "crate::time::millis")]
    pub expires_at: UnixMillis,
    /// Active, revoked or expired.
    pub status: GrantStatus,
    /// When it ended.
    #[serde(with = "crate::time::millis::option")]
    pub ended_at: Option<UnixMillis>,
    /// Why it ended (`closed`, `reassigned`, `expired`, `by_hand: by <actor>: <reason>`, ...).
    pub end_reason: Option<String>,
    /// The `txn` of the event that granted it.
    pub grant_txn: String,
    /// The `txn` of the event that ended it.
    pub end_txn: Option<String>,
}

type GrantTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

pub(crate) const GRANT_COLS: &str = "grant_id, system, ticket_id, subject_key, subject, asset_type, asset_id, \
    access, granted_at, expires_at, status, ended_at, end_reason, grant_txn, end_txn";

pub(crate) fn grant_from(t: GrantTuple) -> Result<GrantRow, JitError> {
    Ok(GrantRow {
        grant_id: t.0,
        system: t.1,
        ticket_id: t.2,
        subject_key: t.3,
        subject: serde_json::from_str(&t.4).map_err(|e| JitError::CorruptValue {
            what: "grant subject",
            source: e.into(),
        })?,
        asset_type: t.5,
        asset_id: t.6,
        access: t.7,
        granted_at: UnixMillis(t.8),
        expires_at: UnixMillis(t.9),
        status: GrantStatus::parse(&t.10)?,
        ended_at: t.11.map(UnixMillis),
        end_reason: t.12,
        grant_txn: t.13,
        end_txn: t.14,
    })
}

pub(crate) async fn grants(
    pool: &AnyPool,
    ticket: Option<(&str, &str)>,
    active_only: bool,
) -> Result<Vec<GrantRow>, JitError> {
    let rows: Vec<GrantTuple> = match (ticket, active_only) {
        (Some((system, ticket_id)), _) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {GRANT_COLS} FROM jit_grants WHERE system = $1 AND ticket_id = $2 ORDER BY granted_at, grant_id"
            )))
            .bind(system)
            .bind(ticket_id)
            .fetch_all(pool)
            .await?
        }
        (None, true) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {GRANT_COLS} FROM jit_grants WHERE status = 'active' ORDER BY granted_at DESC, grant_id"
            )))
            .fetch_all(pool)
            .await?
        }
        (None, false) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {GRANT_COLS} FROM jit_grants ORDER BY granted_at DESC, grant_id"
            )))
            .fetch_all(pool)
            .await?
        }
    };
    rows.into_iter().map(grant_from).collect()
}

/// What the app was last told for one (user, asset) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveRow {
    /// The subject key.
    pub subject_key: String,
    /// Asset type.
    pub asset_type: String,
    /// Asset id.
    pub asset_id: String,
    /// The level, or `None` after a revoke.
    pub access: Option<String>,
    /// The expiry sent with it.
    #[serde(with = "crate::time::millis::option")]
    pub expires_at: Option<UnixMillis>,
    /// The `txn` of the last event.
    pub last_txn: String,
}

pub(crate) async fn effective(pool: &AnyPool) -> Result<Vec<EffectiveRow>, JitError> {
    type Tuple = (String, String, String, Option<String>, Option<i64>, String);
    let rows: Vec<Tuple> = sqlx::query_as(
        "SELECT subject_key, asset_type, asset_id, access, expires_at, last_txn FROM jit_effective \
         ORDER BY subject_key, asset_type, asset_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| EffectiveRow {
            subject_key: r.0,
            asset_type: r.1,
            asset_id: r.2,
            access: r.3,
            expires_at: r.4.map(UnixMillis),
            last_txn: r.5,
        })
        .collect())
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Its sequence number.
    pub id: i64,
    /// When.
    #[serde(with = "crate::time::millis")]
    pub at: UnixMillis,
    /// The ticket system.
    pub system: Option<String>,
    /// The ticket.
    pub ticket_id: Option<String>,
    /// The `txn` (`system:ticket:event`).
    pub txn: Option<String>,
    /// What happened: `webhook`, `duplicate`, `stale`, `unknown_state`, `no_grant`, `grant`,
    /// `access_change`, `revoke`, `expire`, `queued`, `sent`, `failed`, `ignored`, `reconcile`,
    /// `refused` (a webhook answered `4xx`), `ticket_renamed` (found under an alias),
    /// `revoke_by_hand` (an operator ended a grant; `detail` has `actor` and `text`).
    pub action: String,
    /// The user.
    pub subject_key: Option<String>,
    /// The asset (`customer:C2148`).
    pub asset: Option<String>,
    /// Details (JSON).
    pub detail: Value,
}

type AuditTuple = (
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
);

pub(crate) async fn audit(
    pool: &AnyPool,
    ticket: Option<(&str, &str)>,
) -> Result<Vec<AuditRow>, JitError> {
    const COLS: &str =
        "SELECT id, at, system, ticket_id, txn, action, subject_key, asset, detail FROM jit_audit";
    let rows: Vec<AuditTuple> = match ticket {
        Some((system, ticket_id)) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLS} WHERE system = $1 AND ticket_id = $2 ORDER BY id"
            )))
            .bind(system)
            .bind(ticket_id)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} ORDER BY id")))
                .fetch_all(pool)
                .await?
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok(AuditRow {
                id: r.0,
                at: UnixMillis(r.1),
                system: r.2,
                ticket_id: r.3,
                txn: r.4,
                action: r.5,
                subject_key: r.6,
                asset: r.7,
                detail: serde_json::from_str(&r.8).map_err(|e| JitError::CorruptValue {
                    what: "audit detail",
                    source: e.into(),
                })?,
            })
        })
        .collect()
}
