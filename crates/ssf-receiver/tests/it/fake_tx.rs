//! A small fake SSF transmitter for the client-side tests: real HTTP on `127.0.0.1`, metadata
//! with path insertion (issuer `http://127.0.0.1:<port>/tenant1`), RFC 8414 metadata, a
//! client-credentials token endpoint, the stream endpoints, an RFC 8936 poll endpoint and a
//! JWKS, each with knobs to misbehave. Every response carries `Connection: close`, so stopping
//! the server really makes the next request fail (connection refused).

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use serde_json::{Value, json};
use ssf_jose::{Algorithm, KeyPair, sign_with};
use ssf_types::KeyId;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

use self::routes::serve;

mod routes;

pub(crate) const CLIENT_ID: &str = "rx-client";
pub(crate) const CLIENT_SECRET: &str = "rx-secret";
pub(crate) const STATIC_TOKEN: &str = "static-token";
pub(crate) const AUD: &str = "https://rx.example/aud";
pub(crate) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub(crate) const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
pub(crate) const VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// What the fake does and what it saw.
#[derive(Debug)]
pub(crate) struct Knobs {
    // discovery
    pub(crate) metadata_issuer: Option<String>,
    pub ssf_metadata_404: bool,
    pub(crate) serve_sse: bool,
    pub(crate) serve_risc: bool,
    pub(crate) delivery_methods: Vec<&'static str>,
    // tokens
    /// The client secret the token endpoint accepts (default [`CLIENT_SECRET`]).
    pub(crate) client_secret: String,
    pub(crate) token_lifetime: u64,
    pub(crate) valid_tokens: BTreeSet<String>,
    pub(crate) tokens_issued: u32,
    pub(crate) unauthorized_answers: u32,
    // streams
    pub(crate) multi_stream: bool,
    pub(crate) foreign_iss: bool,
    pub(crate) next_id: u32,
    pub(crate) streams: BTreeMap<String, Value>,
    pub(crate) statuses: BTreeMap<String, String>,
    pub(crate) create_bodies: Vec<Value>,
    pub(crate) patch_bodies: Vec<Value>,
    pub(crate) verifications: Vec<(String, Option<String>)>,
    pub(crate) subjects: Vec<(String, Value)>,
    pub(crate) auto_verify_events: bool,
    /// `min_verification_interval` of the streams it creates (SSF-STREAM-08).
    pub(crate) min_verification_interval: Option<u64>,
    // jwks
    pub(crate) keys: Vec<KeyPair>,
    pub(crate) jwks_cache_control: Option<String>,
    pub(crate) jwks_down: bool,
    pub(crate) jwks_fetches: u32,
    // poll
    pub(crate) queue: BTreeMap<String, String>,
    pub(crate) acks: Vec<String>,
    pub(crate) set_errs: BTreeMap<String, Value>,
    pub(crate) poll_failures: VecDeque<(u16, Option<&'static str>)>,
    pub(crate) poll_requests: Vec<Value>,
    pub(crate) next_jti: u32,
    /// Keeps handing out SETs whatever `ack` and `setErrs` say (a transmitter that loses them).
    pub(crate) sticky_sets: bool,
}

pub(crate) struct Shared {
    knobs: Mutex<Knobs>,
    pub(crate) base: String,
    pub(crate) issuer: String,
    wake: Notify,
}

impl Shared {
    pub(crate) fn knobs(&self) -> MutexGuard<'_, Knobs> {
        self.knobs.lock().unwrap()
    }

    /// Signs a SET with the transmitter's first key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let knobs = self.knobs();
        sign_with(&knobs.keys[0], claims).unwrap()
    }

    /// Claims of a session-revoked SET for `stream_id`.
    pub(crate) fn claims(&self, jti: &str) -> Value {
        json!({
            "iss": self.issuer, "jti": jti, "iat": now_secs(), "aud": AUD,
            "sub_id": {"format": "email", "email": "alice@example.com"},
            "events": {SESSION_REVOKED: {"event_timestamp": now_secs()}},
        })
    }

    /// Queues a SET for polling and wakes a waiting long poll.
    pub(crate) fn enqueue(&self, jti: &str, set: String) {
        self.knobs().queue.insert(jti.to_owned(), set);
        self.wake.notify_waiters();
    }

    /// Queues a valid session-revoked SET; returns its jti.
    pub(crate) fn enqueue_valid(&self) -> String {
        let jti = {
            let mut k = self.knobs();
            k.next_jti += 1;
            format!("jti-{}", k.next_jti)
        };
        let set = self.sign(&self.claims(&jti));
        self.enqueue(&jti, set);
        jti
    }

    /// Queues a verification SET for `stream_id` with `state`.
    pub(crate) fn enqueue_verification(&self, stream_id: &str, state: Option<&str>) -> String {
        let jti = {
            let mut k = self.knobs();
            k.next_jti += 1;
            format!("verify-{}", k.next_jti)
        };
        let mut event = json!({});
        if let Some(state) = state {
            event["state"] = json!(state);
        }
        let claims = json!({
            "iss": self.issuer, "jti": jti, "iat": now_secs(), "aud": AUD,
            "sub_id": {"format": "opaque", "id": stream_id},
            "events": {VERIFICATION: event},
        });
        let set = self.sign(&claims);
        self.enqueue(&jti, set);
        jti
    }

    /// Inserts a stream as if another receiver process had created it earlier.
    pub(crate) fn insert_stream(&self, config: Value) -> String {
        let mut k = self.knobs();
        k.next_id += 1;
        let id = format!("s{}", k.next_id);
        let mut config = config;
        config["stream_id"] = json!(id);
        config["iss"] = json!(self.issuer);
        config["aud"] = json!(AUD);
        if config["delivery"]["method"] == "urn:ietf:rfc:8936" {
            config["delivery"]["endpoint_url"] = json!(format!("{}/ssf/poll/{id}", self.base));
        }
        k.streams.insert(id.clone(), config);
        id
    }

    pub(crate) fn revoke_tokens(&self) {
        self.knobs().valid_tokens.clear();
    }
}

pub(crate) fn now_secs() -> i64 {
    use ssf_types::Clock as _;
    ssf_types::SystemClock.now().as_secs()
}

/// A running fake transmitter.
pub(crate) struct FakeTransmitter {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl FakeTransmitter {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
        let shared = Arc::new(Shared {
            knobs: Mutex::new(Knobs {
                metadata_issuer: None,
                ssf_metadata_404: false,
                serve_sse: false,
                serve_risc: false,
                delivery_methods: vec!["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
                client_secret: CLIENT_SECRET.to_owned(),
                token_lifetime: 3600,
                valid_tokens: BTreeSet::from([STATIC_TOKEN.to_owned()]),
                tokens_issued: 0,
                unauthorized_answers: 0,
                multi_stream: false,
                foreign_iss: false,
                next_id: 0,
                streams: BTreeMap::new(),
                statuses: BTreeMap::new(),
                create_bodies: Vec::new(),
                patch_bodies: Vec::new(),
                verifications: Vec::new(),
                subjects: Vec::new(),
                auto_verify_events: true,
                min_verification_interval: None,
                keys: vec![key],
                jwks_cache_control: None,
                jwks_down: false,
                jwks_fetches: 0,
                queue: BTreeMap::new(),
                acks: Vec::new(),
                set_errs: BTreeMap::new(),
                poll_failures: VecDeque::new(),
                poll_requests: Vec::new(),
                next_jti: 0,
                sticky_sets: false,
            }),
            issuer: format!("{base}/tenant1"),
            base,
            wake: Notify::new(),
        });
        let task = Some(serve(listener, Arc::clone(&shared)));
        Self { shared, addr, task }
    }

    pub(crate) fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// Stops serving: new connections are refused until [`Self::restart`].
    pub(crate) async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Serves again on the same address with the same state.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.task = Some(serve(listener, Arc::clone(&self.shared)));
    }
}

impl Drop for FakeTransmitter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
