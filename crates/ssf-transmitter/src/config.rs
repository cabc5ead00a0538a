//! Transmitter settings: the `[transmitter]` section of `ssf.toml`.
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo is an error at start, not a
//! silently ignored setting. Every field has a default that works on loopback.

use serde::{Deserialize, Serialize};

/// All transmitter settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TransmitterConfig {
    /// The issuer identifier: the `iss` of every SET and the metadata `issuer`, compared
    /// byte for byte by receivers (SSF-SET-03). An https URL in production; it may have a path
    /// (then discovery uses path insertion, SSF 1.0 §7.2.1).
    pub issuer: String,
    /// The public base URL endpoints are advertised under, when it differs from the issuer's
    /// origin (e.g. behind a proxy). Defaults to the issuer's scheme, host and port.
    pub base_url: Option<String>,
    /// Largest request body accepted, in bytes (`413` beyond it).
    pub max_body_bytes: usize,
    /// OAuth: token endpoint clients, access-token lifetime, external issuers (`[transmitter.auth]`).
    pub auth: crate::auth::AuthSettings,
    /// Stream management (`[transmitter.streams]`).
    pub streams: crate::management::StreamSettings,
    /// Discovery metadata (`[transmitter.metadata]`).
    pub metadata: crate::metadata::MetadataSettings,
    /// Event ingest (`[transmitter.ingest]`).
    pub ingest: crate::ingest::IngestSettings,
    /// Push delivery (`[transmitter.push]`).
    pub push: crate::push::PushSettings,
    /// Poll delivery (`[transmitter.poll]`).
    pub poll: crate::poll::PollSettings,
    /// Inactive streams (`[transmitter.inactivity]`).
    pub inactivity: crate::inactivity::InactivitySettings,
}

impl Default for TransmitterConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            base_url: None,
            max_body_bytes: 64 * 1024,
            auth: crate::auth::AuthSettings::default(),
            streams: crate::management::StreamSettings::default(),
            metadata: crate::metadata::MetadataSettings::default(),
            ingest: crate::ingest::IngestSettings::default(),
            push: crate::push::PushSettings::default(),
            poll: crate::poll::PollSettings::default(),
            inactivity: crate::inactivity::InactivitySettings::default(),
        }
    }
}
