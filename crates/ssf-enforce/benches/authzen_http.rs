//! AuthZEN endpoint throughput (docs/BENCHMARKS.md, "AuthZEN endpoint"; DESIGN §8: over 30,000
//! checks/s through the AuthZEN endpoint): `ssf_enforce::authzen::router` served by axum on
//! loopback, a minimal keep-alive HTTP/1.1 load generator with N connections posting
//! `/access/v1/evaluation` (one check per request) and `/access/v1/evaluations` (10 per
//! request), on a populated engine; beside it the in-process `Engine::decide` rate in the same
//! run. Every answer's decisions are checked against the expected ones.
//!
//! `cargo bench -p ssf-enforce --bench authzen_http`; environment: `SSF_BENCH_REQUESTS` (single
//! evaluations, default 200000; the batch run sends a fifth of that), `SSF_BENCH_CONNECTIONS`
//! (default 32).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    clippy::cast_precision_loss
)]

use std::{
    hint::black_box,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use ssf_enforce::{
    AccessPolicy, AccessRequest, EnforcementEvent, Engine, EngineConfig, EventContext, Permission,
    authzen::{self, EVALUATION_PATH, EVALUATIONS_PATH},
};
use ssf_types::{ParseMode, SystemClock};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

const IDP: &str = "https://idp.example.com/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const USERS: usize = 100_000;
const REVOKED_SESSIONS: usize = 20_000;
const T0: i64 = 1_700_000_000;
/// Evaluations per batch request.
const BATCH: usize = 10;
/// Distinct request bodies, cycled.
const DISTINCT: usize = 10_000;

fn populated() -> Engine {
    let perm = |asset: &str, access: &str| Permission {
        asset: asset.into(),
        access: access.into(),
    };
    let config = EngineConfig {
        access: AccessPolicy {
            roles: [(
                "support".to_owned(),
                vec![perm("kb:*", "read_write"), perm("customer", "read")],
            )]
            .into(),
            critical: vec!["customer".into()],
            ..AccessPolicy::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::new(config, Arc::new(SystemClock)).unwrap();
    let apply = |jti: usize, name: &str, sub_id: Value, body: Value| {
        let ctx = EventContext {
            iss: IDP.into(),
            jti: format!("j{jti}"),
            txn: None,
            iat: T0,
            toe: None,
            stream_id: None,
        };
        let event =
            EnforcementEvent::parse(&format!("{CAEP}{name}"), &body, &sub_id, ParseMode::Strict)
                .unwrap();
        engine.commit(&engine.plan(&event, &ctx).effects);
    };
    for u in 0..USERS {
        apply(
            u,
            "token-claims-change",
            json!({"format": "email", "email": format!("user{u}@example.com")}),
            json!({"claims": {"customer_id": format!("C{u}"), "access_allowed": "read_write"}, "event_timestamp": T0}),
        );
    }
    for s in 0..REVOKED_SESSIONS {
        apply(
            USERS + s,
            "session-revoked",
            json!({"format": "opaque", "id": format!("revoked-{s}")}),
            json!({"event_timestamp": T0}),
        );
    }
    engine
}

/// The subject of user `u` as a PDP caller sends it (the claims of the user's access token).
fn subject(u: usize) -> Value {
    json!({"type": "user", "id": format!("user{u}@example.com"), "properties": {
        "iss": IDP, "sub": format!("user{u}"), "sid": format!("s-{u}"), "iat": T0 - 60,
        "roles": ["support"]}})
}

/// A pre-built HTTP/1.1 request and the decisions its answer must carry (allowed, denied).
struct Prepared {
    bytes: Vec<u8>,
    allowed: usize,
    denied: usize,
}

fn http_request(path: &str, body: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(body).unwrap();
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nhost: pdp\r\ncontent-type: application/json\r\n\
         accept: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// Single evaluations: even ones on the user's own customer (granted), odd ones on another
/// customer (denied: critical asset without a grant).
fn single_requests() -> Vec<Prepared> {
    (0..DISTINCT)
        .map(|i| {
            let u = (i * 7919) % USERS;
            let customer = if i % 2 == 0 { u } else { (u + 1) % USERS };
            let body = json!({"subject": subject(u), "resource": {"type": "customer", "id": format!("C{customer}")},
                "action": {"name": "read"}});
            Prepared {
                bytes: http_request(EVALUATION_PATH, &body),
                allowed: usize::from(i % 2 == 0),
                denied: usize::from(i % 2 == 1),
            }
        })
        .collect()
}

/// Batches: one subject, `BATCH` customers, the first of them the user's own.
fn batch_requests() -> Vec<Prepared> {
    (0..DISTINCT / BATCH)
        .map(|i| {
            let u = (i * 7919) % USERS;
            let evaluations: Vec<Value> = (0..BATCH)
                .map(|k| json!({"resource": {"type": "customer", "id": format!("C{}", (u + k) % USERS)}}))
                .collect();
            let body = json!({"subject": subject(u), "action": {"name": "read"},
                "evaluations": evaluations});
            Prepared {
                bytes: http_request(EVALUATIONS_PATH, &body),
                allowed: 1,
                denied: BATCH - 1,
            }
        })
        .collect()
}

/// CPU time this process has used (all threads; Linux `/proc/self/stat`, 10 ms ticks).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

/// Sends requests `0..total` (cycling over `prepared`) over `connections` keep-alive
/// connections; latencies. Panics on any answer that is not 200 with the expected decisions.
async fn drive(
    addr: SocketAddr,
    prepared: &Arc<Vec<Prepared>>,
    total: usize,
    connections: usize,
) -> Vec<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (prepared, next) = (Arc::clone(prepared), Arc::clone(&next));
            tokio::spawn(async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let (read, mut write) = tcp.into_split();
                let mut read = BufReader::new(read);
                let (mut latencies, mut line, mut body) = (Vec::new(), String::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let p = &prepared[i % prepared.len()];
                    let sent = Instant::now();
                    write.write_all(&p.bytes).await.unwrap();
                    line.clear();
                    read.read_line(&mut line).await.unwrap();
                    assert!(line.starts_with("HTTP/1.1 200"), "answer {line:?}");
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        read.read_line(&mut line).await.unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    body.resize(length, 0);
                    read.read_exact(&mut body).await.unwrap();
                    latencies.push(sent.elapsed());
                    assert_eq!(
                        (
                            count(&body, b"\"decision\":true"),
                            count(&body, b"\"decision\":false")
                        ),
                        (p.allowed, p.denied),
                        "unexpected decisions in {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

struct Run {
    name: String,
    requests: usize,
    checks: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    cpu: Option<Duration>,
    load: f64,
}

async fn run(
    name: String,
    addr: SocketAddr,
    prepared: Vec<Prepared>,
    requests: usize,
    per_request: usize,
    connections: usize,
) -> Run {
    let prepared = Arc::new(prepared);
    drive(addr, &prepared, requests / 20, connections).await;
    let (start, cpu_before) = (Instant::now(), cpu_time());
    let mut latencies = drive(addr, &prepared, requests, connections).await;
    let elapsed = start.elapsed();
    let cpu = cpu_time().zip(cpu_before).map(|(a, b)| a - b);
    latencies.sort_unstable();
    Run {
        name,
        requests,
        checks: requests * per_request,
        elapsed,
        latencies,
        cpu,
        load: load_average(),
    }
}

/// In-process decisions per second on one thread for about `how_long`: of prebuilt requests,
/// and building each request from its claims first (what the PDP does per evaluation).
fn in_process(engine: &Engine, how_long: Duration) -> (f64, f64) {
    let claims: Vec<serde_json::Map<String, Value>> = (0..DISTINCT)
        .map(|i| {
            let u = (i * 7919) % USERS;
            let mut c = subject(u)["properties"].as_object().unwrap().clone();
            c.insert("email".into(), format!("user{u}@example.com").into());
            c
        })
        .collect();
    let requests: Vec<AccessRequest> = claims
        .iter()
        .enumerate()
        .map(|(i, c)| {
            engine
                .request_from_claims(c)
                .with_resource("customer", format!("C{}", (i * 7919) % USERS))
                .with_access("read")
        })
        .collect();
    let rate = |f: &dyn Fn(usize)| {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < how_long {
            for i in 0..1000 {
                f(n + i);
            }
            n += 1000;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let prebuilt = rate(&|i| {
        black_box(engine.decide(black_box(&requests[i % DISTINCT])));
    });
    let from_claims = rate(&|i| {
        let request = engine
            .request_from_claims(black_box(&claims[i % DISTINCT]))
            .with_resource("customer", "C1")
            .with_access("read");
        black_box(engine.decide(&request));
    });
    (prebuilt, from_claims)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let requests = env_usize("SSF_BENCH_REQUESTS", 200_000);
    let connections = env_usize("SSF_BENCH_CONNECTIONS", 32).max(1);
    let started = Instant::now();
    let engine = Arc::new(populated());
    println!(
        "engine: {USERS} JIT grants, {REVOKED_SESSIONS} revoked sessions, populated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (before_prebuilt, before_claims) = in_process(&engine, Duration::from_secs(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = authzen::router(Arc::clone(&engine));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        vec![
            run(
                format!("`{EVALUATION_PATH}`, 1 per request"),
                addr,
                single_requests(),
                requests,
                1,
                connections,
            )
            .await,
            run(
                format!("`{EVALUATIONS_PATH}`, {BATCH} per request"),
                addr,
                batch_requests(),
                requests / 5,
                BATCH,
                connections,
            )
            .await,
        ]
    });
    let (after_prebuilt, after_claims) = in_process(&engine, Duration::from_secs(2));
    println!(
        "in process, 1 thread: decide {:.2} M/s before, {:.2} M/s after; request_from_claims + decide {:.2} M/s before, {:.2} M/s after",
        before_prebuilt / 1e6,
        after_prebuilt / 1e6,
        before_claims / 1e6,
        after_claims / 1e6
    );
    let reference = before_prebuilt.max(after_prebuilt);
    println!("{connections} connections");
    println!();
    println!(
        "| endpoint | requests | checks/s | requests/s | latency p50 / p99 / max | CPU per check | vs in-process decide | load avg |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let secs = r.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} / {:.2} / {:.2} ms | {} | {:.1}% | {:.1} |",
            r.name,
            r.requests,
            r.checks as f64 / secs,
            r.requests as f64 / secs,
            ms(pct(&r.latencies, 0.5)),
            ms(pct(&r.latencies, 0.99)),
            ms(pct(&r.latencies, 1.0)),
            r.cpu.map_or_else(
                || "n/a".to_owned(),
                |c| format!("{:.1} µs", c.as_secs_f64() * 1e6 / r.checks as f64)
            ),
            100.0 * r.checks as f64 / secs / reference,
            r.load
        );
    }
}
