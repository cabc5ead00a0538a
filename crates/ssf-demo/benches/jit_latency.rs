//! JIT time to effect (docs/BENCHMARKS.md, "JIT time to effect"): from a ticket webhook sent to
//! the bridge until the support console's enforcement engine decides differently, for the grant
//! (case assigned) and the revoke (case closed), under a steady load of tickets. Real HTTP on
//! loopback between every party of `ssf_demo::World`: webhook -> bridge (SQLite) -> emitter ->
//! transmitter `POST /events` (SQLite outbox) -> push -> console receiver (SQLite dedupe) ->
//! engine. Beside it, in-process `Engine::decide` checks per second on one thread, alone and
//! while the tickets flow.
//!
//! `cargo bench -p ssf-demo --bench jit_latency`; environment: `SSF_BENCH_TICKETS` (default 400
//! per run), `SSF_BENCH_RATE` (tickets per second, default 25).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    clippy::cast_precision_loss
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use ssf_demo::World;
use ssf_enforce::{AccessRequest, Engine};
use ssf_types::SystemClock;
use support_console::SUPPORT_AGENT;

/// How long a case stays open after its grant took effect.
const HOLD: Duration = Duration::from_millis(500);
/// How often a waiting ticket asks the engine (the resolution of the figures).
const CHECK_EVERY: Duration = Duration::from_millis(1);

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

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One case: its agent, customer and the request that flips with its grant.
struct Case {
    ticket: String,
    email: String,
    customer: String,
    request: AccessRequest,
}

fn case(world: &World, run: &str, i: usize) -> Case {
    let (email, customer) = (
        format!("agent-{run}-{i}@example.com"),
        format!("C-{run}-{i}"),
    );
    let claims = json!({"iss": world.transmitter_url, "sub": format!("u-{run}-{i}"), "email": email,
        "roles": [SUPPORT_AGENT]});
    let request = world
        .console
        .engine
        .request_from_claims(claims.as_object().unwrap())
        .with_resource("customer", customer.clone())
        .with_access("read");
    Case {
        ticket: format!("SUP-{run}-{i}"),
        email,
        customer,
        request,
    }
}

/// A generic webhook body (see `ssf_jit::adapter::generic`).
fn ticket_event(world: &World, case: &Case, event_type: &str) -> Value {
    let mut body = json!({
        "ticket_id": case.ticket,
        "event_id": uuid::Uuid::new_v4().to_string(),
        "event_type": event_type,
        "occurred_at": ssf_types::Clock::now(world.clock().as_ref()).0,
        "state": if event_type == "closed" { "closed" } else { "open" },
        "fields": {"customer_id": case.customer},
    });
    if event_type == "assigned" {
        body["assignee"] = json!({"email": case.email});
    }
    body
}

/// Times of one transition.
struct Flip {
    /// Webhook sent -> the engine's decision changed.
    effect: Duration,
    /// Webhook sent -> the bridge's answer.
    answered: Duration,
}

/// Sends the webhook and waits (bounded) until the engine's decision for the case is `allowed`.
async fn flip(
    world: &World,
    engine: &Engine,
    case: &Case,
    event_type: &str,
    allowed: bool,
) -> Flip {
    let body = ticket_event(world, case, event_type);
    let sent = Instant::now();
    let answer = world
        .http()
        .post(world.webhook_url())
        .bearer_auth(&world.webhook_secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    let answered = sent.elapsed();
    let status = answer.status();
    let answer: Value = answer.json().await.unwrap();
    assert!(
        status.is_success() && answer["status"] == "applied",
        "{event_type} of {}: {status} {answer}",
        case.ticket
    );
    let deadline = sent + Duration::from_secs(30);
    loop {
        if engine.decide(&case.request).is_allowed() == allowed {
            return Flip {
                effect: sent.elapsed(),
                answered,
            };
        }
        assert!(
            Instant::now() < deadline,
            "{event_type} of {} took no effect within 30 s",
            case.ticket
        );
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

struct Run {
    name: &'static str,
    tickets: usize,
    grant: Vec<Duration>,
    revoke: Vec<Duration>,
    answered: Vec<Duration>,
    elapsed: Duration,
    cpu: Option<Duration>,
    checks_per_sec: Option<f64>,
    load: f64,
}

/// `tickets` cases started at `rate` per second: assigned, held `HOLD` after the grant took
/// effect, closed.
async fn load(world: &Arc<World>, name: &'static str, tickets: usize, rate: usize) -> Run {
    let engine = Arc::clone(&world.console.engine);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let (start, cpu_before) = (Instant::now(), cpu_time());
    let mut tasks = Vec::with_capacity(tickets);
    for i in 0..tickets {
        tick.tick().await;
        let (world, engine) = (Arc::clone(world), Arc::clone(&engine));
        tasks.push(tokio::spawn(async move {
            let case = case(&world, name, i);
            assert!(
                !engine.decide(&case.request).is_allowed(),
                "no grant before"
            );
            let grant = flip(&world, &engine, &case, "assigned", true).await;
            tokio::time::sleep(HOLD).await;
            let revoke = flip(&world, &engine, &case, "closed", false).await;
            (grant, revoke)
        }));
    }
    let (mut grant, mut revoke, mut answered) = (Vec::new(), Vec::new(), Vec::new());
    for t in tasks {
        let (g, r) = t.await.unwrap();
        grant.push(g.effect);
        revoke.push(r.effect);
        answered.extend([g.answered, r.answered]);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time().zip(cpu_before).map(|(a, b)| a - b);
    for v in [&mut grant, &mut revoke, &mut answered] {
        v.sort_unstable();
    }
    Run {
        name,
        tickets,
        grant,
        revoke,
        answered,
        elapsed,
        cpu,
        checks_per_sec: None,
        load: load_average(),
    }
}

/// A thread calling `Engine::decide` in a loop over `requests` until `stop`; counts in `done`.
fn decide_loop(
    engine: Arc<Engine>,
    requests: Vec<AccessRequest>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for r in &requests {
                std::hint::black_box(engine.decide(std::hint::black_box(r)));
            }
            n += requests.len() as u64;
            done.store(n, Ordering::Relaxed);
        }
    })
}

/// Decisions per second of one `decide_loop` thread over `for_how_long`, nothing else running.
async fn decide_rate_alone(
    engine: &Arc<Engine>,
    requests: &[AccessRequest],
    how_long: Duration,
) -> f64 {
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let t = decide_loop(
        Arc::clone(engine),
        requests.to_vec(),
        Arc::clone(&stop),
        Arc::clone(&done),
    );
    tokio::time::sleep(how_long).await;
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let tickets = env_usize("SSF_BENCH_TICKETS", 400);
    let rate = env_usize("SSF_BENCH_RATE", 25).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let world = Arc::new(
            World::start(Arc::new(SystemClock), Duration::from_secs(60))
                .await
                .unwrap(),
        );
        let engine = Arc::clone(&world.console.engine);
        // Checks over 1,000 agents, granted or not as their tickets come and go.
        let requests: Vec<AccessRequest> = (0..1000)
            .map(|i| case(&world, "checked", i % tickets.max(1)).request)
            .collect();
        // Warm-up: connections, the transmitter's stream cache, SQLite page caches.
        load(&world, "warm", 20, rate).await;
        let alone_before = decide_rate_alone(&engine, &requests, Duration::from_secs(2)).await;
        let quiet = load(&world, "quiet", tickets, rate).await;
        let (stop, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let checker = decide_loop(
            Arc::clone(&engine),
            requests.clone(),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        let mut busy = load(&world, "checked", tickets, rate).await;
        stop.store(true, Ordering::Relaxed);
        checker.join().unwrap();
        busy.checks_per_sec =
            Some(done.load(Ordering::Relaxed) as f64 / busy.elapsed.as_secs_f64());
        let alone_after = decide_rate_alone(&engine, &requests, Duration::from_secs(2)).await;
        report(&[quiet, busy], rate, alone_before, alone_after);
        match Arc::try_unwrap(world) {
            Ok(world) => world.shutdown().await,
            Err(_) => eprintln!("world still shared at the end; dropped without waiting"),
        }
    });
}

fn report(runs: &[Run], rate: usize, alone_before: f64, alone_after: f64) {
    println!(
        "Engine::decide, 1 thread, nothing else running: {alone_before:.0}/s before, {alone_after:.0}/s after"
    );
    println!(
        "load: {rate} tickets/s, each assigned, closed {} ms after its grant took effect; engine checked every {} ms",
        HOLD.as_millis(),
        CHECK_EVERY.as_millis()
    );
    println!();
    println!(
        "| run | tickets | grant p50 / p99 / max | revoke p50 / p99 / max | webhook answer p50 / p99 | CPU per ticket | decide/s beside it | load avg |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in runs {
        let cpu = r.cpu.map_or_else(
            || "n/a".to_owned(),
            |c| format!("{:.1} ms", ms(c) / r.tickets as f64),
        );
        let checks = r.checks_per_sec.map_or_else(
            || "—".to_owned(),
            |c| {
                format!(
                    "{:.2} M ({:.0}% of alone)",
                    c / 1e6,
                    100.0 * c / alone_before.max(alone_after)
                )
            },
        );
        println!(
            "| {} | {} | {:.1} / {:.1} / {:.1} ms | {:.1} / {:.1} / {:.1} ms | {:.1} / {:.1} ms | {cpu} | {checks} | {:.1} |",
            r.name,
            r.tickets,
            ms(pct(&r.grant, 0.5)),
            ms(pct(&r.grant, 0.99)),
            ms(pct(&r.grant, 1.0)),
            ms(pct(&r.revoke, 0.5)),
            ms(pct(&r.revoke, 0.99)),
            ms(pct(&r.revoke, 1.0)),
            ms(pct(&r.answered, 0.5)),
            ms(pct(&r.answered, 0.99)),
            r.load
        );
    }
}
