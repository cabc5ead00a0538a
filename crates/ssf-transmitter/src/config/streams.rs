//! The settings of streams: `[transmitter.streams]` ([`StreamSettings`]), `[transmitter.inactivity]`
//! ([`InactivitySettings`]) and `[transmitter.metadata]` ([`MetadataSettings`]).
//!
//!
//! ```toml
//! [transmitter.streams]
//! allow_multiple_streams = true        # false: a second create answers 409 (D-13)
//! default_subjects = "ALL"             # or "NONE" (D-15)
//! min_verification_interval_secs = 10  # 0: no limit
//! inactivity_timeout_secs = 0          # 0: streams never time out
//! max_description_len = 1024
//! proprietary_subject_formats = []     # subject formats agreed out of band (D-04)
//! # events_supported = [...]           # default: every CAEP 1.0 and RISC 1.0 event type
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssf_store::DefaultSubjects;
use ssf_types::EventType;

/// Stream management settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct StreamSettings {
    /// Several streams per receiver (D-13, SSF-STREAM-27). When `false`, a create while the
    /// receiver has a stream answers `409 Conflict`.
    pub allow_multiple_streams: bool,
    /// `default_subjects` of new streams and of the metadata (SSF-META-21/27, D-15).
    pub default_subjects: DefaultSubjects,
    /// `events_supported` of every stream (SSF-STREAM-04). Default: the standard CAEP 1.0 and
    /// RISC 1.0 event types.
    pub events_supported: Vec<String>,
    /// `min_verification_interval` of new streams in seconds (SSF-STREAM-08); verification
    /// requests arriving faster answer `429` (SSF-VERIFY-12). `0` means no limit.
    pub min_verification_interval_secs: u64,
    /// `inactivity_timeout` of new streams in seconds (SSF-STREAM-10); `0` means none.
    pub inactivity_timeout_secs: u64,
    /// A longer `description` is truncated (SSF-STREAM-09 allows it).
    pub max_description_len: usize,
    /// Subject formats accepted in Add/Remove Subject besides the standard ones (D-04).
    pub proprietary_subject_formats: Vec<String>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            allow_multiple_streams: true,
            default_subjects: DefaultSubjects::All,
            events_supported: EventType::standard()
                .filter(|t| t.is_caep() || t.is_risc())
                .map(|t| t.as_str().to_owned())
                .collect(),
            min_verification_interval_secs: 10,
            inactivity_timeout_secs: 0,
            max_description_len: 1024,
            proprietary_subject_formats: Vec::new(),
        }
    }
}

impl StreamSettings {
    /// Checks the settings: `events_supported` entries are absolute URIs.
    pub fn validate(&self) -> Result<(), String> {
        match self
            .events_supported
            .iter()
            .find(|e| url::Url::parse(e).is_err())
        {
            Some(bad) => Err(format!("streams.events_supported: `{bad}` is not a URI")),
            None => Ok(()),
        }
    }

    /// `min_verification_interval` to publish, if any.
    pub fn min_verification_interval(&self) -> Option<u64> {
        (self.min_verification_interval_secs > 0).then_some(self.min_verification_interval_secs)
    }

    /// `inactivity_timeout` to publish, if any.
    pub fn inactivity_timeout(&self) -> Option<u64> {
        (self.inactivity_timeout_secs > 0).then_some(self.inactivity_timeout_secs)
    }
}

/// The `[transmitter.metadata]` settings.
///
/// ```toml
/// [transmitter.metadata]
/// legacy_discovery = false            # also serve sse-configuration and risc-configuration
/// critical_subject_members = ["tenant"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MetadataSettings {
    /// Also serve the metadata at the draft-era `/.well-known/sse-configuration` and the RISC
    /// `/.well-known/risc-configuration` (SSF-META-05). Off by default: new deployments should
    /// not use them.
    pub legacy_discovery: bool,
    /// `critical_subject_members` (SSF-META-19): complex-subject member names receivers MUST
    /// understand. Omitted from the metadata when empty (SSF-META-22).
    pub critical_subject_members: Vec<String>,
}

/// What happens to a stream whose `inactivity_timeout` ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InactivityAction {
    /// Pause it: events are held until it is enabled again. Default.
    #[default]
    Pause,
    /// Disable it: nothing is transmitted or held.
    Disable,
    /// Leave it alone.
    None,
}

/// Inactivity settings: `[transmitter.inactivity]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct InactivitySettings {
    /// `pause`, `disable` or `none`.
    pub action: InactivityAction,
    /// How often streams are checked. Default 60 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub sweep_interval: Duration,
    /// How long the stream-updated event may take to reach the receiver before the stream is
    /// stopped anyway. Default 30 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub notify_grace: Duration,
}

impl Default for InactivitySettings {
    fn default() -> Self {
        Self {
            action: InactivityAction::Pause,
            sweep_interval: Duration::from_secs(60),
            notify_grace: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_support_caep_and_risc_only() {
        let s = StreamSettings::default();
        assert!(
            s.events_supported
                .iter()
                .any(|e| e.ends_with("caep/event-type/session-revoked"))
        );
        assert!(s.events_supported.iter().any(|e| e.contains("/risc/")));
        assert!(
            !s.events_supported
                .iter()
                .any(|e| e.contains("/ssf/event-type/"))
        );
        assert_eq!(s.default_subjects, DefaultSubjects::All);
    }

    #[test]
    fn action_spelling() {
        #[derive(Deserialize)]
        struct W {
            a: InactivityAction,
        }
        let w: W = serde_json::from_str(r#"{"a":"disable"}"#).unwrap();
        assert_eq!(w.a, InactivityAction::Disable);
        assert!(serde_json::from_str::<W>(r#"{"a":"delete"}"#).is_err());
    }
}
