//! Decision throughput on a populated state (docs/BENCHMARKS.md, "Enforcement").
//!
//! State: 100,000 users, each with a JIT grant on one customer; 20,000 revoked sessions;
//! 2,000 non-compliant devices; 2,000 users at HIGH risk. Requests carry 9 handles (user iss_sub
//! and email, session and device and tenant as opaque and iss_sub, token id), as
//! `AccessRequest::from_claims` builds them with the default claim mapping.

#![allow(clippy::expect_used)] // set-up failures end the benchmark

use std::{hint::black_box, sync::Arc, thread, time::Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use ssf_enforce::{
    AccessPolicy, AccessRequest, EnforcementEvent, Engine, EngineConfig, EventContext, Permission,
};
use ssf_types::{ParseMode, SystemClock};

const IDP: &str = "https://idp.example.com/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const USERS: usize = 100_000;
const T0: i64 = 1_700_000_000;

fn config() -> EngineConfig {
    let perm = |asset: &str, access: &str| Permission {
        asset: asset.into(),
        access: access.into(),
    };
    EngineConfig {
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
    }
}

fn apply(engine: &Engine, jti: usize, name: &str, sub_id: Value, body: Value) {
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
            .expect("event");
    let plan = engine.plan(&event, &ctx);
    engine.commit(&plan.effects);
}

fn populated() -> Engine {
    let engine = Engine::new(config(), Arc::new(SystemClock)).expect("config");
    let mut jti = 0;
    for u in 0..USERS {
        jti += 1;
        apply(
            &engine,
            jti,
            "token-claims-change",
            json!({"format": "email", "email": format!("user{u}@example.com")}),
            json!({"claims": {"customer_id": format!("C{u}"), "access_allowed": "read_write"}, "event_timestamp": T0}),
        );
    }
    for s in 0..20_000 {
        jti += 1;
        apply(
            &engine,
            jti,
            "session-revoked",
            json!({"format": "opaque", "id": format!("revoked-{s}")}),
            json!({"event_timestamp": T0}),
        );
    }
    for d in 0..2_000 {
        jti += 1;
        apply(
            &engine,
            jti,
            "device-compliance-change",
            json!({"format": "complex", "device": {"format": "opaque", "id": format!("bad-{d}")}}),
            json!({"current_status": "not-compliant", "previous_status": "compliant", "event_timestamp": T0}),
        );
        jti += 1;
        apply(
            &engine,
            jti,
            "risk-level-change",
            json!({"format": "iss_sub", "iss": IDP, "sub": format!("risky{d}")}),
            json!({"principal": "USER", "current_level": "HIGH", "event_timestamp": T0}),
        );
    }
    engine
}

fn token(engine: &Engine, sub: &str, sid: &str) -> AccessRequest {
    let claims = json!({"iss": IDP, "sub": sub, "email": format!("{sub}@example.com"), "sid": sid,
        "device_id": "laptop-1", "tid": "acme", "jti": "tok-1", "iat": T0 - 60, "auth_time": T0 - 60,
        "acr": "nist-aal2", "roles": ["support"]});
    engine.request_from_claims(claims.as_object().expect("object"))
}

fn bench(c: &mut Criterion) {
    let engine = populated();
    let granted = token(&engine, "user4242", "s-4242")
        .with_resource("customer", "C4242")
        .with_access("read_write");
    let refused = token(&engine, "user4242", "s-4242")
        .with_resource("customer", "C9")
        .with_access("read");
    let by_role = token(&engine, "nobody", "s-1")
        .with_resource("kb", "a1")
        .with_access("read");
    let revoked = token(&engine, "user7", "revoked-7").with_resource("kb", "a1");
    let session_only = token(&engine, "user9", "s-9");

    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Elements(1));
    for (name, req) in [
        ("allow_by_grant", &granted),
        ("deny_no_grant", &refused),
        ("allow_by_role", &by_role),
        ("deny_revoked", &revoked),
        ("session_only", &session_only),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(engine.decide(black_box(req))));
        });
    }
    let claims = json!({"iss": IDP, "sub": "user4242", "email": "user4242@example.com", "sid": "s-4242",
        "iat": T0 - 60, "roles": ["support"]});
    let claims = claims.as_object().expect("object").clone();
    g.bench_function("from_claims_and_decide", |b| {
        b.iter(|| {
            let req = engine
                .request_from_claims(black_box(&claims))
                .with_resource("customer", "C4242");
            black_box(engine.decide(&req))
        });
    });
    // Both cores: two threads share the engine, each judging its own user (as concurrent requests
    // of different users would); time per decision over both.
    let per_thread: Vec<AccessRequest> = [4242, 777]
        .map(|u| {
            token(&engine, &format!("user{u}"), &format!("s-{u}"))
                .with_resource("customer", format!("C{u}"))
                .with_access("read_write")
        })
        .to_vec();
    let engine = Arc::new(engine);
    g.bench_function("allow_by_grant_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let workers: Vec<_> = per_thread
                .iter()
                .map(|req| {
                    let engine = Arc::clone(&engine);
                    let req = req.clone();
                    thread::spawn(move || {
                        for _ in 0..iters / 2 {
                            black_box(engine.decide(black_box(&req)));
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().expect("worker");
            }
            start.elapsed()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
