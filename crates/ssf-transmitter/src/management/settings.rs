//! The `[transmitter.streams]` settings.
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
}
