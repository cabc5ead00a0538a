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
    let value: Value = serde_json::from_slice(body).map_err(|source| JitError::BadJson {
        what: "the body is not JSON",
        source,
    })?;
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
/// Numbers print as [`number_text`] does: Jira's number fields arrive as floats (`5120.0`) and
/// read `5120`.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(number_text(n)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(map) => map.get("value").and_then(scalar),
        _ => None,
    }
}

/// Largest integer a JSON float (an IEEE double) holds exactly: 2^53.
const EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// A JSON number as text, integral floats without their fraction: Jira sends number custom
/// fields as floats (`5120.0`), which must read `5120` like the same value typed as text. Only
/// floats within ±2^53 (exact as integers) are shortened; others print as they are.
pub fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INT => {
            // In range and integral: the conversion is exact.
            #[allow(clippy::cast_possible_truncation)]
            let i = f as i64;
            i.to_string()
        }
        _ => n.to_string(),
    }
}

/// The longest ticket id, event id or asset id accepted, in bytes (UTF-8).
pub const MAX_ID_BYTES: usize = 256;

/// Refuses an id (`member` names where it came from) longer than [`MAX_ID_BYTES`] or holding
/// control characters (`400 invalid_request`): such ids end up in `txn`s, audit rows, logs
/// and the claims apps receive.
pub fn check_id(member: &str, value: &str) -> Result<(), JitError> {
    if value.len() > MAX_ID_BYTES {
        return Err(JitError::BadPayload(format!(
            "`{member}` is {} bytes long; the limit is {MAX_ID_BYTES} bytes",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(JitError::BadPayload(format!(
            "`{member}` contains control characters (ids are at most {MAX_ID_BYTES} bytes of printable text)"
        )));
    }
    Ok(())
}

/// A required string member of a JSON object.
pub(crate) fn required_str(map: &Map<String, Value>, name: &str) -> Result<String, JitError> {
    match map.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(number_text(n)),
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

    #[test]
    fn integral_floats_read_as_integers() {
        assert_eq!(scalar(&json!(5120.0)).as_deref(), Some("5120"));
        assert_eq!(scalar(&json!(-3.0)).as_deref(), Some("-3"));
        assert_eq!(scalar(&json!(5120.5)).as_deref(), Some("5120.5"));
        assert_eq!(
            scalar(&json!(9_007_199_254_740_992.0)).as_deref(),
            Some("9007199254740992")
        );
        assert_eq!(
            scalar(&json!(1.8e19)).as_deref(),
            Some("1.8e+19"),
            "beyond 2^53 a float is not an exact integer: printed as it is"
        );
        assert_eq!(
            scalar(&json!(u64::MAX)).as_deref(),
            Some("18446744073709551615")
        );
        let map = json!({"n": 42.0}).as_object().unwrap().clone();
        assert_eq!(required_str(&map, "n").unwrap(), "42");
    }

    #[test]
    fn ids_are_limited() {
        assert!(check_id("ticket_id", &"a".repeat(MAX_ID_BYTES)).is_ok());
        let long = check_id("ticket_id", &"a".repeat(MAX_ID_BYTES + 1)).unwrap_err();
        assert!(long.to_string().contains("`ticket_id`") && long.to_string().contains("256"));
        let ctl = check_id("event_id", "evt\n1").unwrap_err();
        assert!(ctl.to_string().contains("`event_id`"), "{ctl}");
        assert!(check_id("x", "caf\u{e9}-42").is_ok());
    }
}
