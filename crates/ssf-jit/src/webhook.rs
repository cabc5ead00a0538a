//! `POST /jit/webhooks/{system}`: ticket webhooks in, verified, parsed, applied.
//!
//! The order of checks: the system exists (`404`), the body fits (`413`), the sender is who it
//! says (`401`), the payload reads (`400`), its own timestamp is not in the future (`401`), then
//! the event is applied in one transaction. An event older than the system's `max_age` (by the
//! sender's timestamp, else the ticket's event time) is still applied where it takes access away
//! (a close, an unassignment, a reassignment), but grants nothing ([`Intake::Late`]): a revoke is
//! never dropped, and a replayed assignment never opens access. A replayed delivery id answers
//! `200` with `"status": "duplicate"` and changes nothing. Tickets the rules give no grant (no
//! assignee, no asset, a late assignment) answer `200` with the reason. Every refused webhook
//! (`4xx` for a configured system) is logged at WARN and recorded in the audit trail
//! (`ssf jit audit`) with the ticket id its body names and the reason; nothing else changes.
//!
//! Answers are JSON: `{"status": "applied" | "duplicate" | "stale" | "ignored", "txn", "changes",
//! "no_grant", "events_queued"}`; errors `{"error", "error_description"}`.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, header},
    routing::post,
};
use serde_json::{Value, json};

use crate::{
    adapter::{self, Parsed},
    bridge::Bridge,
    config::SystemConfig,
    error::JitError,
    store::{ApplyOutcome, Intake},
    verify,
};

/// The route of the ticket webhooks.
pub const WEBHOOK_PATH: &str = "/jit/webhooks/{system}";

/// The webhook routes, with their state: merge into the receiver's (or any) router.
pub fn router(bridge: Bridge) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .with_state(bridge)
}

async fn receive(
    State(bridge): State<Bridge>,
    Path(system_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, JitError> {
    let Ok(system) = bridge.system(&system_name) else {
        return Err(JitError::UnknownSystem(system_name));
    };
    let limit = bridge.config().max_body_bytes;
    let bytes = match read_body(&headers, body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            refused(&bridge, &system_name, None, &e).await;
            return Err(e);
        }
    };
    let result = handle(&bridge, &system_name, system, &headers, &bytes).await;
    let outcome = match &result {
        Ok(v) => v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("ok")
            .to_owned(),
        Err(e) => e.status_and_code().1.to_owned(),
    };
    if let Err(e) = &result
        && !e.status_and_code().0.is_server_error()
    {
        refused(&bridge, &system_name, Some(&bytes), e).await;
    }
    metrics::counter!("ssf_jit_webhooks_total", "system" => system_name, "outcome" => outcome)
        .increment(1);
    result.map(Json)
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, JitError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(JitError::PayloadTooLarge(limit));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| JitError::PayloadTooLarge(limit))
}

/// Logs, and records in the audit trail, a webhook refused with a `4xx`: the ticket id its
/// body claims (unverified unless the sender was), and why.
async fn refused(bridge: &Bridge, system: &str, body: Option<&[u8]>, error: &JitError) {
    let verified = !matches!(
        error,
        JitError::Unauthenticated(_) | JitError::PayloadTooLarge(_)
    );
    let ticket = body.and_then(claimed_ticket_id);
    let code = error.status_and_code().1;
    tracing::warn!(system, ticket, reason = code, error = %error, "jit webhook refused");
    // Never the secret or the body: only what the answer says, and the log's reason.
    let detail = json!({"verified_sender": verified, "error": error.to_string()});
    if let Err(e) = bridge
        .store()
        .record_refused(
            system,
            ticket.as_deref(),
            code,
            &detail,
            bridge.clock().now(),
        )
        .await
    {
        tracing::error!(system, error = %e, "could not record a refused jit webhook in the audit trail");
    }
}

/// The ticket id a body names, read loosely (any of the formats), for the audit of a refused
/// webhook; cut to 128 characters without control characters.
fn claimed_ticket_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = [
        value.pointer("/ticket_id"),
        value.pointer("/issue/id"),
        value.pointer("/issue/key"),
        value.pointer("/number"),
        value.pointer("/sys_id"),
    ]
    .into_iter()
    .flatten()
    .find_map(adapter::scalar)?;
    Some(text.chars().filter(|c| !c.is_control()).take(128).collect())
}

async fn handle(
    bridge: &Bridge,
    system_name: &str,
    system: &SystemConfig,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Value, JitError> {
    verify::verify(system, headers, bytes)?;
    let webhook = adapter::parse(system_name, &system.kind, headers, bytes)?;
    let now = bridge.clock().now();
    // The sender's own time, else the ticket's: both must be fresh for an event to grant.
    let reference = webhook.sent_at.or(match &webhook.parsed {
        Parsed::Event(e) => Some(e.occurred_at),
        Parsed::Ignored { .. } => None,
    });
    let intake = match reference {
        Some(at) => verify::check_window(at, now, system.max_age, system.max_clock_skew)?,
        None => Intake::Fresh,
    };
    match webhook.parsed {
        Parsed::Ignored {
            delivery_id,
            ticket_id,
            reason,
        } => {
            let new = bridge
                .store()
                .record_ignored(
                    system_name,
                    &delivery_id,
                    ticket_id.as_deref(),
                    &reason,
                    now,
                )
                .await?;
            let status = if new { "ignored" } else { "duplicate" };
            Ok(json!({"status": status, "reason": reason}))
        }
        Parsed::Event(event) => {
            let report = bridge.apply_with(&event, true, intake).await?;
            let status = match report.outcome {
                ApplyOutcome::Applied => "applied",
                ApplyOutcome::Duplicate => "duplicate",
                ApplyOutcome::Stale => "stale",
            };
            tracing::info!(
                system = system_name,
                ticket = event.ticket_id,
                label = event.label,
                txn = report.txn,
                status,
                late = intake == Intake::Late,
                changes = report.changes.len(),
                events_queued = report.events_queued,
                no_grant = report.no_grant.as_ref().map(|(code, _)| code.as_str()),
                "jit webhook"
            );
            let mut answer = json!({
                "status": status,
                "txn": report.txn,
                "changes": report.changes,
                "events_queued": report.events_queued,
            });
            if let Some((code, text)) = report.no_grant {
                answer["no_grant"] = json!({"reason": code, "description": text});
            }
            Ok(answer)
        }
    }
}
