//! The RFC 8936 poll request body ([§2.2](https://www.rfc-editor.org/rfc/rfc8936#section-2.2),
//! [§2.4](https://www.rfc-editor.org/rfc/rfc8936#section-2.4)), read with
//! [`ssf_types::PollRequest`].
//!
//! Every member is optional; `{}` and an empty body mean "long poll, no limit, nothing to
//! acknowledge" (POLL-03). Spellings of peers seen in the field are accepted and logged (the
//! checklist §13 decision): `acks` for `ack`, `max_events` / `return_immediately`.

use serde_json::Value;
use ssf_store::DeliveryError;
use ssf_types::{Jti, ParseMode, PollRequest};

use crate::error::ApiError;

/// Member names some peers use instead of the RFC ones.
const PEER_SPELLINGS: &[&str] = &["acks", "max_events", "return_immediately"];

/// Parses a poll body; malformed ones are `400` (POLL-03, POLL-17).
pub(crate) fn parse(body: &[u8]) -> Result<PollRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PollRequest::new());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the poll request is not valid JSON: {e}")))?;
    if let Some(map) = value.as_object() {
        let used: Vec<&str> = PEER_SPELLINGS
            .iter()
            .copied()
            .filter(|name| map.contains_key(*name))
            .collect();
        if !used.is_empty() {
            tracing::info!(members = ?used, "poll request uses non-standard member names; accepted");
        }
    }
    PollRequest::from_json(&value, ParseMode::Legacy)
        .map_err(|e| ApiError::BadRequest(format!("invalid poll request: {e}")))
}

/// The `setErrs` of a request as the store records them.
pub(crate) fn set_errs(request: &PollRequest) -> std::collections::BTreeMap<Jti, DeliveryError> {
    request
        .set_errs
        .iter()
        .map(|(jti, e)| {
            let description = Some(e.description.clone()).filter(|d| !d.is_empty());
            (
                jti.clone(),
                DeliveryError {
                    code: e.err.as_str().to_owned(),
                    description,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies_are_defaults_poll_03() {
        assert_eq!(parse(b"{}").unwrap(), PollRequest::new());
        assert_eq!(parse(b"").unwrap(), PollRequest::new());
    }

    #[test]
    fn all_members_parse() {
        let r = parse(
            br#"{"maxEvents": 0, "returnImmediately": true, "ack": ["a", "b"],
                 "setErrs": {"c": {"err": "invalid_key", "description": "bad sig"}}}"#,
        )
        .unwrap();
        assert!(r.is_ack_only() && r.returns_immediately());
        assert_eq!(r.ack, vec![Jti::new("a"), Jti::new("b")]);
        let errs = set_errs(&r);
        assert_eq!(errs[&Jti::new("c")].code, "invalid_key");
        assert_eq!(errs[&Jti::new("c")].description.as_deref(), Some("bad sig"));
    }

    #[test]
    fn peer_spellings_are_accepted() {
        let r = parse(br#"{"acks": ["a"], "max_events": 3, "return_immediately": true}"#).unwrap();
        assert_eq!(r.ack, vec![Jti::new("a")]);
        assert_eq!(r.max_events, Some(3));
        assert!(r.returns_immediately());
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
            let text = String::from_utf8_lossy(body);
            assert!(
                matches!(parse(body), Err(ApiError::BadRequest(_))),
                "{text}"
            );
        }
    }
}
