//! Event types: every CAEP 1.0, RISC 1.0 and SSF 1.0 event URI ([`EventType`]).

use crate::ids::EventTypeUri;

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
