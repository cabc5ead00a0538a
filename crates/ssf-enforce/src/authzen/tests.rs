//! The PDP over real HTTP on 127.0.0.1:0.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{EVALUATION_PATH, EVALUATIONS_PATH, METADATA_PATH, PdpConfig, router, router_with};
use crate::layer::tests::{ISS, T0, apply, fixture};

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("x-request-id", "req-7")
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-7", "AuthZEN §10.1.3");
    (r.status().as_u16(), r.json().await.unwrap())
}

fn jane() -> Value {
    json!({"type": "user", "id": "jane@example.com",
        "properties": {"iss": ISS, "sub": "u-jane", "sid": "s-1", "iat": T0 - 10, "roles": ["support-agent"]}})
}

#[tokio::test]
async fn metadata_names_both_endpoints() {
    let f = fixture();
    let base = serve(router(Arc::clone(&f.engine))).await;
    let m: Value = reqwest::get(format!("{base}{METADATA_PATH}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["policy_decision_point"], base);
    assert_eq!(
        m["access_evaluation_endpoint"],
        format!("{base}{EVALUATION_PATH}")
    );
    assert_eq!(
        m["access_evaluations_endpoint"],
        format!("{base}{EVALUATIONS_PATH}")
    );
    let fixed = router_with(f.engine, PdpConfig::at("https://pdp.example.com/"));
    let base = serve(fixed).await;
    let m: Value = reqwest::get(format!("{base}{METADATA_PATH}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        m["access_evaluation_endpoint"],
        "https://pdp.example.com/access/v1/evaluation"
    );
}

#[tokio::test]
async fn evaluation_says_why_with_the_causing_jti() {
    let f = fixture();
    let base = serve(router(Arc::clone(&f.engine))).await;
    let req = |kind: &str, id: &str, action: &str| {
        json!({"subject": jane(), "resource": {"type": kind, "id": id}, "action": {"name": action},
            "context": {"time": "2026-01-01T00:00:00Z"}})
    };
    let (s, v) = post(&base, EVALUATION_PATH, &req("kb", "a1", "can_read")).await;
    assert_eq!((s, v["decision"].as_bool()), (200, Some(true)));
    assert_eq!(v["context"]["reason"], "allowed_by_role");
    let (_, v) = post(&base, EVALUATION_PATH, &req("customer", "C2148", "read")).await;
    assert_eq!(v["decision"], false);
    assert_eq!(v["context"]["reason"], "grant_required");

    apply(
        &f.engine,
        "grant-9",
        "token-claims-change",
        json!({"format": "email", "email": "jane@example.com"}),
        json!({"event_timestamp": T0 - 5, "claims": {"customer_id": "C2148", "access_allowed": "read_write"}}),
    );
    let (_, v) = post(&base, EVALUATION_PATH, &req("customer", "C2148", "update")).await;
    assert_eq!(v["decision"], true, "{v}");
    assert_eq!(v["context"]["jti"], "grant-9");
    assert_eq!(v["context"]["rule"], "caep.token-claims-change.grant");

    apply(
        &f.engine,
        "revoke-9",
        "session-revoked",
        json!({"format": "opaque", "id": "s-1"}),
        json!({"event_timestamp": T0}),
    );
    let (_, v) = post(&base, EVALUATION_PATH, &req("kb", "a1", "read")).await;
    assert_eq!(v["decision"], false);
    assert_eq!(v["context"]["reason"], "session_revoked");
    assert_eq!(v["context"]["jti"], "revoke-9");
    // The session itself as the subject.
    let by_session = json!({"subject": {"type": "session", "id": "s-1", "properties": {"iat": T0 - 10}},
        "resource": {"type": "kb", "id": "a1"}, "action": {"name": "read"}});
    let (_, v) = post(&base, EVALUATION_PATH, &by_session).await;
    assert_eq!(v["context"]["reason"], "session_revoked", "{v}");

    let (s, v) = post(&base, EVALUATION_PATH, &json!({"subject": jane()})).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn batch_takes_defaults_from_the_top_level_and_honours_the_semantic() {
    let f = fixture();
    let base = serve(router(Arc::clone(&f.engine))).await;
    let body = json!({
        "subject": jane(),
        "action": {"name": "read"},
        "evaluations": [
            {"resource": {"type": "kb", "id": "a1"}},
            {"resource": {"type": "customer", "id": "C2148"}},
            {"resource": {"type": "kb", "id": "a2"}, "action": {"name": "read_write"}},
            {"resource": {"type": "kb"}},
        ]
    });
    let (s, v) = post(&base, EVALUATIONS_PATH, &body).await;
    assert_eq!(s, 200);
    let d: Vec<Value> = v["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].clone())
        .collect();
    assert_eq!(d, [json!(true), json!(false), json!(false), json!(false)]);
    assert_eq!(v["evaluations"][2]["context"]["reason"], "no_permission");
    assert_eq!(v["evaluations"][3]["context"]["error"]["status"], 400);

    let mut first_deny = body.clone();
    first_deny["options"] = json!({"evaluations_semantic": "deny_on_first_deny"});
    let (_, v) = post(&base, EVALUATIONS_PATH, &first_deny).await;
    assert_eq!(v["evaluations"].as_array().unwrap().len(), 2);

    // Without `evaluations` the request is a single evaluation.
    let single = json!({"subject": jane(), "action": {"name": "read"}, "resource": {"type": "kb", "id": "a1"}});
    let (_, v) = post(&base, EVALUATIONS_PATH, &single).await;
    assert_eq!(v["decision"], true);
}

/// Issue 12 item 12: a batch over `max_evaluations` is refused with the limit in the message
/// and nothing evaluated; one at the limit is answered in full.
#[tokio::test]
async fn a_batch_over_the_item_cap_is_refused_with_the_limit() {
    let f = fixture();
    let config = PdpConfig {
        max_evaluations: 3,
        ..PdpConfig::default()
    };
    let base = serve(router_with(Arc::clone(&f.engine), config)).await;
    let item = json!({"resource": {"type": "kb", "id": "a1"}});
    let batch = |n: usize| {
        json!({"subject": jane(), "action": {"name": "read"},
            "evaluations": std::iter::repeat_n(item.clone(), n).collect::<Vec<_>>()})
    };
    let (s, v) = post(&base, EVALUATIONS_PATH, &batch(4)).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
    let why = v["error_description"].as_str().unwrap();
    assert!(
        why.contains("4 evaluations") && why.contains("at most 3"),
        "{why}"
    );

    let (s, v) = post(&base, EVALUATIONS_PATH, &batch(3)).await;
    assert_eq!(s, 200);
    assert_eq!(v["evaluations"].as_array().unwrap().len(), 3);
}
