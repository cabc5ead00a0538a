//! Out-of-order events, idempotent effects, and `load` reproducing the committed state.

use serde_json::json;
use ssf_enforce::{Effect, EngineConfig, Outcome, ReasonCode};

use crate::{
    common::{Harness, T0, caep, decisions, email, risc, set, token, user},
    jane::jane_config,
};

#[test]
fn older_account_event_never_overwrites_newer_state() {
    let h = Harness::new(EngineConfig::default());
    let jane = h.request(&token("jane", "s1", T0 - 100));
    h.apply(&set(
        "en",
        &risc("account-enabled"),
        user("jane"),
        json!({}),
        Some(T0 + 5),
    ));
    let late = h.apply(&set(
        "dis",
        &risc("account-disabled"),
        user("jane"),
        json!({}),
        Some(T0 + 3),
    ));
    assert_eq!(late.audit.outcome, Outcome::Stale);
    assert!(late.effects.is_empty());
    assert!(h.decide(&jane).is_allowed());
    // Committing the stale effect anyway (e.g. planned on another node) changes nothing.
    let h2 = Harness::new(EngineConfig::default());
    let p_dis = h2.plan(&set(
        "dis",
        &risc("account-disabled"),
        user("jane"),
        json!({}),
        Some(T0 + 3),
    ));
    let p_en = h2.plan(&set(
        "en",
        &risc("account-enabled"),
        user("jane"),
        json!({}),
        Some(T0 + 5),
    ));
    h2.engine.commit(&p_en[0].effects);
    let report = h2.engine.commit(&p_dis[0].effects);
    assert_eq!(report.stale, 1);
    assert!(h2.decide(&jane).is_allowed());
}

#[test]
fn late_grant_does_not_resurrect_a_removed_one() {
    let h = Harness::new(jane_config());
    let req = h
        .request(&token("jane", "s1", T0))
        .with_resource("customer", "C2148")
        .with_access("read");
    let grant = |jti: &str, access: &str, ts: i64| {
        set(
            jti,
            &caep("token-claims-change"),
            email("jane@example.com"),
            json!({"claims": {"customer_id": "C2148", "access_allowed": access}}),
            Some(ts),
        )
    };
    h.apply(&grant("off", "none", T0 + 7));
    let late = h.apply(&grant("on", "read_write", T0 + 5));
    assert_eq!(late.audit.outcome, Outcome::Stale);
    assert_eq!(h.decide(&req).reason(), ReasonCode::GrantRequired);
}

#[test]
fn older_revocation_and_purge_guard() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&set(
        "r2",
        &caep("session-revoked"),
        user("jane"),
        json!({}),
        Some(T0 + 20),
    ));
    // An older revocation of the same subject is already covered.
    let old = h.apply(&set(
        "r1",
        &caep("session-revoked"),
        user("jane"),
        json!({}),
        Some(T0 + 10),
    ));
    assert_eq!(old.audit.outcome, Outcome::Stale);
    // After a purge, older events about the user are not applied.
    h.apply(&set(
        "p",
        &risc("account-purged"),
        user("jane"),
        json!({}),
        Some(T0 + 30),
    ));
    let claims = set(
        "c",
        &caep("token-claims-change"),
        user("jane"),
        json!({"claims": {"a": 1}}),
        Some(T0 + 25),
    );
    assert_eq!(h.apply(&claims).audit.outcome, Outcome::Stale);
}

fn scenario() -> Vec<serde_json::Value> {
    vec![
        set(
            "1",
            &caep("token-claims-change"),
            email("jane@example.com"),
            json!({"claims": {"customer_id": "C2148", "access_allowed": "read_write", "nickname": "JJ",
                   "groups_add": ["support-tier2"]}}),
            Some(T0),
        ),
        set(
            "2",
            &caep("session-revoked"),
            json!({"format": "opaque", "id": "s-old"}),
            json!({}),
            Some(T0 + 1),
        ),
        set(
            "3",
            &caep("risk-level-change"),
            user("bob"),
            json!({"principal": "USER", "current_level": "HIGH"}),
            Some(T0 + 2),
        ),
        set(
            "4",
            &risc("account-disabled"),
            user("eve"),
            json!({"reason": "hijacking"}),
            Some(T0 + 3),
        ),
        set(
            "5",
            &caep("assurance-level-change"),
            user("jane"),
            json!({"namespace": "NIST-AAL", "current_level": "nist-aal1"}),
            Some(T0 + 4),
        ),
        set(
            "6",
            &caep("device-compliance-change"),
            json!({"format": "complex",
            "device": {"format": "opaque", "id": "d-bad"}}),
            json!({"current_status": "not-compliant", "previous_status": "compliant"}),
            Some(T0 + 5),
        ),
        set(
            "7",
            &caep("session-established"),
            user("jane"),
            json!({"acr": "nist-aal2"}),
            Some(T0 + 6),
        ),
    ]
}

fn probes(h: &Harness) -> Vec<ssf_enforce::AccessRequest> {
    let mut out = Vec::new();
    for (sub, sid) in [
        ("jane", "s-old"),
        ("jane", "s-new"),
        ("bob", "s"),
        ("eve", "s"),
    ] {
        let mut t = token(sub, sid, T0 - 10);
        t["device_id"] = json!("d-bad");
        let base = h.request(&token(sub, sid, T0 - 10));
        out.push(base.clone());
        out.push(h.request(&t));
        for (ty, id) in [("customer", "C2148"), ("ticket", "T1"), ("kb", "x")] {
            out.push(base.clone().with_resource(ty, id).with_access("read_write"));
        }
    }
    out
}

#[test]
fn plan_and_commit_twice_is_the_same_as_once() {
    let once = Harness::new(jane_config());
    let twice = Harness::new(jane_config());
    for s in scenario() {
        once.apply(&s);
        let plans = twice.plan(&s);
        for p in &plans {
            twice.engine.commit(&p.effects);
            twice.engine.commit(&p.effects);
        }
        // Re-planning the same SET after commit (a redelivery that slipped past dedupe) is harmless.
        for p in twice.plan(&s) {
            twice.engine.commit(&p.effects);
        }
    }
    assert_eq!(once.engine.rows(), twice.engine.rows());
    let reqs = probes(&once);
    assert_eq!(
        decisions(&once.engine, &reqs),
        decisions(&twice.engine, &reqs)
    );
}

#[test]
fn load_reproduces_state_and_decisions_in_any_row_order() {
    let h = Harness::new(jane_config());
    for s in scenario() {
        h.apply(&s);
    }
    let rows = h.engine.rows();
    assert!(rows.len() >= 8, "{rows:#?}");
    let reqs = probes(&h);
    let expected = decisions(&h.engine, &reqs);
    // Sanity: the scenario produces a mix of answers.
    let reasons: std::collections::BTreeSet<String> = expected
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_owned())
        .collect();
    for r in [
        "session_revoked",
        "risk_too_high",
        "account_disabled",
        "device_not_compliant",
        "allowed_by_grant",
    ] {
        assert!(reasons.contains(r), "{r} missing from {reasons:?}");
    }

    let other = Harness::new(jane_config());
    let mut reversed = rows.clone();
    reversed.reverse();
    let report = other.engine.load(reversed);
    assert_eq!((report.applied, report.invalid), (rows.len(), 0));
    assert_eq!(other.engine.rows(), rows);
    assert_eq!(decisions(&other.engine, &reqs), expected);

    // Effects from every plan, committed in reverse order on a third node, converge too.
    let third = Harness::new(jane_config());
    let all: Vec<Effect> = {
        let planner = Harness::new(jane_config());
        scenario()
            .iter()
            .flat_map(|s| planner.apply(s).effects)
            .collect()
    };
    third
        .engine
        .commit(&all.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(third.engine.rows(), rows);
}

#[test]
fn rows_survive_a_store_without_a_cause_column() {
    // The receiver's store keeps (kind, key) -> (value, event_time): the cause rides in the value.
    let h = Harness::new(jane_config());
    let mut effects = Vec::new();
    for s in scenario() {
        effects.extend(h.apply(&s).effects);
    }
    effects.extend(
        h.apply(&set(
            "p",
            &risc("account-purged"),
            email("jane@example.com"),
            json!({}),
            Some(T0 + 50),
        ))
        .effects,
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Delete { .. })));
    let stored: Vec<_> = h
        .engine
        .rows()
        .iter()
        .map(|r| (r.kind.as_str(), r.key.clone(), r.stored_value(), r.at()))
        .collect();
    let back: Vec<_> = stored
        .into_iter()
        .map(|(k, key, v, at)| ssf_enforce::StateRow::from_stored(k, key, v, at).unwrap())
        .collect();
    assert_eq!(back, h.engine.rows());
    // Effects through the store's write shape, committed on another node, converge too.
    let other = Harness::new(jane_config());
    let rewritten: Vec<Effect> = effects
        .iter()
        .map(|e| {
            let value = match e {
                Effect::Put(r) => Some(r.stored_value()),
                Effect::Delete { .. } => None,
            };
            Effect::from_stored(e.kind().as_str(), e.key().to_owned(), value, e.event_time())
                .unwrap()
        })
        .collect();
    other.engine.commit(&rewritten);
    assert_eq!(other.engine.rows(), h.engine.rows());
    assert!(ssf_enforce::StateRow::from_stored("nope", "k".into(), json!({}), 1).is_err());
    assert!(ssf_enforce::StateRow::from_stored("grant", "k".into(), json!({}), 1).is_err());
}

#[test]
fn load_skips_and_reports_invalid_rows() {
    let h = Harness::new(EngineConfig::default());
    h.apply(&set(
        "r",
        &caep("session-revoked"),
        user("jane"),
        json!({}),
        Some(T0),
    ));
    let mut rows = h.engine.rows();
    let mut bad = rows[0].clone();
    bad.key = "broken".into();
    bad.value = json!({"before": 1});
    rows.push(bad);
    let other = Harness::new(EngineConfig::default());
    let report = other.engine.load(rows);
    assert_eq!((report.applied, report.invalid), (1, 1));
    assert_eq!(other.engine.stats().rows, 1);
}
