//! Push ingest: a load generator on loopback with N concurrent connections posting pre-signed
//! RS256 SETs to the receiver's push endpoint (real HTTP, real verification, durable dedupe and
//! one state write per SET on a tempdir SQLite file with `synchronous=FULL`), beside the raw
//! RS256 verification rate measured in the same run.
//!
//! `cargo bench -p ssf-receiver --bench push_ingest`; environment: `SSF_BENCH_SETS` (default
//! 40000), `SSF_BENCH_CONNECTIONS` (default 64).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, KeyPair, SetVerifier, SigningKey, VerifyOptions, sign_with,
};
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    handler::{EventHandler, ReceivedSet, StateRow, StateWrite},
    pipeline::{Pipeline, PipelineConfig, StreamContext},
    push::{PushState, authorization_digest},
    receive::{SetReceiver, StreamRegistry},
    router::router,
};
use ssf_store::{Durability, SqliteOptions, sqlite::receiver::SqliteReceiverStore};
use ssf_types::{Clock, KeyId, StreamId, SystemClock};

const ISS: &str = "https://tx.example.com";
const AUD: &str = "https://rx.example.com/ssf";
const AUTH: &str = "Bearer bench-secret";

/// One state write per SET, like a revocation: the realistic write load.
#[derive(Debug)]
struct OneWrite;

impl EventHandler for OneWrite {
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite> {
        vec![StateWrite::Put {
            kind: "revocation".into(),
            key: set.jti().to_owned(),
            value: json!({ "before": set.event_time() }),
            event_time: set.event_time(),
        }]
    }
    fn commit(&self, _writes: &[StateWrite]) {}
    fn load(&self, _rows: Vec<StateRow>) {}
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sign_all(key: &Arc<KeyPair>, n: usize, now: i64) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = n.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let key = Arc::clone(key);
            std::thread::spawn(move || {
                (t * chunk..((t + 1) * chunk).min(n))
                    .map(|i| {
                        let claims = json!({
                            "iss": ISS, "jti": format!("bench-{i:08}"), "iat": now, "aud": AUD,
                            "txn": format!("t{i}"),
                            "sub_id": {"format": "email", "email": format!("user{}@example.com", i % 10_000)},
                            "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked":
                                {"event_timestamp": now - 1, "initiating_entity": "policy"}}
                        });
                        sign_with(key.as_ref(), &claims).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

/// Verifications per second on `threads` threads (the physical floor of ingest).
fn raw_verify_rate(tokens: &[String], jwks: &Jwks, threads: usize) -> f64 {
    let sample: Vec<String> = tokens.iter().take(4000).cloned().collect();
    let sample = Arc::new(sample);
    let snapshot = Arc::new(JwksSnapshot::new(jwks));
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let sample = Arc::clone(&sample);
            let verifier = SetVerifier::new(
                VerifyOptions::new(ISS, AUD),
                Arc::clone(&snapshot) as Arc<dyn ssf_jose::KeyResolver>,
                Arc::new(SystemClock),
            );
            std::thread::spawn(move || {
                for t in sample.iter() {
                    verifier.verify(t).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let n = (sample.len() * threads) as f64;
    if let (Some(a), Some(b)) = (cpu_start, cpu_time()) {
        println!(
            "raw RS256 verification, {threads} thread(s): {:.1} us CPU/verify",
            (b - a).as_secs_f64() * 1e6 / n
        );
    }
    n / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need either.
    let n = env("SSF_BENCH_SETS", 40_000);
    let connections = env("SSF_BENCH_CONNECTIONS", 64);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let key = Arc::new(KeyPair::generate(Algorithm::Rs256, Some(KeyId::new("k1"))).unwrap());
    let jwks = Jwks {
        keys: vec![SigningKey::public_jwk(key.as_ref())],
    };
    let now = SystemClock.now().as_secs();
    let started = Instant::now();
    let tokens = sign_all(&key, n, now);
    println!(
        "signed {n} RS256 SETs in {:.1} s ({} bytes each)",
        started.elapsed().as_secs_f64(),
        tokens[0].len()
    );
    let verify_1 = raw_verify_rate(&tokens, &jwks, 1);
    let verify_all = raw_verify_rate(&tokens, &jwks, cores);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (rate, p50, p99, max, errors) = runtime.block_on(run_load(tokens, jwks, connections));

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| raw RS256 verification, 1 thread | {verify_1:.0} /s |");
    println!("| raw RS256 verification, {cores} threads | {verify_all:.0} /s |");
    println!("| push ingest ({n} SETs, {connections} connections) | {rate:.0} SETs/s |");
    println!(
        "| ingest / raw verification ({cores} threads) | {:.0} % |",
        100.0 * rate / verify_all
    );
    println!(
        "| latency p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0
    );
    println!("| non-202 answers | {errors} |");
}

async fn run_load(
    tokens: Vec<String>,
    jwks: Jwks,
    connections: usize,
) -> (f64, Duration, Duration, Duration, usize) {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut options = SqliteOptions::new(dir.path().join("receiver.db"));
    if std::env::var("SSF_BENCH_SYNC").is_ok_and(|v| v == "normal") {
        options.durability = Durability::Normal;
    }
    println!("receiver store: {:?} durability", options.durability);
    let store = Arc::new(
        SqliteReceiverStore::open(options, Arc::clone(&clock))
            .await
            .unwrap(),
    );
    let applier = Applier::start(
        store.clone(),
        Arc::new(OneWrite),
        Arc::clone(&clock),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    let pipeline = Pipeline::new(PipelineConfig::default(), store.clone(), Arc::clone(&clock));
    let ctx = Arc::new(
        StreamContext::new(
            "bench",
            "bench",
            VerifyOptions::new(ISS, AUD),
            Arc::new(JwksSnapshot::new(&jwks)),
        )
        .with_stream_id(Some(StreamId::new("s1")))
        .with_push_auth_sha256(Some(authorization_digest(AUTH))),
    );
    let applier = Arc::new(applier);
    if std::env::var("SSF_BENCH_STAGES").is_ok() {
        stages(
            &pipeline,
            &ctx,
            &applier,
            &tokens[..tokens.len() / 2],
            connections,
        )
        .await;
    }
    let receiver = Arc::new(SetReceiver::new(pipeline, applier));
    let streams = Arc::new(StreamRegistry::new());
    streams.insert(
        StreamContext::new(
            "bench",
            "bench",
            VerifyOptions::new(ISS, AUD),
            Arc::new(JwksSnapshot::new(&jwks)),
        )
        .with_stream_id(Some(StreamId::new("s1")))
        .with_push_auth_sha256(Some(authorization_digest(AUTH))),
    );
    let state = Arc::new(PushState::new(receiver, streams));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });

    let tokens: Arc<Vec<String>> = Arc::new(if std::env::var("SSF_BENCH_STAGES").is_ok() {
        tokens[tokens.len() / 2..].to_vec()
    } else {
        tokens
    });
    // Warm-up: connections, statement caches, page cache.
    let warm = tokens.len() / 20;
    let next = Arc::new(AtomicUsize::new(0));
    drive(addr, &tokens, &next, warm, connections).await;
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let (mut latencies, errors) = drive(addr, &tokens, &next, tokens.len(), connections).await;
    let elapsed = start.elapsed();
    if let (Some(a), Some(b)) = (cpu_start, cpu_time()) {
        let per_set = (b - a).as_secs_f64() * 1e6 / latencies.len() as f64;
        println!("process CPU time during ingest (receiver + load generator): {per_set:.0} us/SET");
    }
    latencies.sort_unstable();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let seen = ssf_store::receiver::ReceiverStore::seen_count(store.as_ref())
        .await
        .unwrap();
    assert!(seen as usize >= tokens.len(), "every SET recorded once");
    (
        rate,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        *latencies.last().unwrap(),
        errors,
    )
}

/// Posts tokens `next..until` over `connections` keep-alive HTTP/1.1 connections (a minimal
/// client, so the load generator takes little of the CPU it shares with the receiver);
/// latencies and non-202 answers.
async fn drive(
    addr: std::net::SocketAddr,
    tokens: &Arc<Vec<String>>,
    next: &Arc<AtomicUsize>,
    until: usize,
    connections: usize,
) -> (Vec<Duration>, usize) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (tokens, next) = (Arc::clone(tokens), Arc::clone(next));
            tokio::spawn(async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let (read, mut write) = tcp.into_split();
                let mut read = BufReader::new(read);
                let (mut latencies, mut errors) = (Vec::new(), 0);
                let (mut request, mut line) = (Vec::with_capacity(2048), String::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= until {
                        break;
                    }
                    let token = tokens[i].as_bytes();
                    request.clear();
                    request.extend_from_slice(
                        format!(
                            "POST /ssf/push/bench HTTP/1.1\r\nhost: rx\r\n\
                             content-type: application/secevent+jwt\r\naccept: application/json\r\n\
                             authorization: {AUTH}\r\ncontent-length: {}\r\n\r\n",
                            token.len()
                        )
                        .as_bytes(),
                    );
                    request.extend_from_slice(token);
                    let sent = Instant::now();
                    write.write_all(&request).await.unwrap();
                    line.clear();
                    read.read_line(&mut line).await.unwrap();
                    let status = line.split(' ').nth(1).unwrap_or("0").to_owned();
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
                    let mut body = vec![0; length];
                    read.read_exact(&mut body).await.unwrap();
                    latencies.push(sent.elapsed());
                    if status != "202" {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    next.store(until, Ordering::Relaxed);
    (all, errors)
}

/// CPU time (user + system) this process has used so far (Linux `/proc/self/stat`).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The stages without HTTP: the pipeline alone on every core, then the apply task alone fed by
/// `connections` concurrent callers (`SSF_BENCH_STAGES=1`).
async fn stages(
    pipeline: &Pipeline,
    ctx: &Arc<StreamContext>,
    applier: &Arc<Applier>,
    tokens: &[String],
    connections: usize,
) {
    let (start, cpu) = (Instant::now(), cpu_time());
    let chunks: Vec<Vec<String>> = tokens
        .chunks(tokens.len().div_ceil(connections))
        .map(<[String]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (pipeline, ctx) = (pipeline.clone(), Arc::clone(ctx));
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(chunk.len());
                for t in chunk {
                    match pipeline.validate(&ctx, t.as_bytes()).await {
                        ssf_receiver::pipeline::Verdict::Accepted(set) => out.push(*set),
                        other => panic!("{other:?}"),
                    }
                }
                out
            })
        })
        .collect();
    let mut sets = Vec::new();
    for t in tasks {
        sets.push(t.await.unwrap());
    }
    let n = sets.iter().map(Vec::len).sum::<usize>();
    println!(
        "stage pipeline only: {:.0} SETs/s, {:.0} us CPU/SET",
        n as f64 / start.elapsed().as_secs_f64(),
        cpu_per(cpu, n)
    );
    let (start, cpu) = (Instant::now(), cpu_time());
    let tasks: Vec<_> = sets
        .into_iter()
        .map(|chunk| {
            let applier = Arc::clone(applier);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(chunk.len());
                for set in chunk {
                    let t = Instant::now();
                    applier.apply(set).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat.sort_unstable();
    println!(
        "stage apply only: {:.0} SETs/s, {:.0} us CPU/SET, p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / start.elapsed().as_secs_f64(),
        cpu_per(cpu, n),
        percentile(&lat, 0.5).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0
    );
}

fn cpu_per(since: Option<Duration>, n: usize) -> f64 {
    match (since, cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / n as f64,
        _ => f64::NAN,
    }
}
