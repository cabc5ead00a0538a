//! An example app protected by continuous access evaluation: a support console with customer
//! records (critical assets: a just-in-time grant from an assigned ticket is needed), a
//! knowledge base (open to the `support-agent` role) and incident runbooks (open to the members
//! of a dynamic group that incident tickets fill and empty).
//!
//! - [`records`]: the data (customers `C2148`, `C9999`; article `article-42`).
//! - [`routes`]: `GET/PUT /customers/{id}`, `GET /kb/{id}`, `GET /runbooks/{id}`, `GET /me`, all behind
//!   [`ssf_enforce::layer::EnforcementLayer`].
//! - [`console`]: the assembly: routes + SSF receiver (push endpoint, pipeline, durable
//!   de-duplication, [`ssf_enforce::EnforcementHandler`]) + AuthZEN PDP + the push stream at the
//!   transmitter.
//!
//! `ssf demo` runs it in process; the `support-console` binary runs it on its own against a
//! transmitter (see `--help`).

pub mod console;
pub mod records;
pub mod routes;

use std::collections::BTreeMap;

pub use console::{Console, ConsoleConfig};
use ssf_enforce::{EngineConfig, Permission};

/// The README's "Protect your axum service" example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The role that may read the knowledge base.
pub const SUPPORT_AGENT: &str = "support-agent";

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// A setting is wrong; the message names it.
    #[error("configuration: {0}")]
    Config(String),
    /// A file or socket could not be used.
    #[error("I/O: {0}")]
    Io(String),
    /// The receiver store could not be opened or loaded.
    #[error("receiver store: {0}")]
    Store(String),
    /// The stream at the transmitter was not verified in time.
    #[error("the stream at the transmitter was not verified in time")]
    NotReady,
}

/// The dynamic group whose members (added and removed by CAEP `token-claims-change` events from
/// incident tickets) may read `runbook:*`.
pub const INCIDENT_RESPONDERS: &str = "incident-responders";

/// The example policy: role `support-agent` may read `kb:*`; asset type `customer` is critical
/// (only a just-in-time grant opens it); the dynamic group `incident-responders` may read
/// `runbook:*`.
pub fn default_engine_config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.access.roles = BTreeMap::from([(
        SUPPORT_AGENT.to_owned(),
        vec![Permission {
            asset: "kb:*".to_owned(),
            access: "read".to_owned(),
        }],
    )]);
    config.access.groups = BTreeMap::from([(
        INCIDENT_RESPONDERS.to_owned(),
        vec![Permission {
            asset: format!("{}:*", routes::RUNBOOK),
            access: "read".to_owned(),
        }],
    )]);
    config.access.critical = vec![routes::CUSTOMER.to_owned()];
    config
}
