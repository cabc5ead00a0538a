//! The claims of a Security Event Token ([RFC 8417 §2.2], profiled by
//! [SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)).
//!
//! - Receivers: [`SetClaims::from_json`] / [`SetClaims::from_slice`] check the shape rules of a SET
//!   payload (SSF-RXV-06, SSF-RXV-07, one event) and keep every unknown claim, so re-serializing
//!   gives the same JSON. The JOSE layer checks the header, the signature, `iss`/`aud` values and
//!   the absence of `sub`/`exp` ([`SetClaims::forbidden_claims`] helps with the last).
//! - Transmitters: [`SetClaims::builder`] always produces the final 1.0 format: `sub_id`, one
//!   event, string `txn`, no `sub`/`exp`.
//!
//! [RFC 8417 §2.2]: https://www.rfc-editor.org/rfc/rfc8417#section-2.2

mod builder;

use std::{borrow::Cow, collections::BTreeMap};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

pub use self::builder::SetBuilder;
pub use crate::mode::ParseMode;
use crate::{
    error::SetShapeError,
    event::Event,
    ids::{EventTypeUri, Issuer, Jti},
    subject::SubjectId,
};

/// The JOSE `typ` of an SSF SET (SSF 1.0 §4.1.1, SSF-SET-01/02): emit this short form.
pub const SECEVENT_TYP: &str = "secevent+jwt";
/// The media type of a SET (RFC 8417 §7.2); the push `Content-Type` (RFC 8935 §2.1, PUSH-02).
pub const SECEVENT_MEDIA_TYPE: &str = "application/secevent+jwt";

/// Whether a JOSE `typ` names a SET: `secevent+jwt` or `application/secevent+jwt`, compared
/// case-insensitively (SSF-RXV-05, TV-HDR-01/02, TV-NEG-24).
pub fn is_secevent_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(SECEVENT_TYP) || typ.eq_ignore_ascii_case(SECEVENT_MEDIA_TYPE)
}

/// The claims a receiver must not see in an SSF SET (SSF 1.0 §4.1.2/§4.1.3, SSF-SET-13/14,
/// SSF-RXV-08, D-07).
pub const FORBIDDEN_CLAIMS: &[&str] = &["sub", "exp"];

/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3, SSF 1.0 §4.1.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", "y"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `value` is one of the audiences (exact string comparison).
    pub fn contains(&self, value: &str) -> bool {
        self.iter().any(|a| a == value)
    }

    /// Every audience value.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        };
        slice.iter().map(String::as_str)
    }

    /// Whether both name the same set of values, whatever the form (`"x"` equals `["x"]`); how a
    /// transmitter compares a PATCH/PUT `aud` with the stream's (SSF-STREAM-36).
    pub fn same_values(&self, other: &Self) -> bool {
        self.iter().all(|a| other.contains(a)) && other.iter().all(|a| self.contains(a))
    }
}

impl From<&str> for Audience {
    fn from(s: &str) -> Self {
        Self::One(s.to_owned())
    }
}

impl From<String> for Audience {
    fn from(s: String) -> Self {
        Self::One(s)
    }
}

impl From<Vec<String>> for Audience {
    fn from(v: Vec<String>) -> Self {
        Self::Many(v)
    }
}

/// The `txn` claim (SSF 1.0 §4.1.9): a string; numbers from ID2/ID3-era peers are accepted and
/// kept as they came (D-19, TV-NEG-11). [`SetClaims::builder`] only emits strings (SSF-SET-10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Txn {
    /// The final form.
    String(String),
    /// A legacy numeric `txn`.
    Number(Number),
}

impl Txn {
    /// The value as text (a number in its JSON spelling).
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Self::String(s) => Cow::Borrowed(s),
            Self::Number(n) => Cow::Owned(n.to_string()),
        }
    }
}

/// The claims of an SSF SET. Unknown claims are kept in `extra` and serialized back, so a parse
/// followed by a serialization is lossless (SSF-RXV-15).
///
/// Build with [`SetClaims::builder`] (transmitters) or [`SetClaims::from_json`] (receivers).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SetClaims {
    /// `iss` (SSF-SET-03).
    pub iss: Issuer,
    /// `iat`, NumericDate in integer seconds (SSF-SET-04).
    pub iat: i64,
    /// `jti` (SSF-SET-05).
    pub jti: Jti,
    /// `aud` (SSF-SET-07); its absence is the JOSE layer's `invalid_audience`, not a shape error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// `txn` (SSF-SET-10/11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<Txn>,
    /// `toe`, time of event, NumericDate (RFC 8417 §2.2, SSF-SET-18).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toe: Option<i64>,
    /// `sub_id` (SSF-SET-12). Always present after a strict parse; absent only when a legacy
    /// parse found the subject inside the event (see [`SetClaims::subject`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_id: Option<SubjectId>,
    /// `events`: event-type URI -> event object (exactly one after [`SetClaims::from_json`]).
    pub events: BTreeMap<EventTypeUri, Map<String, Value>>,
    /// Every other claim, kept verbatim (including `sub`/`exp` if a peer sent them).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl SetClaims {
    /// Starts a SET for a transmitter; see [`SetBuilder`].
    pub fn builder(iss: Issuer, jti: Jti, iat: i64, sub_id: SubjectId) -> SetBuilder {
        SetBuilder::new(iss, jti, iat, sub_id)
    }

    /// Parses SET claims from JSON bytes; see [`Self::from_json`]. Duplicate member names resolve
    /// to the last one, which RFC 7519 §4 allows.
    pub fn from_slice(bytes: &[u8], mode: ParseMode) -> Result<Self, SetShapeError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| SetShapeError::InvalidJson(e.into()))?;
        Self::from_json(&value, mode)
    }

    /// Parses SET claims and checks the shape a receiver enforces:
    /// - `iss`, `jti` strings and `iat` an integer are present; `aud` a string or array of
    ///   strings, `txn` a string or number, `toe` an integer when present;
    /// - `events` present, an object, with exactly one member whose value is an object
    ///   (SSF-RXV-06, SSF-SET-15..17, TV-NEG-04, TV-NEG-05). In legacy mode several members are
    ///   accepted only when they are alternative URIs of one event type (SSF 1.0 §4.2.1);
    /// - `sub_id` present and structurally valid (SSF-RXV-07, TV-NEG-01), or, in legacy mode only,
    ///   a valid `subject` inside the event (TV-NEG-12, D-19), or no subject at all for an ID1
    ///   verification or stream-updated event (checklist section 13).
    ///
    /// Not checked here: `sub`/`exp` (the JOSE layer, see [`Self::forbidden_claims`]), the
    /// event's own fields ([`SetClaims::event`]), signature, issuer and audience values.
    pub fn from_json(value: &Value, mode: ParseMode) -> Result<Self, SetShapeError> {
        let obj = value.as_object().ok_or(SetShapeError::NotAnObject)?;
        let mut claims: BTreeMap<String, Value> =
            obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect();

        let events = take_events(&mut claims, mode)?;
        let iss = Issuer::new(take_string(&mut claims, "iss")?);
        let jti = Jti::new(take_string(&mut claims, "jti")?);
        let iat = take_int(&mut claims, "iat")?.ok_or(SetShapeError::MissingClaim("iat"))?;
        let toe = take_int(&mut claims, "toe")?;
        let aud = match claims.remove("aud") {
            None => None,
            Some(v) => Some(serde_json::from_value::<Audience>(v).map_err(|_| {
                SetShapeError::WrongClaimType {
                    claim: "aud",
                    expected: "a string or an array of strings",
                }
            })?),
        };
        let txn = match claims.remove("txn") {
            None => None,
            Some(Value::String(s)) => Some(Txn::String(s)),
            Some(Value::Number(n)) => Some(Txn::Number(n)),
            Some(_) => {
                return Err(SetShapeError::WrongClaimType {
                    claim: "txn",
                    expected: "a string",
                });
            }
        };
        let sub_id = match claims.remove("sub_id") {
            Some(v) => Some(SubjectId::from_json(&v, mode).map_err(SetShapeError::SubId)?),
            None => {
                let legacy = events.values().find_map(|e| e.get("subject"));
                match legacy {
                    // ID1 verification and stream-updated events named no subject at all
                    // (checklist section 13): the stream is the one they arrived on.
                    None if mode.is_legacy() && events.keys().all(is_stream_event) => None,
                    None => return Err(SetShapeError::MissingSubId),
                    Some(_) if !mode.is_legacy() => return Err(SetShapeError::LegacyEventSubject),
                    Some(subject) => {
                        SubjectId::from_json(subject, mode).map_err(SetShapeError::EventSubject)?;
                        None
                    }
                }
            }
        };
        Ok(Self {
            iss,
            iat,
            jti,
            aud,
            txn,
            toe,
            sub_id,
            events,
            extra: claims,
        })
    }

    /// The SET's subject: `sub_id`, or for a legacy peer the `subject` inside the event
    /// (SSF-RXV-19: prefer `sub_id`, fall back only for legacy peers). `None` only for values not
    /// built by [`Self::from_json`] or the builder.
    pub fn subject(&self) -> Option<Cow<'_, SubjectId>> {
        if let Some(sub_id) = &self.sub_id {
            return Some(Cow::Borrowed(sub_id));
        }
        let subject = self.events.values().find_map(|e| e.get("subject"))?;
        SubjectId::from_json(subject, ParseMode::Legacy)
            .ok()
            .map(Cow::Owned)
    }

    /// The event-type URI of the (single) event.
    pub fn event_type(&self) -> Option<&EventTypeUri> {
        self.events.keys().next()
    }

    /// The (single) event, typed and checked against its definition ([`Event::parse`]); errors
    /// come as [`SetShapeError::Event`] so they map to `invalid_request` too. With several
    /// alternative URIs (legacy mode) the first in URI order is used.
    pub fn event(&self, mode: ParseMode) -> Result<Event, SetShapeError> {
        let (uri, body) = self.events.iter().next().ok_or(SetShapeError::NoEvents)?;
        let body = Value::Object(body.clone());
        Event::parse(uri, &body, mode).map_err(|source| SetShapeError::Event {
            uri: uri.to_string(),
            source,
        })
    }

    /// The claims of [`FORBIDDEN_CLAIMS`] (`sub`, `exp`) present in this SET; a receiver rejects a
    /// SET for which this is not empty unless the peer is allowed to send them (SSF-RXV-08, D-07,
    /// TV-NEG-02, TV-NEG-03).
    pub fn forbidden_claims(&self) -> Vec<&'static str> {
        FORBIDDEN_CLAIMS
            .iter()
            .copied()
            .filter(|c| self.extra.contains_key(*c))
            .collect()
    }

    /// The claims as a JSON value.
    pub fn to_json(&self) -> Value {
        // Serializing plain data into a `Value` cannot fail: every map key is a string.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Strict parsing ([`SetClaims::from_json`] with [`ParseMode::Strict`]).
impl<'de> Deserialize<'de> for SetClaims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_json(&value, ParseMode::Strict).map_err(serde::de::Error::custom)
    }
}

/// A verification or stream-updated event URI, final or ID1 (`…/sse/event-type/…`).
fn is_stream_event(uri: &EventTypeUri) -> bool {
    matches!(
        crate::EventType::from(uri).canonical(),
        crate::EventType::Verification | crate::EventType::StreamUpdated
    )
}

fn take_events(
    claims: &mut BTreeMap<String, Value>,
    mode: ParseMode,
) -> Result<BTreeMap<EventTypeUri, Map<String, Value>>, SetShapeError> {
    let events = match claims.remove("events") {
        None => return Err(SetShapeError::MissingEvents),
        Some(Value::Object(events)) => events,
        Some(_) => return Err(SetShapeError::EventsNotObject),
    };
    if events.is_empty() {
        return Err(SetShapeError::NoEvents);
    }
    let mut out = BTreeMap::new();
    for (uri, event) in events {
        match event {
            Value::Object(event) => {
                out.insert(EventTypeUri::new(uri), event);
            }
            _ => return Err(SetShapeError::EventNotObject(uri)),
        }
    }
    if out.len() > 1 && !(mode.is_legacy() && crate::event::are_alternative_uris(out.keys())) {
        return Err(SetShapeError::MultipleEvents(out.len()));
    }
    Ok(out)
}

fn take_string(
    claims: &mut BTreeMap<String, Value>,
    claim: &'static str,
) -> Result<String, SetShapeError> {
    match claims.remove(claim) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(SetShapeError::WrongClaimType {
            claim,
            expected: "a string",
        }),
        None => Err(SetShapeError::MissingClaim(claim)),
    }
}

fn take_int(
    claims: &mut BTreeMap<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, SetShapeError> {
    match claims.remove(claim) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(SetShapeError::WrongClaimType {
            claim,
            expected: "an integer NumericDate (seconds)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "iss": "https://tx.example", "jti": "j1", "iat": 1_700_000_000, "aud": "rx",
            "sub_id": {"format": "opaque", "id": "s1"},
            "events": {"https://schemas.openid.net/secevent/ssf/event-type/verification": {}}
        })
    }

    fn with(mut v: Value, key: &str, new: Value) -> Value {
        v[key] = new;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn shape_errors_ssf_rxv_06() {
        let strict = |v: Value| SetClaims::from_json(&v, ParseMode::Strict);
        assert_eq!(
            strict(without(minimal(), "events")),
            Err(SetShapeError::MissingEvents)
        );
        assert_eq!(
            strict(with(minimal(), "events", json!([]))),
            Err(SetShapeError::EventsNotObject)
        );
        assert_eq!(
            strict(with(minimal(), "events", json!({}))),
            Err(SetShapeError::NoEvents)
        );
        assert_eq!(
            strict(with(minimal(), "events", json!({"urn:x": 1}))),
            Err(SetShapeError::EventNotObject("urn:x".into()))
        );
        assert_eq!(strict(json!([1])), Err(SetShapeError::NotAnObject));
        assert!(matches!(
            SetClaims::from_slice(b"{not json", ParseMode::Strict),
            Err(SetShapeError::InvalidJson(_))
        ));
    }

    #[test]
    fn claim_types_are_checked() {
        let strict = |v: Value| SetClaims::from_json(&v, ParseMode::Strict);
        assert_eq!(
            strict(without(minimal(), "iss")),
            Err(SetShapeError::MissingClaim("iss"))
        );
        assert_eq!(
            strict(without(minimal(), "jti")),
            Err(SetShapeError::MissingClaim("jti"))
        );
        assert_eq!(
            strict(without(minimal(), "iat")),
            Err(SetShapeError::MissingClaim("iat"))
        );
        assert!(strict(with(minimal(), "iat", json!("1"))).is_err());
        assert!(strict(with(minimal(), "iat", json!(1.5))).is_err());
        assert!(strict(with(minimal(), "aud", json!(3))).is_err());
        assert!(strict(with(minimal(), "aud", json!(["a", 3]))).is_err());
        assert!(strict(with(minimal(), "txn", json!({"a": 1}))).is_err());
        assert!(strict(with(minimal(), "toe", json!("x"))).is_err());
        assert!(
            strict(without(minimal(), "aud")).is_ok(),
            "aud is the JOSE layer's check"
        );
    }

    #[test]
    fn audience_forms_ssf_set_07() {
        let one = Audience::from("a");
        let many = Audience::from(vec!["a".to_owned(), "b".to_owned()]);
        assert!(one.contains("a") && !one.contains("b") && many.contains("b"));
        assert!(one.same_values(&Audience::from(vec!["a".to_owned()])));
        assert!(!one.same_values(&many));
    }

    #[test]
    fn secevent_typ_is_case_insensitive_ssf_rxv_05() {
        assert!(is_secevent_typ("secevent+jwt"));
        assert!(is_secevent_typ("Application/SecEvent+JWT"));
        assert!(!is_secevent_typ("JWT"));
        assert!(!is_secevent_typ(""));
    }

    #[test]
    fn serde_deserialize_is_the_strict_parse() {
        let parsed: SetClaims = serde_json::from_value(minimal()).unwrap();
        assert_eq!(parsed.to_json(), minimal());
        assert!(serde_json::from_value::<SetClaims>(without(minimal(), "sub_id")).is_err());
    }

    #[test]
    fn invalid_sub_id_is_refused_ssf_rxv_07() {
        let v = with(minimal(), "sub_id", json!({"format": "email"}));
        assert!(matches!(
            SetClaims::from_json(&v, ParseMode::Strict),
            Err(SetShapeError::SubId(_))
        ));
        assert_eq!(
            SetShapeError::MissingSubId.err_code(),
            crate::SetErrorCode::InvalidRequest
        );
    }
}
