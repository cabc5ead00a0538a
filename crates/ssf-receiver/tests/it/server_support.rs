//! Helpers of the server-side tests: real RSA keys, signed SETs, a receiver serving its push
//! routes on 127.0.0.1:0 with a tempdir SQLite store, and an HTTP client.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use ssf_jose::{Algorithm, Jwks, JwksSnapshot, KeyPair, SigningKey, VerifyOptions, sign_with};
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    handler::{EventHandler, Plan, PlanAudit, ReceivedSet, RecordingHandler, StateRow, StateWrite},
    pipeline::{KeySource, Pipeline, PipelineConfig, StreamContext},
    push::{PushState, authorization_digest},
    receive::{SetReceiver, StreamRegistry},
    router::router,
};
use ssf_store::{
    model::{DeliveryMethod, StreamStatus},
    receiver::{ReceiverStore, ReceiverStream},
    sqlite::receiver::SqliteReceiverStore,
};
use ssf_types::{KeyId, ManualClock, StreamId, UnixMillis};
use tokio::{sync::mpsc, task::JoinHandle};

pub(crate) const ISS: &str = "https://tx.example.com";
pub(crate) const AUD: &str = "https://rx.example.com/ssf";
pub(crate) const NOW: i64 = 1_767_225_600;
pub(crate) const STREAM_KEY: &str = "acme";
pub(crate) const STREAM_ID: &str = "f67e39a0a4d34d56b3aa1bc4cff0069f";
pub(crate) const PUSH_AUTH: &str = "Bearer push-secret-9f2c";
pub(crate) const KID: &str = "tx-key-1";

pub(crate) const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
pub(crate) const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
pub(crate) const VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";
pub(crate) const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

fn keys() -> &'static (KeyPair, KeyPair, KeyPair) {
    static KEYS: OnceLock<(KeyPair, KeyPair, KeyPair)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let kid = Some(KeyId::new(KID));
        (
            KeyPair::generate(Algorithm::Rs256, kid.clone()).unwrap(),
            // Same kid, other key: its signatures do not verify.
            KeyPair::generate(Algorithm::Rs256, kid).unwrap(),
            KeyPair::generate(Algorithm::Es256, Some(KeyId::new("tx-ec-1"))).unwrap(),
        )
    })
}

/// The transmitter's RS256 key (`kid` [`KID`]).
pub(crate) fn tx_key() -> &'static KeyPair {
    &keys().0
}

/// Another RSA key claiming the same `kid`.
pub(crate) fn impostor_key() -> &'static KeyPair {
    &keys().1
}

/// An ES256 key, published in the JWKS but not allowed by the RS256-only allow-list.
pub(crate) fn ec_key() -> &'static KeyPair {
    &keys().2
}

/// The transmitter's published keys.
pub(crate) fn jwks() -> Jwks {
    Jwks {
        keys: vec![
            SigningKey::public_jwk(tx_key()),
            SigningKey::public_jwk(ec_key()),
        ],
    }
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A CAEP session-revoked SET payload for `jane@example.com`, issued now.
pub(crate) fn claims(jti: &str) -> Value {
    json!({
        "iss": ISS,
        "jti": jti,
        "iat": NOW,
        "aud": AUD,
        "txn": "t-1",
        "sub_id": {"format": "email", "email": "jane@example.com"},
        "events": {format!("{CAEP}session-revoked"): {"event_timestamp": NOW - 10}}
    })
}

/// `claims` with the one event replaced.
pub(crate) fn with_event(mut claims: Value, uri: &str, event: Value) -> Value {
    claims["events"] = json!({ uri: event });
    claims
}

/// A verification SET for this stream.
pub(crate) fn verification(jti: &str, state: Option<&str>) -> Value {
    let event = match state {
        Some(s) => json!({ "state": s }),
        None => json!({}),
    };
    let mut c = with_event(claims(jti), VERIFICATION, event);
    c["sub_id"] = json!({"format": "opaque", "id": STREAM_ID});
    c
}

/// Signed with the transmitter's key.
pub(crate) fn sign(claims: &Value) -> String {
    sign_with(tx_key(), claims).unwrap()
}

/// Any header and payload, signed by `key` over exactly what is sent.
pub(crate) fn forge(header: &Value, claims: &Value, key: &dyn SigningKey) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature))
}

/// The standard header for `key`.
pub(crate) fn header(key: &dyn SigningKey) -> Value {
    json!({"typ": "secevent+jwt", "alg": key.alg().as_str(), "kid": key.kid().as_str()})
}

/// A handler that records, like [`RecordingHandler`], and also keeps a state: every acted-on
/// SET puts the row `("revoked", <subject email or "?">) -> {"jti": …}`.
#[derive(Debug, Default)]
pub(crate) struct StateHandler {
    pub(crate) rows: Mutex<BTreeMap<String, Value>>,
    pub(crate) planned: Mutex<Vec<String>>,
    pub(crate) applied: Mutex<Vec<String>>,
    pub(crate) loads: Mutex<Vec<usize>>,
}

impl EventHandler for StateHandler {
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite> {
        self.planned.lock().unwrap().push(set.jti().to_owned());
        let key = match set.claims.sub_id.as_ref().map(|s| s.to_json()) {
            Some(s) => s
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            None => "?".to_owned(),
        };
        // How many rows memory holds when planning: shows earlier commits of the batch.
        let seen = self.rows.lock().unwrap().len();
        vec![StateWrite::Put {
            kind: "revoked".into(),
            key,
            value: json!({ "jti": set.jti(), "rows_before": seen }),
            event_time: set.event_time(),
        }]
    }

    /// Audits every plan with a test rule, filed under the subject's email.
    fn plan_audited(&self, set: &ReceivedSet) -> Plan {
        let writes = self.plan(set);
        let subjects = writes.iter().map(|w| w.key().to_owned()).collect();
        let mut detail = serde_json::Map::new();
        detail.insert("rule".into(), json!("test.revoke"));
        Plan {
            writes,
            audit: Some(PlanAudit { detail, subjects }),
        }
    }

    fn commit(&self, writes: &[StateWrite]) {
        let mut rows = self.rows.lock().unwrap();
        for w in writes {
            if let StateWrite::Put { key, value, .. } = w {
                rows.insert(key.clone(), value.clone());
            }
        }
    }

    fn load(&self, loaded: Vec<StateRow>) {
        self.loads.lock().unwrap().push(loaded.len());
        *self.rows.lock().unwrap() = loaded.into_iter().map(|r| (r.key, r.value)).collect();
    }

    fn applied(&self, set: &ReceivedSet) {
        self.applied.lock().unwrap().push(set.jti().to_owned());
    }
}

/// The stream context the tests use: RS256, this stream's id and push secret.
pub(crate) fn context(keys: Arc<dyn KeySource>) -> StreamContext {
    StreamContext::new(STREAM_KEY, "acme-idp", VerifyOptions::new(ISS, AUD), keys)
        .with_stream_id(Some(StreamId::new(STREAM_ID)))
        .with_push_auth_sha256(Some(authorization_digest(PUSH_AUTH)))
}

/// How to build a [`Rx`].
pub(crate) struct RxOptions {
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) handler: Option<Arc<dyn EventHandler>>,
    pub(crate) store: Option<Arc<dyn ReceiverStore>>,
    pub(crate) dir: Option<tempfile::TempDir>,
    pub(crate) edit: Box<dyn FnOnce(StreamContext) -> StreamContext + Send>,
    /// Stream keys the push endpoint expects before they are registered.
    pub(crate) expected: Vec<&'static str>,
}

impl Default for RxOptions {
    fn default() -> Self {
        Self {
            keys: Arc::new(JwksSnapshot::new(&jwks())),
            handler: None,
            store: None,
            dir: None,
            edit: Box::new(|c| c),
            expected: Vec::new(),
        }
    }
}

/// A receiver serving its push routes on loopback.
pub(crate) struct Rx {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: ManualClock,
    pub(crate) store: Arc<dyn ReceiverStore>,
    pub(crate) recorder: Arc<RecordingHandler>,
    pub(crate) events: mpsc::UnboundedReceiver<ReceivedSet>,
    pub(crate) streams: Arc<StreamRegistry>,
    pub(crate) receiver: Arc<SetReceiver>,
    _dir: tempfile::TempDir,
    server: JoinHandle<()>,
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The `err` of an RFC 8935 error body, after checking the body's form (PUSH-10).
    pub(crate) fn err(&self) -> String {
        let ct = self.headers.get("content-type").unwrap().to_str().unwrap();
        assert!(ct.starts_with("application/json"), "{ct}");
        let body = self.json();
        assert!(body["description"].is_string(), "{body}");
        body["err"].as_str().unwrap().to_owned()
    }
}

pub(crate) fn clock() -> ManualClock {
    ManualClock::new(UnixMillis::from_secs(NOW))
}

impl Rx {
    pub(crate) async fn start() -> Self {
        Self::start_with(RxOptions::default()).await
    }

    pub(crate) async fn start_with(options: RxOptions) -> Self {
        let clock = clock();
        let dir = options.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let store: Arc<dyn ReceiverStore> = match options.store {
            Some(s) => s,
            None => Arc::new(
                SqliteReceiverStore::open_path(
                    dir.path().join("receiver.db"),
                    Arc::new(clock.clone()),
                )
                .await
                .unwrap(),
            ),
        };
        store
            .upsert_stream(ReceiverStream {
                stream_key: STREAM_KEY.into(),
                peer: "acme-idp".into(),
                issuer: ISS.into(),
                stream_id: Some(StreamId::new(STREAM_ID)),
                delivery: DeliveryMethod::Push,
                status: StreamStatus::Enabled,
                status_reason: None,
                push_auth_sha256: Some(authorization_digest(PUSH_AUTH)),
                config: json!({}),
            })
            .await
            .unwrap();
        let (recorder, events) = RecordingHandler::new();
        let handler = options
            .handler
            .unwrap_or_else(|| Arc::clone(&recorder) as Arc<dyn EventHandler>);
        let applier = Applier::start(
            Arc::clone(&store),
            handler,
            Arc::new(clock.clone()),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
        let pipeline = Pipeline::new(
            PipelineConfig::default(),
            Arc::clone(&store),
            Arc::new(clock.clone()),
        );
        let receiver = Arc::new(SetReceiver::new(pipeline, Arc::new(applier)));
        let streams = Arc::new(StreamRegistry::new());
        streams.insert((options.edit)(context(options.keys)));
        let state = Arc::new(
            PushState::new(Arc::clone(&receiver), Arc::clone(&streams))
                .with_expected_streams(options.expected),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router(state)).await.unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            clock,
            store,
            recorder,
            events,
            streams,
            receiver,
            _dir: dir,
            server,
        }
    }

    /// POSTs `body` to the push URL of `stream_key` with exactly these headers.
    pub(crate) async fn post(
        &self,
        stream_key: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut request = self
            .http
            .post(format!("{}/ssf/push/{stream_key}", self.base))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        Resp {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    /// A push as a well-behaved transmitter sends it (PUSH-02..04).
    pub(crate) async fn push(&self, token: &str) -> Resp {
        self.post(
            STREAM_KEY,
            &[
                ("content-type", "application/secevent+jwt"),
                ("accept", "application/json"),
                ("authorization", PUSH_AUTH),
            ],
            token.to_owned(),
        )
        .await
    }

    /// Pushes and returns the `err` of the expected `400`.
    pub(crate) async fn push_rejected(&self, token: &str) -> String {
        let resp = self.push(token).await;
        assert_eq!(
            resp.status,
            400,
            "{:?}",
            String::from_utf8_lossy(&resp.body)
        );
        resp.err()
    }

    /// Pushes and checks the `202` with an empty body (PUSH-09).
    pub(crate) async fn push_accepted(&self, token: &str) {
        let resp = self.push(token).await;
        assert_eq!(
            resp.status,
            202,
            "{:?}",
            String::from_utf8_lossy(&resp.body)
        );
        assert!(resp.body.is_empty());
    }

    /// How many (`iss`, `jti`) pairs the store recorded.
    pub(crate) async fn recorded(&self) -> u64 {
        self.store.seen_count().await.unwrap()
    }

    /// Stops serving (the store and applier stay until dropped).
    pub(crate) fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for Rx {
    fn drop(&mut self) {
        self.server.abort();
    }
}
