//! A small fake SSF transmitter for the client-side tests: real HTTP on `127.0.0.1`, metadata
//! with path insertion (issuer `http://127.0.0.1:<port>/tenant1`), RFC 8414 metadata, a
//! client-credentials token endpoint, the stream endpoints, an RFC 8936 poll endpoint and a
//! JWKS, each with knobs to misbehave. Every response carries `Connection: close`, so stopping
//! the server really makes the next request fail (connection refused).

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use ssf_jose::{Algorithm, Jwks, KeyPair, SigningKey, sign_with};
use ssf_types::KeyId;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

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

fn serve(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let app = Router::new()
        .route("/.well-known/ssf-configuration/tenant1", get(ssf_metadata))
        .route("/.well-known/sse-configuration/tenant1", get(sse_metadata))
        .route(
            "/.well-known/risc-configuration/tenant1",
            get(risc_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/tenant1",
            get(as_metadata),
        )
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .route(
            "/ssf/streams",
            get(read_streams)
                .post(create)
                .patch(modify)
                .put(modify)
                .delete(delete),
        )
        .route("/ssf/status", get(read_status).post(write_status))
        .route("/ssf/verify", post(verify))
        .route("/ssf/subjects/add", post(add_subject))
        .route("/ssf/subjects/remove", post(remove_subject))
        .route("/ssf/poll/{id}", post(poll))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            },
        ))
        .with_state(shared);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

type S = State<Arc<Shared>>;

fn metadata(s: &Shared) -> Value {
    let k = s.knobs();
    let b = &s.base;
    json!({
        "spec_version": "1_0",
        "issuer": k.metadata_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
        "jwks_uri": format!("{b}/jwks"),
        "delivery_methods_supported": k.delivery_methods,
        "configuration_endpoint": format!("{b}/ssf/streams"),
        "status_endpoint": format!("{b}/ssf/status"),
        "add_subject_endpoint": format!("{b}/ssf/subjects/add"),
        "remove_subject_endpoint": format!("{b}/ssf/subjects/remove"),
        "verification_endpoint": format!("{b}/ssf/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "ALL",
    })
}

async fn ssf_metadata(State(s): S) -> Response {
    if s.knobs().ssf_metadata_404 {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&s)).into_response()
}

async fn sse_metadata(State(s): S) -> Response {
    if !s.knobs().serve_sse {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut m = metadata(&s);
    m.as_object_mut().unwrap().remove("spec_version");
    Json(m).into_response()
}

async fn risc_metadata(State(s): S) -> Response {
    if !s.knobs().serve_risc {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&s)).into_response()
}

async fn as_metadata(State(s): S) -> Json<Value> {
    Json(
        json!({"issuer": s.issuer, "token_endpoint": format!("{}/token", s.base),
                "grant_types_supported": ["client_credentials"]}),
    )
}

async fn token(State(s): S, headers: HeaderMap, body: String) -> Response {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let basic_ok = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let post_ok = body.contains(&format!("client_secret={CLIENT_SECRET}"));
    if !(basic_ok || post_ok) || !body.contains("grant_type=client_credentials") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "bad client credentials"})),
        )
            .into_response();
    }
    let mut k = s.knobs();
    k.tokens_issued += 1;
    let token = format!("tok-{}", k.tokens_issued);
    k.valid_tokens.insert(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": k.token_lifetime}))
        .into_response()
}

fn unauthorized(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut k = s.knobs();
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| k.valid_tokens.contains(t));
    if ok {
        return None;
    }
    k.unauthorized_answers += 1;
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"expired\"",
            )],
        )
            .into_response(),
    )
}

async fn jwks(State(s): S) -> Response {
    let mut k = s.knobs();
    k.jwks_fetches += 1;
    if k.jwks_down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let jwks = Jwks {
        keys: k.keys.iter().map(SigningKey::public_jwk).collect(),
    };
    let mut response = Json(jwks).into_response();
    if let Some(cc) = &k.jwks_cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
    }
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "error_description": "no such stream"})),
    )
        .into_response()
}

fn shown(s: &Shared, k: &Knobs, config: &Value) -> Value {
    let mut c = config.clone();
    if k.foreign_iss {
        c["iss"] = json!("https://evil.example");
    } else {
        c["iss"] = json!(s.issuer);
    }
    c
}

async fn read_streams(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let k = s.knobs();
    match q.get("stream_id") {
        Some(id) => match k.streams.get(id) {
            Some(c) => Json(shown(&s, &k, c)).into_response(),
            None => not_found(),
        },
        None => Json(
            k.streams
                .values()
                .map(|c| shown(&s, &k, c))
                .collect::<Vec<_>>(),
        )
        .into_response(),
    }
}

fn fill(s: &Shared, id: &str, body: &Value, config: &mut Value) {
    for key in ["events_requested", "delivery", "description"] {
        if let Some(v) = body.get(key) {
            config[key] = v.clone();
        }
    }
    if config.get("delivery").is_none_or(Value::is_null) {
        config["delivery"] = json!({"method": "urn:ietf:rfc:8936"});
    }
    if config["delivery"]["method"] == "urn:ietf:rfc:8936" {
        config["delivery"]["endpoint_url"] = json!(format!("{}/ssf/poll/{id}", s.base));
    }
    let supported = [SESSION_REVOKED, CREDENTIAL_CHANGE];
    let delivered: Vec<Value> = config["events_requested"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|e| supported.iter().any(|s| *e == *s))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    config["events_supported"] = json!(supported);
    config["events_delivered"] = json!(delivered);
}

async fn create(State(s): S, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut k = s.knobs();
    k.create_bodies.push(body.clone());
    if !k.multi_stream && !k.streams.is_empty() {
        return (
            StatusCode::CONFLICT,
            Json(json!({"error": "conflict", "error_description": "one stream per receiver"})),
        )
            .into_response();
    }
    k.next_id += 1;
    let id = format!("s{}", k.next_id);
    let mut config = json!({"stream_id": id, "aud": AUD});
    fill(&s, &id, &body, &mut config);
    k.streams.insert(id.clone(), config.clone());
    k.statuses.insert(id, "enabled".to_owned());
    (StatusCode::CREATED, Json(shown(&s, &k, &config))).into_response()
}

async fn modify(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let mut k = s.knobs();
    k.patch_bodies.push(body.0.clone());
    let Some(id) = body
        .get("stream_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(mut config) = k.streams.get(&id).cloned() else {
        return not_found();
    };
    fill(&s, &id, &body, &mut config);
    k.streams.insert(id, config.clone());
    Json(shown(&s, &k, &config)).into_response()
}

async fn delete(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let mut k = s.knobs();
    match q.get("stream_id").and_then(|id| k.streams.remove(id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

async fn read_status(
    State(s): S,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let k = s.knobs();
    let Some(id) = q.get("stream_id").filter(|id| k.streams.contains_key(*id)) else {
        return not_found();
    };
    let status = k
        .statuses
        .get(id)
        .cloned()
        .unwrap_or_else(|| "enabled".to_owned());
    Json(json!({"stream_id": id, "status": status})).into_response()
}

async fn write_status(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let mut k = s.knobs();
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    if !k.streams.contains_key(&id) {
        return not_found();
    }
    let status = body["status"].as_str().unwrap_or_default().to_owned();
    k.statuses.insert(id.clone(), status.clone());
    Json(json!({"stream_id": id, "status": status})).into_response()
}

async fn verify(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    let state = body.get("state").and_then(Value::as_str).map(str::to_owned);
    let auto = {
        let mut k = s.knobs();
        if !k.streams.contains_key(&id) {
            return not_found();
        }
        k.verifications.push((id.clone(), state.clone()));
        k.auto_verify_events
    };
    if auto {
        s.enqueue_verification(&id, state.as_deref());
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn add_subject(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    s.knobs()
        .subjects
        .push((format!("add {id}"), body["subject"].clone()));
    StatusCode::OK.into_response()
}

async fn remove_subject(State(s): S, headers: HeaderMap, body: Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
    s.knobs()
        .subjects
        .push((format!("remove {id}"), body["subject"].clone()));
    StatusCode::NO_CONTENT.into_response()
}

async fn poll(
    State(s): S,
    Path(_id): Path<String>,
    headers: HeaderMap,
    body: Json<Value>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    {
        let mut k = s.knobs();
        k.poll_requests.push(body.0.clone());
        if let Some((status, retry_after)) = k.poll_failures.pop_front() {
            let mut r = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(ra) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static(ra));
            }
            return r;
        }
        for jti in body["ack"].as_array().into_iter().flatten() {
            let jti = jti.as_str().unwrap().to_owned();
            k.queue.remove(&jti);
            k.acks.push(jti);
        }
        if let Some(errs) = body["setErrs"].as_object() {
            for (jti, e) in errs {
                k.queue.remove(jti);
                k.set_errs.insert(jti.clone(), e.clone());
            }
        }
    }
    let max = body["maxEvents"].as_u64().unwrap_or(100);
    let immediate = body["returnImmediately"].as_bool().unwrap_or(false);
    if max > 0 && !immediate && s.knobs().queue.is_empty() {
        let _ = tokio::time::timeout(Duration::from_millis(300), s.wake.notified()).await;
    }
    let k = s.knobs();
    let sets: BTreeMap<&String, &String> = if max == 0 {
        BTreeMap::new()
    } else {
        k.queue.iter().take(usize::try_from(max).unwrap()).collect()
    };
    let more = k.queue.len() > sets.len();
    Json(json!({"sets": sets, "moreAvailable": more})).into_response()
}
