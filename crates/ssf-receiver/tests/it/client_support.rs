//! Helpers of the client-side tests: a loopback HTTP client, clocks, peer settings, a
//! [`SetProcessor`] that verifies SETs through the real JWKS cache, and bounded waiting.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use ssf_http::{ClientConfig, GuardedClient, build_client};
use ssf_jose::{Algorithm, SetVerifier, VerifyOptions};
use ssf_receiver::{
    config::{DeliveryMode, PeerAuth, PeerConfig, PollSettings},
    jwks::JwksCache,
    receive::{Receipt, SetProcessor},
    setup::MemoryStreamBook,
};
use ssf_types::secret::SecretString;
use ssf_types::{Clock, Event, Jti, ManualClock, SetErrorCode, SystemClock, UnixMillis};

use crate::fake_tx::{self, FakeTransmitter};

pub(crate) fn http() -> GuardedClient {
    build_client(&ClientConfig::dev_loopback()).unwrap()
}

pub(crate) fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

pub(crate) fn manual_clock() -> ManualClock {
    ManualClock::new(UnixMillis::from_secs(fake_tx::now_secs()))
}

pub(crate) fn bearer() -> PeerAuth {
    toml::from_str::<PeerAuth>(&format!(
        "type = \"bearer\"\ntoken = \"{}\"",
        fake_tx::STATIC_TOKEN
    ))
    .unwrap()
}

pub(crate) fn client_credentials(token_endpoint: Option<String>) -> PeerAuth {
    let endpoint = token_endpoint
        .map(|e| format!("token_endpoint = \"{e}\"\n"))
        .unwrap_or_default();
    toml::from_str(&format!(
        "type = \"client_credentials\"\n{endpoint}client_id = \"{}\"\nclient_secret = \"{}\"",
        fake_tx::CLIENT_ID,
        fake_tx::CLIENT_SECRET
    ))
    .unwrap()
}

/// Poll settings with millisecond back-off, so failure tests run fast.
pub(crate) fn fast_poll() -> PollSettings {
    toml::from_str(
        "max_events = 10\nlong_poll_timeout = \"5s\"\n[retry]\ndelays = [\"10ms\", \"20ms\", \"40ms\"]\njitter_percent = 0\nmax_retry_after = \"50ms\"",
    )
    .unwrap()
}

pub(crate) fn peer(tx: &FakeTransmitter, delivery: DeliveryMode, auth: PeerAuth) -> PeerConfig {
    let mut p = PeerConfig::new("idp", tx.issuer(), auth);
    p.delivery = delivery;
    p.events = vec![fake_tx::SESSION_REVOKED.into()];
    p.audience = Some(fake_tx::AUD.to_owned());
    p.algorithms = vec![Algorithm::Es256];
    p.poll = fast_poll();
    p.push_authorization = Some(SecretString::from("Bearer push-secret".to_owned()));
    p
}

/// Verifies each SET with the peer's JWKS cache, checks verification `state`s against the
/// book, de-duplicates by `jti` in memory, and counts what it applied.
pub(crate) struct TestProcessor {
    pub(crate) jwks: Arc<JwksCache>,
    pub(crate) options: VerifyOptions,
    pub(crate) book: Option<(Arc<MemoryStreamBook>, String)>,
    pub(crate) applied: Mutex<Vec<String>>,
    seen: Mutex<BTreeSet<String>>,
}

impl TestProcessor {
    pub(crate) fn new(tx: &FakeTransmitter, jwks: Arc<JwksCache>) -> Arc<Self> {
        Arc::new(Self {
            jwks,
            options: VerifyOptions::new(tx.issuer(), fake_tx::AUD).algorithms([Algorithm::Es256]),
            book: None,
            applied: Mutex::default(),
            seen: Mutex::default(),
        })
    }

    pub(crate) fn with_book(
        tx: &FakeTransmitter,
        jwks: Arc<JwksCache>,
        book: Arc<MemoryStreamBook>,
    ) -> Arc<Self> {
        let mut p = Arc::into_inner(Self::new(tx, jwks)).unwrap();
        p.book = Some((book, "idp".to_owned()));
        Arc::new(p)
    }

    pub(crate) fn applied(&self) -> Vec<String> {
        self.applied.lock().unwrap().clone()
    }
}

#[async_trait]
impl SetProcessor for TestProcessor {
    async fn process(&self, jti: &Jti, set: &str) -> Receipt {
        if let Err(e) = self.jwks.prepare(set.as_bytes()).await {
            return Receipt::Unavailable(e.to_string());
        }
        let verifier = SetVerifier::new(
            self.options.clone(),
            self.jwks.clone(),
            Arc::new(SystemClock),
        );
        let verified = match verifier.verify(set) {
            Ok(v) => v,
            Err(e) => {
                return Receipt::Rejected {
                    err: e.set_error_code().unwrap_or(SetErrorCode::InvalidRequest),
                    description: e.to_string().into(),
                };
            }
        };
        if verified.jti() != jti.as_str() {
            return Receipt::Rejected {
                err: SetErrorCode::InvalidRequest,
                description: "jti does not match".into(),
            };
        }
        if let (Some((book, key)), Event::Verification(event)) = (&self.book, verified.event())
            && let Some(state) = event.state.as_deref()
            && !book.is_expected(key, state)
        {
            return Receipt::Rejected {
                err: SetErrorCode::InvalidState,
                description: "state does not match the verification request".into(),
            };
        }
        if !self.seen.lock().unwrap().insert(jti.as_str().to_owned()) {
            return Receipt::Duplicate;
        }
        self.applied.lock().unwrap().push(jti.as_str().to_owned());
        Receipt::Applied
    }
}

/// Waits until `condition` holds, at most 10 s (then panics with `what`).
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
