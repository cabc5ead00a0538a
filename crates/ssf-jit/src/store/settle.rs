//! The effective access per (user, asset) and the events that announce it.

use serde_json::{Value, json};
use sqlx::AnyConnection;
use ssf_types::{
    Event, EventType, ParseMode, SubjectId, UnixMillis,
    event::{InitiatingEntity, ReasonMap, TokenClaimsChange},
};

use super::{
    apply::{Cause, Key, asset},
    sql::audit,
};
use crate::{
    config::{ClaimNames, JitConfig},
    error::JitError,
    lifecycle::{self, ActiveGrant},
    rules,
};

/// Recomputes what a user may do on an asset from the active grants and, when that differs
/// from what the app was last told, queues the event and records the new state. `true` when an
/// event was queued.
pub(super) async fn settle(
    conn: &mut AnyConnection,
    config: &JitConfig,
    key: &Key,
    cause: &Cause<'_>,
    now: UnixMillis,
) -> Result<bool, JitError> {
    let txn = cause.txn;
    let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
        "SELECT grant_id, access, expires_at, subject, claim_names FROM jit_grants \
         WHERE subject_key = $1 AND asset_type = $2 AND asset_id = $3 AND status = 'active' ORDER BY granted_at, grant_id",
    )
    .bind(&key.0)
    .bind(&key.1)
    .bind(&key.2)
    .fetch_all(&mut *conn)
    .await?;
    let active: Vec<ActiveGrant> = rows
        .iter()
        .map(|r| ActiveGrant {
            grant_id: r.0.clone(),
            subject_key: key.0.clone(),
            asset_type: key.1.clone(),
            asset_id: key.2.clone(),
            access: r.1.clone(),
            expires_at: UnixMillis(r.2),
        })
        .collect();
    let best = lifecycle::effective(active.iter(), |l| config.rank_for(&key.1, l));
    let told: Option<(Option<String>, Option<i64>, String, String)> = sqlx::query_as(
        "SELECT access, expires_at, subject, claim_names FROM jit_effective WHERE subject_key = $1 AND asset_type = $2 AND asset_id = $3",
    )
    .bind(&key.0)
    .bind(&key.1)
    .bind(&key.2)
    .fetch_optional(&mut *conn)
    .await?;
    let new_state = best
        .as_ref()
        .map(|(_, access, exp)| (access.clone(), exp.0));
    let old_state = told
        .as_ref()
        .and_then(|t| t.0.clone().map(|a| (a, t.1.unwrap_or_default())));
    if new_state == old_state {
        return Ok(false);
    }
    let (subject, claim_names) = match (&best, &told) {
        (Some((g, _, _)), _) => {
            let row = rows
                .iter()
                .find(|r| r.0 == g.grant_id)
                .ok_or_else(|| JitError::Internal("effective grant not found".into()))?;
            (row.3.clone(), row.4.clone())
        }
        (None, Some(t)) => (t.2.clone(), t.3.clone()),
        (None, None) => return Ok(false),
    };
    let names: ClaimNames =
        serde_json::from_str(&claim_names).map_err(|e| JitError::CorruptValue {
            what: "claim names",
            source: e.into(),
        })?;
    let subject_json: Value =
        serde_json::from_str(&subject).map_err(|e| JitError::CorruptValue {
            what: "subject",
            source: e.into(),
        })?;
    let claims = rules::claims(
        &names,
        &key.1,
        &key.2,
        new_state.as_ref().map(|(a, _)| a.as_str()),
        new_state.as_ref().map(|(_, exp)| exp.div_euclid(1000)),
    );
    let body = event_body(&subject_json, claims, txn, &cause.text, now)?;
    let action = if new_state.is_some() {
        "grant"
    } else {
        "revoke"
    };
    let order_key = format!("{}|{}:{}", key.0, key.1, key.2);
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO jit_outbox (order_key, system, ticket_id, action, txn, body, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) RETURNING seq",
    )
    .bind(&order_key)
    .bind(cause.system)
    .bind(cause.ticket)
    .bind(action)
    .bind(txn)
    .bind(body.to_string())
    .bind(now.0)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO jit_effective (subject_key, asset_type, asset_id, subject, claim_names, access, expires_at, last_txn, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (subject_key, asset_type, asset_id) DO UPDATE SET \
         subject = excluded.subject, claim_names = excluded.claim_names, access = excluded.access, \
         expires_at = excluded.expires_at, last_txn = excluded.last_txn, updated_at = excluded.updated_at",
    )
    .bind(&key.0)
    .bind(&key.1)
    .bind(&key.2)
    .bind(&subject)
    .bind(&claim_names)
    .bind(new_state.as_ref().map(|(a, _)| a.clone()))
    .bind(new_state.as_ref().map(|(_, e)| *e))
    .bind(txn)
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    let detail = json!({"seq": seq, "action": action, "claims": body["event"]["claims"]});
    audit(
        conn,
        now,
        Some(cause.system),
        Some(cause.ticket),
        Some(txn),
        "queued",
        Some(&key.0),
        Some(&asset(key)),
        &detail,
    )
    .await?;
    Ok(true)
}

/// The `POST /events` body of a CAEP `token-claims-change`
/// ([CAEP 1.0 §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2)).
fn event_body(
    subject: &Value,
    claims: serde_json::Map<String, Value>,
    txn: &str,
    cause: &str,
    now: UnixMillis,
) -> Result<Value, JitError> {
    // Checks the stored subject still reads as a valid identifier before it goes out.
    SubjectId::from_json(subject, ParseMode::Strict).map_err(|e| JitError::CorruptValue {
        what: "subject",
        source: e.into(),
    })?;
    let mut event = TokenClaimsChange::new(claims);
    event.common.event_timestamp = Some(now.as_secs());
    event.common.initiating_entity = Some(InitiatingEntity::Policy);
    event.common.reason_admin = Some(ReasonMap::new("en", cause));
    Ok(json!({
        "event_type": EventType::TokenClaimsChange.as_str(),
        "sub_id": subject,
        "event": Value::Object(Event::TokenClaimsChange(event).to_json()),
        "txn": txn,
    }))
}
