//! Revoking one grant by hand (an operator in the console or `ssf jit revoke`), in one
//! transaction: the grant ends, the audit trail says who and why, and the effective access of
//! the user on the asset is settled, which queues the same `token-claims-change` revoke a
//! closing ticket queues. Later webhooks of the ticket do not bring it back for the same
//! assignment (D-JIT-16, see `sql::no_renewal`).

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use ssf_types::UnixMillis;

use super::{
    apply::{Cause, Key, asset},
    records::{GRANT_COLS, GrantRow, grant_from},
    settle::settle,
    sql::{audit, end_grant},
};
use crate::{config::JitConfig, error::JitError, lifecycle::EndReason};

/// What a revoke by hand did ([`Bridge::revoke_by_hand`](crate::Bridge::revoke_by_hand)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandRevoke {
    /// The grant as it is now: status `revoked`, `end_reason` `by_hand: by <actor>: <reason>`,
    /// `end_txn` [`txn`](Self::txn).
    pub grant: GrantRow,
    /// The `txn` of the queued event and of the audit rows: `system:ticket:by-hand-<grant id>`.
    pub txn: String,
    /// Events queued for the transmitter: `1` when what the user may do on the asset changed
    /// (the revoke, or a lower level another ticket still gives), `0` when another ticket's
    /// grant keeps the same access (D-JIT-03).
    pub events_queued: usize,
    /// The other active grants of the same user on the same asset (other tickets): while one
    /// is left, the user keeps access through it. Revoke those too to end the access.
    pub still_granted_by: Vec<GrantRow>,
}

/// Ends the active grant `grant_id` and settles what follows; see the module docs.
pub(super) async fn revoke_by_hand(
    conn: &mut AnyConnection,
    config: &JitConfig,
    grant_id: &str,
    actor: &str,
    reason: &str,
    now: UnixMillis,
) -> Result<HandRevoke, JitError> {
    let before = grant(conn, grant_id)
        .await?
        .ok_or_else(|| JitError::UnknownGrant(grant_id.to_owned()))?;
    if before.status != super::GrantStatus::Active {
        let status = serde_json::to_value(before.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(JitError::GrantNotActive {
            grant_id: grant_id.to_owned(),
            status,
        });
    }
    let (sys, ticket) = (before.system.as_str(), before.ticket_id.as_str());
    let key: Key = (
        before.subject_key.clone(),
        before.asset_type.clone(),
        before.asset_id.clone(),
    );
    let txn = format!("{sys}:{ticket}:by-hand-{grant_id}");
    let why = EndReason::ByHand {
        actor: actor.to_owned(),
        reason: reason.to_owned(),
    };
    end_grant(conn, grant_id, "revoked", &why, &txn, now).await?;
    let detail =
        json!({"grant_id": grant_id, "reason": why.code(), "actor": actor, "text": reason});
    audit(
        conn,
        now,
        Some(sys),
        Some(ticket),
        Some(&txn),
        "revoke_by_hand",
        Some(&key.0),
        Some(&asset(&key)),
        &detail,
    )
    .await?;
    // The operator's words stay in the bridge's audit trail; the SET says only who acted.
    let cause = Cause {
        system: sys,
        ticket,
        txn: &txn,
        text: format!("{sys} ticket {ticket}: grant revoked by hand by {actor}"),
    };
    let queued = settle(conn, config, &key, &cause, now).await?;
    let grant = grant(conn, grant_id)
        .await?
        .ok_or_else(|| JitError::Internal(format!("grant {grant_id} vanished").into()))?;
    let still_granted_by = active_of_key(conn, &key).await?;
    tracing::info!(
        system = sys,
        ticket,
        grant_id,
        actor,
        subject = key.0,
        asset = asset(&key),
        events_queued = usize::from(queued),
        others_left = still_granted_by.len(),
        "grant revoked by hand"
    );
    Ok(HandRevoke {
        grant,
        txn,
        events_queued: usize::from(queued),
        still_granted_by,
    })
}

async fn grant(conn: &mut AnyConnection, grant_id: &str) -> Result<Option<GrantRow>, JitError> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLS} FROM jit_grants WHERE grant_id = $1"
    )))
    .bind(grant_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(grant_from).transpose()
}

async fn active_of_key(conn: &mut AnyConnection, key: &Key) -> Result<Vec<GrantRow>, JitError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLS} FROM jit_grants WHERE subject_key = $1 AND asset_type = $2 \
         AND asset_id = $3 AND status = 'active' ORDER BY granted_at, grant_id"
    )))
    .bind(&key.0)
    .bind(&key.1)
    .bind(&key.2)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(grant_from).collect()
}
