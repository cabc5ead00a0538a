//! The store item of an accepted SET: its id, its writes, and what to audit and record.

use serde_json::json;
use ssf_store::{
    NewAuditEntry,
    model::StreamStatus as StoredStatus,
    receiver::{ApplyItem, StreamControl},
};
use ssf_types::Event;

use crate::{
    handler::{Handling, Plan, ReceivedSet},
    metrics,
};

/// The store item for an accepted SET: its id, its writes, and what to audit and record.
pub(super) fn item(set: &ReceivedSet, plan: Plan) -> ApplyItem {
    let Plan { writes, audit } = plan;
    let event_type = set.event.uri().into_string();
    let control = match (&set.handling, &set.event) {
        (Handling::Act, Event::Verification(_)) => Some(StreamControl::Verified),
        (Handling::Act, Event::StreamUpdated(u)) => {
            StoredStatus::parse(u.status.as_str()).map(|status| StreamControl::Status {
                status,
                reason: u.reason.clone(),
            })
        }
        _ => None,
    };
    let changes = !writes.is_empty() || control.is_some();
    let mut audit_subjects = Vec::new();
    let audit = match (set.handling, audit) {
        (Handling::Discard(reason), _) => {
            ::metrics::counter!(metrics::DISCARDED_TOTAL, "reason" => reason.as_str()).increment(1);
            Some(("set.discarded", json!({ "reason": reason.as_str() })))
        }
        (Handling::Act, Some(handler)) => {
            audit_subjects = handler.subjects;
            let mut detail = serde_json::Value::Object(handler.detail);
            detail["writes"] = json!(writes.len());
            // An event that changed nothing (older than the state, or no rule) is audited too.
            Some((
                if changes {
                    "set.applied"
                } else {
                    "set.no_change"
                },
                detail,
            ))
        }
        (Handling::Act, None) if changes => {
            Some(("set.applied", json!({ "writes": writes.len() })))
        }
        (Handling::Act, None) => None,
    };
    let audit = audit.map(|(action, mut detail)| {
        detail["iss"] = json!(set.issuer.as_str());
        detail["jti"] = json!(set.jti());
        detail["event_type"] = json!(event_type);
        if let Some(txn) = &set.claims.txn {
            detail["txn"] = json!(txn.as_text());
        }
        NewAuditEntry {
            actor: set.peer.to_string(),
            action: action.to_owned(),
            stream_id: None,
            detail,
        }
    });
    ApplyItem {
        iss: set.issuer.as_str().to_owned(),
        jti: set.jti().to_owned(),
        received_at: set.received_at,
        stream_key: set.stream_key.to_string(),
        event_type,
        writes,
        audit,
        audit_subjects,
        control,
    }
}
