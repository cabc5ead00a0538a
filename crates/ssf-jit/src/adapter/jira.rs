//! Jira Cloud / Jira Service Management webhooks
//! ([Jira webhooks](https://developer.atlassian.com/cloud/jira/platform/webhooks/)), and Jira
//! Automation's "Send web request" bodies.
//!
//! **Admin webhooks** read: `webhookEvent` (`jira:issue_created`, `jira:issue_updated`,
//! `jira:issue_deleted`; others are acknowledged and ignored), `timestamp` (epoch ms; the event
//! time and the `max_age` window), `issue.id`, `issue.key`, `issue.fields` (the whole issue:
//! assignee, status, custom fields), and `changelog` (`id`; `items[]` with `assignee` and `Key`
//! changes). The replay key is the `X-Atlassian-Webhook-Identifier` header (a SHA-256 of the
//! body when it is missing). The sender signs with the webhook secret:
//! `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
//!
//! **Identity**: a ticket is its stable `issue.id` (`10482`), not its key (`SUP-42`), which
//! changes when the issue moves to another project. The key is the event's `label`; the key and,
//! on a move, the previous key (the changelog item `{"field": "Key", "fromString": "SUP-42",
//! "toString": "OPS-7"}`) are its `aliases`. `changelog.id` is the event's `sequence`. A body
//! without `issue.id` (an Automation custom body) falls back to the key as the ticket id.
//!
//! **Automation bodies** (a rule's *Send web request* action, "Issue data (Jira format)"
//! `{"issue": {"id", "key", "fields"}}` or "Issue data (Automation format)" `{"id", "key",
//! "fields"}`, or a custom body of that shape) have no `webhookEvent`, no `timestamp` and no
//! delivery header: the event time is `issue.fields.updated`, the replay key a SHA-256 of the
//! body, the kind `updated` with the whole field snapshot, and there is no `max_age` window (a
//! scheduled rule may send an issue last updated long ago). Automation cannot sign a body: use
//! `auth = "token"` with a custom header (`header = "X-Automation-Token"`).
//!
//! `issue.fields.assignee` absent keeps the known assignee; `null` unassigns. Jira hides
//! `emailAddress` under some privacy settings: map the `accountId` in `identities`
//! ([`crate::identity`]) or use `subject.from = "id"`.

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Parsed, Webhook, check_id, required_str, scalar};
use crate::{
    error::JitError,
    ticket::{AssigneeUpdate, Person, TicketEvent, TicketEventKind},
};

/// The header carrying Jira's unique delivery id.
pub const WEBHOOK_ID_HEADER: &str = "X-Atlassian-Webhook-Identifier";

/// Parses a Jira webhook (or Jira Automation) body.
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
    let body_hash = hex::encode(Sha256::digest(body));
    if !root.contains_key("webhookEvent") {
        return automation(system, &root, &body_hash);
    }
    let header_id = headers
        .get(WEBHOOK_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if let Some(id) = &header_id {
        check_id(WEBHOOK_ID_HEADER, id)?;
    }
    let delivery_id = header_id
        .clone()
        .unwrap_or_else(|| format!("sha256:{body_hash}"));
    let sent_at = match root.get("timestamp") {
        Some(t) => Some(
            crate::time::parse_json(t)
                .map_err(|why| JitError::BadPayload(format!("`timestamp`: {why}")))?,
        ),
        None => None,
    };
    let webhook_event = required_str(&root, "webhookEvent")?;
    let issue = root.get("issue").and_then(Value::as_object);
    let items: &[Value] = root
        .get("changelog")
        .and_then(|c| c.get("items"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let kind = match webhook_event.as_str() {
        "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted" => {
            webhook_event.as_str()
        }
        other => {
            let ticket_id = match issue {
                Some(i) => Some(issue_ids(i, items, "issue")?.ticket_id),
                None => None,
            };
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
    let ids = issue_ids(issue, items, "issue")?;
    let fields = issue_fields(issue, "issue")?;
    let occurred_at = match sent_at {
        Some(t) => t,
        None => updated(&fields, "issue")?,
    };
    let assignee = assignee(&fields)?;
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
    let event_id = match header_id {
        Some(_) => delivery_id.clone(),
        None => format!("{webhook_event}@{}", occurred_at.0),
    };
    let sequence = root
        .get("changelog")
        .and_then(|c| c.get("id"))
        .and_then(scalar)
        .and_then(|id| id.parse::<i64>().ok());
    let event = TicketEvent {
        system: system.to_owned(),
        ticket_id: ids.ticket_id,
        event_id,
        delivery_id,
        kind,
        assignee,
        previous_assignee,
        fields: fields.into_iter().collect(),
        fields_complete: true,
        occurred_at,
        sequence,
        label: ids.label,
        aliases: ids.aliases,
    };
    Ok(Webhook {
        parsed: Parsed::Event(Box::new(event)),
        sent_at,
    })
}

/// A Jira Automation "Send web request" body: the issue under `issue` (Jira format) or at the
/// root (Automation format).
fn automation(
    system: &str,
    root: &Map<String, Value>,
    body_hash: &str,
) -> Result<Webhook, JitError> {
    let (issue, path) = match root.get("issue") {
        Some(Value::Object(issue)) => (issue, "issue"),
        _ if root.get("fields").is_some_and(Value::is_object) => (root, ""),
        _ => {
            return Err(JitError::BadPayload(
                "`webhookEvent` is required (a Jira Automation body carries the issue as `issue` or at the top level, with `fields`)"
                    .to_owned(),
            ));
        }
    };
    let items: &[Value] = &[];
    let ids = issue_ids(issue, items, path)?;
    let fields = issue_fields(issue, path)?;
    let occurred_at = updated(&fields, path)?;
    let assignee = assignee(&fields)?;
    let event = TicketEvent {
        system: system.to_owned(),
        ticket_id: ids.ticket_id,
        event_id: format!("automation-{}", &body_hash[..16]),
        delivery_id: format!("sha256:{body_hash}"),
        kind: TicketEventKind::Updated,
        assignee,
        previous_assignee: None,
        fields: fields.into_iter().collect(),
        fields_complete: true,
        occurred_at,
        sequence: None,
        label: ids.label,
        aliases: ids.aliases,
    };
    Ok(Webhook {
        parsed: Parsed::Event(Box::new(event)),
        sent_at: None,
    })
}

/// A member path under the issue (`issue.fields`, or `fields` for an issue at the root).
fn member(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The ids of an issue: see the module documentation.
struct IssueIds {
    ticket_id: String,
    label: Option<String>,
    aliases: Vec<String>,
}

fn issue_ids(
    issue: &Map<String, Value>,
    items: &[Value],
    path: &str,
) -> Result<IssueIds, JitError> {
    let key = issue.get("key").and_then(scalar);
    if let Some(k) = &key {
        check_id(&member(path, "key"), k)?;
    }
    let ticket_id = match issue.get("id").and_then(scalar) {
        Some(id) => {
            check_id(&member(path, "id"), &id)?;
            id
        }
        None => key.clone().ok_or_else(|| {
            JitError::BadPayload(format!(
                "`{}` (or `{}`) is required",
                member(path, "id"),
                member(path, "key")
            ))
        })?,
    };
    let previous_key = items
        .iter()
        .find(|i| {
            i.get("field")
                .and_then(Value::as_str)
                .is_some_and(|f| f.eq_ignore_ascii_case("key"))
        })
        .and_then(|i| i.get("fromString"))
        .and_then(scalar);
    if let Some(k) = &previous_key {
        check_id("changelog.items[Key].fromString", k)?;
    }
    let mut aliases: Vec<String> = Vec::new();
    for alias in [key.clone(), previous_key].into_iter().flatten() {
        if alias != ticket_id && !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    Ok(IssueIds {
        label: key.filter(|k| *k != ticket_id),
        ticket_id,
        aliases,
    })
}

fn issue_fields(issue: &Map<String, Value>, path: &str) -> Result<Map<String, Value>, JitError> {
    match issue.get("fields") {
        Some(Value::Object(f)) => Ok(f.clone()),
        _ => Err(JitError::BadPayload(format!(
            "`{}` is required",
            member(path, "fields")
        ))),
    }
}

/// `fields.updated`, the event time when the body has no `timestamp`.
fn updated(fields: &Map<String, Value>, path: &str) -> Result<ssf_types::UnixMillis, JitError> {
    let name = member(&member(path, "fields"), "updated");
    let value = fields
        .get("updated")
        .ok_or_else(|| JitError::BadPayload(format!("`timestamp` (or `{name}`) is required")))?;
    crate::time::parse_json(value).map_err(|why| JitError::BadPayload(format!("`{name}`: {why}")))
}

fn assignee(fields: &Map<String, Value>) -> Result<AssigneeUpdate, JitError> {
    Ok(match fields.get("assignee") {
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
            "issue": {"id": "10482", "key": "SUP-42", "fields": {"assignee": assignee,
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
        assert_eq!(e.txn(), "jira:10482:d-1");
        assert_eq!(
            (e.label.as_deref(), e.aliases.as_slice()),
            (Some("SUP-42"), ["SUP-42".to_owned()].as_slice())
        );
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

    #[test]
    fn a_project_move_keeps_the_id_and_lists_both_keys() {
        let mut v = issue(
            json!({"accountId": "acc-jane", "emailAddress": "jane@example.com"}),
            json!([
                {"field": "Key", "fieldtype": "jira", "from": null, "fromString": "SUP-42", "to": null, "toString": "OPS-7"},
                {"field": "project", "fieldtype": "jira", "fieldId": "project", "from": "10001", "fromString": "Customer Support", "to": "10002", "toString": "Operations"}
            ]),
            "jira:issue_updated",
        );
        v["issue"]["key"] = json!("OPS-7");
        v["changelog"]["id"] = json!("11002");
        let e = event(v);
        assert_eq!(e.ticket_id, "10482");
        assert_eq!(e.label.as_deref(), Some("OPS-7"));
        assert_eq!(e.aliases, vec!["OPS-7".to_owned(), "SUP-42".to_owned()]);
        assert_eq!(e.sequence, Some(11002));
        assert_eq!(e.kind, TicketEventKind::Updated);
    }

    #[test]
    fn automation_bodies_in_jira_and_automation_format() {
        let issue_json = json!({"self": "https://acme.atlassian.net/rest/api/2/issue/10482",
            "id": 10482, "key": "SUP-42",
            "changelog": {"startAt": 0, "maxResults": 0, "total": 0, "histories": null},
            "fields": {"updated": "2025-01-01T10:00:00.000+0100",
                "assignee": {"accountId": "acc-jane", "displayName": "Jane Doe"},
                "customfield_10050": 5120.0}});
        for (body, why) in [
            (json!({"issue": &issue_json}), "Jira format"),
            (issue_json, "Automation format"),
        ] {
            let raw = body.to_string();
            let w = parse("jira", &HeaderMap::new(), raw.as_bytes(), body).unwrap();
            assert_eq!(w.sent_at, None, "{why}: no timestamp window");
            let Parsed::Event(e) = w.parsed else {
                panic!("{why}")
            };
            assert_eq!(e.ticket_id, "10482", "{why}: a numeric id reads as text");
            assert_eq!(e.label.as_deref(), Some("SUP-42"));
            assert_eq!(e.kind, TicketEventKind::Updated);
            assert!(e.fields_complete);
            assert_eq!(
                e.occurred_at,
                ssf_types::UnixMillis::from_secs(1_735_722_000)
            );
            assert!(e.delivery_id.starts_with("sha256:"), "{why}");
            assert!(e.event_id.starts_with("automation-"), "{why}");
            assert_eq!(e.sequence, None);
        }
        let custom = json!({"issue": {"key": "SUP-42", "fields": {"updated": "2025-01-01T09:00:00.000+0000"}}});
        let w = parse("jira", &HeaderMap::new(), b"x", custom).unwrap();
        let Parsed::Event(e) = w.parsed else { panic!() };
        assert_eq!(
            (e.ticket_id.as_str(), e.label.as_deref()),
            ("SUP-42", None),
            "no id: the key"
        );
        let err = parse("jira", &HeaderMap::new(), b"x", json!({"hello": 1})).unwrap_err();
        assert!(err.to_string().contains("webhookEvent"), "{err}");
        let err = parse(
            "jira",
            &HeaderMap::new(),
            b"x",
            json!({"issue": {"id": "1", "fields": {}}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("issue.fields.updated"), "{err}");
    }
}
