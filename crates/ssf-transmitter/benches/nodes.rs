//! Several transmitter nodes on one PostgreSQL database (docs/BENCHMARKS.md, "Transmitter nodes
//! on PostgreSQL"): delivered SETs/s with 1, 2 and 3 nodes against the same load on the embedded
//! SQLite store in the same run, and the time from a SET queued on node A to a long poll waiting
//! on node B returning it.
//!
//! A node is its own `AppState`, `Transmitter` workers, HTTP port and store (a `PgStore` pool on
//! the shared database: `SKIP LOCKED` claims, `LISTEN/NOTIFY` wake-ups). All nodes, the producers
//! and the push receiver run in this one process and share its cores.
//!
//! `cargo bench -p ssf-transmitter --bench nodes`; environment: `SSF_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; each configuration gets a fresh schema, dropped
//! afterwards), `SSF_BENCH_SETS` (default 4000 per configuration), `SSF_BENCH_NODES` (default
//! `1,2,3`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    clippy::cast_precision_loss
)]

#[path = "nodes/cpu.rs"]
mod cpu;

use std::{
    collections::{BTreeMap, HashSet},
    str::FromStr as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgConnectOptions};
use ssf_http::ClientConfig;
use ssf_jose::{Algorithm, KeyPair, SetSigner, decode_unverified};
use ssf_store::{
    DeliveryMethod, NewStream, PgOptions, PgStore, SqliteStore, StreamStatus, TransmitterStore,
};
use ssf_transmitter::{
    AppState, TransmitterConfig,
    auth::{Scope, hash_secret, issue_access_token},
    config::ClientSettings,
    router,
    workers::{Transmitter, Workers},
};
use ssf_types::{Clock, StreamId, SystemClock};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const BATCH: usize = 100;
const PRODUCERS: usize = 4;
/// The latency run: single events at this rate, each awaited by a long poll.
const PACED_PER_SEC: u64 = 50;
const PACED_EVENTS: usize = 300;
const PUSH_STREAM: &str = "push";
const POLL_STREAM: &str = "poll";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres(usize),
}

impl Backend {
    fn label(self) -> String {
        match self {
            Self::Sqlite => "SQLite, 1 node".to_owned(),
            Self::Postgres(1) => "PostgreSQL, 1 node".to_owned(),
            Self::Postgres(n) => format!("PostgreSQL, {n} nodes"),
        }
    }
}

/// Time since the bench started, carried in each event's `txn`.
fn stamp(origin: Instant) -> String {
    format!("t{}", origin.elapsed().as_micros())
}

fn sent_at(claims: &serde_json::Map<String, Value>) -> Option<Duration> {
    let micros = claims
        .get("txn")?
        .as_str()?
        .strip_prefix('t')?
        .split('-')
        .next()?
        .parse()
        .ok()?;
    Some(Duration::from_micros(micros))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The push receiver: answers 202, counts deliveries and distinct jtis.
#[derive(Default)]
struct Receiver {
    jtis: Mutex<HashSet<String>>,
    deliveries: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    last: Mutex<Option<Instant>>,
}

async fn receive(State((rx, origin)): State<(Arc<Receiver>, Instant)>, body: Bytes) -> StatusCode {
    let claims = decode_unverified(&body[..]).unwrap().claims;
    let jti = claims["jti"].as_str().unwrap().to_owned();
    rx.deliveries.fetch_add(1, Ordering::Relaxed);
    if rx.jtis.lock().unwrap().insert(jti)
        && let Some(l) = sent_at(&claims).and_then(|s| origin.elapsed().checked_sub(s))
    {
        rx.latencies.lock().unwrap().push(l);
    }
    *rx.last.lock().unwrap() = Some(Instant::now());
    StatusCode::ACCEPTED
}

/// The shared PostgreSQL server, and the admin pool that creates the schemas.
struct Database {
    url: String,
    port: u16,
    admin: PgPool,
}

struct Node {
    state: AppState,
    base: String,
    _workers: Workers,
}

struct Cluster {
    nodes: Vec<Node>,
    shutdown: CancellationToken,
    producer: String,
    reader: String,
    http: reqwest::Client,
    origin: Instant,
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

async fn start(backend: Backend, db: &Database, signer: &SetSigner, origin: Instant) -> Cluster {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let count = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres(n) => n,
    };
    let schema = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(_) => {
            let name = format!("ssf_bench_{}", uuid::Uuid::new_v4().simple());
            // Safe: the name is generated here.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                .execute(&db.admin)
                .await
                .unwrap();
            Some(name)
        }
    };
    let mut listeners = Vec::new();
    for _ in 0..count {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        listeners.push((listener, base));
    }
    // Every node speaks for one issuer (the address a load balancer would publish).
    let issuer = listeners[0].1.clone();
    let shutdown = CancellationToken::new();
    let mut nodes = Vec::new();
    for (listener, base) in listeners {
        let mut config = TransmitterConfig::default();
        config.issuer.clone_from(&issuer);
        config.push.http = ClientConfig::dev_loopback();
        config.push.http.pool_max_idle_per_host = 64;
        config.auth.clients = vec![
            ClientSettings::new(
                "producer",
                hash_secret("unused-secret-0123456789"),
                ["ssf.events.publish"],
            ),
            ClientSettings::new("rx", hash_secret("unused-secret-0123456789"), ["ssf.read"]),
        ];
        let store: Arc<dyn TransmitterStore> = match &schema {
            None => Arc::new(
                SqliteStore::open_path(dir.path().join("tx.db"), clock.clone())
                    .await
                    .unwrap(),
            ),
            Some(name) => {
                let options = PgOptions {
                    max_connections: 8,
                    schema: Some(name.clone()),
                    ..PgOptions::default()
                };
                Arc::new(
                    PgStore::connect(&db.url, clock.clone(), options)
                        .await
                        .unwrap(),
                )
            }
        };
        let state = AppState::new(
            config,
            store,
            signer.clone(),
            clock.clone(),
            shutdown.clone(),
        );
        tokio::spawn(router::serve(listener, state.clone()));
        let workers = Transmitter::start(&state).unwrap();
        nodes.push(Node {
            state,
            base,
            _workers: workers,
        });
    }
    let producer = issue_access_token(&nodes[0].state, "producer", &[Scope::Publish].into())
        .unwrap()
        .0;
    let reader = issue_access_token(&nodes[0].state, "rx", &[Scope::Read].into())
        .unwrap()
        .0;
    Cluster {
        nodes,
        shutdown,
        producer,
        reader,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        origin,
        schema,
        _dir: dir,
    }
}

impl Cluster {
    /// Creates a stream through node 0's store (the database is shared) and tells every node.
    async fn create_stream(&self, id: &str, delivery: Value) {
        let method = if delivery["method"] == "urn:ietf:rfc:8935" {
            DeliveryMethod::Push
        } else {
            DeliveryMethod::Poll
        };
        let state = &self.nodes[0].state;
        let config = json!({"stream_id": id, "iss": state.config.issuer, "aud": "https://rx.example.com",
            "events_delivered": [REVOKED], "delivery": delivery});
        let new = NewStream::new(StreamId::new(id), "rx", method, config);
        state.store.create_stream(new).await.unwrap();
        self.invalidate();
    }

    async fn disable(&self, id: &str) {
        self.nodes[0]
            .state
            .store
            .set_stream_status("rx", &StreamId::new(id), StreamStatus::Disabled, None)
            .await
            .unwrap();
        self.invalidate();
    }

    fn invalidate(&self) {
        for node in &self.nodes {
            node.state.matcher.invalidate();
        }
    }

    /// Publishes `n` events (distinct subjects) from `PRODUCERS` producers in batches of
    /// `BATCH`; batch `j` of producer `p` goes to node `(p + j) % nodes`.
    async fn produce(&self, n: usize, tag: &str) {
        let per = n / PRODUCERS;
        let urls: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("{}/events", node.base))
            .collect();
        let mut tasks = Vec::new();
        for p in 0..PRODUCERS {
            let (http, urls, token, origin, tag) = (
                self.http.clone(),
                urls.clone(),
                self.producer.clone(),
                self.origin,
                tag.to_owned(),
            );
            tasks.push(tokio::spawn(async move {
                let (mut sent, mut j) = (0, 0);
                while sent < per {
                    let count = BATCH.min(per - sent);
                    let batch: Vec<Value> = (0..count)
                        .map(|i| {
                            json!({"event_type": REVOKED,
                                "sub_id": {"format": "email", "email": format!("{tag}-{p}-{}@example.com", sent + i)},
                                "event": {"event_timestamp": 1_735_689_600, "initiating_entity": "policy"},
                                "txn": format!("{}-{p}-{}", stamp(origin), sent + i)})
                        })
                        .collect();
                    let url = &urls[(p + j) % urls.len()];
                    let r = http.post(url).bearer_auth(&token).json(&batch).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::ACCEPTED);
                    sent += count;
                    j += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    async fn stop(self, db: &Database) {
        self.shutdown.cancel();
        for node in &self.nodes {
            node.state.store.close().await;
        }
        drop(self.nodes);
        if let Some(name) = &self.schema {
            // Safe: the name was generated by `start`.
            let sql = format!("SET lock_timeout = '10s'; DROP SCHEMA {name} CASCADE");
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&db.admin)
                .await
            {
                eprintln!("could not drop schema {name}: {e}");
            }
        }
    }
}

struct PushRun {
    backend: Backend,
    sets: usize,
    elapsed: Duration,
    duplicates: usize,
    process_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
    latencies: Vec<Duration>,
    load: f64,
}

impl PushRun {
    fn rate(&self) -> f64 {
        self.sets as f64 / self.elapsed.as_secs_f64()
    }
}

/// Saturating push: `n` SETs spread over the nodes, one receiver; every jti must arrive.
async fn push_run(cluster: &Cluster, backend: Backend, db: &Database, n: usize) -> PushRun {
    let rx = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/push", post(receive))
        .with_state((Arc::clone(&rx), cluster.origin));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    let stop = cluster.shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    cluster
        .create_stream(
            PUSH_STREAM,
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": url}),
        )
        .await;
    // Warm-up: connections, statement caches, the stream cache of every node.
    let warm = (n / 20).max(PRODUCERS * 25).div_ceil(PRODUCERS) * PRODUCERS;
    cluster.produce(warm, "warm").await;
    wait_for(&rx, warm).await;
    rx.latencies.lock().unwrap().clear();
    let is_pg = matches!(backend, Backend::Postgres(_));
    let server_before = if is_pg {
        Some(cpu::backends(&db.admin, db.port).await)
    } else {
        None
    };
    let (start, cpu_before) = (Instant::now(), cpu::process());
    cluster.produce(n, "load").await;
    wait_for(&rx, warm + n).await;
    let end = rx.last.lock().unwrap().unwrap_or_else(Instant::now);
    let process_cpu = cpu::process().zip(cpu_before).map(|(a, b)| a - b);
    let server_cpu = match server_before {
        Some(before) => Some(cpu::spent(
            &before,
            &cpu::backends(&db.admin, db.port).await,
        )),
        None => None,
    };
    let load = cpu::load_average();
    cluster.disable(PUSH_STREAM).await;
    let mut latencies = std::mem::take(&mut *rx.latencies.lock().unwrap());
    latencies.sort_unstable();
    PushRun {
        backend,
        sets: n,
        elapsed: end - start,
        duplicates: rx.deliveries.load(Ordering::Relaxed) - rx.jtis.lock().unwrap().len(),
        process_cpu,
        server_cpu,
        latencies,
        load,
    }
}

/// Waits (bounded) until `n` distinct jtis arrived; a missing one fails the run.
async fn wait_for(rx: &Receiver, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60 + (n / 100) as u64);
    loop {
        let seen = rx.jtis.lock().unwrap().len();
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {seen} of {n} SETs arrived: SETs were lost"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct PollRun {
    backend: Backend,
    cross_node: bool,
    /// Publish start -> the long poll on the other node returned the SET.
    latencies: Vec<Duration>,
    /// Publish start -> the ingest's 202.
    accepted: Vec<Duration>,
    load: f64,
}

/// Paced single events into node A, a long poll waiting on node B (A itself with one node).
async fn poll_run(cluster: &Cluster, backend: Backend) -> PollRun {
    let (a, b) = (
        &cluster.nodes[0],
        &cluster.nodes[cluster.nodes.len().min(2) - 1],
    );
    let poll_url = format!("{}/ssf/poll/{POLL_STREAM}", b.base);
    cluster
        .create_stream(
            POLL_STREAM,
            json!({"method": "urn:ietf:rfc:8936", "endpoint_url": poll_url}),
        )
        .await;
    let (http, token, origin) = (cluster.http.clone(), cluster.reader.clone(), cluster.origin);
    let url = poll_url.clone();
    let poller = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(PACED_EVENTS);
        let mut ack: Vec<String> = Vec::new();
        while latencies.len() < PACED_EVENTS {
            let body = json!({"ack": ack, "maxEvents": 100, "returnImmediately": false});
            let r: Value = http
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let received = origin.elapsed();
            let sets: BTreeMap<String, Value> = serde_json::from_value(r["sets"].clone()).unwrap();
            ack = sets.keys().cloned().collect();
            for set in sets.values() {
                let claims = decode_unverified(set.as_str().unwrap()).unwrap().claims;
                latencies.extend(sent_at(&claims).and_then(|s| received.checked_sub(s)));
            }
        }
        let body = json!({"ack": ack, "maxEvents": 0, "returnImmediately": true});
        let _ = http.post(&url).bearer_auth(&token).json(&body).send().await;
        latencies
    });
    let events_url = format!("{}/events", a.base);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / PACED_PER_SEC));
    let mut inflight = Vec::new();
    for i in 0..PACED_EVENTS {
        tick.tick().await;
        let sent = origin.elapsed();
        let body = json!({"event_type": REVOKED,
            "sub_id": {"format": "email", "email": format!("paced-{i}@example.com")},
            "txn": format!("t{}-paced-{i}", sent.as_micros())});
        let request = cluster
            .http
            .post(&events_url)
            .bearer_auth(&cluster.producer)
            .json(&body)
            .send();
        inflight.push(tokio::spawn(async move {
            let status = request.await.unwrap().status();
            assert_eq!(status, StatusCode::ACCEPTED);
            origin.elapsed() - sent
        }));
    }
    let mut accepted = Vec::new();
    for r in inflight {
        accepted.push(r.await.unwrap());
    }
    let mut latencies = tokio::time::timeout(Duration::from_secs(120), poller)
        .await
        .expect("the long poll did not return every SET within 120 s")
        .unwrap();
    latencies.sort_unstable();
    accepted.sort_unstable();
    let load = cpu::load_average();
    cluster.disable(POLL_STREAM).await;
    PollRun {
        backend,
        cross_node: !std::ptr::eq(a, b),
        latencies,
        accepted,
        load,
    }
}

/// SETs/s signing a realistic SET on every core for `for_how_long`: the ceiling of any run.
fn raw_signing_rate(signer: &SetSigner, for_how_long: Duration) -> f64 {
    let claims = json!({"iss": "https://tx.example.com", "jti": "0191b4c4-9f1e-7c3a-8a1b-1c2d3e4f5a6b",
        "iat": 1_735_689_600, "aud": "https://rx.example.com", "txn": "t123456",
        "sub_id": {"format": "email", "email": "jdoe@example.com"},
        "events": {REVOKED: {"event_timestamp": 1_735_689_600, "initiating_entity": "policy"}}});
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let start = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    while start.elapsed() < for_how_long {
                        signer.sign(&claims).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn per_set(cpu: Option<Duration>, n: usize) -> String {
    cpu.map_or_else(
        || "n/a".to_owned(),
        |c| format!("{:.0} µs", c.as_secs_f64() * 1e6 / n as f64),
    )
}

fn main() {
    ssf_jose::install_crypto_provider();
    let n = env_usize("SSF_BENCH_SETS", 4000).div_ceil(PRODUCERS) * PRODUCERS;
    let node_counts: Vec<usize> = std::env::var("SSF_BENCH_NODES")
        .unwrap_or_else(|_| "1,2,3".to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|&v| v > 0)
        .collect();
    let url = std::env::var("SSF_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let signer = SetSigner::with_key(
        KeyPair::generate(Algorithm::Rs256, None).unwrap(),
        Arc::new(SystemClock),
    );
    let raw_before = raw_signing_rate(&signer, Duration::from_secs(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let origin = Instant::now();
    let (pushes, polls) = runtime.block_on(async {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {url} is unreachable ({e}): start one or set SSF_BENCH_DATABASE_URL")
            });
        let port = PgConnectOptions::from_str(&url).unwrap().get_port();
        let db = Database { url, port, admin };
        // The SQLite baseline runs first and last; the reference is the better of the two.
        let mut backends = vec![Backend::Sqlite];
        backends.extend(node_counts.iter().map(|&k| Backend::Postgres(k)));
        backends.push(Backend::Sqlite);
        let (mut pushes, mut polls) = (Vec::new(), Vec::new());
        for backend in backends {
            eprintln!("{}: {n} SETs pushed, then {PACED_EVENTS} polled", backend.label());
            let cluster = start(backend, &db, &signer, origin).await;
            pushes.push(push_run(&cluster, backend, &db, n).await);
            polls.push(poll_run(&cluster, backend).await);
            cluster.stop(&db).await;
        }
        (pushes, polls)
    });
    let raw_after = raw_signing_rate(&signer, Duration::from_secs(2));
    report(&pushes, &polls, raw_before, raw_after, n);
}

fn report(pushes: &[PushRun], polls: &[PollRun], raw_before: f64, raw_after: f64, n: usize) {
    let reference = pushes
        .iter()
        .filter(|r| r.backend == Backend::Sqlite)
        .map(PushRun::rate)
        .fold(0.0, f64::max);
    println!(
        "raw RS256 signing, all cores: {raw_before:.0}/s before, {raw_after:.0}/s after; SQLite reference {reference:.0} SETs/s"
    );
    println!(
        "push: {n} SETs per run, {PRODUCERS} producers, batches of {BATCH}, spread over the nodes"
    );
    println!();
    println!(
        "| store | delivered SETs/s | vs SQLite | process CPU/SET | PostgreSQL CPU/SET | push latency p50 / p99 | duplicates | load avg |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in pushes {
        println!(
            "| {} | {:.0} | {:.2}x | {} | {} | {:.0} / {:.0} ms | {} | {:.1} |",
            r.backend.label(),
            r.rate(),
            r.rate() / reference,
            per_set(r.process_cpu, r.sets),
            per_set(r.server_cpu, r.sets),
            ms(pct(&r.latencies, 0.5)),
            ms(pct(&r.latencies, 0.99)),
            r.duplicates,
            r.load
        );
    }
    println!();
    println!(
        "long poll: {PACED_EVENTS} single events at {PACED_PER_SEC}/s into node A, one long poll waiting on node B"
    );
    println!();
    println!(
        "| store | path | publish -> poll returned p50 / p99 | publish -> 202 p50 / p99 | load avg |"
    );
    println!("|---|---|---|---|---|");
    for r in polls {
        println!(
            "| {} | {} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {:.1} |",
            r.backend.label(),
            if r.cross_node { "A -> B" } else { "same node" },
            ms(pct(&r.latencies, 0.5)),
            ms(pct(&r.latencies, 0.99)),
            ms(pct(&r.accepted, 0.5)),
            ms(pct(&r.accepted, 0.99)),
            r.load
        );
    }
}
