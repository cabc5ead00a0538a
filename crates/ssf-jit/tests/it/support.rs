//! Test harness: the bridge's webhook routes on `127.0.0.1:0` over an SQLite file in a temp dir
//! or a PostgreSQL schema ([`Db`]), a manual clock, and a small fake transmitter (`/oauth/token` + `/events`) that can answer
//! 202, 500 or 400, or be down.
#![allow(dead_code, unreachable_pub)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use ssf_jit::{
    Bridge, Emitter, JitConfig, RoundReport, SystemConfig, SystemKind,
    config::{AccessRule, AssetRule},
    verify::sign_hex,
};
use ssf_types::{ManualClock, UnixMillis};
use tempfile::TempDir;
use tokio::{net::TcpSocket, task::JoinHandle};

pub use crate::backends::Db;

pub const GENERIC_SECRET: &str = "generic-secret-0123456789abcdef";
pub const JIRA_SECRET: &str = "jira-webhook-secret-0123456789ab";
pub const SNOW_SECRET: &str = "servicenow-token-0123456789abcdef";
pub const CLIENT_ID: &str = "jit-bridge";
pub const CLIENT_SECRET: &str = "jit-bridge-client-secret-0123456789";
pub const TOKEN_CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";

/// 2025-01-01T09:00:00Z, the start of every test day.
pub const T0: i64 = 1_735_722_000;

/// How the fake transmitter answers `POST /events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 202 with `{"txn", "streams", "jtis"}`.
    Accept,
    /// 500.
    Fail,
    /// 400 `invalid_request`.
    Reject,
}

#[derive(Debug)]
struct FakeState {
    mode: Mutex<Mode>,
    events: Mutex<Vec<Value>>,
    tokens: Mutex<Vec<String>>,
    token_requests: AtomicUsize,
}

/// A fake transmitter: `/oauth/token` (client credentials, `CLIENT_ID`/`CLIENT_SECRET`) and
/// `/events` (bearer token from it).
#[derive(Debug)]
pub struct FakeTx {
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FakeTx {
    pub async fn start() -> Self {
        let state = Arc::new(FakeState {
            mode: Mutex::new(Mode::Accept),
            events: Mutex::new(Vec::new()),
            tokens: Mutex::new(Vec::new()),
            token_requests: AtomicUsize::new(0),
        });
        let tx = Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            state,
            task: Mutex::new(None),
        };
        let addr = tx.serve("127.0.0.1:0".parse().unwrap());
        Self { addr, ..tx }
    }

    fn serve(&self, addr: SocketAddr) -> SocketAddr {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(64).unwrap();
        let bound = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/events", post(events))
            .with_state(Arc::clone(&self.state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.task.lock().unwrap() = Some(task);
        bound
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Every event accepted so far, in order.
    pub fn events(&self) -> Vec<Value> {
        self.state.events.lock().unwrap().clone()
    }

    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// Closes the listening socket: connections are refused until [`Self::restart`].
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub fn restart(&self) {
        self.serve(self.addr);
    }
}

async fn token(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: String) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    assert!(body.contains("grant_type=client_credentials"), "{body}");
    assert!(body.contains("scope=ssf.events.publish"), "{body}");
    let mut tokens = state.tokens.lock().unwrap();
    let issued = format!("tok-{}", tokens.len() + 1);
    tokens.push(issued.clone());
    Json(json!({"access_token": issued, "token_type": "Bearer", "expires_in": 600})).into_response()
}

async fn events(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let known = state
        .tokens
        .lock()
        .unwrap()
        .iter()
        .any(|t| auth == format!("Bearer {t}"));
    if !known {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response();
    }
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Mode::Reject => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "`event` does not fit"})),
        )
            .into_response(),
        Mode::Accept => {
            let mut events = state.events.lock().unwrap();
            events.push(body.clone());
            let answer = json!({"txn": body["txn"], "streams": 1, "jtis": [format!("jti-{}", events.len())]});
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
    }
}

/// The configuration every harness starts from: systems `generic`, `jira`, `snow`.
pub fn config(db: String, tx: &FakeTx) -> JitConfig {
    let mut c = JitConfig::default();
    c.database = Some(db);
    c.systems.insert(
        "generic".into(),
        SystemConfig::new(SystemKind::Generic, GENERIC_SECRET),
    );
    let mut jira = SystemConfig::new(SystemKind::Jira, JIRA_SECRET);
    jira.rules.asset = asset("customer", "customfield_10050");
    jira.rules.access = access_by(
        "priority.name",
        &[("Highest", "read_write"), ("High", "read_write")],
        Some("read"),
    );
    c.systems.insert("jira".into(), jira);
    let mut snow = SystemConfig::new(SystemKind::ServiceNow, SNOW_SECRET);
    snow.rules.asset = asset("customer", "account.number");
    // Customer Service cases: 3 Closed, 6 Resolved, 7 Cancelled (incidents would be 6, 7, 8).
    snow.rules.closed_states = Some(vec!["3".into(), "6".into(), "7".into()]);
    c.systems.insert("snow".into(), snow);
    c.emitter.events_url = Some(tx.url("/events"));
    c.emitter.token_url = Some(tx.url("/oauth/token"));
    c.emitter.client_id = Some(CLIENT_ID.into());
    c.emitter.client_secret = Some(CLIENT_SECRET.into());
    c.emitter.retry.jitter_percent = 0;
    c.emitter.poll_interval = Duration::from_millis(20);
    let mut http = ssf_http::ClientConfig::dev_loopback();
    // No pooled connections, so a stopped fake transmitter refuses the next request at once.
    http.pool_max_idle_per_host = 0;
    c.emitter.http = http;
    c
}

pub fn asset(asset_type: &str, field: &str) -> AssetRule {
    let mut a = AssetRule::default();
    a.asset_type = asset_type.into();
    a.field = field.into();
    a
}

pub fn access_by(field: &str, map: &[(&str, &str)], default: Option<&str>) -> AccessRule {
    let mut a = AccessRule::default();
    a.constant = None;
    a.field = Some(field.into());
    a.map = map
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    a.default = default.map(str::to_owned);
    a
}

/// The bridge with its webhook routes served, a fake transmitter, and an emitter driven by hand.
pub struct Harness {
    pub dir: TempDir,
    pub clock: ManualClock,
    pub bridge: Bridge,
    pub emitter: Emitter,
    pub tx: Arc<FakeTx>,
    pub base: String,
    pub http: reqwest::Client,
    pub db: Db,
    config: JitConfig,
    server: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Harness {
    /// On SQLite.
    pub async fn start() -> Self {
        Self::on(Db::Sqlite).await
    }

    /// On SQLite, with changes to the configuration.
    pub async fn with(configure: impl FnOnce(&mut JitConfig)) -> Self {
        Self::on_with(Db::Sqlite, configure).await
    }

    /// On `db`.
    pub async fn on(db: Db) -> Self {
        Self::on_with(db, |_| {}).await
    }

    /// On `db`, with changes to the configuration.
    pub async fn on_with(db: Db, configure: impl FnOnce(&mut JitConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tx = Arc::new(FakeTx::start().await);
        let mut config = config(db.location(dir.path()), &tx);
        configure(&mut config);
        let clock = ManualClock::new(UnixMillis::from_secs(T0));
        Self::open(dir, clock, tx, config, db).await
    }

    /// A second bridge node on the same database, clock and transmitter, with its own
    /// webhook server and emitter (for PostgreSQL; on SQLite, a second process on one file is
    /// not supported).
    pub async fn node(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::open(
            dir,
            self.clock.clone(),
            Arc::clone(&self.tx),
            self.config.clone(),
            self.db.clone(),
        )
        .await
    }

    async fn open(
        dir: TempDir,
        clock: ManualClock,
        tx: Arc<FakeTx>,
        config: JitConfig,
        db: Db,
    ) -> Self {
        let bridge = Bridge::open(config.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let emitter = bridge.emitter().unwrap().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = ssf_jit::router(bridge.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            dir,
            clock,
            bridge,
            emitter,
            tx,
            base,
            http,
            db,
            config,
            server,
        }
    }

    /// Stops everything but the files and opens the database again (a process restart).
    pub async fn restart(self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut this = self;
        // Keep the data directory: swap it out before `this` is dropped.
        let data = std::mem::replace(&mut this.dir, dir);
        let (clock, tx, config, db) = (
            this.clock.clone(),
            Arc::clone(&this.tx),
            this.config.clone(),
            this.db.clone(),
        );
        drop(this);
        Self::open(data, clock, tx, config, db).await
    }

    /// Moves the clock to `secs` after [`T0`].
    pub fn at(&self, secs: i64) {
        self.clock.set(UnixMillis::from_secs(T0 + secs));
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance(secs * 1000);
    }

    pub async fn post(
        &self,
        system: &str,
        headers: &[(&str, String)],
        body: impl Into<String>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}/jit/webhooks/{system}", self.base))
            .body(body.into());
        request = request.header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A generic webhook, signed.
    pub async fn generic(&self, event: &Value) -> (StatusCode, Value) {
        let body = event.to_string();
        let sig = format!("sha256={}", sign_hex(GENERIC_SECRET, body.as_bytes()));
        self.post("generic", &[("X-JIT-Signature", sig)], body)
            .await
    }

    /// A Jira webhook, signed like Jira Cloud does, with a delivery id.
    pub async fn jira(&self, body: &str, delivery_id: &str) -> (StatusCode, Value) {
        let sig = format!("sha256={}", sign_hex(JIRA_SECRET, body.as_bytes()));
        let headers = [
            ("X-Hub-Signature", sig),
            ("X-Atlassian-Webhook-Identifier", delivery_id.to_owned()),
        ];
        self.post("jira", &headers, body.to_owned()).await
    }

    /// A ServiceNow webhook with its bearer token.
    pub async fn snow(&self, body: &str) -> (StatusCode, Value) {
        self.post(
            "snow",
            &[("Authorization", format!("Bearer {SNOW_SECRET}"))],
            body.to_owned(),
        )
        .await
    }

    /// Runs emitter rounds until nothing is due now.
    pub async fn flush(&self) -> RoundReport {
        let mut total = RoundReport::default();
        loop {
            let r = self.emitter.run_once().await.unwrap();
            total.sent += r.sent;
            total.retried += r.retried;
            total.failed += r.failed;
            if r.sent == 0 && r.failed == 0 {
                return total;
            }
        }
    }
}

/// A generic event about ticket SUP-42 and customer C2148.
pub fn generic_event(event_id: &str, kind: &str, at_secs: i64, assignee: Option<&str>) -> Value {
    let mut v = json!({
        "ticket_id": "SUP-42",
        "event_id": event_id,
        "event_type": kind,
        "occurred_at": T0 + at_secs,
        "fields": {"customer_id": "C2148"}
    });
    if let Some(email) = assignee {
        v["assignee"] = json!({"email": email});
    }
    v
}

/// The claims of a sent event.
pub fn claims(event: &Value) -> &Value {
    &event["event"]["claims"]
}

/// A fixture file under `tests/fixtures`.
pub fn fixture(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Polls `check` until it holds, for at most 20 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
