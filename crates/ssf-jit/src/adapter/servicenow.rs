//! ServiceNow: the JSON a Business Rule (or an outbound REST message) sends for an incident or a
//! Customer Service case.
//!
//! ```json
//! {"sys_id": "9d385017c611228701d22104cc95c371", "number": "CS0001042",
//!  "table": "sn_customerservice_case", "operation": "update",
//!  "state": "2", "assigned_to": "jane.doe@example.com", "previous_assigned_to": "",
//!  "account": {"number": "C2148", "name": "Acme"},
//!  "sys_updated_on": "2025-01-01 09:00:05", "sys_mod_count": "3"}
//! ```
//!
//! Read: `sys_id` (required), `number` (the ticket id; default `sys_id`), `state` (rules map it:
//! 6 Resolved, 7 Closed, 8 Canceled are closed by default), `assigned_to` (an e-mail, a user
//! `sys_id` or name, or a reference object `{"value", "display_value", "email"}`; `""` or `null`
//! unassigns, absent keeps), `previous_assigned_to`, `operation` (`insert`, `update`, `delete`),
//! `sys_updated_on` (UTC `YYYY-MM-DD HH:MM:SS` or RFC 3339; required), `sys_mod_count` (the
//! record's update counter: the event's `sequence`), `table` (picks the default states, see
//! [`crate::rules::states`]). Every member is a ticket field for the rules. The replay key is
//! `sys_id:sys_updated_on[:sys_mod_count]`. A ticket is its `number` (ServiceNow numbers do not
//! change); `sys_id` is its alias.
//!
//! `state` may be the code (`"2"`, what `current.getValue('state')` gives), the label
//! (`"In Progress"`, `getDisplayValue`) or a reference object with both.

use serde_json::{Map, Value};
use ssf_types::subject::{LocalPartRule, canonicalize_email};

use super::{Parsed, Webhook, check_id, person_from_text, required_str, scalar};
use crate::{
    error::JitError,
    ticket::{AssigneeUpdate, Person, TicketEvent, TicketEventKind},
};

/// Parses a ServiceNow webhook body.
pub fn parse(system: &str, value: Value) -> Result<Webhook, JitError> {
    let Value::Object(root) = value else {
        return Err(JitError::BadPayload(
            "a ServiceNow webhook is a JSON object".to_owned(),
        ));
    };
    let sys_id = required_str(&root, "sys_id")?;
    check_id("sys_id", &sys_id)?;
    let updated_text = required_str(&root, "sys_updated_on")?;
    check_id("sys_updated_on", &updated_text)?;
    let occurred_at = crate::time::parse_json(&Value::String(updated_text.clone()))
        .map_err(|why| JitError::BadPayload(format!("`sys_updated_on`: {why}")))?;
    let number = root.get("number").and_then(scalar);
    if let Some(n) = &number {
        check_id("number", n)?;
    }
    let ticket_id = number.clone().unwrap_or_else(|| sys_id.clone());
    let mod_count = root.get("sys_mod_count").and_then(scalar);
    if let Some(m) = &mod_count {
        check_id("sys_mod_count", m)?;
    }
    let sequence = mod_count.as_deref().and_then(|m| m.parse::<i64>().ok());
    let label = number.filter(|n| *n != ticket_id);
    let aliases = if sys_id == ticket_id {
        Vec::new()
    } else {
        vec![sys_id.clone()]
    };
    let delivery_id = match &mod_count {
        Some(m) => format!("{sys_id}:{updated_text}:{m}"),
        None => format!("{sys_id}:{updated_text}"),
    };
    let event_id = match &mod_count {
        Some(m) => format!("mod-{m}"),
        None => format!("updated-{}", occurred_at.0),
    };
    let assignee = match root.get("assigned_to") {
        None => AssigneeUpdate::Keep,
        Some(v) => match snow_person(v)? {
            Some(p) => AssigneeUpdate::Person(p),
            None => AssigneeUpdate::Unassigned,
        },
    };
    let previous_assignee = match root.get("previous_assigned_to") {
        Some(v) => snow_person(v)?,
        None => None,
    };
    let operation = root
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("update");
    let kind = match (&assignee, operation) {
        (_, "delete") => TicketEventKind::Cancelled,
        (AssigneeUpdate::Person(now), _) => match &previous_assignee {
            Some(before) if same_person(before, now) => TicketEventKind::Updated,
            Some(_) => TicketEventKind::Reassigned,
            None if operation == "insert" || root.contains_key("previous_assigned_to") => {
                TicketEventKind::Assigned
            }
            None => TicketEventKind::Updated,
        },
        _ => TicketEventKind::Updated,
    };
    let event = TicketEvent {
        system: system.to_owned(),
        ticket_id,
        event_id,
        delivery_id,
        kind,
        assignee,
        previous_assignee,
        fields: root.into_iter().collect(),
        fields_complete: true,
        occurred_at,
        sequence,
        label,
        aliases,
    };
    Ok(Webhook {
        parsed: Parsed::Event(Box::new(event)),
        sent_at: Some(occurred_at),
    })
}

fn same_person(a: &Person, b: &Person) -> bool {
    let email = |p: &Person| {
        p.email
            .as_deref()
            .map(|e| canonicalize_email(e.trim(), LocalPartRule::LowerCase))
    };
    let id_eq = matches!((&a.id, &b.id), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y));
    matches!((email(a), email(b)), (Some(x), Some(y)) if x == y) || id_eq
}

fn snow_person(v: &Value) -> Result<Option<Person>, JitError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(person_from_text(s)),
        Value::Object(map) => Ok(reference_person(map)),
        _ => Err(JitError::BadPayload(
            "`assigned_to` must be a string, an object or null".to_owned(),
        )),
    }
}

fn reference_person(map: &Map<String, Value>) -> Option<Person> {
    let text = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut p = Person {
        email: text("email"),
        id: text("value").or_else(|| text("user_name")),
        name: text("display_value"),
    };
    if p.email.is_none() && p.id.as_deref().is_some_and(|id| id.contains('@')) {
        p.email = p.id.take();
    }
    (!p.is_empty()).then_some(p)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(v: Value) -> TicketEvent {
        match parse("snow", v).unwrap().parsed {
            Parsed::Event(e) => *e,
            other => panic!("{other:?}"),
        }
    }

    fn case(assigned: Value, previous: Value) -> Value {
        json!({"sys_id": "abc", "number": "CS0001042", "state": "2", "assigned_to": assigned,
               "previous_assigned_to": previous, "sys_updated_on": "2025-01-01 09:00:05", "sys_mod_count": "3"})
    }

    #[test]
    fn reads_ids_times_and_assignees() {
        let e = event(case(json!("jane.doe@example.com"), json!("")));
        assert_eq!(e.ticket_id, "CS0001042");
        assert_eq!(e.delivery_id, "abc:2025-01-01 09:00:05:3");
        assert_eq!(e.txn(), "snow:CS0001042:mod-3");
        assert_eq!(e.sequence, Some(3));
        assert_eq!((e.label, e.aliases), (None, vec!["abc".to_owned()]));
        assert_eq!(e.kind, TicketEventKind::Assigned);
        assert_eq!(
            e.occurred_at,
            ssf_types::UnixMillis::from_secs(1_735_722_005)
        );
        let e = event(case(
            json!("jane.doe@example.com"),
            json!("john@example.com"),
        ));
        assert_eq!(e.kind, TicketEventKind::Reassigned);
        let e = event(case(
            json!("Jose\u{301}@Example.com"),
            json!("jos\u{e9}@example.com"),
        ));
        assert_eq!(
            e.kind,
            TicketEventKind::Updated,
            "one person in NFC and NFD"
        );
        let e = event(case(
            json!({"value": "6816f79cc0a8016401c5a33be04be441", "display_value": "Jane"}),
            Value::Null,
        ));
        let AssigneeUpdate::Person(p) = e.assignee else {
            panic!()
        };
        assert_eq!(p.id.as_deref(), Some("6816f79cc0a8016401c5a33be04be441"));
        assert_eq!(
            event(case(json!(""), json!("jane@example.com"))).assignee,
            AssigneeUpdate::Unassigned
        );
        let mut v = case(json!("x@example.com"), Value::Null);
        v["operation"] = json!("delete");
        assert_eq!(event(v).kind, TicketEventKind::Cancelled);
    }

    #[test]
    fn required_members() {
        assert!(
            parse("snow", json!({"sys_updated_on": "2025-01-01 09:00:05"}))
                .unwrap_err()
                .to_string()
                .contains("sys_id")
        );
        assert!(
            parse("snow", json!({"sys_id": "a", "sys_updated_on": "noon"}))
                .unwrap_err()
                .to_string()
                .contains("sys_updated_on")
        );
    }
}
