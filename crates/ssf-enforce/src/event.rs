//! The engine's input: one verified event of one SET, typed enough for the rules.
//!
//! The receiver verifies the SET and builds an [`EnforcementEvent`] per member of `events`, plus
//! one [`EventContext`] for the SET. The subject stays the raw `sub_id` JSON because how it maps to
//! handles depends on the event type and the transmitter's policy (e.g. a top-level `opaque`
//! subject is a session for CAEP `session-revoked`, TV-CAEP-01).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ssf_types::{ParseMode, SetClaims, SubjectId, event::Event, time::is_probably_millis};

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

/// Event-type URI prefix of CAEP 1.0 events ([CAEP §3](https://openid.net/specs/openid-caep-1_0.html#section-3)).
pub const CAEP_PREFIX: &str = "https://schemas.openid.net/secevent/caep/event-type/";
/// Event-type URI prefix of RISC 1.0 events ([RISC §2](https://openid.net/specs/openid-risc-1_0.html#section-2)).
pub const RISC_PREFIX: &str = "https://schemas.openid.net/secevent/risc/event-type/";

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

/// One verified event.
#[derive(Debug, Clone, PartialEq)]
pub struct EnforcementEvent {
    /// The event-type URI as received.
    pub event_type: String,
    /// The SET's `sub_id` (or, in legacy mode, the event's `subject`).
    pub sub_id: Value,
    /// `event_timestamp` in epoch milliseconds, when present
    /// ([CAEP §2](https://openid.net/specs/openid-caep-1_0.html#section-2)).
    pub event_timestamp_ms: Option<i64>,
    /// The typed event body.
    pub kind: EventKind,
}

/// The CAEP 1.0 and RISC 1.0 events the engine knows, with the members its rules read.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// [CAEP §3.1](https://openid.net/specs/openid-caep-1_0.html#section-3.1) `session-revoked`.
    SessionRevoked,
    /// [CAEP §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2) `token-claims-change`.
    TokenClaimsChange {
        /// The claims and their new values; `null` removes a claim.
        claims: Map<String, Value>,
    },
    /// [CAEP §3.3](https://openid.net/specs/openid-caep-1_0.html#section-3.3) `credential-change`.
    CredentialChange {
        /// `password`, `pin`, `x509`, `fido2-platform`, ... or a bilateral value.
        credential_type: String,
        /// `create`, `revoke`, `update` or `delete`.
        change_type: String,
    },
    /// [CAEP §3.4](https://openid.net/specs/openid-caep-1_0.html#section-3.4) `assurance-level-change`.
    AssuranceLevelChange {
        /// E.g. `NIST-AAL`, `RFC8176`, or a bilateral alias.
        namespace: String,
        /// The new level, e.g. `nist-aal2`.
        current_level: String,
        /// The old level; unknown when absent.
        previous_level: Option<String>,
    },
    /// [CAEP §3.5](https://openid.net/specs/openid-caep-1_0.html#section-3.5) `device-compliance-change`.
    DeviceComplianceChange {
        /// `compliant` or `not-compliant`.
        current_status: String,
        /// The old status.
        previous_status: Option<String>,
    },
    /// [CAEP §3.6](https://openid.net/specs/openid-caep-1_0.html#section-3.6) `session-established`.
    SessionEstablished {
        /// Authentication context class.
        acr: Option<String>,
        /// Authentication methods.
        amr: Vec<String>,
        /// User-agent fingerprint.
        fp_ua: Option<String>,
        /// External session id.
        ext_id: Option<String>,
    },
    /// [CAEP §3.7](https://openid.net/specs/openid-caep-1_0.html#section-3.7) `session-presented`.
    SessionPresented {
        /// User-agent fingerprint.
        fp_ua: Option<String>,
        /// External session id.
        ext_id: Option<String>,
    },
    /// [CAEP §3.8](https://openid.net/specs/openid-caep-1_0.html#section-3.8) `risk-level-change`.
    RiskLevelChange {
        /// `USER`, `DEVICE`, `SESSION`, ...
        principal: String,
        /// `LOW`, `MEDIUM` or `HIGH`.
        current_level: String,
        /// The old level; unknown when absent.
        previous_level: Option<String>,
    },
    /// [RISC §2.1](https://openid.net/specs/openid-risc-1_0.html#section-2.1).
    AccountCredentialChangeRequired,
    /// [RISC §2.2](https://openid.net/specs/openid-risc-1_0.html#section-2.2).
    AccountPurged,
    /// [RISC §2.3](https://openid.net/specs/openid-risc-1_0.html#section-2.3).
    AccountDisabled {
        /// `hijacking` or `bulk-account`.
        reason: Option<String>,
    },
    /// [RISC §2.4](https://openid.net/specs/openid-risc-1_0.html#section-2.4).
    AccountEnabled,
    /// [RISC §2.5](https://openid.net/specs/openid-risc-1_0.html#section-2.5): the subject names
    /// the old identifier.
    IdentifierChanged {
        /// `new-value`.
        new_value: Option<String>,
    },
    /// [RISC §2.6](https://openid.net/specs/openid-risc-1_0.html#section-2.6).
    IdentifierRecycled,
    /// [RISC §2.7](https://openid.net/specs/openid-risc-1_0.html#section-2.7).
    CredentialCompromise {
        /// The compromised credential's type.
        credential_type: String,
    },
    /// [RISC §2.8.1](https://openid.net/specs/openid-risc-1_0.html#section-2.8.1).
    OptIn,
    /// [RISC §2.8.2](https://openid.net/specs/openid-risc-1_0.html#section-2.8.2).
    OptOutInitiated,
    /// [RISC §2.8.3](https://openid.net/specs/openid-risc-1_0.html#section-2.8.3).
    OptOutCancelled,
    /// [RISC §2.8.4](https://openid.net/specs/openid-risc-1_0.html#section-2.8.4).
    OptOutEffective,
    /// [RISC §2.9](https://openid.net/specs/openid-risc-1_0.html#section-2.9).
    RecoveryActivated,
    /// [RISC §2.10](https://openid.net/specs/openid-risc-1_0.html#section-2.10).
    RecoveryInformationChanged,
    /// [RISC §2.11](https://openid.net/specs/openid-risc-1_0.html#section-2.11) (deprecated).
    SessionsRevoked,
    /// Any other event type (SSF verification, stream-updated, proprietary): no effect (D-05).
    Other,
}

fn opt_str(body: &Map<String, Value>, name: &str) -> Option<String> {
    match body.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn req_str(body: &Map<String, Value>, name: &str) -> Result<String, EnforceError> {
    opt_str(body, name).ok_or(EnforceError::InvalidEvent(
        "a required event member is missing",
    ))
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
    /// Reads one member of a SET's `events`: its URI, its body and the SET's `sub_id`.
    /// A legacy in-event `subject` stands in when `sub_id` is `null` (SSF §3.1.1, D-19).
    pub fn from_json(event_type: &str, body: &Value, sub_id: &Value) -> Result<Self, EnforceError> {
        let empty = Map::new();
        let b = body.as_object().unwrap_or(&empty);
        let sub_id = match (sub_id, b.get("subject")) {
            (Value::Null, Some(s)) => s.clone(),
            (s, _) => s.clone(),
        };
        let event_timestamp_ms = b.get("event_timestamp").and_then(timestamp_ms);
        let kind = if let Some(name) = event_type.strip_prefix(CAEP_PREFIX) {
            Self::caep_kind(name, b)?
        } else if let Some(name) = event_type.strip_prefix(RISC_PREFIX) {
            Self::risc_kind(name, b)?
        } else {
            EventKind::Other
        };
        Ok(Self {
            event_type: event_type.to_owned(),
            sub_id,
            event_timestamp_ms,
            kind,
        })
    }

    fn caep_kind(name: &str, b: &Map<String, Value>) -> Result<EventKind, EnforceError> {
        Ok(match name {
            "session-revoked" => EventKind::SessionRevoked,
            "token-claims-change" => match b.get("claims") {
                Some(Value::Object(claims)) => EventKind::TokenClaimsChange {
                    claims: claims.clone(),
                },
                _ => return Err(EnforceError::InvalidEvent("claims is not an object")),
            },
            "credential-change" => EventKind::CredentialChange {
                credential_type: req_str(b, "credential_type")?,
                change_type: req_str(b, "change_type")?,
            },
            "assurance-level-change" => EventKind::AssuranceLevelChange {
                namespace: req_str(b, "namespace")?,
                current_level: req_str(b, "current_level")?,
                previous_level: opt_str(b, "previous_level"),
            },
            "device-compliance-change" => EventKind::DeviceComplianceChange {
                current_status: req_str(b, "current_status")?,
                previous_status: opt_str(b, "previous_status"),
            },
            "session-established" => EventKind::SessionEstablished {
                acr: opt_str(b, "acr"),
                amr: match b.get("amr") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                },
                fp_ua: opt_str(b, "fp_ua"),
                ext_id: opt_str(b, "ext_id"),
            },
            "session-presented" => EventKind::SessionPresented {
                fp_ua: opt_str(b, "fp_ua"),
                ext_id: opt_str(b, "ext_id"),
            },
            "risk-level-change" => EventKind::RiskLevelChange {
                principal: req_str(b, "principal")?,
                current_level: req_str(b, "current_level")?,
                previous_level: opt_str(b, "previous_level"),
            },
            _ => EventKind::Other,
        })
    }

    fn risc_kind(name: &str, b: &Map<String, Value>) -> Result<EventKind, EnforceError> {
        Ok(match name {
            "account-credential-change-required" => EventKind::AccountCredentialChangeRequired,
            "account-purged" => EventKind::AccountPurged,
            "account-disabled" => EventKind::AccountDisabled {
                reason: opt_str(b, "reason"),
            },
            "account-enabled" => EventKind::AccountEnabled,
            "identifier-changed" => EventKind::IdentifierChanged {
                new_value: opt_str(b, "new-value"),
            },
            "identifier-recycled" => EventKind::IdentifierRecycled,
            "credential-compromise" => EventKind::CredentialCompromise {
                credential_type: req_str(b, "credential_type")?,
            },
            "opt-in" => EventKind::OptIn,
            "opt-out-initiated" => EventKind::OptOutInitiated,
            "opt-out-cancelled" => EventKind::OptOutCancelled,
            "opt-out-effective" => EventKind::OptOutEffective,
            "recovery-activated" => EventKind::RecoveryActivated,
            "recovery-information-changed" => EventKind::RecoveryInformationChanged,
            "sessions-revoked" => EventKind::SessionsRevoked,
            _ => EventKind::Other,
        })
    }

    /// The engine's view of an `ssf-types` event about `subject` (the SET's
    /// [`SetClaims::subject`]).
    pub fn from_typed(event: &Event, subject: &SubjectId) -> Result<Self, EnforceError> {
        Self::from_json(
            event.uri().as_str(),
            &Value::Object(event.to_json()),
            &Value::Object(subject.to_json()),
        )
    }

    /// The event time in epoch ms: `event_timestamp`, else the SET `toe`, else its `iat`.
    pub fn time_ms(&self, ctx: &EventContext) -> i64 {
        self.event_timestamp_ms
            .unwrap_or_else(|| ctx.toe.unwrap_or(ctx.iat).saturating_mul(1000))
    }
}

/// The context and events of a parsed SET: each event is checked by [`Event::parse`] in `mode`
/// and then mapped with [`EnforcementEvent::from_typed`].
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
            EnforcementEvent::from_typed(&event, &subject)
        })
        .collect::<Result<_, _>>()?;
    Ok((EventContext::from_set(set), events))
}

/// Reads a whole (already verified) SET payload: its context and one event per `events` member.
/// Convenient for tests and tools; the receiver may build the values from its own types instead.
pub fn events_from_set(
    payload: &Value,
) -> Result<(EventContext, Vec<EnforcementEvent>), EnforceError> {
    let Value::Object(p) = payload else {
        return Err(EnforceError::InvalidEvent(
            "the SET payload is not an object",
        ));
    };
    let ctx = EventContext {
        iss: req_str(p, "iss")?,
        jti: req_str(p, "jti")?,
        txn: match p.get("txn") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        iat: p
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(EnforceError::InvalidEvent("iat is missing"))?,
        toe: p.get("toe").and_then(Value::as_i64),
        stream_id: None,
    };
    let Some(Value::Object(events)) = p.get("events") else {
        return Err(EnforceError::InvalidEvent("events is not an object"));
    };
    let sub_id = p.get("sub_id").cloned().unwrap_or(Value::Null);
    let events = events
        .iter()
        .map(|(uri, body)| EnforcementEvent::from_json(uri, body, &sub_id))
        .collect::<Result<_, _>>()?;
    Ok((ctx, events))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
            matches!(events[0].kind, EventKind::CredentialChange { ref change_type, .. } if change_type == "create")
        );
    }

    #[test]
    fn missing_required_members_are_errors_and_unknown_types_are_other() {
        let sub = json!({"format": "opaque", "id": "x"});
        let e = EnforcementEvent::from_json(
            &format!("{CAEP_PREFIX}credential-change"),
            &json!({}),
            &sub,
        );
        assert!(e.is_err());
        let e = EnforcementEvent::from_json("urn:example:custom", &json!({}), &sub).unwrap();
        assert_eq!(e.kind, EventKind::Other);
        let legacy = EnforcementEvent::from_json(
            &format!("{RISC_PREFIX}account-enabled"),
            &json!({"subject": {"format": "email", "email": "a@b"}}),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(legacy.sub_id["email"], "a@b");
    }
}
