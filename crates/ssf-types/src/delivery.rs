//! Push error bodies ([RFC 8935 §2.3](https://www.rfc-editor.org/rfc/rfc8935#section-2.3)) and
//! poll requests and responses ([RFC 8936 §2](https://www.rfc-editor.org/rfc/rfc8936#section-2)).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    body::{self, deserialize_via_from_json},
    error::BodyError,
    error_code::SetErrorCode,
    ids::Jti,
    mode::ParseMode,
    subject::Extra,
};

/// The JSON body of a push `400` answer (RFC 8935 §2.3, PUSH-10), also the value of a poll
/// `setErrs` entry (RFC 8936 §2.2). Never put SET content or tokens in `description`
/// (SSF-SEC-17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushErrorBody {
    /// `err` (RFC 8935 §2.4 codes; unknown legacy codes are kept).
    pub err: SetErrorCode,
    /// `description`: human-readable text. Absent on read means empty; always written.
    pub description: String,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(PushErrorBody);

impl PushErrorBody {
    /// An error body.
    pub fn new(err: SetErrorCode, description: impl Into<String>) -> Self {
        Self {
            err,
            description: description.into(),
            extra: Extra::new(),
        }
    }

    /// Parses an error body; `err` must be a string.
    pub fn from_json(value: &Value, _mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "error body")?;
        Ok(Self {
            err: body::require::<String>(&mut map, "err")?.into(),
            description: body::take(&mut map, "description")?.unwrap_or_default(),
            extra: body::rest(map),
        })
    }
}

/// A poll request body (RFC 8936 §2.2, POLL-02). `{}` is valid: every member at its default
/// (POLL-03). The four request patterns of RFC 8936 §2.4 (POLL-16) are all this one type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct PollRequest {
    /// `maxEvents`: at most this many SETs; `0` means acknowledge only; absent means no limit of
    /// the receiver's (the transmitter applies its own cap, D-17).
    #[serde(rename = "maxEvents", skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
    /// `returnImmediately`; see [`Self::returns_immediately`].
    #[serde(rename = "returnImmediately", skip_serializing_if = "Option::is_none")]
    pub return_immediately: Option<bool>,
    /// `ack`: the `jti`s of SETs received successfully (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ack: Vec<Jti>,
    /// `setErrs`: `jti` -> error, for SETs that were invalid (omitted when empty, POLL-15).
    #[serde(rename = "setErrs", skip_serializing_if = "BTreeMap::is_empty")]
    pub set_errs: BTreeMap<Jti, PushErrorBody>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(PollRequest);

/// Draft or peer-specific member names and their RFC names (checklist section 13: Duo's `acks`,
/// one Keycloak version's snake_case names).
const LEGACY_POLL_MEMBERS: &[(&str, &str)] = &[
    ("acks", "ack"),
    ("max_events", "maxEvents"),
    ("return_immediately", "returnImmediately"),
];

impl PollRequest {
    /// An empty request `{}`: a long poll with no limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// `returnImmediately`, where absent means `false` (long poll, POLL-07).
    pub fn returns_immediately(&self) -> bool {
        self.return_immediately.unwrap_or(false)
    }

    /// Whether this only acknowledges (`maxEvents: 0`, RFC 8936 §2.4.2).
    pub fn is_ack_only(&self) -> bool {
        self.max_events == Some(0)
    }

    /// Parses a poll body. A non-object, a negative or non-integer `maxEvents`, or a
    /// wrongly-typed member is refused (POLL-03). `acks`, `max_events` and
    /// `return_immediately` are refused in strict mode and read as `ack`, `maxEvents` and
    /// `returnImmediately` in legacy mode (TV-NEG-27); `acks` is merged with any `ack`.
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "poll request")?;
        let mut legacy_ack: Vec<Jti> = Vec::new();
        for (legacy, current) in LEGACY_POLL_MEMBERS {
            if !map.contains_key(*legacy) {
                continue;
            }
            if !mode.is_legacy() {
                return Err(BodyError::LegacyMember {
                    member: legacy,
                    replacement: current,
                });
            }
            if *legacy == "acks" {
                legacy_ack = body::take(&mut map, "acks")?.unwrap_or_default();
            } else if !map.contains_key(*current)
                && let Some(v) = map.remove(*legacy)
            {
                map.insert((*current).to_owned(), v);
            }
        }
        let mut ack: Vec<Jti> = body::take(&mut map, "ack")?.unwrap_or_default();
        for jti in legacy_ack {
            if !ack.contains(&jti) {
                ack.push(jti);
            }
        }
        let set_errs = match map.remove("setErrs") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(errs)) => {
                let mut out = BTreeMap::new();
                for (jti, e) in errs {
                    out.insert(Jti::new(jti), PushErrorBody::from_json(&e, mode)?);
                }
                out
            }
            Some(_) => return Err(BodyError::NotAnObject("setErrs")),
        };
        Ok(Self {
            max_events: body::take(&mut map, "maxEvents")?,
            return_immediately: body::take(&mut map, "returnImmediately")?,
            ack,
            set_errs,
            extra: body::rest(map),
        })
    }

    /// Parses JSON bytes; see [`Self::from_json`].
    pub fn from_slice(bytes: &[u8], mode: ParseMode) -> Result<Self, BodyError> {
        Self::from_json(&body::parse_bytes(bytes)?, mode)
    }
}

/// A poll response body (RFC 8936 §2.3, POLL-04): `sets` always present, `moreAvailable`
/// omitted when `false`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct PollResponse {
    /// `sets`: `jti` -> SET in compact serialization.
    pub sets: BTreeMap<Jti, String>,
    /// `moreAvailable` (absent means `false`).
    #[serde(rename = "moreAvailable", skip_serializing_if = "std::ops::Not::not")]
    pub more_available: bool,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(PollResponse);

impl PollResponse {
    /// A response carrying `sets`.
    pub fn new(sets: BTreeMap<Jti, String>, more_available: bool) -> Self {
        Self {
            sets,
            more_available,
            extra: Extra::new(),
        }
    }

    /// `{"sets":{}}`: nothing pending, a long-poll timeout, or a paused stream (POLL-07, 20).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a poll response; `sets` must be an object of strings.
    pub fn from_json(value: &Value, _mode: ParseMode) -> Result<Self, BodyError> {
        let mut map: Map<String, Value> = body::object(value, "poll response")?;
        Ok(Self {
            sets: body::require(&mut map, "sets")?,
            more_available: body::take(&mut map, "moreAvailable")?.unwrap_or(false),
            extra: body::rest(map),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_body_is_a_long_poll_poll_03() {
        let r = PollRequest::from_json(&json!({}), ParseMode::Strict).unwrap();
        assert!(!r.returns_immediately() && !r.is_ack_only() && r.max_events.is_none());
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({}));
    }

    #[test]
    fn bad_bodies_are_refused_poll_03() {
        for bad in [
            json!([]),
            json!({"maxEvents": -1}),
            json!({"maxEvents": 1.5}),
            json!({"ack": "x"}),
            json!({"setErrs": []}),
            json!({"setErrs": {"j": {"description": "no err"}}}),
            json!({"returnImmediately": "yes"}),
        ] {
            assert!(
                PollRequest::from_json(&bad, ParseMode::Strict).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn legacy_member_names_only_in_legacy_mode() {
        let v = json!({"ack": ["a"], "acks": ["a", "b"], "max_events": 0});
        assert!(matches!(
            PollRequest::from_json(&v, ParseMode::Strict),
            Err(BodyError::LegacyMember { .. })
        ));
        let r = PollRequest::from_json(&v, ParseMode::Legacy).unwrap();
        assert_eq!(r.ack, vec![Jti::new("a"), Jti::new("b")]);
        assert!(r.is_ack_only());
    }

    #[test]
    fn more_available_is_omitted_when_false_poll_04() {
        assert_eq!(
            serde_json::to_value(PollResponse::empty()).unwrap(),
            json!({"sets": {}})
        );
        assert!(PollResponse::from_json(&json!({}), ParseMode::Strict).is_err());
        assert!(PollResponse::from_json(&json!({"sets": {"j": 1}}), ParseMode::Strict).is_err());
    }
}
