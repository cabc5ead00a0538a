//! How each configured peer's set-up is doing, so a transmitter that cannot be used is
//! visible: [`PeerStates`] feeds `/healthz` (one check per peer), the push endpoint (a push for
//! a peer whose set-up is still running or retrying gets `503` + `Retry-After`, decision
//! D-RX-05) and two metrics ([`crate::metrics`]): `ssf_receiver_peer_setup_failures_total{peer,
//! reason}` and the gauge `ssf_receiver_peer_up{peer}`.
//!
//! `reason` is one of [`SetupFailure::reason`]'s values: `unreachable`, `discovery`,
//! `issuer_mismatch`, `metadata`, `auth`, `transmitter_error`, `refused`, `stream_refused`,
//! `config`, `keys`, `store`, `protocol`.

use std::{
    collections::BTreeMap,
    sync::{PoisonError, RwLock},
};

use ssf_types::UnixMillis;

use crate::{
    config::PeerConfig,
    error::ReceiverError,
    metrics::{PEER_SETUP_FAILURES_TOTAL, PEER_UP},
};

/// Where one peer's set-up stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerState {
    /// The first set-up attempt is running.
    Starting,
    /// Set-up failed and is retried with back-off.
    Retrying(SetupFailure),
    /// The stream is set up; events flow.
    Up,
}

impl PeerState {
    /// Whether the peer's stream is still being set up (starting or retrying): then a push for
    /// it is answered `503` + `Retry-After`.
    pub fn is_setting_up(&self) -> bool {
        matches!(self, Self::Starting | Self::Retrying(_))
    }

    /// The peer's health check: `Ok` when set up or still on its first attempt, else the
    /// reason and how to fix it.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Starting | Self::Up => Ok(()),
            Self::Retrying(failure) => Err(failure.to_string()),
        }
    }
}

/// Why a set-up attempt failed: a stable `reason` (the metric label) and a text for operators
/// that says what to fix. Never holds a secret (errors never do).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupFailure {
    /// A stable, low-cardinality label (see the module docs).
    pub reason: &'static str,
    /// What went wrong and what to check.
    pub detail: String,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// When the last attempt failed.
    pub at: UnixMillis,
}

impl std::fmt::Display for SetupFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} failed attempts; retrying)",
            self.detail, self.attempts
        )
    }
}

impl SetupFailure {
    /// Classifies `error` from setting up `peer`.
    pub fn new(peer: &PeerConfig, error: &ReceiverError, attempts: u32, at: UnixMillis) -> Self {
        let (reason, detail) = classify(peer, error);
        Self {
            reason,
            detail,
            attempts,
            at,
        }
    }
}

fn classify(peer: &PeerConfig, error: &ReceiverError) -> (&'static str, String) {
    let key = |field: &str| format!("receiver.transmitters.{}.{field}", peer.name);
    match error {
        ReceiverError::Http(_) => (
            "unreachable",
            format!(
                "the transmitter cannot be reached ({error}); check that it runs and that `{}` \
                 is right",
                key("issuer")
            ),
        ),
        ReceiverError::DiscoveryFailed { .. } => (
            "discovery",
            format!(
                "{error}; check `{}` (and `{}` for a draft-era transmitter)",
                key("issuer"),
                key("legacy")
            ),
        ),
        ReceiverError::IssuerMismatch { .. } => (
            "issuer_mismatch",
            format!(
                "{error}; set `{}` to exactly the issuer the transmitter publishes",
                key("issuer")
            ),
        ),
        ReceiverError::InvalidMetadata(_) | ReceiverError::MissingEndpoint(_) => (
            "metadata",
            format!("{error}; the transmitter's metadata must be fixed on its side"),
        ),
        ReceiverError::Token(_) => (
            "auth",
            format!(
                "{error}; check `{}` (client_id and client_secret) against the transmitter's \
                 client registration",
                key("auth")
            ),
        ),
        ReceiverError::Transmitter {
            status: 401 | 403, ..
        } => (
            "auth",
            format!(
                "{error}; check `{}` and that the client may use ssf.manage and ssf.read",
                key("auth")
            ),
        ),
        ReceiverError::Transmitter { .. } if error.is_transient() => (
            "transmitter_error",
            format!("{error}; the transmitter is failing, retrying"),
        ),
        ReceiverError::Transmitter { .. } => (
            "refused",
            format!(
                "{error}; check the stream settings of `receiver.transmitters.{}`",
                peer.name
            ),
        ),
        ReceiverError::ForeignStream { .. } | ReceiverError::AudienceMismatch { .. } => (
            "stream_refused",
            format!(
                "{error}; check `{}` and `{}`",
                key("issuer"),
                key("audience")
            ),
        ),
        ReceiverError::InvalidConfig { .. } => ("config", format!("{error}; fix the setting")),
        ReceiverError::JwksUnavailable(_) => (
            "keys",
            format!("{error}; the transmitter's jwks_uri must serve its keys"),
        ),
        ReceiverError::Store(_) | ReceiverError::NotRecorded(_) => {
            ("store", format!("{error}; check the receiver's database"))
        }
        _ => (
            "protocol",
            format!("{error}; the transmitter answered something this receiver cannot use"),
        ),
    }
}

/// Every configured peer's [`PeerState`], by peer name. Share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct PeerStates {
    states: RwLock<BTreeMap<String, PeerState>>,
}

impl PeerStates {
    /// No peers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Peers `names` whose set-up is about to start ([`PeerState::Starting`], gauge 0).
    pub fn starting<I, K>(&self, names: I)
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        let mut states = self.write();
        for name in names {
            let name = name.into();
            ::metrics::gauge!(PEER_UP, "peer" => name.clone()).set(0.0);
            states.insert(name, PeerState::Starting);
        }
    }

    /// Records a failed set-up attempt (logged by the caller) and counts it.
    pub fn failed(&self, name: &str, failure: SetupFailure) {
        ::metrics::counter!(
            PEER_SETUP_FAILURES_TOTAL,
            "peer" => name.to_owned(),
            "reason" => failure.reason
        )
        .increment(1);
        ::metrics::gauge!(PEER_UP, "peer" => name.to_owned()).set(0.0);
        self.write()
            .insert(name.to_owned(), PeerState::Retrying(failure));
    }

    /// Records that `name`'s stream is set up.
    pub fn up(&self, name: &str) {
        ::metrics::gauge!(PEER_UP, "peer" => name.to_owned()).set(1.0);
        self.write().insert(name.to_owned(), PeerState::Up);
    }

    /// The state of `name`, if it is a known peer.
    pub fn get(&self, name: &str) -> Option<PeerState> {
        self.states
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every peer and its state, by name.
    pub fn all(&self) -> Vec<(String, PeerState)> {
        self.states
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, PeerState>> {
        self.states.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use ssf_types::secret::SecretString;

    use super::*;
    use crate::config::PeerAuth;

    fn peer() -> PeerConfig {
        PeerConfig::new(
            "idp",
            "https://idp.example.com",
            PeerAuth::Bearer {
                token: SecretString::from("t".to_owned()),
            },
        )
    }

    #[test]
    fn failures_name_the_setting_to_fix() {
        let f = SetupFailure::new(
            &peer(),
            &ReceiverError::Token("token request failed: HTTP 401 (invalid_client)".into()),
            3,
            UnixMillis(0),
        );
        assert_eq!(f.reason, "auth");
        let text = f.to_string();
        assert!(text.contains("receiver.transmitters.idp.auth"), "{text}");
        assert!(text.contains("3 failed attempts"), "{text}");
        let f = SetupFailure::new(
            &peer(),
            &ReceiverError::IssuerMismatch {
                document: "ssf-configuration",
                found: "https://other.example.com".into(),
            },
            1,
            UnixMillis(0),
        );
        assert_eq!(f.reason, "issuer_mismatch");
        assert!(f.detail.contains("receiver.transmitters.idp.issuer"));
    }

    #[test]
    fn states_move_from_starting_to_retrying_to_up() {
        let states = PeerStates::new();
        states.starting(["idp"]);
        assert_eq!(states.get("idp"), Some(PeerState::Starting));
        assert!(states.get("idp").unwrap().check().is_ok());
        let failure = SetupFailure::new(
            &peer(),
            &ReceiverError::InvalidMetadata("x".into()),
            1,
            UnixMillis(0),
        );
        states.failed("idp", failure);
        let state = states.get("idp").unwrap();
        assert!(state.is_setting_up());
        assert!(state.check().unwrap_err().contains("metadata"));
        states.up("idp");
        assert_eq!(states.get("idp"), Some(PeerState::Up));
        assert!(!states.get("idp").unwrap().is_setting_up());
        assert_eq!(states.get("other"), None);
    }
}
