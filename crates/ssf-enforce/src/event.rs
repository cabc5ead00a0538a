//! The engine's input: one verified event of one SET, in the vocabulary of `ssf-types`.
//!
//! The receiver verifies the SET and builds an [`EnforcementEvent`] (the typed
//! [`ssf_types::Event`] and the SET's subject) per event, plus one [`EventContext`] for the SET.
//! The rules match the [`Event`] variants directly, so a CAEP or RISC event added to `ssf-types`
//! reaches them without a second list of event types. The subject stays a [`SubjectId`] until
//! planning because how it maps to handles depends on the event type and the transmitter's
//! policy (e.g. a top-level `opaque` subject is a session for CAEP `session-revoked`, TV-CAEP-01).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssf_types::{
    EventType, EventTypeUri, ParseMode, SetClaims, SubjectId, event::Event,
    time::is_probably_millis,
};

use crate::{
    error::EnforceError,
    handle::{SubjectPattern, subject_pattern},
};

/// The pattern of an `ssf-types` subject; `opaque_member` as for [`subject_pattern`].
pub fn pattern_of(
    subject: &SubjectId,
    opaque_member: &str,
) -> Result<SubjectPattern, EnforceError> {
    subject_pattern(&Value::Object(subject.to_json()), opaque_member)
}

/// What the engine needs of the SET around an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventContext {
    /// The SET `iss`; also selects the transmitter's [`EnforcementPolicy`](crate::EnforcementPolicy).
    pub iss: String,
    /// The SET `jti`.
    pub jti: String,
    /// The SET `txn` (a number from legacy peers arrives as its decimal string, D-19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// The SET `iat`, seconds since the epoch.
    pub iat: i64,
    /// The SET `toe` (time of event, RFC 8417 §2.2), seconds, if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toe: Option<i64>,
    /// The transmitter's `stream_id` the SET arrived on
    /// ([SSF 1.0 §8.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.1)),
    /// when the receiver knows it; with `iss` it names the source that
    /// [`GrantAuthority::sources`](crate::GrantAuthority::sources) checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
}

/// One verified event and the subject it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct EnforcementEvent {
    /// The event, typed and checked against its definition by `ssf-types`
    /// ([`Event::parse`]); the rules match its variants.
    pub event: Event,
    /// The SET's subject: `sub_id`, or for a legacy peer the event's `subject`
    /// ([`SetClaims::subject`]).
    pub subject: SubjectId,
}

/// A NumericDate in seconds, or milliseconds from legacy peers (> 10^11, checklist D-19, CAEP-06),
/// as epoch milliseconds.
pub fn timestamp_ms(value: &Value) -> Option<i64> {
    let n = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    })?;
    Some(if is_probably_millis(n) {
        n
    } else {
        n.saturating_mul(1000)
    })
}

impl EventContext {
    /// The context of a parsed SET.
    pub fn from_set(set: &SetClaims) -> Self {
        Self {
            iss: set.iss.as_str().to_owned(),
            jti: set.jti.as_str().to_owned(),
            txn: set.txn.as_ref().map(|t| t.as_text().into_owned()),
            iat: set.iat,
            toe: set.toe,
            stream_id: None,
        }
    }

    /// With the transmitter's `stream_id` the SET arrived on.
    #[must_use]
    pub fn with_stream_id(mut self, stream_id: Option<String>) -> Self {
        self.stream_id = stream_id;
        self
    }
}

impl EnforcementEvent {
    /// `event` about `subject`.
    pub fn new(event: Event, subject: SubjectId) -> Self {
        Self { event, subject }
    }

    /// Parses one member of a SET's `events` with `ssf-types` in `mode`: its URI, its body and
    /// the SET's `sub_id` ([`Event::parse`], [`SubjectId::from_json`]). A legacy in-event
    /// `subject` stands in when `sub_id` is `null` (SSF §3.1.1, D-19). For tests and tools; the
    /// receiver hands over what its verifier typed.
    pub fn parse(
        event_type: &str,
        body: &Value,
        sub_id: &Value,
        mode: ParseMode,
    ) -> Result<Self, EnforceError> {
        let event = Event::parse(&EventTypeUri::new(event_type), body, mode)
            .map_err(|_| EnforceError::InvalidEvent("the event does not match its definition"))?;
        let sub_id = match (sub_id, body.get("subject")) {
            (Value::Null, Some(s)) => s,
            (s, _) => s,
        };
        let subject = SubjectId::from_json(sub_id, mode)
            .map_err(|_| EnforceError::InvalidEvent("the subject is not a valid subject"))?;
        Ok(Self::new(event, subject))
    }

    /// The event type (the final 1.0 URI for the types `ssf-types` knows), as causes and audit
    /// entries name it.
    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }

    /// `event_timestamp` in epoch milliseconds, when present
    /// ([CAEP §2](https://openid.net/specs/openid-caep-1_0.html#section-2)): the one the event's
    /// definition names, else one sent as an unknown member (e.g. on RISC events).
    pub fn event_timestamp_ms(&self) -> Option<i64> {
        match self.event.event_timestamp() {
            Some(ts) => timestamp_ms(&Value::from(ts)),
            None => self
                .event
                .unknown_member("event_timestamp")
                .and_then(timestamp_ms),
        }
    }

    /// The event time in epoch ms: `event_timestamp`, else the SET `toe`, else its `iat`.
    pub fn time_ms(&self, ctx: &EventContext) -> i64 {
        self.event_timestamp_ms()
            .unwrap_or_else(|| ctx.toe.unwrap_or(ctx.iat).saturating_mul(1000))
    }
}

/// The context and events of a parsed SET: each event is checked by [`Event::parse`] in `mode`,
/// about the SET's [`subject`](SetClaims::subject).
pub fn events_from_claims(
    set: &SetClaims,
    mode: ParseMode,
) -> Result<(EventContext, Vec<EnforcementEvent>), EnforceError> {
    let subject = set
        .subject()
        .ok_or(EnforceError::InvalidEvent("the SET has no subject"))?;
    let events = set
        .events
        .iter()
        .map(|(uri, body)| {
            let event = Event::parse(uri, &Value::Object(body.clone()), mode).map_err(|_| {
                EnforceError::InvalidEvent("the event does not match its definition")
            })?;
            Ok(EnforcementEvent::new(event, subject.clone().into_owned()))
        })
        .collect::<Result<_, _>>()?;
    Ok((EventContext::from_set(set), events))
}

/// Reads a whole (already verified) SET payload: its context and one event per `events` member,
/// parsed by `ssf-types` in [`ParseMode::Legacy`] (which also takes what draft-era peers send).
/// Convenient for tests and tools; the receiver hands over what its verifier typed.
pub fn events_from_set(
    payload: &Value,
) -> Result<(EventContext, Vec<EnforcementEvent>), EnforceError> {
    let set = SetClaims::from_json(payload, ParseMode::Legacy)
        .map_err(|_| EnforceError::InvalidEvent("the SET payload does not have the SSF shape"))?;
    events_from_claims(&set, ParseMode::Legacy)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use ssf_types::EventType;

    use super::*;

    #[test]
    fn typed_subjects_map_like_their_json() {
        let complex = SubjectId::from(
            ssf_types::ComplexSubject::new()
                .with("user", SubjectId::email("Jane@Example.com"))
                .with("session", SubjectId::opaque("s1")),
        );
        let p = pattern_of(&complex, "user").unwrap();
        assert_eq!(
            p.canonical(),
            "session|opaque|s1&user|email|jane@example.com"
        );
    }

    #[test]
    fn timestamps_in_seconds_and_legacy_millis() {
        assert_eq!(timestamp_ms(&json!(1615304991)), Some(1_615_304_991_000));
        assert_eq!(
            timestamp_ms(&json!(1615304991123_i64)),
            Some(1_615_304_991_123)
        );
        assert_eq!(timestamp_ms(&json!(1.5)), Some(1000));
        assert_eq!(timestamp_ms(&json!("x")), None);
    }

    #[test]
    fn reads_a_caep_set() {
        // TV-CAEP-07
        let (ctx, events) = events_from_set(&json!({
            "iss": "https://idp.example.com/3456789/", "jti": "07ef", "iat": 1615305159, "txn": 8675309,
            "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/3456789/", "sub": "jane"},
            "events": {"https://schemas.openid.net/secevent/caep/event-type/credential-change":
                {"credential_type": "fido2-roaming", "change_type": "create", "event_timestamp": 1615304991}}
        }))
        .unwrap();
        assert_eq!(ctx.txn.as_deref(), Some("8675309"));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].time_ms(&ctx), 1_615_304_991_000);
        assert!(
            matches!(&events[0].event, Event::CredentialChange(c) if c.change_type.as_str() == "create")
        );
    }

    #[test]
    fn missing_required_members_are_errors_and_unknown_types_are_kept() {
        let sub = json!({"format": "opaque", "id": "x"});
        let uri = EventType::CredentialChange.as_str();
        let e = EnforcementEvent::parse(uri, &json!({}), &sub, ParseMode::Strict);
        assert!(e.is_err());
        let e = EnforcementEvent::parse("urn:example:custom", &json!({}), &sub, ParseMode::Strict)
            .unwrap();
        assert!(matches!(e.event, Event::Unknown { .. }));
        assert_eq!(e.event_type().as_str(), "urn:example:custom");
        let legacy = EnforcementEvent::parse(
            EventType::AccountEnabled.as_str(),
            &json!({"subject": {"format": "email", "email": "a@b"}}),
            &Value::Null,
            ParseMode::Legacy,
        )
        .unwrap();
        assert_eq!(legacy.subject, SubjectId::email("a@b"));
    }

    #[test]
    fn event_timestamp_of_events_that_define_none_is_read_too() {
        // RISC account-disabled defines no event_timestamp; a peer's is still the event time.
        let sub = json!({"format": "email", "email": "a@b"});
        let e = EnforcementEvent::parse(
            EventType::AccountDisabled.as_str(),
            &json!({"reason": "hijacking", "event_timestamp": 1_615_304_991}),
            &sub,
            ParseMode::Strict,
        )
        .unwrap();
        assert_eq!(e.event_timestamp_ms(), Some(1_615_304_991_000));
        let e = EnforcementEvent::parse(
            EventType::SessionRevoked.as_str(),
            &json!({"event_timestamp": 1_615_304_991_123_i64}),
            &sub,
            ParseMode::Strict,
        )
        .unwrap();
        assert_eq!(e.event_timestamp_ms(), Some(1_615_304_991_123));
    }
}
