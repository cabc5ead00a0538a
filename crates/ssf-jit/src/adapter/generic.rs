//! The generic JSON format, for any ticket system that can send a signed webhook (or a small
//! script in front of one).
//!
//! ```json
//! {
//!   "ticket_id": "SUP-42",
//!   "event_id": "evt-0001",
//!   "event_type": "assigned",
//!   "occurred_at": "2025-01-01T09:00:00Z",
//!   "sequence": 1,
//!   "assignee": {"email": "jane@example.com", "id": "u-123"},
//!   "previous_assignee": {"email": "john@example.com"},
//!   "state": "open",
//!   "fields": {"customer_id": "C2148", "priority": "high"}
//! }
//! ```
//!
//! - `event_type`: `assigned`, `reassigned`, `resolved`, `closed`, `cancelled` or `updated`.
//! - `occurred_at`: RFC 3339, or epoch seconds (milliseconds above 10^11). Orders the events
//!   of a ticket and is checked against the system's `max_age`.
//! - `event_id`: unique per event of the ticket; with `ticket_id` the replay key (the pair, so
//!   two tickets whose system numbers events per ticket do not collide), and part of the
//!   `txn`. Ticket and event ids are at most 256 bytes without control characters.
//! - `sequence`: optional integer, the system's own order of the ticket's events (a counter
//!   that grows with each change); orders events that share an `occurred_at`.
//! - `assignee`: on `assigned`/`reassigned` the new assignee (absent or `null`: nobody); on
//!   `updated`, absent keeps the known assignee and `null` unassigns.
//! - `fields`: only what changed is enough; merged into the known fields.
//! - `state`: optional; stored as the field `state` (rules map states to open/closed).
//! - Unknown members are refused (`400`), so a typo does not pass silently.
//!
//! Signed like Jira: `X-JIT-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Parsed, Webhook, check_id};
use crate::{
    error::JitError,
    ticket::{AssigneeUpdate, Person, TicketEvent, TicketEventKind},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericEvent {
    ticket_id: String,
    event_id: String,
    event_type: TicketEventKind,
    occurred_at: Value,
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<Person>>,
    #[serde(default)]
    previous_assignee: Option<Person>,
    #[serde(default)]
    state: Option<Value>,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
    #[serde(default)]
    sequence: Option<i64>,
}

/// Tells an absent member (`None`) from `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Parses a generic webhook body.
pub fn parse(system: &str, value: Value) -> Result<Webhook, JitError> {
    let e: GenericEvent = serde_json::from_value(value).map_err(|source| JitError::BadJson {
        what: "generic ticket event",
        source,
    })?;
    if !e.event_type.is_known() {
        return Err(JitError::BadPayload(format!(
            "event_type {:?} is not one of {}",
            e.event_type.as_str(),
            TicketEventKind::KNOWN.join(", ")
        )));
    }
    for (name, v) in [("ticket_id", &e.ticket_id), ("event_id", &e.event_id)] {
        if v.trim().is_empty() {
            return Err(JitError::BadPayload(format!("`{name}` must not be empty")));
        }
        check_id(name, v.trim())?;
    }
    let (ticket_id, event_id) = (e.ticket_id.trim(), e.event_id.trim());
    let occurred_at = crate::time::parse_json(&e.occurred_at)
        .map_err(|why| JitError::BadPayload(format!("`occurred_at`: {why}")))?;
    let person = |p: Option<Person>| match p {
        Some(p) if !p.is_empty() => AssigneeUpdate::Person(p),
        _ => AssigneeUpdate::Unassigned,
    };
    let assignee = match (e.assignee, e.event_type.is_assignment()) {
        (None, false) => AssigneeUpdate::Keep,
        (None, true) => AssigneeUpdate::Unassigned,
        (Some(p), _) => person(p),
    };
    let mut fields = e.fields;
    if let Some(state) = e.state {
        fields.insert("state".to_owned(), state);
    }
    let event = TicketEvent {
        system: system.to_owned(),
        ticket_id: ticket_id.to_owned(),
        event_id: event_id.to_owned(),
        delivery_id: delivery_id(ticket_id, event_id),
        kind: e.event_type,
        assignee,
        previous_assignee: e.previous_assignee,
        fields,
        fields_complete: false,
        occurred_at,
        sequence: e.sequence,
        label: None,
        aliases: Vec::new(),
    };
    Ok(Webhook {
        parsed: Parsed::Event(Box::new(event)),
        sent_at: Some(occurred_at),
    })
}

/// The replay key of a generic event: `["<ticket_id>", "<event_id>"]` as JSON, which no two
/// different pairs share (a plain `ticket:event` would: `a:b` + `c` and `a` + `b:c`).
pub fn delivery_id(ticket_id: &str, event_id: &str) -> String {
    Value::from(vec![ticket_id, event_id]).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(v: Value) -> Result<TicketEvent, JitError> {
        match parse("generic", v)?.parsed {
            Parsed::Event(e) => Ok(*e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let e = event(json!({
            "ticket_id": "SUP-42", "event_id": "evt-0001", "event_type": "assigned",
            "occurred_at": "2025-01-01T09:00:00Z",
            "assignee": {"email": "jane@example.com", "id": "u-123"},
            "state": "open", "fields": {"customer_id": "C2148"}
        }))
        .unwrap();
        assert_eq!(e.kind, TicketEventKind::Assigned);
        assert_eq!(e.txn(), "generic:SUP-42:evt-0001");
        assert_eq!(e.delivery_id, r#"["SUP-42","evt-0001"]"#);
        assert_eq!(e.sequence, None);
        assert!(
            matches!(&e.assignee, AssigneeUpdate::Person(p) if p.email.as_deref() == Some("jane@example.com"))
        );
        assert_eq!(e.fields["state"], json!("open"));
        assert_eq!(
            e.occurred_at,
            ssf_types::UnixMillis::from_secs(1_735_722_000)
        );
    }

    #[test]
    fn assignee_absent_null_and_present() {
        let base = json!({"ticket_id": "T", "event_id": "e", "event_type": "updated", "occurred_at": 1_735_722_000});
        assert_eq!(event(base.clone()).unwrap().assignee, AssigneeUpdate::Keep);
        let mut v = base.clone();
        v["assignee"] = Value::Null;
        assert_eq!(event(v).unwrap().assignee, AssigneeUpdate::Unassigned);
        let mut v = base;
        v["event_type"] = json!("assigned");
        assert_eq!(
            event(v).unwrap().assignee,
            AssigneeUpdate::Unassigned,
            "assigned without assignee"
        );
    }

    #[test]
    fn bad_events_say_why() {
        let why = |v: Value| event(v).unwrap_err().to_string();
        let ok =
            json!({"ticket_id": "T", "event_id": "e", "event_type": "closed", "occurred_at": 1});
        let mut v = ok.clone();
        v["event_type"] = json!("reopened");
        assert!(why(v).contains("reopened"));
        let mut v = ok.clone();
        v["extra"] = json!(1);
        assert!(why(v).contains("extra"));
        let mut v = ok.clone();
        v["occurred_at"] = json!("soon");
        assert!(why(v).contains("occurred_at"));
        let mut v = ok;
        v["ticket_id"] = json!(" ");
        assert!(why(v).contains("ticket_id"));
    }

    #[test]
    fn sequence_and_unambiguous_replay_keys() {
        let e = event(
            json!({"ticket_id": "T", "event_id": "e", "event_type": "updated",
            "occurred_at": 1_735_722_000, "sequence": 7}),
        )
        .unwrap();
        assert_eq!(e.sequence, Some(7));
        assert_ne!(delivery_id("a:b", "c"), delivery_id("a", "b:c"));
        assert_eq!(delivery_id("a\"", "b"), r#"["a\"","b"]"#);
        let why = event(
            json!({"ticket_id": "T", "event_id": "e", "event_type": "updated",
            "occurred_at": 1, "sequence": "seven"}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            why.contains("sequence") || why.contains("invalid type"),
            "{why}"
        );
        let long = event(json!({"ticket_id": "T".repeat(300), "event_id": "e",
            "event_type": "updated", "occurred_at": 1}))
        .unwrap_err()
        .to_string();
        assert!(
            long.contains("`ticket_id`") && long.contains("256"),
            "{long}"
        );
    }
}
