//! Where setup keeps its bookkeeping of the receiver's streams: the stream id to reuse after a
//! restart, the configuration in force, the last status, and the `state` of each verification
//! request ([SSF 1.0 §8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)),
//! recorded *before* the request is sent (the event may arrive before the answer) so the SET
//! pipeline can check it (SSF-VERIFY-10: a mismatch is `invalid_state`).
//!
//! [`StoreBook`] keeps it in the durable [`ReceiverStore`] (the production choice, where the
//! push endpoint and pipeline read it); [`MemoryStreamBook`] in memory (CLI, tests).

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use base64::Engine as _;
use rand::RngCore as _;
use ssf_store::{
    model::{DeliveryMethod as StoredMethod, StreamStatus as StoredStatus},
    receiver::{ReceiverStore, ReceiverStream},
};
use ssf_types::secret::ExposeSecret;
use ssf_types::{
    StreamConfiguration, StreamId, StreamStatus, secret::constant_time_eq, stream::Delivery,
};

use crate::{config::PeerConfig, error::ReceiverError, push::authorization_digest};

/// How many recent `state` values stay valid per stream in [`MemoryStreamBook`].
pub const STATES_KEPT: usize = 8;

/// The bookkeeping setup needs. Streams are keyed by the receiver's stream key, the peer's
/// name (the last segment of its push URL).
#[async_trait]
pub trait StreamBook: Send + Sync + std::fmt::Debug {
    /// The transmitter's `stream_id` remembered for `stream_key`, to reuse after a restart.
    async fn known_stream(&self, stream_key: &str) -> Result<Option<StreamId>, ReceiverError>;

    /// Records the checked stream set up for `peer`.
    async fn record_stream(
        &self,
        peer: &PeerConfig,
        stream: &StreamConfiguration,
    ) -> Result<(), ReceiverError>;

    /// Records that a verification event for `stream_key` may carry `state`.
    async fn expect_verification(&self, stream_key: &str, state: &str)
    -> Result<(), ReceiverError>;

    /// Records a status read from the transmitter.
    async fn record_status(
        &self,
        stream_key: &str,
        status: &StreamStatus,
        reason: Option<&str>,
    ) -> Result<(), ReceiverError>;
}

/// A [`StreamBook`] in the receiver's durable store.
#[derive(Debug, Clone)]
pub struct StoreBook(pub Arc<dyn ReceiverStore>);

#[async_trait]
impl StreamBook for StoreBook {
    async fn known_stream(&self, stream_key: &str) -> Result<Option<StreamId>, ReceiverError> {
        Ok(self
            .0
            .get_stream(stream_key)
            .await?
            .and_then(|r| r.stream.stream_id))
    }

    async fn record_stream(
        &self,
        peer: &PeerConfig,
        stream: &StreamConfiguration,
    ) -> Result<(), ReceiverError> {
        let previous = self.0.get_stream(&peer.name).await?;
        let same_stream = previous
            .as_ref()
            .is_some_and(|p| p.stream.stream_id == stream.stream_id);
        let (status, status_reason) = match previous {
            Some(p) if same_stream => (p.stream.status, p.stream.status_reason),
            // A new stream starts enabled (SSF-STREAM-48); a status read corrects it.
            _ => (StoredStatus::Enabled, None),
        };
        let delivery = match stream.delivery {
            Some(Delivery::Poll(_)) => StoredMethod::Poll,
            _ => StoredMethod::Push,
        };
        self.0
            .upsert_stream(ReceiverStream {
                stream_key: peer.name.clone(),
                peer: peer.name.clone(),
                issuer: peer.issuer.clone(),
                stream_id: stream.stream_id.clone(),
                delivery,
                status,
                status_reason,
                push_auth_sha256: peer
                    .push_authorization
                    .as_ref()
                    .map(|a| authorization_digest(a.expose_secret())),
                config: config_without_secret(stream),
            })
            .await?;
        Ok(())
    }

    async fn expect_verification(
        &self,
        stream_key: &str,
        state: &str,
    ) -> Result<(), ReceiverError> {
        if self
            .0
            .set_expected_verification_state(stream_key, Some(state.to_owned()))
            .await?
        {
            Ok(())
        } else {
            Err(ReceiverError::InvalidRequest(format!(
                "no stream `{stream_key}` is recorded"
            )))
        }
    }

    async fn record_status(
        &self,
        stream_key: &str,
        status: &StreamStatus,
        reason: Option<&str>,
    ) -> Result<(), ReceiverError> {
        if let Some(stored) = StoredStatus::parse(status.as_str()) {
            self.0
                .set_stream_status(stream_key, stored, reason.map(str::to_owned))
                .await?;
        }
        Ok(())
    }
}

/// The stream configuration as JSON, without `authorization_header` (a secret, SSF-SEC-14).
pub fn config_without_secret(stream: &StreamConfiguration) -> serde_json::Value {
    let mut value = serde_json::to_value(stream).unwrap_or_default();
    if let Some(delivery) = value.get_mut("delivery").and_then(|d| d.as_object_mut()) {
        delivery.remove("authorization_header");
    }
    value
}

/// Lowercase hex SHA-256 of `text`: how the store keeps the push `Authorization` value (the
/// same as [`authorization_digest`]).
pub fn sha256_hex(text: &str) -> String {
    authorization_digest(text)
}

/// An in-memory [`StreamBook`] that keeps the last [`STATES_KEPT`] verification states per
/// stream. Lost on restart: a verification in flight then fails with `invalid_state`, and the
/// next scheduled one succeeds.
#[derive(Debug, Default)]
pub struct MemoryStreamBook {
    inner: Mutex<BTreeMap<String, MemoryEntry>>,
}

#[derive(Debug, Default)]
struct MemoryEntry {
    stream: Option<StreamConfiguration>,
    states: VecDeque<String>,
    status: Option<(StreamStatus, Option<String>)>,
}

impl MemoryStreamBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `state` is one of the recent values requested for `stream_key` (SSF-VERIFY-10).
    /// Several stay valid: a verification event may arrive late, behind queued events
    /// (SSF-VERIFY-09), and a redelivered one must get the same answer (PUSH-14).
    pub fn is_expected(&self, stream_key: &str, state: &str) -> bool {
        self.lock().get(stream_key).is_some_and(|e| {
            e.states
                .iter()
                .any(|s| constant_time_eq(s.as_bytes(), state.as_bytes()))
        })
    }

    /// The stream recorded for `stream_key`.
    pub fn stream(&self, stream_key: &str) -> Option<StreamConfiguration> {
        self.lock().get(stream_key).and_then(|e| e.stream.clone())
    }

    /// The status recorded for `stream_key`.
    pub fn status(&self, stream_key: &str) -> Option<(StreamStatus, Option<String>)> {
        self.lock().get(stream_key).and_then(|e| e.status.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MemoryEntry>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StreamBook for MemoryStreamBook {
    async fn known_stream(&self, stream_key: &str) -> Result<Option<StreamId>, ReceiverError> {
        Ok(self
            .lock()
            .get(stream_key)
            .and_then(|e| e.stream.as_ref().and_then(|s| s.stream_id.clone())))
    }

    async fn record_stream(
        &self,
        peer: &PeerConfig,
        stream: &StreamConfiguration,
    ) -> Result<(), ReceiverError> {
        self.lock().entry(peer.name.clone()).or_default().stream = Some(stream.clone());
        Ok(())
    }

    async fn expect_verification(
        &self,
        stream_key: &str,
        state: &str,
    ) -> Result<(), ReceiverError> {
        let mut inner = self.lock();
        let states = &mut inner.entry(stream_key.to_owned()).or_default().states;
        states.push_back(state.to_owned());
        while states.len() > STATES_KEPT {
            states.pop_front();
        }
        Ok(())
    }

    async fn record_status(
        &self,
        stream_key: &str,
        status: &StreamStatus,
        reason: Option<&str>,
    ) -> Result<(), ReceiverError> {
        self.lock().entry(stream_key.to_owned()).or_default().status =
            Some((status.clone(), reason.map(str::to_owned)));
        Ok(())
    }
}

/// A fresh verification `state`: 128 random bits, base64url without padding.
pub fn new_state() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use ssf_types::stream::{AuthorizationHeader, PushDelivery};

    use super::*;

    #[tokio::test]
    async fn recent_states_stay_valid_ssf_verify_09_10() {
        let book = MemoryStreamBook::new();
        let first = new_state();
        assert_ne!(first, new_state());
        assert!(!book.is_expected("idp", &first));
        book.expect_verification("idp", &first).await.unwrap();
        for _ in 0..STATES_KEPT - 1 {
            book.expect_verification("idp", &new_state()).await.unwrap();
        }
        assert!(
            book.is_expected("idp", &first),
            "still among the recent ones"
        );
        book.expect_verification("idp", &new_state()).await.unwrap();
        assert!(!book.is_expected("idp", &first), "pushed out");
        assert!(!book.is_expected("other", &first));
    }

    #[test]
    fn stored_config_has_no_authorization_header_ssf_sec_14() {
        let mut c = StreamConfiguration::new();
        c.delivery = Some(Delivery::Push(
            PushDelivery::new("https://rx/ssf/push/idp")
                .with_authorization(AuthorizationHeader::new("Bearer s3cr3t")),
        ));
        let v = config_without_secret(&c);
        assert!(!v.to_string().contains("s3cr3t"));
        assert_eq!(v["delivery"]["endpoint_url"], "https://rx/ssf/push/idp");
    }
}
