//! End-to-end delivery benchmark: `POST /events` -> outbox -> push (RFC 8935) to a receiver on
//! loopback, and -> poll (RFC 8936), beside the raw RS256 signing rate of the same machine,
//! measured in the same run (DESIGN §8: delivered SETs/s >= 80% of the raw signing rate).
//!
//! `cargo bench -p ssf-transmitter --bench delivery` (env `SSF_BENCH_SETS`, default 4000).
//! Everything runs in one process on the same cores: transmitter, SQLite (FULL durability, a
//! file under the target directory), the fake receiver and the producers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    clippy::cast_precision_loss
)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use serde_json::{Value, json};
use ssf_http::ClientConfig;
use ssf_jose::{Algorithm, KeyPair, SetSigner, decode_unverified};
use ssf_store::{DeliveryMethod, NewStream, SqliteStore};
use ssf_transmitter::{
    AppState, TransmitterConfig,
    auth::{Scope, hash_secret, issue_access_token},
    config::ClientSettings,
    router,
    workers::Transmitter,
};
use ssf_types::{Clock, SetClaims, StreamId, SubjectId, SystemClock};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const BATCH: usize = 100;
const PRODUCERS: usize = 4;
/// The paced run: single-event requests at this rate, for latency below saturation.
const PACED_PER_SEC: u64 = 200;
const PACED_EVENTS: usize = 600;

/// Time since the bench started, carried in each event's `txn` to measure latency.
fn stamp(origin: Instant) -> String {
    format!("t{}", origin.elapsed().as_micros())
}

fn latency_of(origin: Instant, set: &str) -> Option<Duration> {
    let claims = decode_unverified(set).ok()?.claims;
    let sent: u64 = claims
        .get("txn")?
        .as_str()?
        .strip_prefix('t')?
        .split('-')
        .next()?
        .parse()
        .ok()?;
    origin.elapsed().checked_sub(Duration::from_micros(sent))
}

/// CPU time this process has used (all threads; Linux `/proc/self/stat`, clock ticks of 10 ms).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct Summary {
    sets: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    cpu: Option<Duration>,
}

impl Summary {
    fn rate(&self) -> f64 {
        self.sets as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len().max(1)) - 1;
        l.get(i).copied().unwrap_or_default()
    }
}

/// SETs/s signing realistic CAEP SETs on `threads` threads for about `for_how_long`, and the CPU
/// time per signature.
fn raw_signing_rate(
    signer: &SetSigner,
    threads: usize,
    for_how_long: Duration,
) -> (f64, Option<Duration>) {
    let cpu_before = cpu_time();
    let claims = SetClaims::builder(
        ssf_types::Issuer::new("https://tx.example.com"),
        ssf_types::Jti::new("0191b4c4-9f1e-7c3a-8a1b-1c2d3e4f5a6b"),
        1_735_689_600,
        SubjectId::email("jdoe@example.com"),
    )
    .aud("https://rx.example.com")
    .txn("t123456")
    .event_raw(
        ssf_types::EventTypeUri::new(REVOKED),
        json!({"event_timestamp": 1_735_689_600, "initiating_entity": "policy"})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .build()
    .unwrap();
    let start = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
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
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(a, b)| (a - b) / u32::try_from(total).unwrap().max(1));
    (total as f64 / start.elapsed().as_secs_f64(), cpu)
}

#[derive(Default)]
struct Receiver {
    latencies: Mutex<Vec<Duration>>,
    last: Mutex<Option<Instant>>,
}

async fn receive(State((rx, origin)): State<(Arc<Receiver>, Instant)>, body: Bytes) -> StatusCode {
    let set = String::from_utf8_lossy(&body);
    if let Some(l) = latency_of(origin, &set) {
        rx.latencies.lock().unwrap().push(l);
    }
    *rx.last.lock().unwrap() = Some(Instant::now());
    StatusCode::ACCEPTED
}

struct Bench {
    state: AppState,
    base: String,
    http: reqwest::Client,
    producer: String,
    origin: Instant,
    _dir: tempfile::TempDir,
}

async fn start(origin: Instant) -> Bench {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = TransmitterConfig::default();
    config.issuer = base.clone();
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
    let store = SqliteStore::open_path(dir.path().join("tx.db"), clock.clone())
        .await
        .unwrap();
    let signer = SetSigner::with_key(
        KeyPair::generate(Algorithm::Rs256, None).unwrap(),
        clock.clone(),
    );
    let state = AppState::new(
        config,
        Arc::new(store),
        signer,
        clock,
        CancellationToken::new(),
    );
    tokio::spawn(router::serve(listener, state.clone()));
    let producer = issue_access_token(&state, "producer", &[Scope::Publish].into())
        .unwrap()
        .0;
    Bench {
        state,
        base,
        http: reqwest::Client::new(),
        producer,
        origin,
        _dir: dir,
    }
}

async fn create_stream(bench: &Bench, id: &str, delivery: Value) {
    let method = if delivery["method"] == "urn:ietf:rfc:8935" {
        DeliveryMethod::Push
    } else {
        DeliveryMethod::Poll
    };
    let config = json!({"stream_id": id, "iss": bench.state.config.issuer, "aud": "https://rx.example.com",
        "events_delivered": [REVOKED], "delivery": delivery});
    let new = NewStream::new(StreamId::new(id), "rx", method, config);
    bench.state.store.create_stream(new).await.unwrap();
    bench.state.matcher.invalidate();
}

/// Publishes `n` events (distinct subjects, so push is not serialised per subject) from
/// `PRODUCERS` concurrent producers in batches of `BATCH`.
async fn produce(bench: &Bench, n: usize, tag: &str) {
    let per = n / PRODUCERS;
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let (http, url, token, origin, tag) = (
            bench.http.clone(),
            format!("{}/events", bench.base),
            bench.producer.clone(),
            bench.origin,
            tag.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
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
                let r = http.post(&url).bearer_auth(&token).json(&batch).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::ACCEPTED);
                sent += count;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Publishes `n` single-event requests at `PACED_PER_SEC`.
async fn produce_paced(bench: &Bench, n: usize, tag: &str) {
    let url = format!("{}/events", bench.base);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / PACED_PER_SEC));
    let mut inflight = Vec::new();
    for i in 0..n {
        tick.tick().await;
        let body = json!({"event_type": REVOKED,
            "sub_id": {"format": "email", "email": format!("{tag}-paced-{i}@example.com")},
            "txn": format!("{}-paced-{i}", stamp(bench.origin))});
        let request = bench
            .http
            .post(&url)
            .bearer_auth(&bench.producer)
            .json(&body)
            .send();
        inflight.push(tokio::spawn(async move { request.await.unwrap().status() }));
    }
    for r in inflight {
        assert_eq!(r.await.unwrap(), StatusCode::ACCEPTED);
    }
}

/// How the events are produced.
#[derive(Clone, Copy)]
enum Load {
    /// As fast as possible, batches of `BATCH` from `PRODUCERS` producers: throughput.
    Saturating,
    /// `PACED_PER_SEC` single events: latency.
    Paced,
}

async fn run_load(bench: &Bench, n: usize, tag: &str, load: Load) {
    match load {
        Load::Saturating => produce(bench, n, tag).await,
        Load::Paced => produce_paced(bench, n, tag).await,
    }
}

async fn bench_push(bench: &Bench, n: usize, load: Load, tag: &str) -> Summary {
    let rx = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/push", post(receive))
        .with_state((Arc::clone(&rx), bench.origin));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    create_stream(
        bench,
        tag,
        json!({"method": "urn:ietf:rfc:8935", "endpoint_url": url}),
    )
    .await;
    let workers = Transmitter::start(&bench.state).unwrap();
    let (start, cpu_before) = (Instant::now(), cpu_time());
    run_load(bench, n, tag, load).await;
    while rx.latencies.lock().unwrap().len() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end = rx.last.lock().unwrap().unwrap_or_else(Instant::now);
    let cpu = cpu_time().zip(cpu_before).map(|(a, b)| a - b);
    workers.abort();
    set_status(bench, tag, ssf_store::StreamStatus::Disabled).await;
    let latencies = std::mem::take(&mut *rx.latencies.lock().unwrap());
    Summary {
        sets: n,
        elapsed: end - start,
        latencies,
        cpu,
    }
}

async fn set_status(bench: &Bench, id: &str, status: ssf_store::StreamStatus) {
    bench
        .state
        .store
        .set_stream_status("rx", &StreamId::new(id), status, None)
        .await
        .unwrap();
    bench.state.matcher.invalidate();
}

async fn bench_poll(bench: &Bench, n: usize, load: Load, tag: &str) -> Summary {
    let url = format!("{}/ssf/poll/{tag}", bench.base);
    create_stream(
        bench,
        tag,
        json!({"method": "urn:ietf:rfc:8936", "endpoint_url": url}),
    )
    .await;
    let token = issue_access_token(&bench.state, "rx", &[Scope::Read].into())
        .unwrap()
        .0;
    let (http, origin) = (bench.http.clone(), bench.origin);
    let poller = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(n);
        let mut ack: Vec<String> = Vec::new();
        let mut last = Instant::now();
        while latencies.len() < n {
            let body = json!({"ack": ack, "maxEvents": 100});
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
            let sets: BTreeMap<String, Value> = serde_json::from_value(r["sets"].clone()).unwrap();
            last = Instant::now();
            ack = sets.keys().cloned().collect();
            for set in sets.values() {
                latencies.extend(latency_of(origin, set.as_str().unwrap()));
            }
        }
        let _ = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"ack": ack, "maxEvents": 0}))
            .send()
            .await;
        (latencies, last)
    });
    let (start, cpu_before) = (Instant::now(), cpu_time());
    run_load(bench, n, tag, load).await;
    let (latencies, end) = poller.await.unwrap();
    let cpu = cpu_time().zip(cpu_before).map(|(a, b)| a - b);
    set_status(bench, tag, ssf_store::StreamStatus::Disabled).await;
    Summary {
        sets: n,
        elapsed: end - start,
        latencies,
        cpu,
    }
}

fn report(name: &str, s: &Summary, raw_all: f64, sign_cpu: Option<Duration>) {
    let per_set = s.cpu.map(|c| c / u32::try_from(s.sets).unwrap().max(1));
    let share = per_set
        .zip(sign_cpu)
        .map_or_else(String::new, |(per, sign)| {
            format!(
                ", CPU {:.0} µs/SET, signature {:.0}% of it",
                per.as_secs_f64() * 1e6,
                100.0 * sign.as_secs_f64() / per.as_secs_f64()
            )
        });
    println!(
        "{name:<10} {:>6} SETs in {:>6.2} s: {:>7.0} SETs/s ({:>5.1}% of raw signing), latency p50 {:>6.1} ms, p99 {:>6.1} ms",
        s.sets,
        s.elapsed.as_secs_f64(),
        s.rate(),
        100.0 * s.rate() / raw_all,
        s.pct(0.50).as_secs_f64() * 1000.0,
        s.pct(0.99).as_secs_f64() * 1000.0,
    );
    println!("{:<10} {share}", "");
}

fn main() {
    ssf_jose::install_crypto_provider();
    let n: usize = std::env::var("SSF_BENCH_SETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let n = n.div_ceil(PRODUCERS) * PRODUCERS;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let signer = SetSigner::with_key(
        KeyPair::generate(Algorithm::Rs256, None).unwrap(),
        Arc::new(SystemClock),
    );
    let (raw_one, sign_cpu) = raw_signing_rate(&signer, 1, Duration::from_secs(2));
    let (raw_all, _) = raw_signing_rate(&signer, cores, Duration::from_secs(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let origin = Instant::now();
    let runs = runtime.block_on(async {
        let bench = start(origin).await;
        // `SSF_BENCH_ONLY=saturating|paced` runs one half (e.g. under a profiler).
        let only = std::env::var("SSF_BENCH_ONLY").unwrap_or_default();
        let mut runs = Vec::new();
        if only != "paced" {
            runs.push((
                "push",
                bench_push(&bench, n, Load::Saturating, "push-sat").await,
            ));
            runs.push((
                "poll",
                bench_poll(&bench, n, Load::Saturating, "poll-sat").await,
            ));
        }
        if only != "saturating" {
            runs.push((
                "push paced",
                bench_push(&bench, PACED_EVENTS, Load::Paced, "push-paced").await,
            ));
            runs.push((
                "poll paced",
                bench_poll(&bench, PACED_EVENTS, Load::Paced, "poll-paced").await,
            ));
        }
        bench.state.shutdown.cancel();
        runs
    });
    let (raw_after, _) = raw_signing_rate(&signer, cores, Duration::from_secs(2));
    // The ratio's reference is the best raw rate seen in this run: the least flattering one.
    let raw_best = raw_one.max(raw_all).max(raw_after);
    println!(
        "raw RS256 signing: {raw_one:.0}/s on 1 core, {raw_all:.0}/s on {cores} cores before, {raw_after:.0}/s after; reference {raw_best:.0}/s; CPU per signature {:.0} µs",
        sign_cpu.unwrap_or_default().as_secs_f64() * 1e6
    );
    println!(
        "saturating: {PRODUCERS} producers, batches of {BATCH}; paced: {PACED_PER_SEC} single events/s"
    );
    for (name, summary) in &runs {
        report(name, summary, raw_best, sign_cpu);
    }
}
