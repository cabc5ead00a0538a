//! The small SQL statements of the transactional core.

use serde_json::Value;
use sqlx::AnyConnection;
use ssf_types::UnixMillis;

use crate::{
    error::JitError,
    lifecycle::{ActiveGrant, EndReason, TicketState},
};

use super::apply::Key;

/// Records a delivery id; `false` when it was already there.
pub(super) async fn record_delivery(
    conn: &mut AnyConnection,
    system: &str,
    delivery_id: &str,
    ticket_id: Option<&str>,
    outcome: &str,
    now: UnixMillis,
) -> Result<bool, JitError> {
    let inserted = sqlx::query(
        "INSERT INTO jit_deliveries (system, delivery_id, ticket_id, received_at, outcome) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (system, delivery_id) DO NOTHING",
    )
    .bind(system)
    .bind(delivery_id)
    .bind(ticket_id)
    .bind(now.0)
    .bind(outcome)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Writes one audit row.
#[allow(clippy::too_many_arguments)]
pub(super) async fn audit(
    conn: &mut AnyConnection,
    now: UnixMillis,
    system: Option<&str>,
    ticket_id: Option<&str>,
    txn: Option<&str>,
    action: &str,
    subject_key: Option<&str>,
    asset: Option<&str>,
    detail: &Value,
) -> Result<(), JitError> {
    sqlx::query(
        "INSERT INTO jit_audit (at, system, ticket_id, txn, action, subject_key, asset, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now.0)
    .bind(system)
    .bind(ticket_id)
    .bind(txn)
    .bind(action)
    .bind(subject_key)
    .bind(asset)
    .bind(detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn load_ticket(
    conn: &mut AnyConnection,
    system: &str,
    ticket: &str,
) -> Result<Option<TicketState>, JitError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT state FROM jit_tickets WHERE system = $1 AND ticket_id = $2")
            .bind(system)
            .bind(ticket)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|(s,)| {
        serde_json::from_str(&s).map_err(|e| JitError::CorruptValue {
            what: "ticket state",
            source: e.into(),
        })
    })
    .transpose()
}

pub(super) async fn save_ticket(
    conn: &mut AnyConnection,
    system: &str,
    ticket: &str,
    state: &TicketState,
    now: UnixMillis,
) -> Result<(), JitError> {
    let json = serde_json::to_string(state).map_err(|e| JitError::Internal(e.into()))?;
    sqlx::query(
        "INSERT INTO jit_tickets (system, ticket_id, state, is_open, last_event_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (system, ticket_id) DO UPDATE SET state = excluded.state, is_open = excluded.is_open, \
         last_event_at = excluded.last_event_at, updated_at = excluded.updated_at",
    )
    .bind(system)
    .bind(ticket)
    .bind(json)
    .bind(i64::from(state.open))
    .bind(state.last_event_at.0)
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

type ActiveTuple = (String, String, String, String, String, i64);

pub(super) fn active_from(rows: Vec<ActiveTuple>) -> Vec<ActiveGrant> {
    rows.into_iter()
        .map(|r| ActiveGrant {
            grant_id: r.0,
            subject_key: r.1,
            asset_type: r.2,
            asset_id: r.3,
            access: r.4,
            expires_at: UnixMillis(r.5),
        })
        .collect()
}

pub(super) async fn active_of_ticket(
    conn: &mut AnyConnection,
    system: &str,
    ticket: &str,
) -> Result<Vec<ActiveGrant>, JitError> {
    let rows: Vec<ActiveTuple> = sqlx::query_as(
        "SELECT grant_id, subject_key, asset_type, asset_id, access, expires_at FROM jit_grants \
         WHERE system = $1 AND ticket_id = $2 AND status = 'active' ORDER BY granted_at, grant_id",
    )
    .bind(system)
    .bind(ticket)
    .fetch_all(&mut *conn)
    .await?;
    Ok(active_from(rows))
}

/// Why an assignment's grant is not made again (D-JIT-04, D-JIT-16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoRenewal {
    /// This very assignment already had a grant that reached its maximum duration.
    Expired,
    /// An operator revoked this user's grant on this asset of this ticket by hand, and the
    /// assignment is the same one, or not newer than the revoke.
    RevokedByHand,
}

impl NoRenewal {
    /// The `no_grant` reason code.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::RevokedByHand => "revoked_by_hand",
        }
    }

    /// The `no_grant` text.
    pub(super) fn text(self) -> &'static str {
        match self {
            Self::Expired => "this assignment's grant reached its maximum duration",
            Self::RevokedByHand => {
                "an operator revoked this assignment's grant by hand; only a new assignment (a \
                 reassignment or a reopen after the revoke) grants again"
            }
        }
    }
}

/// Whether the grant `key` of an assignment that began at `assigned_at` must not be made again:
/// a grant of the same assignment expired (D-JIT-04), or was revoked by hand at or after the
/// assignment's time (D-JIT-16).
pub(super) async fn no_renewal(
    conn: &mut AnyConnection,
    system: &str,
    ticket: &str,
    key: &Key,
    assigned_at: UnixMillis,
) -> Result<Option<NoRenewal>, JitError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT status FROM jit_grants WHERE system = $1 AND ticket_id = $2 AND subject_key = $3 \
         AND asset_type = $4 AND asset_id = $5 AND ((status = 'expired' AND assigned_at = $6) \
         OR (status = 'revoked' AND substr(end_reason, 1, 8) = 'by_hand:' \
             AND (assigned_at = $6 OR ended_at >= $6)))",
    )
    .bind(system)
    .bind(ticket)
    .bind(&key.0)
    .bind(&key.1)
    .bind(&key.2)
    .bind(assigned_at.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(if rows.iter().any(|(s,)| s == "revoked") {
        Some(NoRenewal::RevokedByHand)
    } else if rows.is_empty() {
        None
    } else {
        Some(NoRenewal::Expired)
    })
}

pub(super) async fn end_grant(
    conn: &mut AnyConnection,
    grant_id: &str,
    status: &str,
    reason: &EndReason,
    txn: &str,
    now: UnixMillis,
) -> Result<(), JitError> {
    let text = match reason {
        EndReason::NoLongerQualifies(why) => format!("{}: {why}", reason.code()),
        EndReason::ByHand { actor, reason: why } => format!("{}: by {actor}: {why}", reason.code()),
        other => other.code().to_owned(),
    };
    sqlx::query("UPDATE jit_grants SET status = $1, ended_at = $2, end_reason = $3, end_txn = $4 WHERE grant_id = $5 AND status = 'active'")
        .bind(status)
        .bind(now.0)
        .bind(text)
        .bind(txn)
        .bind(grant_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
