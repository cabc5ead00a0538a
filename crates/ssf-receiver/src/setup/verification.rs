//! Verification `state` values ([SSF 1.0 §8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)):
//! a fresh random value per request, recorded *before* the request is sent (the event may
//! arrive before the answer), and checked by the SET pipeline when the verification event
//! comes (SSF-VERIFY-10: a mismatch is `invalid_state`).
//!
//! Several recent values stay valid per stream: a verification event may arrive late, behind
//! queued events (SSF-VERIFY-09), after a newer request was made, and a redelivered
//! verification SET must get the same answer as the first delivery (PUSH-14).

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Mutex, PoisonError},
};

use async_trait::async_trait;
use base64::Engine as _;
use rand::RngCore as _;
use ssf_types::StreamId;

use crate::client_error::ClientError;

/// How many recent `state` values stay valid per stream in [`MemoryVerificationStates`].
pub const STATES_KEPT: usize = 8;

/// Where the `state` of each verification request is recorded, for the pipeline to check.
#[async_trait]
pub trait VerificationStates: Send + Sync + std::fmt::Debug {
    /// Records that a verification event for `stream_id` may carry `state`.
    async fn expect(&self, stream_id: &StreamId, state: &str) -> Result<(), ClientError>;
}

/// An in-memory [`VerificationStates`] that keeps the last [`STATES_KEPT`] values per stream.
/// Lost on restart, which only means a verification in flight fails with `invalid_state`; the
/// next scheduled one succeeds. A durable store can implement the trait instead.
#[derive(Debug, Default)]
pub struct MemoryVerificationStates {
    states: Mutex<BTreeMap<StreamId, VecDeque<String>>>,
}

impl MemoryVerificationStates {
    /// An empty set of expectations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `state` is one of the recent values requested for `stream_id` (SSF-VERIFY-10).
    pub fn is_expected(&self, stream_id: &StreamId, state: &str) -> bool {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream_id)
            .is_some_and(|q| q.iter().any(|s| constant_time_eq(s.as_bytes(), state.as_bytes())))
    }

    /// Whether any verification was requested for `stream_id` since start.
    pub fn has_requested(&self, stream_id: &StreamId) -> bool {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(stream_id)
    }
}

#[async_trait]
impl VerificationStates for MemoryVerificationStates {
    async fn expect(&self, stream_id: &StreamId, state: &str) -> Result<(), ClientError> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let queue = states.entry(stream_id.clone()).or_default();
        queue.push_back(state.to_owned());
        while queue.len() > STATES_KEPT {
            queue.pop_front();
        }
        Ok(())
    }
}

/// A fresh verification `state`: 128 random bits, base64url without padding.
pub fn new_state() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recent_states_stay_valid_ssf_verify_09_10() {
        let states = MemoryVerificationStates::new();
        let s1 = StreamId::new("s1");
        let first = new_state();
        assert_ne!(first, new_state());
        assert!(!states.is_expected(&s1, &first));
        states.expect(&s1, &first).await.unwrap();
        for _ in 0..STATES_KEPT - 1 {
            states.expect(&s1, &new_state()).await.unwrap();
        }
        assert!(states.is_expected(&s1, &first), "still among the recent ones");
        states.expect(&s1, &new_state()).await.unwrap();
        assert!(!states.is_expected(&s1, &first), "pushed out");
        assert!(!states.is_expected(&StreamId::new("s2"), &first));
        assert!(states.has_requested(&s1));
    }
}
