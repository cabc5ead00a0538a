//! Several `ssf serve` transmitter processes on one PostgreSQL database: the harness shared by
//! the process-level fault tests in `multinode_push`, `multinode_poll` and `multinode_restart`.
//!
//! Each test gets a fresh schema on the server of `SSF_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), or a private server of its own
//! (`multinode_restart`). The nodes share that schema, one key directory and the OAuth clients
//! of their configuration, and one issuer (node A's URL, like a load balancer's would be). When
//! no server answers, the tests print a note and pass, unless `SSF_REQUIRE_POSTGRES=1` (CI),
//! which makes them fail.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    routing,
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::{
    serve::{SESSION_REVOKED, claims},
    server::{DEADLINE, get, post, runtime, wait_for},
};

/// The receiver client's secret (its hash is in the nodes' configuration).
pub(crate) const RX_SECRET: &str = "multinode-receiver-secret-0123456789abcdef";
/// The event producer's secret.
pub(crate) const PRODUCER_SECRET: &str = "multinode-producer-secret-0123456789abcdef";

/// Whether PostgreSQL tests must fail instead of skipping.
pub(crate) fn postgres_required() -> bool {
    std::env::var("SSF_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// The shared test server, if it answers (asked once per process); else a skip note, or a
/// failure with `SSF_REQUIRE_POSTGRES=1`.
pub(crate) fn shared_server() -> Option<String> {
    static ANSWER: OnceLock<Result<String, String>> = OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let url = std::env::var("SSF_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        runtime().block_on(async {
            match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
                Ok(Ok(conn)) => conn.close().await.map(|()| url).map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(format!("{url}: {e}")),
                Err(_) => Err(format!("{url}: no answer within 5 s")),
            }
        })
    });
    match answer {
        Ok(url) => Some(url.clone()),
        Err(err) => {
            assert!(
                !postgres_required(),
                "PostgreSQL is unreachable ({err}) and SSF_REQUIRE_POSTGRES=1: start it with \
                 `bash .ci/postgres.sh` or point SSF_TEST_DATABASE_URL at one"
            );
            eprintln!(
                "SKIPPED: PostgreSQL is unreachable ({err}); set SSF_REQUIRE_POSTGRES=1 to fail"
            );
            None
        }
    }
}

/// Runs one SQL statement on `url` (test set-up only).
pub(crate) fn execute(url: &str, sql: String) {
    runtime().block_on(async {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

/// A fresh schema on the shared server, dropped (with everything in it) on drop.
pub(crate) struct Schema {
    pub(crate) url: String,
    pub(crate) name: String,
}

impl Schema {
    pub(crate) fn create(url: &str) -> Self {
        let name = format!("ssf_nodes_{}", uuid::Uuid::new_v4().simple());
        execute(url, format!("CREATE SCHEMA {name}"));
        Self {
            url: url.to_owned(),
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        execute(
            &self.url,
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

/// A loopback port nothing listens on right now (for node A, whose URL is the issuer and must
/// be known before it starts).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What differs between the nodes of one test.
#[derive(Clone)]
pub(crate) struct Cluster {
    /// `postgres://...` of the shared database.
    pub(crate) database: String,
    /// The schema, or `None` for the server's default.
    pub(crate) schema: Option<String>,
    /// The issuer every node uses: node A's URL.
    pub(crate) issuer: String,
    /// The key directory every node reads.
    pub(crate) keys_dir: PathBuf,
    /// Extra TOML appended to `[transmitter]`'s sub-tables (e.g. `[transmitter.poll]`).
    pub(crate) extra: String,
}

impl Cluster {
    /// A cluster on `database`/`schema` whose issuer is `http://127.0.0.1:<free port>`.
    pub(crate) fn new(root: &Path, database: &str, schema: Option<&str>, extra: &str) -> Self {
        let keys_dir = root.join("shared-keys");
        std::fs::create_dir_all(&keys_dir).unwrap();
        Self {
            database: database.to_owned(),
            schema: schema.map(str::to_owned),
            issuer: format!("http://127.0.0.1:{}", free_port()),
            keys_dir,
            extra: extra.to_owned(),
        }
    }

    /// The configuration of node `name` listening on `listen`.
    pub(crate) fn config(&self, name: &str, listen: &str) -> String {
        let schema = self
            .schema
            .as_ref()
            .map(|s| format!("schema = \"{s}\"\n"))
            .unwrap_or_default();
        let rx_hash = ssf_transmitter::auth::hash_secret(RX_SECRET);
        let producer_hash = ssf_transmitter::auth::hash_secret(PRODUCER_SECRET);
        format!(
            r#"
[server]
listen = "{listen}"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[transmitter]
issuer = "{issuer}"
signing_alg = "ES256"
keys_dir = "{keys}"
database = "{database}"

[transmitter.postgres]
max_connections = 4
acquire_timeout = "5s"
{schema}
[[transmitter.auth.clients]]
client_id = "rx"
secret_hash = "{rx_hash}"
scopes = ["ssf.read", "ssf.manage"]

[[transmitter.auth.clients]]
client_id = "producer"
secret_hash = "{producer_hash}"
scopes = ["ssf.events.publish"]

[transmitter.ingest]
stream_cache_ttl = "200ms"

[transmitter.push]
workers = 2
batch_size = 8
lease = "3s"
idle_poll_interval = "250ms"

[transmitter.push.retry]
delays = ["200ms", "300ms", "400ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
jitter_percent = 0

[transmitter.push.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
request_timeout = "2s"
user_agent = "ssf-node-{name}"
{extra}"#,
            issuer = self.issuer,
            keys = self.keys_dir.display(),
            database = self.database,
            extra = self.extra,
        )
    }

    /// Starts node A on the issuer's port, then the others on free ports; returns once every
    /// `/healthz` answers. A generates the shared signing key, so it starts first.
    pub(crate) fn start(&self, root: &Path, names: &[&str]) -> Vec<Node> {
        let mut nodes = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let listen = if i == 0 {
                self.issuer.trim_start_matches("http://").to_owned()
            } else {
                "127.0.0.1:0".to_owned()
            };
            nodes.push(Node::start_in(root, name, &self.config(name, &listen)));
        }
        nodes
    }
}

/// One `ssf serve` process.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) base: String,
    dir: PathBuf,
    child: Child,
}

impl Node {
    /// [`Node::start`] in `root/node-<name>`, created first.
    pub(crate) fn start_in(root: &Path, name: &str, config: &str) -> Self {
        let dir = root.join(format!("node-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start(&dir, name, config)
    }

    /// Writes `config`, starts `ssf serve` in `dir` and waits for `/healthz`.
    pub(crate) fn start(dir: &Path, name: &str, config: &str) -> Self {
        std::fs::write(dir.join("ssf.toml"), config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssf"));
        command
            .args(["serve", "--config", "ssf.toml"])
            .current_dir(dir)
            .env("RUST_LOG", "info,ssf_store=debug,tower_http=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(dir.join("server.log")).unwrap());
        crate::server::clear_ssf_env(&mut command);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ssf serve listening on ") {
                    let _ = tx.send(url.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let Ok(base) = rx.recv_timeout(DEADLINE) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("node {name} did not start:\n{log}");
        };
        let node = Self {
            name: name.to_owned(),
            base,
            dir: dir.to_owned(),
            child,
        };
        wait_for(&format!("node {name}'s /healthz"), || {
            (node.health() == 200).then_some(())
        });
        node
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The status of `GET /healthz` (0: no answer).
    pub(crate) fn health(&self) -> u16 {
        get(&self.url("/healthz")).0
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, leases and connections are simply abandoned.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// An access token of client `rx` (`ssf.read ssf.manage`) or `producer`.
    pub(crate) fn token(&self, client: &str) -> String {
        let secret = if client == "rx" {
            RX_SECRET
        } else {
            PRODUCER_SECRET
        };
        let (status, body) = post(
            &self.url("/oauth/token"),
            None,
            Some((client, secret)),
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials".to_owned(),
        );
        assert_eq!(status, 200, "token from node {}: {body}", self.name);
        let body: Value = serde_json::from_str(&body).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a stream for session-revoked with `delivery`; returns its id.
    pub(crate) fn create_stream(&self, rx_token: &str, delivery: Value) -> String {
        let body = json!({ "delivery": delivery, "events_requested": [SESSION_REVOKED] });
        let (status, answer) = post(
            &self.url("/ssf/streams"),
            Some(rx_token),
            None,
            "application/json",
            body.to_string(),
        );
        assert!(
            status == 200 || status == 201,
            "stream create: {status} {answer}"
        );
        let answer: Value = serde_json::from_str(&answer).unwrap();
        answer["stream_id"].as_str().unwrap().to_owned()
    }

    /// Posts one session-revoked event for `email`: the jtis queued, or `None` when the node
    /// did not accept it (down, or its database is).
    pub(crate) fn emit(&self, producer_token: &str, email: &str) -> Option<Vec<String>> {
        let body = json!({
            "event_type": SESSION_REVOKED,
            "sub_id": { "format": "email", "email": email },
            "event": { "event_timestamp": 1_700_000_000, "initiating_entity": "policy" },
        });
        let url = self.url("/events");
        let token = producer_token.to_owned();
        let answer = runtime().block_on(async move {
            let response = reqwest::Client::new()
                .post(&url)
                .bearer_auth(token)
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            response.json::<Value>().await.ok()
        })?;
        let jtis = answer["jtis"].as_array()?;
        Some(
            jtis.iter()
                .filter_map(|j| j.as_str().map(str::to_owned))
                .collect(),
        )
    }
}

/// Waits until every node routes events to the stream just created: each node caches the
/// stream list for `transmitter.ingest.stream_cache_ttl` (a stream created through another node
/// reaches it at the next reload). Returns the jtis of the probe events that got through.
pub(crate) fn wait_until_routed(nodes: &[&Node], producer_token: &str) -> Vec<String> {
    let mut jtis = Vec::new();
    for node in nodes {
        let probe = wait_for(
            &format!("node {} to route to the new stream", node.name),
            || {
                node.emit(producer_token, "probe@example.com")
                    .filter(|jtis| !jtis.is_empty())
            },
        );
        jtis.extend(probe);
    }
    jtis
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One push request the recorder got.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) jti: String,
    /// `ssf-node-<name>` of the node that pushed.
    pub(crate) node: String,
    /// What the recorder answered.
    pub(crate) status: u16,
}

/// A push receiver on loopback that records every SET by jti and applies each jti once: a
/// redelivery is answered 202 again but not applied again (the dedupe of RFC 8935 receivers).
/// It can be taken down (503) and brought back, and answers after `latency` so deliveries are
/// in flight while a test kills a node.
pub(crate) struct Recorder {
    pub(crate) url: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    applied: Arc<Mutex<BTreeMap<String, String>>>,
    /// jti -> node of the requests that arrived and are not answered yet.
    in_flight: Arc<Mutex<BTreeMap<String, String>>>,
    /// (jti, node) of every request as it arrived, answered or not.
    arrivals: Arc<Mutex<Vec<(String, String)>>>,
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub(crate) fn start(latency: Duration) -> Self {
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let applied = Arc::new(Mutex::new(BTreeMap::new()));
        let in_flight = Arc::new(Mutex::new(BTreeMap::new()));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let up = Arc::new(AtomicBool::new(true));
        let state = (
            Arc::clone(&deliveries),
            Arc::clone(&applied),
            Arc::clone(&in_flight),
            Arc::clone(&arrivals),
            Arc::clone(&up),
        );
        let app = Router::new().route(
            "/push",
            routing::post(move |headers: HeaderMap, body: Bytes| {
                let (deliveries, applied, in_flight, arrivals, up) = state.clone();
                async move {
                    let set = String::from_utf8_lossy(&body).into_owned();
                    let claims = claims(&set);
                    let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
                    let node = headers
                        .get(header::USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let relevant = claims["events"].get(SESSION_REVOKED).is_some();
                    let status = if up.load(Ordering::SeqCst) {
                        StatusCode::ACCEPTED
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    if relevant {
                        in_flight.lock().unwrap().insert(jti.clone(), node.clone());
                        arrivals.lock().unwrap().push((jti.clone(), node.clone()));
                        // Simulated receiver latency, so claims are held while a node dies.
                        // (A request cut off by the sender's death ends here, unrecorded.)
                        tokio::time::sleep(latency).await;
                        in_flight.lock().unwrap().remove(&jti);
                        deliveries.lock().unwrap().push(Delivery {
                            jti: jti.clone(),
                            node: node.clone(),
                            status: status.as_u16(),
                        });
                        if status == StatusCode::ACCEPTED {
                            applied.lock().unwrap().entry(jti).or_insert(set);
                        }
                    }
                    status
                }
            }),
        );
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/push", listener.local_addr().unwrap());
        let task = runtime().spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            deliveries,
            applied,
            in_flight,
            arrivals,
            up,
            task,
        }
    }

    /// Answer 202 (`true`) or 503.
    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Every request so far.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The jtis applied (each once).
    pub(crate) fn applied(&self) -> Vec<String> {
        self.applied.lock().unwrap().keys().cloned().collect()
    }

    /// The jtis of the requests from node `name` that arrived and are not answered yet.
    pub(crate) fn in_flight_from(&self, name: &str) -> Vec<String> {
        let agent = format!("ssf-node-{name}");
        let in_flight = self.in_flight.lock().unwrap();
        in_flight
            .iter()
            .filter(|(_, node)| **node == agent)
            .map(|(jti, _)| jti.clone())
            .collect()
    }

    /// (jti, `ssf-node-<name>`) of every request as it arrived, answered or cut off.
    pub(crate) fn arrivals(&self) -> Vec<(String, String)> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits until every jti of `expected` was applied; fails naming the missing ones.
    pub(crate) fn wait_for_all(&self, expected: &[String], nodes: &[&Node]) {
        let done = crate::server::eventually(|| {
            let applied = self.applied.lock().unwrap();
            expected.iter().all(|j| applied.contains_key(j))
        });
        if !done {
            let applied = self.applied();
            let missing: Vec<&String> = expected.iter().filter(|j| !applied.contains(j)).collect();
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("--- node {}:\n{}", n.name, tail(&n.log(), 40)))
                .collect();
            panic!(
                "{} of {} SETs never arrived: {missing:?}\n{}",
                missing.len(),
                expected.len(),
                logs.join("\n")
            );
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A push delivery to `url`.
pub(crate) fn push_delivery(url: &str) -> Value {
    json!({ "method": "urn:ietf:rfc:8935", "endpoint_url": url })
}
