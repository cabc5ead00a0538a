//! Events: every CAEP 1.0, RISC 1.0 and SSF 1.0 event URI ([`EventType`]) and a typed view of
//! each event object ([`Event`]).
//!
//! - Receivers: [`Event::parse`] checks an event against its definition (required fields, JSON
//!   types, closed enumerations; SSF-RXV-09, CAEP-05) and keeps unknown members. Event types it
//!   does not know become [`Event::Unknown`], never an error (SSF-RXV-16, D-05).
//! - Transmitters: build the typed struct and call [`Event::to_json`] (or
//!   [`SetBuilder::event`](crate::set::SetBuilder::event)).

pub mod caep;
mod common;
pub mod risc;
pub mod ssf;

use serde_json::{Map, Value};

pub use self::{
    caep::{
        AssuranceLevelChange, AssuranceNamespace, ChangeDirection, ChangeType, ComplianceStatus,
        CredentialChange, CredentialType, DeviceComplianceChange, RiskLevel, RiskLevelChange,
        RiskPrincipal, SessionEstablished, SessionPresented, SessionRevoked, TokenClaimsChange,
    },
    common::{CaepCommon, InitiatingEntity, ReasonMap},
    risc::{
        AccountDisabled, AccountDisabledReason, CredentialCompromise, IdentifierChanged,
        RiscSimpleEvent,
    },
    ssf::{StreamUpdated, Verification},
};
use crate::{error::EventError, ids::EventTypeUri, mode::ParseMode, time::is_probably_millis};

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const SSF: &str = "https://schemas.openid.net/secevent/ssf/event-type/";
const SSE: &str = "https://schemas.openid.net/secevent/sse/event-type/";

crate::open_enum! {
    /// An event-type URI (the member names of a SET's `events`, RFC 8417 §2.2): the 8 CAEP 1.0
    /// events ([CAEP §3](https://openid.net/specs/openid-caep-1_0.html#section-3)), the 14 RISC 1.0
    /// events ([RISC §2](https://openid.net/specs/openid-risc-1_0.html#section-2)), the two SSF
    /// events ([SSF 1.0 §8.1.4, §8.1.5](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)),
    /// and the ID1 spellings of the SSF events (recognised only in legacy mode). Any other URI is
    /// `Other` and is never refused (SSF-RXV-16, D-05).
    pub enum EventType {
        /// CAEP `session-revoked` (§3.1).
        SessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
        /// CAEP `token-claims-change` (§3.2).
        TokenClaimsChange = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
        /// CAEP `credential-change` (§3.3).
        CredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change",
        /// CAEP `assurance-level-change` (§3.4).
        AssuranceLevelChange = "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change",
        /// CAEP `device-compliance-change` (§3.5).
        DeviceComplianceChange = "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change",
        /// CAEP `session-established` (§3.6).
        SessionEstablished = "https://schemas.openid.net/secevent/caep/event-type/session-established",
        /// CAEP `session-presented` (§3.7).
        SessionPresented = "https://schemas.openid.net/secevent/caep/event-type/session-presented",
        /// CAEP `risk-level-change` (§3.8).
        RiskLevelChange = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change",
        /// RISC `account-credential-change-required` (§2.1).
        AccountCredentialChangeRequired = "https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required",
        /// RISC `account-purged` (§2.2).
        AccountPurged = "https://schemas.openid.net/secevent/risc/event-type/account-purged",
        /// RISC `account-disabled` (§2.3).
        AccountDisabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
        /// RISC `account-enabled` (§2.4).
        AccountEnabled = "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
        /// RISC `identifier-changed` (§2.5).
        IdentifierChanged = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed",
        /// RISC `identifier-recycled` (§2.6).
        IdentifierRecycled = "https://schemas.openid.net/secevent/risc/event-type/identifier-recycled",
        /// RISC `credential-compromise` (§2.7).
        CredentialCompromise = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
        /// RISC `opt-in` (§2.8.1).
        OptIn = "https://schemas.openid.net/secevent/risc/event-type/opt-in",
        /// RISC `opt-out-initiated` (§2.8.2).
        OptOutInitiated = "https://schemas.openid.net/secevent/risc/event-type/opt-out-initiated",
        /// RISC `opt-out-cancelled` (§2.8.3).
        OptOutCancelled = "https://schemas.openid.net/secevent/risc/event-type/opt-out-cancelled",
        /// RISC `opt-out-effective` (§2.8.4).
        OptOutEffective = "https://schemas.openid.net/secevent/risc/event-type/opt-out-effective",
        /// RISC `recovery-activated` (§2.9).
        RecoveryActivated = "https://schemas.openid.net/secevent/risc/event-type/recovery-activated",
        /// RISC `recovery-information-changed` (§2.10).
        RecoveryInformationChanged = "https://schemas.openid.net/secevent/risc/event-type/recovery-information-changed",
        /// RISC `sessions-revoked` (§2.11), deprecated in favour of CAEP `session-revoked`.
        SessionsRevoked = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
        /// SSF verification (§8.1.4.1).
        Verification = "https://schemas.openid.net/secevent/ssf/event-type/verification",
        /// SSF stream-updated (§8.1.5).
        StreamUpdated = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated",
        /// ID1 (SSE) spelling of verification; legacy mode only.
        LegacySseVerification = "https://schemas.openid.net/secevent/sse/event-type/verification",
        /// ID1 (SSE) spelling of stream-updated; legacy mode only.
        LegacySseStreamUpdated = "https://schemas.openid.net/secevent/sse/event-type/stream-updated",
    }
}

impl EventType {
    /// The URI as an [`EventTypeUri`].
    pub fn uri(&self) -> EventTypeUri {
        EventTypeUri::new(self.as_str())
    }

    /// A CAEP 1.0 event.
    pub fn is_caep(&self) -> bool {
        self.is_known() && self.as_str().starts_with(CAEP)
    }

    /// A RISC 1.0 event.
    pub fn is_risc(&self) -> bool {
        self.is_known() && self.as_str().starts_with(RISC)
    }

    /// One of the SSF events (verification, stream-updated), in final or ID1 spelling.
    pub fn is_ssf(&self) -> bool {
        self.is_known() && (self.as_str().starts_with(SSF) || self.as_str().starts_with(SSE))
    }

    /// An ID1 spelling, recognised only in legacy mode.
    pub fn is_legacy(&self) -> bool {
        matches!(
            self,
            Self::LegacySseVerification | Self::LegacySseStreamUpdated
        )
    }

    /// The final 1.0 type: ID1 spellings map to their SSF URIs, others are unchanged.
    #[must_use]
    pub fn canonical(&self) -> Self {
        match self {
            Self::LegacySseVerification => Self::Verification,
            Self::LegacySseStreamUpdated => Self::StreamUpdated,
            other => other.clone(),
        }
    }

    /// The standard final-format event types (no legacy spellings): what a transmitter lists in
    /// `events_supported` (SSF-STREAM-14).
    pub fn standard() -> impl Iterator<Item = Self> {
        Self::KNOWN
            .iter()
            .map(|s| Self::from(*s))
            .filter(|t| !t.is_legacy())
    }

    /// The event type an operator means by `name`: a URI as it is (any URI, known or not), or
    /// the short name of a standard type, i.e. the last segment of its URI (`session-revoked`,
    /// `token-claims-change`, `account-disabled`). `None` for a short name no standard type
    /// has. The one alias table of the workspace: the CLI and configuration use it.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.contains(':') {
            return Some(Self::from(name));
        }
        if name.is_empty() {
            return None;
        }
        Self::standard().find(|t| {
            t.as_str()
                .rsplit_once('/')
                .is_some_and(|(_, last)| last == name)
        })
    }

    /// A URI under the CAEP, RISC, SSF or SSE event-type namespaces that names no event of
    /// those specifications (most likely a typo).
    pub fn is_unknown_standard_uri(&self) -> bool {
        !self.is_known()
            && [CAEP, RISC, SSF, SSE]
                .iter()
                .any(|p| self.as_str().starts_with(p))
    }
}

impl From<&EventTypeUri> for EventType {
    fn from(uri: &EventTypeUri) -> Self {
        Self::from(uri.as_str())
    }
}

impl From<EventType> for EventTypeUri {
    fn from(t: EventType) -> Self {
        Self::new(t.as_str())
    }
}

/// One event of a SET, typed by its [`EventType`]. Unknown members of the event object are kept
/// in each struct's `extra`, so [`Event::to_json`] gives back what [`Event::parse`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// CAEP session-revoked.
    SessionRevoked(SessionRevoked),
    /// CAEP token-claims-change.
    TokenClaimsChange(TokenClaimsChange),
    /// CAEP credential-change.
    CredentialChange(CredentialChange),
    /// CAEP assurance-level-change.
    AssuranceLevelChange(AssuranceLevelChange),
    /// CAEP device-compliance-change.
    DeviceComplianceChange(DeviceComplianceChange),
    /// CAEP session-established.
    SessionEstablished(SessionEstablished),
    /// CAEP session-presented.
    SessionPresented(SessionPresented),
    /// CAEP risk-level-change.
    RiskLevelChange(RiskLevelChange),
    /// RISC account-credential-change-required.
    AccountCredentialChangeRequired(RiscSimpleEvent),
    /// RISC account-purged.
    AccountPurged(RiscSimpleEvent),
    /// RISC account-disabled.
    AccountDisabled(AccountDisabled),
    /// RISC account-enabled.
    AccountEnabled(RiscSimpleEvent),
    /// RISC identifier-changed.
    IdentifierChanged(IdentifierChanged),
    /// RISC identifier-recycled.
    IdentifierRecycled(RiscSimpleEvent),
    /// RISC credential-compromise.
    CredentialCompromise(CredentialCompromise),
    /// RISC opt-in.
    OptIn(RiscSimpleEvent),
    /// RISC opt-out-initiated.
    OptOutInitiated(RiscSimpleEvent),
    /// RISC opt-out-cancelled.
    OptOutCancelled(RiscSimpleEvent),
    /// RISC opt-out-effective.
    OptOutEffective(RiscSimpleEvent),
    /// RISC recovery-activated.
    RecoveryActivated(RiscSimpleEvent),
    /// RISC recovery-information-changed.
    RecoveryInformationChanged(RiscSimpleEvent),
    /// RISC sessions-revoked (deprecated; still accepted).
    SessionsRevoked(RiscSimpleEvent),
    /// SSF verification.
    Verification(Verification),
    /// SSF stream-updated.
    StreamUpdated(StreamUpdated),
    /// Any other event type, kept verbatim (never refused, SSF-RXV-16). In strict mode the ID1
    /// `…/sse/event-type/…` URIs land here too.
    Unknown {
        /// The event-type URI.
        uri: EventTypeUri,
        /// The event object.
        raw: Map<String, Value>,
    },
}

impl Event {
    /// Parses the event object `value` of type `uri`, checking it against its definition
    /// (SSF-RXV-09): required fields present (TV-NEG-06, 15), JSON types right (TV-NEG-09),
    /// closed enumerations in range (CAEP-05: `initiating_entity`, `change_type`, compliance
    /// status, risk levels, `change_direction`, account-disabled `reason`, stream-updated
    /// `status`; TV-NEG-07, 08, 13, 14, 23). Open enumerations (`credential_type`, `namespace`,
    /// `principal`) take any string. A millisecond `event_timestamp` is accepted and flagged
    /// ([`Self::is_probably_millis`], TV-NEG-10). `mode` decides whether the ID1 SSF event
    /// URIs are recognised (legacy) or left [`Event::Unknown`] (strict), and whether an
    /// `initiating_entity` outside the enumeration is refused (strict) or ignored (legacy).
    pub fn parse(uri: &EventTypeUri, value: &Value, mode: ParseMode) -> Result<Self, EventError> {
        let mut ty = EventType::from(uri);
        if ty.is_legacy() && mode.is_legacy() {
            ty = ty.canonical();
        }
        let tolerated;
        let value = match value.get("initiating_entity").and_then(Value::as_str) {
            // Draft-era transmitters sent values outside the final enumeration: ignored in
            // legacy mode (the member is dropped), refused in strict mode (CAEP-05, TV-NEG-08).
            Some(e) if mode.is_legacy() && !InitiatingEntity::from(e.to_owned()).is_known() => {
                let mut without = value.clone();
                if let Some(map) = without.as_object_mut() {
                    map.remove("initiating_entity");
                }
                tolerated = without;
                &tolerated
            }
            _ => value,
        };
        Ok(match ty {
            EventType::SessionRevoked => Self::SessionRevoked(SessionRevoked::parse(value)?),
            EventType::TokenClaimsChange => {
                Self::TokenClaimsChange(TokenClaimsChange::parse(value)?)
            }
            EventType::CredentialChange => Self::CredentialChange(CredentialChange::parse(value)?),
            EventType::AssuranceLevelChange => {
                Self::AssuranceLevelChange(AssuranceLevelChange::parse(value)?)
            }
            EventType::DeviceComplianceChange => {
                Self::DeviceComplianceChange(DeviceComplianceChange::parse(value)?)
            }
            EventType::SessionEstablished => {
                Self::SessionEstablished(SessionEstablished::parse(value)?)
            }
            EventType::SessionPresented => Self::SessionPresented(SessionPresented::parse(value)?),
            EventType::RiskLevelChange => Self::RiskLevelChange(RiskLevelChange::parse(value)?),
            EventType::AccountCredentialChangeRequired => {
                Self::AccountCredentialChangeRequired(RiscSimpleEvent::parse(value)?)
            }
            EventType::AccountPurged => Self::AccountPurged(RiscSimpleEvent::parse(value)?),
            EventType::AccountDisabled => Self::AccountDisabled(AccountDisabled::parse(value)?),
            EventType::AccountEnabled => Self::AccountEnabled(RiscSimpleEvent::parse(value)?),
            EventType::IdentifierChanged => {
                Self::IdentifierChanged(IdentifierChanged::parse(value)?)
            }
            EventType::IdentifierRecycled => {
                Self::IdentifierRecycled(RiscSimpleEvent::parse(value)?)
            }
            EventType::CredentialCompromise => {
                Self::CredentialCompromise(CredentialCompromise::parse(value)?)
            }
            EventType::OptIn => Self::OptIn(RiscSimpleEvent::parse(value)?),
            EventType::OptOutInitiated => Self::OptOutInitiated(RiscSimpleEvent::parse(value)?),
            EventType::OptOutCancelled => Self::OptOutCancelled(RiscSimpleEvent::parse(value)?),
            EventType::OptOutEffective => Self::OptOutEffective(RiscSimpleEvent::parse(value)?),
            EventType::RecoveryActivated => Self::RecoveryActivated(RiscSimpleEvent::parse(value)?),
            EventType::RecoveryInformationChanged => {
                Self::RecoveryInformationChanged(RiscSimpleEvent::parse(value)?)
            }
            EventType::SessionsRevoked => Self::SessionsRevoked(RiscSimpleEvent::parse(value)?),
            EventType::Verification => Self::Verification(Verification::parse(value)?),
            EventType::StreamUpdated => Self::StreamUpdated(StreamUpdated::parse(value)?),
            EventType::LegacySseVerification
            | EventType::LegacySseStreamUpdated
            | EventType::Other(_) => {
                let raw = value.as_object().cloned().ok_or(EventError::NotAnObject)?;
                Self::Unknown {
                    uri: uri.clone(),
                    raw,
                }
            }
        })
    }

    /// The event type (always a final 1.0 URI for typed events).
    pub fn event_type(&self) -> EventType {
        match self {
            Self::SessionRevoked(_) => EventType::SessionRevoked,
            Self::TokenClaimsChange(_) => EventType::TokenClaimsChange,
            Self::CredentialChange(_) => EventType::CredentialChange,
            Self::AssuranceLevelChange(_) => EventType::AssuranceLevelChange,
            Self::DeviceComplianceChange(_) => EventType::DeviceComplianceChange,
            Self::SessionEstablished(_) => EventType::SessionEstablished,
            Self::SessionPresented(_) => EventType::SessionPresented,
            Self::RiskLevelChange(_) => EventType::RiskLevelChange,
            Self::AccountCredentialChangeRequired(_) => EventType::AccountCredentialChangeRequired,
            Self::AccountPurged(_) => EventType::AccountPurged,
            Self::AccountDisabled(_) => EventType::AccountDisabled,
            Self::AccountEnabled(_) => EventType::AccountEnabled,
            Self::IdentifierChanged(_) => EventType::IdentifierChanged,
            Self::IdentifierRecycled(_) => EventType::IdentifierRecycled,
            Self::CredentialCompromise(_) => EventType::CredentialCompromise,
            Self::OptIn(_) => EventType::OptIn,
            Self::OptOutInitiated(_) => EventType::OptOutInitiated,
            Self::OptOutCancelled(_) => EventType::OptOutCancelled,
            Self::OptOutEffective(_) => EventType::OptOutEffective,
            Self::RecoveryActivated(_) => EventType::RecoveryActivated,
            Self::RecoveryInformationChanged(_) => EventType::RecoveryInformationChanged,
            Self::SessionsRevoked(_) => EventType::SessionsRevoked,
            Self::Verification(_) => EventType::Verification,
            Self::StreamUpdated(_) => EventType::StreamUpdated,
            Self::Unknown { uri, .. } => EventType::from(uri),
        }
    }

    /// The event-type URI, the key of this event in `events`.
    pub fn uri(&self) -> EventTypeUri {
        match self {
            Self::Unknown { uri, .. } => uri.clone(),
            other => other.event_type().uri(),
        }
    }

    /// The event object, in the final format.
    pub fn to_json(&self) -> Map<String, Value> {
        match self {
            Self::SessionRevoked(e) => e.to_json(),
            Self::TokenClaimsChange(e) => e.to_json(),
            Self::CredentialChange(e) => e.to_json(),
            Self::AssuranceLevelChange(e) => e.to_json(),
            Self::DeviceComplianceChange(e) => e.to_json(),
            Self::SessionEstablished(e) => e.to_json(),
            Self::SessionPresented(e) => e.to_json(),
            Self::RiskLevelChange(e) => e.to_json(),
            Self::AccountCredentialChangeRequired(e)
            | Self::AccountPurged(e)
            | Self::AccountEnabled(e)
            | Self::IdentifierRecycled(e)
            | Self::OptIn(e)
            | Self::OptOutInitiated(e)
            | Self::OptOutCancelled(e)
            | Self::OptOutEffective(e)
            | Self::RecoveryActivated(e)
            | Self::RecoveryInformationChanged(e)
            | Self::SessionsRevoked(e) => e.to_json(),
            Self::AccountDisabled(e) => e.to_json(),
            Self::IdentifierChanged(e) => e.to_json(),
            Self::CredentialCompromise(e) => e.to_json(),
            Self::Verification(e) => e.to_json(),
            Self::StreamUpdated(e) => e.to_json(),
            Self::Unknown { raw, .. } => raw.clone(),
        }
    }

    /// The CAEP common optional claims, for CAEP events.
    pub fn caep_common(&self) -> Option<&CaepCommon> {
        match self {
            Self::SessionRevoked(e) => Some(&e.common),
            Self::TokenClaimsChange(e) => Some(&e.common),
            Self::CredentialChange(e) => Some(&e.common),
            Self::AssuranceLevelChange(e) => Some(&e.common),
            Self::DeviceComplianceChange(e) => Some(&e.common),
            Self::SessionEstablished(e) => Some(&e.common),
            Self::SessionPresented(e) => Some(&e.common),
            Self::RiskLevelChange(e) => Some(&e.common),
            _ => None,
        }
    }

    /// `event_timestamp` as sent (CAEP events and RISC credential-compromise).
    pub fn event_timestamp(&self) -> Option<i64> {
        match self {
            Self::CredentialCompromise(e) => e.event_timestamp,
            other => other.caep_common().and_then(|c| c.event_timestamp),
        }
    }

    /// A member of the event object that its definition does not name, kept as received (the
    /// typed structs' `extra`, or any member of an [`Event::Unknown`]); e.g. an
    /// `event_timestamp` on a RISC event that defines none.
    pub fn unknown_member(&self, name: &str) -> Option<&Value> {
        match self {
            Self::SessionRevoked(e) => e.extra.get(name),
            Self::TokenClaimsChange(e) => e.extra.get(name),
            Self::CredentialChange(e) => e.extra.get(name),
            Self::AssuranceLevelChange(e) => e.extra.get(name),
            Self::DeviceComplianceChange(e) => e.extra.get(name),
            Self::SessionEstablished(e) => e.extra.get(name),
            Self::SessionPresented(e) => e.extra.get(name),
            Self::RiskLevelChange(e) => e.extra.get(name),
            Self::AccountCredentialChangeRequired(e)
            | Self::AccountPurged(e)
            | Self::AccountEnabled(e)
            | Self::IdentifierRecycled(e)
            | Self::OptIn(e)
            | Self::OptOutInitiated(e)
            | Self::OptOutCancelled(e)
            | Self::OptOutEffective(e)
            | Self::RecoveryActivated(e)
            | Self::RecoveryInformationChanged(e)
            | Self::SessionsRevoked(e) => e.extra.get(name),
            Self::AccountDisabled(e) => e.extra.get(name),
            Self::IdentifierChanged(e) => e.extra.get(name),
            Self::CredentialCompromise(e) => e.extra.get(name),
            Self::Verification(e) => e.extra.get(name),
            Self::StreamUpdated(e) => e.extra.get(name),
            Self::Unknown { raw, .. } => raw.get(name),
        }
    }

    /// Whether `event_timestamp` looks like milliseconds (CAEP-06, D-19, TV-NEG-10): accepted,
    /// but the receiver should log a warning, and may use
    /// [`secs_from_maybe_millis`](crate::time::secs_from_maybe_millis).
    pub fn is_probably_millis(&self) -> bool {
        self.event_timestamp().is_some_and(is_probably_millis)
    }
}

/// Whether several `events` keys are alternative URIs of one event type (SSF 1.0 §4.2.1), which
/// legacy mode accepts in one SET: today only the ID1 and final spellings of the SSF events.
pub(crate) fn are_alternative_uris<'a>(uris: impl Iterator<Item = &'a EventTypeUri>) -> bool {
    let mut canonical = uris.map(|u| EventType::from(u).canonical());
    match canonical.next() {
        Some(first) if first.is_known() => canonical.all(|t| t == first),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_8_caep_14_risc_2_ssf_2_legacy() {
        let all: Vec<EventType> = EventType::KNOWN
            .iter()
            .map(|s| EventType::from(*s))
            .collect();
        assert_eq!(all.iter().filter(|t| t.is_caep()).count(), 8);
        assert_eq!(all.iter().filter(|t| t.is_risc()).count(), 14);
        assert_eq!(
            all.iter().filter(|t| t.is_ssf() && !t.is_legacy()).count(),
            2
        );
        assert_eq!(all.iter().filter(|t| t.is_legacy()).count(), 2);
        assert_eq!(EventType::standard().count(), 24);
        for t in &all {
            let prefix = [CAEP, RISC, SSF, SSE]
                .iter()
                .any(|p| t.as_str().starts_with(p));
            assert!(prefix, "{t}");
        }
    }

    #[test]
    fn unknown_event_types_are_kept_never_refused_ssf_rxv_16() {
        let uri = EventTypeUri::new("urn:example:secevent:events:type_2");
        let body = serde_json::json!({"anything": [1, 2]});
        let e = Event::parse(&uri, &body, ParseMode::Strict).unwrap();
        assert_eq!(e.uri(), uri);
        assert_eq!(Value::Object(e.to_json()), body);
        assert_eq!(
            Event::parse(&uri, &serde_json::json!(1), ParseMode::Strict),
            Err(EventError::NotAnObject)
        );
    }

    #[test]
    fn id1_ssf_uris_are_typed_only_in_legacy_mode() {
        let uri = EventType::LegacySseStreamUpdated.uri();
        let body = serde_json::json!({"status": "paused"});
        let strict = Event::parse(&uri, &body, ParseMode::Strict).unwrap();
        assert!(matches!(strict, Event::Unknown { .. }));
        let legacy = Event::parse(&uri, &body, ParseMode::Legacy).unwrap();
        assert!(
            matches!(&legacy, Event::StreamUpdated(s) if s.status == crate::stream::StreamStatus::Paused)
        );
        assert_eq!(
            legacy.uri(),
            EventType::StreamUpdated.uri(),
            "output is the final URI"
        );
    }

    #[test]
    fn typed_events_round_trip_with_unknown_members() {
        let uri = EventType::RiskLevelChange.uri();
        let body = serde_json::json!({"principal": "TENANT_X", "current_level": "HIGH",
            "event_timestamp": 1_615_304_991_643_i64, "vendor_score": 97});
        let e = Event::parse(&uri, &body, ParseMode::Strict).unwrap();
        assert!(e.is_probably_millis());
        assert_eq!(Value::Object(e.to_json()), body);
    }

    #[test]
    fn unknown_members_are_reachable_typed_members_are_not() {
        let risc = EventType::AccountDisabled.uri();
        let body = serde_json::json!({"reason": "hijacking", "event_timestamp": 1_615_304_991});
        let e = Event::parse(&risc, &body, ParseMode::Strict).unwrap();
        assert_eq!(
            e.unknown_member("event_timestamp"),
            Some(&Value::from(1_615_304_991))
        );
        assert_eq!(e.unknown_member("reason"), None, "a typed member");
        assert_eq!(
            e.event_timestamp(),
            None,
            "RISC §2.3 defines no event_timestamp"
        );
        let caep = EventType::SessionRevoked.uri();
        let body = serde_json::json!({"event_timestamp": 1, "vendor": "x"});
        let e = Event::parse(&caep, &body, ParseMode::Strict).unwrap();
        assert_eq!(e.unknown_member("event_timestamp"), None);
        assert_eq!(e.unknown_member("vendor"), Some(&Value::from("x")));
        let other = EventTypeUri::new("urn:example:x");
        let e = Event::parse(&other, &serde_json::json!({"a": 1}), ParseMode::Strict).unwrap();
        assert_eq!(e.unknown_member("a"), Some(&Value::from(1)));
    }

    #[test]
    fn short_names_and_uris_resolve() {
        assert_eq!(
            EventType::from_name("session-revoked"),
            Some(EventType::SessionRevoked)
        );
        assert_eq!(
            EventType::from_name("token-claims-change"),
            Some(EventType::TokenClaimsChange)
        );
        assert_eq!(
            EventType::from_name("account-disabled"),
            Some(EventType::AccountDisabled)
        );
        assert_eq!(
            EventType::from_name(EventType::OptIn.as_str()),
            Some(EventType::OptIn)
        );
        assert_eq!(
            EventType::from_name("urn:example:custom"),
            Some(EventType::from("urn:example:custom"))
        );
        assert_eq!(EventType::from_name("session-revokd"), None);
        assert_eq!(EventType::from_name(""), None);
        let typo = EventType::from_name(
            "https://schemas.openid.net/secevent/caep/event-type/session-revokd",
        )
        .unwrap();
        assert!(typo.is_unknown_standard_uri());
        assert!(!EventType::from("urn:example:custom").is_unknown_standard_uri());
        assert!(!EventType::SessionRevoked.is_unknown_standard_uri());
    }

    #[test]
    fn legacy_uris_canonicalize() {
        assert_eq!(
            EventType::LegacySseVerification.canonical(),
            EventType::Verification
        );
        let alt = [
            EventType::Verification.uri(),
            EventType::LegacySseVerification.uri(),
        ];
        assert!(are_alternative_uris(alt.iter()));
        let two = [
            EventType::Verification.uri(),
            EventType::SessionRevoked.uri(),
        ];
        assert!(!are_alternative_uris(two.iter()));
        let unknown = [EventTypeUri::new("urn:a"), EventTypeUri::new("urn:a")];
        assert!(!are_alternative_uris(unknown.iter()));
    }
}
