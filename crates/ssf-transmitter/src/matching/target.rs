//! A stream as the matcher and the SET minter see it.

use std::collections::BTreeSet;

use ssf_store::{DefaultSubjects, DeliveryMethod, StreamRecord, StreamStatus};
use ssf_types::{Audience, EventType, ParseMode, StreamConfiguration, StreamId};

/// The parts of a stream that decide routing and the SET's `aud`
/// ([SSF 1.0 §8.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.1)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Target {
    /// The stream.
    pub stream_id: StreamId,
    /// Its owner.
    pub client_id: String,
    /// Its status when cached (the store re-checks it at enqueue).
    pub status: StreamStatus,
    /// Push or poll.
    pub delivery: DeliveryMethod,
    /// `default_subjects` (D-15).
    pub default_subjects: DefaultSubjects,
    /// The stream's `aud`, copied into every SET (SSF-SET-07).
    pub aud: Audience,
    /// `events_delivered` (SSF-STREAM-06).
    pub events_delivered: BTreeSet<String>,
}

impl Target {
    /// Reads a stored stream. Fails when its configuration is not a readable SSF stream
    /// configuration.
    pub(crate) fn from_record(record: &StreamRecord) -> Result<Self, String> {
        let config = StreamConfiguration::from_json(&record.config, ParseMode::Legacy)
            .map_err(|e| e.to_string())?;
        let aud = config.aud.unwrap_or_else(|| {
            // Stream management always stores `aud`; fall back to the owner (D-12) rather
            // than send a SET without one.
            Audience::from(record.client_id.as_str())
        });
        Ok(Self {
            stream_id: record.stream_id.clone(),
            client_id: record.client_id.clone(),
            status: record.status,
            delivery: record.delivery,
            default_subjects: record.default_subjects,
            aud,
            events_delivered: config
                .events_delivered
                .unwrap_or_default()
                .into_iter()
                .map(|u| EventType::from(&u).canonical().as_str().to_owned())
                .collect(),
        })
    }

    /// Whether the stream delivers `event_type`: listed in `events_delivered`, or one of the SSF
    /// events, which may always be sent (SSF-STREAM-13, SSF-EVT-16).
    pub(crate) fn delivers(&self, event_type: &EventType) -> bool {
        matches!(
            event_type,
            EventType::Verification | EventType::StreamUpdated
        ) || self.events_delivered.contains(event_type.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use ssf_types::UnixMillis;

    use super::*;

    fn record(config: serde_json::Value) -> StreamRecord {
        StreamRecord {
            stream_id: StreamId::new("s1"),
            client_id: "rx".into(),
            delivery: DeliveryMethod::Poll,
            status: StreamStatus::Enabled,
            status_reason: None,
            default_subjects: DefaultSubjects::All,
            config,
            revision: 1,
            inactivity_timeout_secs: None,
            min_verification_interval_secs: None,
            created_at: UnixMillis(0),
            updated_at: UnixMillis(0),
            last_activity_at: UnixMillis(0),
            last_verification_at: None,
        }
    }

    #[test]
    fn reads_aud_and_events_delivered_ssf_stream_06() {
        let t = Target::from_record(&record(json!({
            "stream_id": "s1", "iss": "https://tx", "aud": ["a", "b"],
            "events_delivered": [EventType::SessionRevoked.as_str()],
            "delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://tx/ssf/poll/s1"}
        })))
        .unwrap();
        assert_eq!(t.aud, Audience::from(vec!["a".to_owned(), "b".to_owned()]));
        assert!(t.delivers(&EventType::SessionRevoked));
        assert!(!t.delivers(&EventType::CredentialChange));
        assert!(t.delivers(&EventType::Verification), "SSF-STREAM-13");
        assert!(t.delivers(&EventType::StreamUpdated), "SSF-STREAM-13");
    }

    #[test]
    fn missing_events_delivered_delivers_only_ssf_events_d_01() {
        let t = Target::from_record(&record(json!({"aud": "rx"}))).unwrap();
        assert!(!t.delivers(&EventType::SessionRevoked));
        assert!(t.delivers(&EventType::Verification));
    }
}
