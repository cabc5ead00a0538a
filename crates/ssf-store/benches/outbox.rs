//! Outbox throughput on a real SQLite file (tempdir), default FULL durability unless noted.
//!
//! - `enqueue/batched`: N SETs as N/100 sequential enqueues of 100 (an ingest of a batch).
//! - `enqueue/concurrent_single`: N concurrent single-SET enqueues (many producers; group commit).
//! - `push/claim_deliver`: claim 100 + mark delivered, until N queued SETs are gone.
//! - `poll/poll_ack`: poll 100 with the previous batch's acks, until N queued SETs are gone.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use ssf_store::{
    DeliveryMethod, Durability, NewSet, NewStream, PollRequest, SqliteOptions, SqliteStore,
    TransmitterStore,
};
use ssf_types::{Jti, StreamId, SystemClock};

const N: usize = 2_000;
const BATCH: usize = 100;

/// CPU time of this process (all threads, including SQLite's) in microseconds, from
/// `/proc/self/stat`; 0 where unavailable. Wall time on a shared machine depends on the
/// neighbours; CPU time per SET is the cost that competes with signing.
fn cpu_micros() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    ticks * 10_000 // USER_HZ is 100 on Linux
}

/// Accumulates CPU time and SET counts of timed sections and prints the per-SET cost.
#[derive(Default)]
struct CpuMeter {
    micros: AtomicU64,
    sets: AtomicU64,
}

impl CpuMeter {
    fn add(&self, micros: u64, sets: u64) {
        self.micros.fetch_add(micros, Ordering::Relaxed);
        self.sets.fetch_add(sets, Ordering::Relaxed);
    }

    fn report(&self, name: &str) {
        let (micros, sets) = (
            self.micros.load(Ordering::Relaxed),
            self.sets.load(Ordering::Relaxed),
        );
        if sets > 0 {
            println!(
                "cpu {name}: {:.1} us CPU per SET over {sets} SETs",
                micros as f64 / sets as f64
            );
        }
    }
}

struct Bench {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    next: AtomicU64,
}

impl Bench {
    async fn new(durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SqliteOptions::new(dir.path().join("bench.db"));
        options.durability = durability;
        let store = Arc::new(
            SqliteStore::open(options, Arc::new(SystemClock))
                .await
                .unwrap(),
        );
        Self {
            _dir: dir,
            store,
            next: AtomicU64::new(0),
        }
    }

    /// A fresh stream, so every iteration starts empty.
    async fn stream(&self, delivery: DeliveryMethod) -> StreamId {
        let id = StreamId::new(format!("s{}", self.next.fetch_add(1, Ordering::Relaxed)));
        let new = NewStream::new(id.clone(), "bench", delivery, json!({"bench": true}));
        self.store.create_stream(new).await.unwrap();
        id
    }

    fn sets(&self, stream: &StreamId, n: usize) -> Vec<NewSet> {
        // About the size of an RS256-signed SET.
        let jwt = "e".repeat(800);
        (0..n)
            .map(|_| {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                NewSet {
                    stream_id: stream.clone(),
                    jti: Jti::new(format!("jti-{i}")),
                    subject_key: format!("subject-{i}"),
                    set_jwt: jwt.clone(),
                }
            })
            .collect()
    }

    async fn fill(&self, stream: &StreamId) {
        for chunk in self.sets(stream, N).chunks(500) {
            self.store.enqueue(chunk.to_vec()).await.unwrap();
        }
    }

    async fn drop_stream(&self, stream: &StreamId) {
        self.store.delete_stream("bench", stream).await.unwrap();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn enqueue(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("enqueue");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    for durability in [Durability::Full, Durability::Normal] {
        let bench = rt.block_on(Bench::new(durability));
        let label = format!("{durability:?}");
        let meter = CpuMeter::default();
        group.bench_function(BenchmarkId::new("batched", &label), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (bench, meter) = (&bench, &meter);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let stream = bench.stream(DeliveryMethod::Push).await;
                        let sets = bench.sets(&stream, N);
                        let (start, cpu) = (Instant::now(), cpu_micros());
                        for chunk in sets.chunks(BATCH) {
                            bench.store.enqueue(chunk.to_vec()).await.unwrap();
                        }
                        total += start.elapsed();
                        meter.add(cpu_micros() - cpu, N as u64);
                        bench.drop_stream(&stream).await;
                    }
                    total
                }
            });
        });
        meter.report(&format!("enqueue/batched/{label}"));
        let meter = CpuMeter::default();
        group.bench_function(BenchmarkId::new("concurrent_single", &label), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (bench, meter) = (&bench, &meter);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let stream = bench.stream(DeliveryMethod::Push).await;
                        let sets = bench.sets(&stream, N);
                        let (start, cpu) = (Instant::now(), cpu_micros());
                        let tasks: Vec<_> = sets
                            .into_iter()
                            .map(|set| {
                                let store = Arc::clone(&bench.store);
                                tokio::spawn(async move { store.enqueue(vec![set]).await.unwrap() })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                        total += start.elapsed();
                        meter.add(cpu_micros() - cpu, N as u64);
                        bench.drop_stream(&stream).await;
                    }
                    total
                }
            });
        });
        meter.report(&format!("enqueue/concurrent_single/{label}"));
    }
    group.finish();
}

fn push(c: &mut Criterion) {
    let rt = runtime();
    let bench = rt.block_on(Bench::new(Durability::Full));
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    let meter = CpuMeter::default();
    group.bench_function("claim_deliver", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (bench, meter) = (&bench, &meter);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let stream = bench.stream(DeliveryMethod::Push).await;
                    bench.fill(&stream).await;
                    let (start, cpu) = (Instant::now(), cpu_micros());
                    let mut delivered = 0;
                    loop {
                        let lease = Duration::from_secs(30);
                        let batch = bench
                            .store
                            .claim_push("w", BATCH as u32, lease)
                            .await
                            .unwrap();
                        if batch.is_empty() {
                            break;
                        }
                        let ids: Vec<_> = batch.iter().map(|c| c.id).collect();
                        delivered += bench.store.mark_delivered("w", &ids).await.unwrap().applied;
                    }
                    total += start.elapsed();
                    meter.add(cpu_micros() - cpu, N as u64);
                    assert_eq!(delivered, N as u64);
                    bench.drop_stream(&stream).await;
                }
                total
            }
        });
    });
    group.finish();
    meter.report("push/claim_deliver");
}

fn poll(c: &mut Criterion) {
    let rt = runtime();
    let bench = rt.block_on(Bench::new(Durability::Full));
    let mut group = c.benchmark_group("poll");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    let meter = CpuMeter::default();
    group.bench_function("poll_ack", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (bench, meter) = (&bench, &meter);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let stream = bench.stream(DeliveryMethod::Poll).await;
                    bench.fill(&stream).await;
                    let (start, cpu) = (Instant::now(), cpu_micros());
                    let mut ack = Vec::new();
                    let mut acked = 0;
                    loop {
                        let request = PollRequest {
                            client_id: "bench".to_owned(),
                            stream_id: stream.clone(),
                            ack: std::mem::take(&mut ack),
                            set_errs: Default::default(),
                            max_events: BATCH as u32,
                            redelivery_after_ms: 60_000,
                        };
                        let answer = bench.store.poll(request).await.unwrap();
                        acked += answer.acked;
                        if answer.sets.is_empty() {
                            break;
                        }
                        ack = answer.sets.into_iter().map(|s| s.jti).collect();
                    }
                    total += start.elapsed();
                    meter.add(cpu_micros() - cpu, N as u64);
                    assert_eq!(acked, N as u64);
                    bench.drop_stream(&stream).await;
                }
                total
            }
        });
    });
    group.finish();
    meter.report("poll/poll_ack");
}

criterion_group!(benches, enqueue, push, poll);
criterion_main!(benches);
