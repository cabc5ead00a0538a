//! Webhook payloads -> [`TicketEvent`]s: one adapter per [`SystemKind`].
//!
//! Adapters run after the sender is verified. They read; they decide nothing about access.

pub mod generic;
pub mod jira;
pub mod servicenow;

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use ssf_types::UnixMillis;

use crate::{
    config::SystemKind,
    error::JitError,
    ticket::{Person, TicketEvent},
};

/// What an adapter made of a webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A ticket event to apply.
    Event(Box<TicketEvent>),
    /// A webhook about something else (a Jira comment, ...): recorded against replays and
    /// answered `200`, nothing else.
    Ignored {
        /// The replay key.
        delivery_id: String,
        /// The ticket, when known.
        ticket_id: Option<String>,
        /// Why it is ignored.
        reason: String,
    },
}

/// A parsed webhook and the time its sender says it was sent, for the timestamp window.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The content.
    pub parsed: Parsed,
    /// The sender's timestamp, when the format has one.
    pub sent_at: Option<UnixMillis>,
}

/// Parses a verified webhook body of a system of `kind` named `system`.
pub fn parse(
    system: &str,
    kind: &SystemKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Webhook, JitError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| JitError::BadPayload(format!("the body is not JSON: {e}")))?;
    match kind {
        SystemKind::Generic => generic::parse(system, value),
        SystemKind::Jira => jira::parse(system, headers, body, value),
        SystemKind::ServiceNow => servicenow::parse(system, value),
        SystemKind::Other(other) => Err(JitError::Config(format!("no adapter for kind {other:?}"))),
    }
}

/// The value at a dot-separated `path` in `fields` (`priority.name`, `account.number`).
pub fn field<'a>(fields: &'a BTreeMap<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = fields.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = fields.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A scalar as text: strings (non-empty after trimming), numbers and booleans; a reference
/// object's `value` (ServiceNow `{"value": ..., "display_value": ...}`, Jira select lists).
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(map) => map.get("value").and_then(scalar),
        _ => None,
    }
}

/// A required string member of a JSON object.
pub(crate) fn required_str(map: &Map<String, Value>, name: &str) -> Result<String, JitError> {
    match map.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(JitError::BadPayload(format!(
            "`{name}` must be a non-empty string"
        ))),
        None => Err(JitError::BadPayload(format!("`{name}` is required"))),
    }
}

/// A person from an e-mail or id string: an `@` makes it an e-mail.
pub(crate) fn person_from_text(text: &str) -> Option<Person> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(if text.contains('@') {
        Person {
            email: Some(text.to_owned()),
            ..Person::default()
        }
    } else {
        Person {
            id: Some(text.to_owned()),
            ..Person::default()
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn field_paths() {
        let fields: BTreeMap<String, Value> = serde_json::from_value(json!({
            "priority": {"name": "High"},
            "customfield_10060": {"value": "C2148"},
            "labels": ["a", "b"],
            "dotted.key": 1
        }))
        .unwrap();
        assert_eq!(field(&fields, "priority.name"), Some(&json!("High")));
        assert_eq!(field(&fields, "labels.1"), Some(&json!("b")));
        assert_eq!(field(&fields, "dotted.key"), Some(&json!(1)));
        assert_eq!(field(&fields, "priority.id"), None);
        assert_eq!(
            field(&fields, "customfield_10060")
                .and_then(scalar)
                .as_deref(),
            Some("C2148")
        );
        assert_eq!(scalar(&json!("  ")), None);
        assert_eq!(scalar(&json!(6)).as_deref(), Some("6"));
    }
}
