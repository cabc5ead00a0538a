//! The body of `POST /events` and its validation.
//!
//! One event is a JSON object:
//!
//! ```json
//! {
//!   "event_type": "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
//!   "sub_id": {"format": "email", "email": "jdoe@example.com"},
//!   "event": {"event_timestamp": 1615304991, "initiating_entity": "policy"},
//!   "txn": "optional, unique to the cause"
//! }
//! ```
//!
//! A batch is a non-empty JSON array of such objects. Every event is checked before anything is
//! queued; the first bad one fails the whole request with `400` naming its index.

use serde_json::{Map, Value};
use ssf_types::{Event, EventType, EventTypeUri, ParseMode, SubjectId, subject::SubjectFormat};

use super::IngestError;

/// Members an event object may have.
const MEMBERS: &[&str] = &["event_type", "sub_id", "event", "txn"];

/// One checked event, ready to route and sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    /// The typed event (its type is [`Event::event_type`]).
    pub event: Event,
    /// The subject (`sub_id`, SSF-SET-12).
    pub sub_id: SubjectId,
    /// The producer's `txn`, if it gave one (SSF-SET-10/11).
    pub txn: Option<String>,
}

impl ValidEvent {
    /// The event type.
    pub(crate) fn event_type(&self) -> EventType {
        self.event.event_type()
    }
}

/// Whether the body was one event or a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// One object.
    Single(Box<ValidEvent>),
    /// An array.
    Batch(Vec<ValidEvent>),
}

/// Parses and checks a request body; `max_batch` bounds the array length.
pub(crate) fn parse_body(body: &[u8], max_batch: usize) -> Result<Parsed, IngestError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| IngestError::Invalid(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(Parsed::Single(Box::new(parse_event(&map)?))),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(IngestError::Invalid("the batch is empty".to_owned()));
            }
            if items.len() > max_batch {
                return Err(IngestError::Invalid(format!(
                    "the batch has {} events; at most {max_batch} are accepted per request",
                    items.len()
                )));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let map = item.as_object().ok_or_else(|| {
                        IngestError::Invalid(format!("events[{i}]: an event must be a JSON object"))
                    })?;
                    parse_event(map).map_err(|e| match e {
                        IngestError::Invalid(why) => {
                            IngestError::Invalid(format!("events[{i}]: {why}"))
                        }
                        other => other,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Parsed::Batch)
        }
        _ => Err(IngestError::Invalid(
            "the body must be an event object or an array of event objects".to_owned(),
        )),
    }
}

fn bad(why: impl Into<String>) -> IngestError {
    IngestError::Invalid(why.into())
}

/// Checks one event object against its definition.
fn parse_event(map: &Map<String, Value>) -> Result<ValidEvent, IngestError> {
    if let Some(unknown) = map.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown member `{unknown}`; an event has `event_type`, `sub_id`, `event` and `txn`"
        )));
    }
    let uri = match map.get("event_type") {
        Some(Value::String(uri)) if uri.contains(':') => EventTypeUri::new(uri.as_str()),
        Some(Value::String(_)) => return Err(bad("`event_type` must be an event-type URI")),
        Some(_) => return Err(bad("`event_type` must be a string")),
        None => return Err(bad("`event_type` is required")),
    };
    let event_type = EventType::from(&uri);
    if event_type.is_legacy() {
        return Err(bad(format!(
            "`{uri}` is a draft (SSE) spelling; use `{}`",
            event_type.canonical().as_str()
        )));
    }
    if event_type.is_ssf() {
        // SSF-EVT-01/10: verification and stream-updated are the transmitter's own events.
        return Err(bad(format!(
            "`{uri}` is sent by the transmitter itself (stream verification and status changes)"
        )));
    }

    let sub_id = map
        .get("sub_id")
        .ok_or_else(|| bad("`sub_id` is required (SSF 1.0 §3.1)"))?;
    let sub_id = SubjectId::from_json(sub_id, ParseMode::Strict)
        .map_err(|e| bad(format!("`sub_id`: {e}")))?;
    // SSF-SUB-02: a transmitter sends no member a format does not describe.
    sub_id
        .validate()
        .map_err(|e| bad(format!("`sub_id`: {e}")))?;

    let body = match map.get("event") {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(bad("`event` must be a JSON object")),
    };
    if body.get("subject").is_some() {
        // SSF-SET-19: the subject goes in `sub_id`, never inside the event.
        return Err(bad(
            "`event.subject` is not sent; put the subject in `sub_id`",
        ));
    }
    let event = Event::parse(&uri, &body, ParseMode::Strict)
        .map_err(|e| bad(format!("`event` does not fit `{uri}`: {e}")))?;
    if matches!(
        event_type,
        EventType::IdentifierChanged | EventType::IdentifierRecycled
    ) && !matches!(
        sub_id.format(),
        SubjectFormat::Email | SubjectFormat::PhoneNumber
    ) {
        // RISC §2.5/§2.6 (D-21): the subject is an email or a phone number.
        return Err(bad(format!(
            "`{uri}` needs an `email` or `phone_number` subject (RISC 1.0 §2.5, §2.6)"
        )));
    }

    let txn = match map.get("txn") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
        Some(_) => return Err(bad("`txn` must be a non-empty string (SSF 1.0 §4.1.9)")),
    };
    Ok(ValidEvent { event, sub_id, txn })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

    fn one(v: &Value) -> Result<Parsed, IngestError> {
        parse_body(v.to_string().as_bytes(), 10)
    }

    fn why(r: Result<Parsed, IngestError>) -> String {
        match r {
            Err(IngestError::Invalid(why)) => why,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_event_parses() {
        let p = one(&json!({"event_type": REVOKED,
            "sub_id": {"format": "email", "email": "a@example.com"},
            "event": {"event_timestamp": 1_615_304_991, "initiating_entity": "policy"},
            "txn": "t1"}))
        .unwrap();
        let Parsed::Single(e) = p else { panic!() };
        assert_eq!(e.event_type(), EventType::SessionRevoked);
        assert_eq!(e.txn.as_deref(), Some("t1"));
    }

    #[test]
    fn bad_events_are_refused_with_the_reason() {
        let sub = json!({"format": "email", "email": "a@example.com"});
        let w = why(one(&json!({"event_type": REVOKED, "sub_id": sub,
            "event": {"initiating_entity": "robot"}})));
        assert!(w.contains("initiating_entity"), "{w}");
        assert!(why(one(&json!({"event_type": REVOKED}))).contains("sub_id"));
        let w = why(one(
            &json!({"event_type": REVOKED, "sub_id": {"format": "email"}}),
        ));
        assert!(w.contains("sub_id"), "{w}");
        let w = why(one(
            &json!({"event_type": REVOKED, "sub_id": sub, "txn": 5}),
        ));
        assert!(w.contains("txn"), "{w}");
        let w = why(one(
            &json!({"event_type": REVOKED, "sub_id": sub, "extra": 1}),
        ));
        assert!(w.contains("extra"), "{w}");
        let w = why(one(
            &json!({"event_type": "https://schemas.openid.net/secevent/ssf/event-type/verification",
            "sub_id": sub}),
        ));
        assert!(w.contains("transmitter itself"), "{w}");
        let w = why(one(&json!({"event_type": REVOKED, "sub_id": sub,
            "event": {"subject": sub}})));
        assert!(w.contains("sub_id"), "SSF-SET-19: {w}");
    }

    #[test]
    fn identifier_changed_needs_email_or_phone_d_21() {
        let w = why(one(&json!({
            "event_type": "https://schemas.openid.net/secevent/risc/event-type/identifier-changed",
            "sub_id": {"format": "opaque", "id": "x"}, "event": {"new-value": "b@example.com"}})));
        assert!(w.contains("email"), "{w}");
    }

    #[test]
    fn batch_errors_name_the_index() {
        let sub = json!({"format": "opaque", "id": "u1"});
        let good = json!({"event_type": REVOKED, "sub_id": sub});
        let w = why(one(&json!([good, {"event_type": REVOKED}])));
        assert!(w.starts_with("events[1]"), "{w}");
        assert!(why(one(&json!([]))).contains("empty"));
        assert!(matches!(one(&json!([good, good])).unwrap(), Parsed::Batch(v) if v.len() == 2));
        let many: Vec<Value> = (0..11).map(|_| good.clone()).collect();
        assert!(why(one(&Value::Array(many))).contains("at most 10"));
        assert!(why(parse_body(b"{nope", 10)).contains("JSON"));
    }

    #[test]
    fn unknown_event_types_are_accepted_for_bilateral_use() {
        let p = one(
            &json!({"event_type": "urn:example:custom", "sub_id": {"format": "opaque", "id": "u"}}),
        );
        assert!(p.is_ok());
    }
}
