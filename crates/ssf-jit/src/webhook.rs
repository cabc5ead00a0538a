//! `POST /jit/webhooks/{system}`: ticket webhooks in, verified, parsed, applied.
//!
//! The order of checks: the system exists (`404`), the body fits (`413`), the sender is who it
//! says (`401`, nothing recorded), the payload reads (`400`), its own timestamp is fresh (`401`),
//! then the event is applied in one transaction. A replayed delivery id answers `200` with
//! `"status": "duplicate"` and changes nothing. Tickets the rules give no grant (no assignee, no
//! asset) answer `200` with the reason.
//!
//! Answers are JSON: `{"status": "applied" | "duplicate" | "stale" | "ignored", "txn", "changes",
//! "no_grant", "events_queued"}`; errors `{"error", "error_description"}`.

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, header},
    routing::post,
};
use serde_json::{Value, json};

use crate::{
    adapter::{self, Parsed},
    bridge::Bridge,
    error::JitError,
    store::ApplyOutcome,
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
    let result = handle(&bridge, &system_name, &headers, body).await;
    let outcome = match &result {
        Ok(v) => v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("ok")
            .to_owned(),
        Err(e) => e.status_and_code().1.to_owned(),
    };
    if let Err(e) = &result
        && matches!(e, JitError::Unauthenticated(_) | JitError::Stale(_))
    {
        tracing::warn!(system = system_name, error = %e, "jit webhook refused");
    }
    if bridge.config().systems.contains_key(&system_name) {
        metrics::counter!("ssf_jit_webhooks_total", "system" => system_name, "outcome" => outcome)
            .increment(1);
    }
    result.map(Json)
}

async fn handle(
    bridge: &Bridge,
    system_name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, JitError> {
    let system = bridge.system(system_name)?;
    let limit = bridge.config().max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(JitError::PayloadTooLarge(limit));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| JitError::PayloadTooLarge(limit))?;
    verify::verify(system, headers, &bytes)?;
    let webhook = adapter::parse(system_name, &system.kind, headers, &bytes)?;
    let now = bridge.clock().now();
    if let Some(sent_at) = webhook.sent_at {
        verify::check_window(sent_at, now, system.max_age, system.max_clock_skew)?;
    }
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
            let report = bridge.apply(&event, true).await?;
            let status = match report.outcome {
                ApplyOutcome::Applied => "applied",
                ApplyOutcome::Duplicate => "duplicate",
                ApplyOutcome::Stale => "stale",
            };
            tracing::info!(
                system = system_name,
                ticket = event.ticket_id,
                txn = report.txn,
                status,
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
