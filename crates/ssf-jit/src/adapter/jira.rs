//! Jira Cloud / Jira Service Management webhooks
//! ([Jira webhooks](https://developer.atlassian.com/cloud/jira/platform/webhooks/)).
//!
//! Read: `webhookEvent` (`jira:issue_created`, `jira:issue_updated`, `jira:issue_deleted`; others
//! are acknowledged and ignored), `timestamp` (epoch ms), `issue.key`, `issue.fields` (the whole
//! issue: assignee, status, custom fields), and `changelog.items[]` (`assignee` and `status`
//! changes). The replay key is the `X-Atlassian-Webhook-Identifier` header (a SHA-256 of the body
//! when it is missing). The sender signs with the webhook secret:
//! `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
//!
//! `issue.fields.assignee` absent keeps the known assignee; `null` unassigns. Jira hides
//! `emailAddress` under some privacy settings: use `subject.from = "id"` (the `accountId`) then.

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Parsed, Webhook, required_str};
use crate::{
    error::JitError,
    ticket::{AssigneeUpdate, Person, TicketEvent, TicketEventKind},
};

/// The header carrying Jira's unique delivery id.
pub const WEBHOOK_ID_HEADER: &str = "X-Atlassian-Webhook-Identifier";

/// Parses a Jira webhook body.
pub fn parse(
    system: &str,
    headers: &HeaderMap,
    body: &[u8],
    value: Value,
) -> Result<Webhook, JitError> {
    let Value::Object(root) = value else {
        return Err(JitError::BadPayload(
            "a Jira webhook is a JSON object".to_owned(),
        ));
    };
    let delivery_id = headers
        .get(WEBHOOK_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let delivery_id =
        delivery_id.unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(body))));
    let sent_at = match root.get("timestamp") {
        Some(t) => Some(
            crate::time::parse_json(t)
                .map_err(|why| JitError::BadPayload(format!("`timestamp`: {why}")))?,
        ),
        None => None,
    };
    let webhook_event = required_str(&root, "webhookEvent")?;
    let issue = root.get("issue").and_then(Value::as_object);
    let ticket_id = issue
        .and_then(|i| i.get("key"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = match webhook_event.as_str() {
        "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted" => {
            webhook_event.as_str()
        }
        other => {
            return Ok(Webhook {
                parsed: Parsed::Ignored {
                    delivery_id,
                    ticket_id,
                    reason: format!("webhookEvent {other} is not about an issue's state"),
                },
                sent_at,
            });
        }
    };
    let issue = issue.ok_or_else(|| JitError::BadPayload("`issue` is required".to_owned()))?;
    let ticket_id = required_str(issue, "key")?;
    let fields: Map<String, Value> = match issue.get("fields") {
        Some(Value::Object(f)) => f.clone(),
        _ => {
            return Err(JitError::BadPayload(
                "`issue.fields` is required".to_owned(),
            ));
        }
    };
    let occurred_at = match sent_at {
        Some(t) => t,
        None => fields
            .get("updated")
            .ok_or_else(|| {
                JitError::BadPayload(
                    "`timestamp` (or `issue.fields.updated`) is required".to_owned(),
                )
            })
            .and_then(|v| {
                crate::time::parse_json(v)
                    .map_err(|why| JitError::BadPayload(format!("`issue.fields.updated`: {why}")))
            })?,
    };

    let assignee = match fields.get("assignee") {
        None => AssigneeUpdate::Keep,
        Some(Value::Null) => AssigneeUpdate::Unassigned,
        Some(Value::Object(a)) => match jira_person(a) {
            Some(p) => AssigneeUpdate::Person(p),
            None => AssigneeUpdate::Unassigned,
        },
        Some(_) => {
            return Err(JitError::BadPayload(
                "`issue.fields.assignee` must be an object or null".to_owned(),
            ));
        }
    };
    let items: &[Value] = root
        .get("changelog")
        .and_then(|c| c.get("items"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let assignee_change = items.iter().find(|i| {
        i.get("field").and_then(Value::as_str) == Some("assignee")
            || i.get("fieldId").and_then(Value::as_str) == Some("assignee")
    });
    let previous_assignee = assignee_change.and_then(|i| {
        let id = i
            .get("from")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        id.map(|id| Person {
            id: Some(id.to_owned()),
            name: i
                .get("fromString")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..Person::default()
        })
    });
    let assigned_now = matches!(assignee, AssigneeUpdate::Person(_));
    let kind = match kind {
        "jira:issue_deleted" => TicketEventKind::Cancelled,
        "jira:issue_created" if assigned_now => TicketEventKind::Assigned,
        _ if assignee_change.is_some() && assigned_now && previous_assignee.is_some() => {
            TicketEventKind::Reassigned
        }
        _ if assignee_change.is_some() && assigned_now => TicketEventKind::Assigned,
        _ => TicketEventKind::Updated,
    };
    let event_id = match headers.get(WEBHOOK_ID_HEADER) {
        Some(_) => delivery_id.clone(),
        None => format!("{webhook_event}@{}", occurred_at.0),
    };
    let event = TicketEvent {
        system: system.to_owned(),
        ticket_id,
        event_id,
        delivery_id,
        kind,
        assignee,
        previous_assignee,
        fields: fields.into_iter().collect(),
        fields_complete: true,
        occurred_at,
        sequence: None,
        label: None,
        aliases: Vec::new(),
    };
    Ok(Webhook {
        parsed: Parsed::Event(Box::new(event)),
        sent_at,
    })
}

fn jira_person(a: &Map<String, Value>) -> Option<Person> {
    let text = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let p = Person {
        email: text("emailAddress"),
        id: text("accountId")
            .or_else(|| text("name"))
            .or_else(|| text("key")),
        name: text("displayName"),
    };
    (!p.is_empty()).then_some(p)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn issue(assignee: Value, items: Value, event: &str) -> Value {
        json!({
            "timestamp": 1_735_722_000_123_i64,
            "webhookEvent": event,
            "issue": {"key": "SUP-42", "fields": {"assignee": assignee,
                "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
                "customfield_10050": "C2148"}},
            "changelog": {"items": items}
        })
    }

    fn event(v: Value) -> TicketEvent {
        let mut h = HeaderMap::new();
        h.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static("d-1"));
        match parse("jira", &h, b"", v).unwrap().parsed {
            Parsed::Event(e) => *e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn assignment_reassignment_and_unassignment() {
        let jane = json!({"accountId": "acc-jane", "emailAddress": "jane@example.com", "displayName": "Jane"});
        let e = event(issue(
            jane.clone(),
            json!([{"field": "assignee", "from": null, "to": "acc-jane"}]),
            "jira:issue_updated",
        ));
        assert_eq!(e.kind, TicketEventKind::Assigned);
        assert_eq!(e.delivery_id, "d-1");
        assert_eq!(e.txn(), "jira:SUP-42:d-1");
        let e = event(issue(
            jane,
            json!([{"field": "assignee", "from": "acc-john", "fromString": "John", "to": "acc-jane"}]),
            "jira:issue_updated",
        ));
        assert_eq!(e.kind, TicketEventKind::Reassigned);
        assert_eq!(e.previous_assignee.unwrap().id.as_deref(), Some("acc-john"));
        let e = event(issue(
            Value::Null,
            json!([{"field": "assignee", "from": "acc-jane", "to": null}]),
            "jira:issue_updated",
        ));
        assert_eq!(
            (e.kind, e.assignee),
            (TicketEventKind::Updated, AssigneeUpdate::Unassigned)
        );
        let e = event(issue(Value::Null, json!([]), "jira:issue_deleted"));
        assert_eq!(e.kind, TicketEventKind::Cancelled);
    }

    #[test]
    fn other_events_are_ignored_and_missing_ids_fall_back_to_a_body_hash() {
        let v =
            json!({"timestamp": 1, "webhookEvent": "comment_created", "issue": {"key": "SUP-1"}});
        let w = parse("jira", &HeaderMap::new(), b"abc", v).unwrap();
        let Parsed::Ignored {
            delivery_id,
            ticket_id,
            ..
        } = w.parsed
        else {
            panic!()
        };
        assert!(delivery_id.starts_with("sha256:"));
        assert_eq!(ticket_id.as_deref(), Some("SUP-1"));
        let err = parse(
            "jira",
            &HeaderMap::new(),
            b"",
            json!({"webhookEvent": "jira:issue_updated", "timestamp": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("issue"), "{err}");
    }
}
