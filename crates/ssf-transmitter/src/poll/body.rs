//! The RFC 8936 poll request body ([§2.2](https://www.rfc-editor.org/rfc/rfc8936#section-2.2),
//! [§2.4](https://www.rfc-editor.org/rfc/rfc8936#section-2.4)).
//!
//! Every member is optional and `{}` (or an empty body) means "long poll, no limit, nothing to
//! acknowledge" (POLL-03). Peers' spellings seen in the field are accepted and logged: `acks`
//! for `ack` (checklist §13), `max_events` / `return_immediately` (a Keycloak version).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use ssf_store::DeliveryError;
use ssf_types::Jti;

use crate::error::ApiError;

/// A parsed poll request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollBody {
    /// `maxEvents`: `None` when omitted (the transmitter's cap applies, D-17); `0` is an
    /// acknowledge-only request.
    pub max_events: Option<u64>,
    /// `returnImmediately` (default `false`: long poll).
    pub return_immediately: bool,
    /// `ack`.
    pub ack: Vec<Jti>,
    /// `setErrs`.
    pub set_errs: BTreeMap<Jti, DeliveryError>,
}

fn bad(why: impl Into<String>) -> ApiError {
    ApiError::BadRequest(why.into())
}

/// The member `name`, or its alias (logged when used).
fn member<'a>(map: &'a Map<String, Value>, name: &str, alias: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        let value = map.get(alias);
        if value.is_some() {
            tracing::info!(alias, name, "poll request uses a non-standard member name; accepted");
        }
        value
    })
}

/// Parses a poll body; malformed ones are `400` (POLL-03, POLL-17).
pub fn parse(body: &[u8]) -> Result<PollBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PollBody::default());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the poll request is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad("the poll request must be a JSON object (RFC 8936 §2.2)"));
    };
    let max_events = match member(&map, "maxEvents", "max_events") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64().ok_or_else(|| bad("`maxEvents` must be a non-negative integer"))?,
        ),
        Some(_) => return Err(bad("`maxEvents` must be a non-negative integer")),
    };
    let return_immediately = match member(&map, "returnImmediately", "return_immediately") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`returnImmediately` must be a boolean")),
    };
    let ack = match member(&map, "ack", "acks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(Jti::new).ok_or_else(|| bad("`ack` must be an array of jti strings")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("`ack` must be an array of jti strings")),
    };
    let set_errs = match map.get("setErrs") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(errs)) => errs
            .iter()
            .map(|(jti, e)| parse_set_err(jti, e))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("`setErrs` must be an object of jti -> {err, description}")),
    };
    Ok(PollBody { max_events, return_immediately, ack, set_errs })
}

fn parse_set_err(jti: &str, value: &Value) -> Result<(Jti, DeliveryError), ApiError> {
    let shape = || bad(format!("`setErrs.{jti}` must be {{\"err\": string, \"description\": string}}"));
    let Value::Object(e) = value else { return Err(shape()) };
    let code = e.get("err").and_then(Value::as_str).ok_or_else(shape)?;
    let description = match e.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err(shape()),
    };
    Ok((Jti::new(jti), DeliveryError { code: code.to_owned(), description }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies_are_defaults_poll_03() {
        assert_eq!(parse(b"{}").unwrap(), PollBody::default());
        assert_eq!(parse(b"").unwrap(), PollBody::default());
    }

    #[test]
    fn all_members_parse() {
        let b = parse(
            br#"{"maxEvents": 0, "returnImmediately": true, "ack": ["a", "b"],
                 "setErrs": {"c": {"err": "invalid_key", "description": "bad sig"}}}"#,
        )
        .unwrap();
        assert_eq!(b.max_events, Some(0));
        assert!(b.return_immediately);
        assert_eq!(b.ack, vec![Jti::new("a"), Jti::new("b")]);
        assert_eq!(b.set_errs[&Jti::new("c")].code, "invalid_key");
    }

    #[test]
    fn aliases_of_peers_are_accepted() {
        let b = parse(br#"{"acks": ["a"], "max_events": 3, "return_immediately": true}"#).unwrap();
        assert_eq!(b.ack, vec![Jti::new("a")]);
        assert_eq!(b.max_events, Some(3));
        assert!(b.return_immediately);
    }

    #[test]
    fn malformed_bodies_are_400_poll_03() {
        for body in [
            &br#"[]"#[..],
            br#"{"maxEvents": -1}"#,
            br#"{"maxEvents": "5"}"#,
            br#"{"returnImmediately": "yes"}"#,
            br#"{"ack": "a"}"#,
            br#"{"ack": [1]}"#,
            br#"{"setErrs": {"a": {"description": "no err"}}}"#,
            br#"{nope"#,
        ] {
            assert!(matches!(parse(body), Err(ApiError::BadRequest(_))), "{}", String::from_utf8_lossy(body));
        }
    }
}
