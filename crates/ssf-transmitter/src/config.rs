//! Transmitter settings: the `[transmitter]` section of `ssf.toml`, every settings type of the
//! crate in one place.
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so a typo is an error at start, not a
//! silently ignored setting. Every field has a default that works on loopback.

mod auth;
mod delivery;
mod streams;

use serde::{Deserialize, Serialize};

pub use self::{
    auth::{AuthSettings, ClientSettings, ExternalIssuerSettings, ProducerSettings},
    delivery::{IngestSettings, PollSettings, PushSettings},
    streams::{InactivityAction, InactivitySettings, MetadataSettings, StreamSettings},
};

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
    pub auth: AuthSettings,
    /// Stream management (`[transmitter.streams]`).
    pub streams: StreamSettings,
    /// Discovery metadata (`[transmitter.metadata]`).
    pub metadata: MetadataSettings,
    /// Event ingest (`[transmitter.ingest]`).
    pub ingest: IngestSettings,
    /// Push delivery (`[transmitter.push]`).
    pub push: PushSettings,
    /// Poll delivery (`[transmitter.poll]`).
    pub poll: PollSettings,
    /// Inactive streams (`[transmitter.inactivity]`).
    pub inactivity: InactivitySettings,
}

impl Default for TransmitterConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            base_url: None,
            max_body_bytes: 64 * 1024,
            auth: AuthSettings::default(),
            streams: StreamSettings::default(),
            metadata: MetadataSettings::default(),
            ingest: IngestSettings::default(),
            push: PushSettings::default(),
            poll: PollSettings::default(),
            inactivity: InactivitySettings::default(),
        }
    }
}
