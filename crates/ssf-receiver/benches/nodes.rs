//! Receiver nodes on one PostgreSQL: what the shared store and the state log cost, and how soon
//! one node's memory holds a write another node applied.
//!
//! In one run, the same verified SETs (one state write each, 64 concurrent callers, after a
//! 5% warm-up that is not measured) go through
//! the apply task (dedupe lookup, plan, group commit) of:
//! 1. one node on a SQLite file (the embedded default: the baseline of the ratios),
//! 2. one node on PostgreSQL (dedupe, state, audit and the state log),
//! 3. two nodes on one PostgreSQL schema, callers split between them; each node also follows
//!    the other's writes.
//!
//! For (3) it reports the follow latency: from the moment a node's `apply` returned (the SET is
//! durable) to the moment the other node's handler memory held the write, per SET, under that
//! full load and then at a steady 200 SETs/s applied on node A alone.
//!
//! `cargo bench -p ssf-receiver --bench nodes` (`SSF_BENCH_SETS`, default 20000;
//! `SSF_TEST_DATABASE_URL`, default the local server). Without PostgreSQL it prints why and
//! stops after the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, KeyPair, SetVerifier, SigningKey as _, VerifyOptions, sign_with,
};
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    handler::{EventHandler, ReceivedSet, StateRow, StateWrite},
};
use ssf_store::{
    conformance::pg::TestServer, postgres::receiver::PgReceiverStore, receiver::ReceiverStore,
    sqlite::receiver::SqliteReceiverStore,
};
use ssf_types::{Clock, KeyId, SystemClock};

const CALLERS: usize = 64;

/// Plans one write per SET (keyed by jti) and notes when each write reached memory.
#[derive(Debug, Default)]
struct Timed {
    seen: Mutex<HashMap<String, Instant>>,
}

impl EventHandler for Timed {
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite> {
        vec![StateWrite::Put {
            kind: "revocation".into(),
            key: set.jti().to_owned(),
            value: json!({ "at": set.event_time() }),
            event_time: set.event_time(),
        }]
    }

    fn commit(&self, writes: &[StateWrite]) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap();
        for w in writes {
            seen.entry(w.key().to_owned()).or_insert(now);
        }
    }

    fn load(&self, _rows: Vec<StateRow>) {}
}

fn sets(n: usize, run: &str) -> Vec<ReceivedSet> {
    let now = SystemClock.now().as_secs();
    // Received SETs come only from the verifier: sign each one and verify it (EdDSA, fast).
    let key = KeyPair::generate(Algorithm::EdDsa, Some(KeyId::new("bench"))).unwrap();
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let options = VerifyOptions::new("https://tx.example.com", "https://rx.example.com")
        .algorithms([Algorithm::EdDsa]);
    let verifier = SetVerifier::new(
        options,
        Arc::new(JwksSnapshot::new(&jwks)),
        Arc::new(SystemClock),
    );
    (0..n)
        .map(|i| {
            let payload = json!({
                "iss": "https://tx.example.com", "jti": format!("{run}-{i:08}"), "iat": now,
                "aud": "https://rx.example.com", "txn": format!("t{i}"),
                "sub_id": {"format": "email", "email": format!("user{}@example.com", i % 10_000)},
                "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked":
                    {"event_timestamp": now - 1, "initiating_entity": "policy"}}
            });
            let verified = verifier.verify(sign_with(&key, &payload).unwrap()).unwrap();
            ReceivedSet::from_verified("tx".into(), "tx".into(), verified, SystemClock.now())
        })
        .collect()
}

async fn start(store: Arc<dyn ReceiverStore>, handler: Arc<Timed>) -> Arc<Applier> {
    let applier = Applier::start(
        store,
        handler,
        Arc::new(SystemClock),
        ApplyOptions::default(),
    );
    Arc::new(applier.await.unwrap())
}

/// Applies `sets` with [`CALLERS`] concurrent callers, caller `c` on node `c % nodes`; returns
/// SETs/s and, per SET, when its `apply` returned.
async fn drive(nodes: &[Arc<Applier>], sets: Vec<ReceivedSet>) -> (f64, HashMap<String, Instant>) {
    let mut lanes: Vec<Vec<ReceivedSet>> = (0..CALLERS).map(|_| Vec::new()).collect();
    for (i, set) in sets.into_iter().enumerate() {
        lanes[i % CALLERS].push(set);
    }
    let n: usize = lanes.iter().map(Vec::len).sum();
    let started = Instant::now();
    let tasks: Vec<_> = lanes
        .into_iter()
        .enumerate()
        .map(|(c, lane)| {
            let node = Arc::clone(&nodes[c % nodes.len()]);
            tokio::spawn(async move {
                let mut done = Vec::with_capacity(lane.len());
                for set in lane {
                    let jti = set.jti().to_owned();
                    node.apply(set).await.unwrap();
                    done.push((jti, Instant::now()));
                }
                done
            })
        })
        .collect();
    let mut done = HashMap::with_capacity(n);
    for task in tasks {
        done.extend(task.await.unwrap());
    }
    (n as f64 / started.elapsed().as_secs_f64(), done)
}

/// Per SET of `returned` (jti -> when its `apply` returned), how much later the last of `nodes`
/// held its write in memory; sorted.
fn follow_lags(returned: &HashMap<String, Instant>, nodes: &[&Timed]) -> Vec<Duration> {
    let seen: Vec<_> = nodes.iter().map(|n| n.seen.lock().unwrap()).collect();
    let mut lags: Vec<Duration> = returned
        .iter()
        .filter_map(|(jti, at)| {
            let last = seen
                .iter()
                .map(|s| s.get(jti).copied())
                .collect::<Option<Vec<Instant>>>()?
                .into_iter()
                .max()?;
            Some(last.saturating_duration_since(*at))
        })
        .collect();
    lags.sort();
    lags
}

fn report(what: &str, lags: &[Duration]) {
    if lags.is_empty() {
        println!("{what}: no SET arrived");
        return;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}, {} SETs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        ms(percentile(lags, 0.5)),
        ms(percentile(lags, 0.99)),
        ms(lags[lags.len() - 1]),
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = std::env::var("SSF_BENCH_SETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!("{n} SETs, {CALLERS} concurrent callers, one state write each");

    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn ReceiverStore> = Arc::new(
        SqliteReceiverStore::open_path(dir.path().join("receiver.db"), Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    let node = start(Arc::clone(&sqlite), Arc::default()).await;
    drive(&[Arc::clone(&node)], sets(n / 20, "sqlite-warm")).await;
    let (baseline, _) = drive(&[Arc::clone(&node)], sets(n, "sqlite")).await;
    node.close().await;
    println!("SQLite, 1 node:      {baseline:8.0} SETs/s (baseline)");

    let Some(server) = TestServer::connect().await else {
        println!("PostgreSQL is unreachable: the PostgreSQL rows are skipped");
        return;
    };
    let schema = server.schema().await;
    let open = || async {
        let store = PgReceiverStore::connect(server.url(), Arc::new(SystemClock), schema.options());
        Arc::new(store.await.unwrap()) as Arc<dyn ReceiverStore>
    };
    let store = open().await;
    let node = start(store, Arc::default()).await;
    drive(&[Arc::clone(&node)], sets(n / 20, "pg1-warm")).await;
    let (one, _) = drive(&[Arc::clone(&node)], sets(n, "pg1")).await;
    node.close().await;
    println!(
        "PostgreSQL, 1 node:  {one:8.0} SETs/s ({:.2}x)",
        one / baseline
    );

    let (on_a, on_b) = (Arc::new(Timed::default()), Arc::new(Timed::default()));
    let a = start(open().await, Arc::clone(&on_a)).await;
    let b = start(open().await, Arc::clone(&on_b)).await;
    drive(&[Arc::clone(&a), Arc::clone(&b)], sets(n / 20, "pg2-warm")).await;
    let (two, done) = drive(&[Arc::clone(&a), Arc::clone(&b)], sets(n, "pg2")).await;
    println!(
        "PostgreSQL, 2 nodes: {two:8.0} SETs/s ({:.2}x)",
        two / baseline
    );

    // Each node applied half; the other must learn that half. Wait for the stragglers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let total = 2 * (n + n / 20);
    while on_a.seen.lock().unwrap().len() + on_b.seen.lock().unwrap().len() < total
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lags = follow_lags(&done, &[&on_a, &on_b]);
    report(
        "follow latency (apply returned on one node -> in the other's memory)",
        &lags,
    );

    // At a steady 200 SETs/s on node A only: the latency of one event, not of a queue.
    let mut paced = tokio::time::interval(Duration::from_millis(5));
    let mut returned = Vec::new();
    for set in sets(1000, "paced") {
        paced.tick().await;
        let jti = set.jti().to_owned();
        a.apply(set).await.unwrap();
        returned.push((jti, Instant::now()));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let returned: HashMap<String, Instant> = returned.into_iter().collect();
    let lags = follow_lags(&returned, &[&on_b]);
    report(
        "follow latency at 200 SETs/s on node A -> node B's memory",
        &lags,
    );
    a.close().await;
    b.close().await;
}
