//! `POST /events`: validation, matching (SSF 1.0 §8.1.3.1, checklist 2.4), one SET per stream
//! (checklist 1.1).

mod authority;
mod idempotency;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_transmitter::metadata::paths;

use crate::{
    fake_receiver::{
        check_set, claims, event, poll, poll_stream, publish, revoked, sets, verifier,
    },
    support::{
        CREDENTIAL_CHANGE, RECEIVER, RECEIVER_2, SESSION_REVOKED, TestServer, audience_of,
        body_json,
    },
};

pub(crate) async fn queued(server: &TestServer) -> u64 {
    server
        .state
        .store
        .outbox_counts(None)
        .await
        .unwrap()
        .queued()
}

pub(crate) async fn drain(
    server: &TestServer,
    token: &str,
    stream_id: &str,
) -> Vec<(String, String)> {
    let (status, body) = poll(
        server,
        token,
        stream_id,
        &json!({"returnImmediately": true, "maxEvents": 100}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sets(&body)
}

async fn add_subject(
    server: &TestServer,
    token: &str,
    stream_id: &str,
    subject: Value,
    path: &str,
) {
    let response = server
        .post(path)
        .bearer_auth(token)
        .json(&json!({"stream_id": stream_id, "subject": subject}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        body_json(response).await
    );
}

#[tokio::test]
async fn bad_event_is_400_with_the_reason_and_nothing_is_queued_ssf_rxv_09() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    poll_stream(&server, &rx, &[SESSION_REVOKED]).await;

    let mut bad = revoked("a@example.com");
    bad["event"]["initiating_entity"] = json!("robot");
    let (status, body) = publish(&server, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("initiating_entity"),
        "{body}"
    );

    let (status, body) = publish(
        &server,
        &json!([revoked("a@example.com"), {"event_type": SESSION_REVOKED}]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("events[1]"),
        "{body}"
    );

    let (status, _) = publish(&server, &event(SESSION_REVOKED, json!({"format": "email"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a malformed sub_id");
    assert_eq!(
        queued(&server).await,
        0,
        "nothing queued for a refused request"
    );
}

#[tokio::test]
async fn event_no_stream_wants_is_accepted_for_zero_streams() {
    let server = TestServer::start().await;
    let (status, body) = publish(&server, &revoked("nobody@example.com")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["streams"], 0);
    assert_eq!(body["jtis"], json!([]));
    assert!(body["txn"].is_string());
}

#[tokio::test]
async fn publishing_needs_the_publish_scope() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let response = server
        .post(paths::EVENTS)
        .bearer_auth(rx)
        .json(&revoked("a@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = server
        .post(paths::EVENTS)
        .json(&revoked("a@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// SSF-SET-03/04/05/07/10..17: one SET per matching stream, each with that stream's `aud`.
#[tokio::test]
async fn one_signed_set_per_matching_stream_with_its_audience() {
    let server = TestServer::start().await;
    let (rx1, rx2) = (server.token(RECEIVER).await, server.token(RECEIVER_2).await);
    let s1 = poll_stream(&server, &rx1, &[SESSION_REVOKED]).await;
    let s2 = poll_stream(&server, &rx2, &[SESSION_REVOKED, CREDENTIAL_CHANGE]).await;
    let other = poll_stream(&server, &rx2, &[CREDENTIAL_CHANGE]).await;

    let mut body = revoked("jdoe@example.com");
    body["txn"] = json!("cause-1");
    let (status, answer) = publish(&server, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["streams"], 2);
    assert_eq!(answer["txn"], "cause-1");

    let mut jtis = BTreeSet::new();
    for (client, token, stream) in [(RECEIVER, &rx1, &s1), (RECEIVER_2, &rx2, &s2)] {
        let got = drain(&server, token, stream).await;
        assert_eq!(got.len(), 1);
        let (jti, set) = &got[0];
        let verified = check_set(&verifier(&server, &audience_of(client)).await, set);
        assert_eq!(verified.issuer(), server.issuer(), "SSF-SET-03");
        let c = claims(set);
        assert_eq!(&c["jti"], jti);
        assert_eq!(c["aud"], audience_of(client), "SSF-SET-07");
        assert_eq!(
            c["txn"], "cause-1",
            "SSF-SET-11: the producer's txn on every SET of the cause"
        );
        assert_eq!(
            c["sub_id"],
            json!({"format": "email", "email": "jdoe@example.com"})
        );
        assert_eq!(c["events"][SESSION_REVOKED]["initiating_entity"], "policy");
        assert!(c["iat"].is_i64(), "SSF-SET-04");
        jtis.insert(jti.clone());
    }
    assert_eq!(jtis.len(), 2, "SSF-SET-05: a fresh jti per SET");
    assert!(
        drain(&server, &rx2, &other).await.is_empty(),
        "not in events_delivered"
    );
}

#[tokio::test]
async fn a_generated_txn_is_shared_by_the_sets_of_one_event_ssf_set_10() {
    let server = TestServer::start().await;
    let (rx1, rx2) = (server.token(RECEIVER).await, server.token(RECEIVER_2).await);
    let s1 = poll_stream(&server, &rx1, &[SESSION_REVOKED]).await;
    let s2 = poll_stream(&server, &rx2, &[SESSION_REVOKED]).await;
    let (_, a) = publish(&server, &revoked("a@example.com")).await;
    let (_, b) = publish(&server, &revoked("a@example.com")).await;
    assert_ne!(a["txn"], b["txn"], "unique per cause");
    let t1 = claims(&drain(&server, &rx1, &s1).await[0].1)["txn"].clone();
    let t2 = claims(&drain(&server, &rx2, &s2).await[0].1)["txn"].clone();
    assert_eq!(t1, a["txn"]);
    assert_eq!(t1, t2);
}

#[tokio::test]
async fn a_batch_is_queued_at_once() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let batch: Vec<Value> = (0..3)
        .map(|i| revoked(&format!("u{i}@example.com")))
        .collect();
    let (status, body) = publish(&server, &Value::Array(batch)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    assert_eq!(drain(&server, &rx, &s).await.len(), 3);
}

#[tokio::test]
async fn default_subjects_none_sends_only_added_subjects_ssf_sub_42() {
    let server = TestServer::builder()
        .configure(|c| c.streams.default_subjects = ssf_store::DefaultSubjects::None)
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let alice = json!({"format": "email", "email": "alice@example.com"});
    add_subject(&server, &rx, &s, alice.clone(), paths::ADD_SUBJECT).await;
    publish(&server, &revoked("alice@example.com")).await;
    publish(&server, &revoked("bob@example.com")).await;
    let got = drain(&server, &rx, &s).await;
    assert_eq!(got.len(), 1);
    assert_eq!(claims(&got[0].1)["sub_id"], alice);
}

#[tokio::test]
async fn a_removed_subject_gets_nothing_on_an_all_stream() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let bob = json!({"format": "email", "email": "bob@example.com"});
    add_subject(&server, &rx, &s, bob, paths::REMOVE_SUBJECT).await;
    publish(&server, &revoked("alice@example.com")).await;
    publish(&server, &revoked("bob@example.com")).await;
    let got = drain(&server, &rx, &s).await;
    assert_eq!(got.len(), 1);
    assert_eq!(claims(&got[0].1)["sub_id"]["email"], "alice@example.com");
}

fn complex(members: &[(&str, Value)]) -> Value {
    let mut v = json!({"format": "complex"});
    for (name, member) in members {
        v[*name] = member.clone();
    }
    v
}

/// TV-MATCH-01..03 and SSF-SUB-43 through the HTTP API on `default_subjects: NONE` streams.
/// SSF-SUB-41 taken literally: members absent on either side are wildcards, so complex subjects
/// without a common member match too.
#[tokio::test]
async fn complex_subjects_match_with_wildcards_tv_match_01_02_03() {
    let server = TestServer::builder()
        .configure(|c| c.streams.default_subjects = ssf_store::DefaultSubjects::None)
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let user = json!({"format": "email", "email": "jdoe@example.com"});
    let user2 = json!({"format": "email", "email": "other@example.com"});
    let tenant = json!({"format": "opaque", "id": "example-a38h4792-uw2"});
    let tenant2 = json!({"format": "opaque", "id": "another-tenant"});
    let device = json!({"format": "ip-addresses", "ip-addresses": ["10.29.37.75"]});
    let g1 = json!({"format": "did", "url": "did:example:123456"});
    let g2 = json!({"format": "did", "url": "did:example:9999999"});

    let mut streams = Vec::new();
    for added in [
        complex(&[("tenant", tenant.clone())]),
        complex(&[("user", user.clone()), ("device", device)]),
        complex(&[("user", user.clone()), ("group", g1)]),
        user.clone(),
    ] {
        let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
        add_subject(&server, &rx, &s, added, paths::ADD_SUBJECT).await;
        streams.push(s);
    }
    let events = [
        complex(&[("tenant", tenant), ("user", user.clone())]),
        complex(&[("user", user.clone())]),
        complex(&[("user", user.clone()), ("group", g2)]),
        complex(&[("tenant", tenant2), ("user", user)]),
        complex(&[("user", user2)]),
    ];
    let mut got = Vec::new();
    for e in &events {
        let (status, body) = publish(&server, &event(SESSION_REVOKED, e.clone())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let mut row = Vec::new();
        for s in &streams {
            row.push(drain(&server, &rx, s).await.len() == 1);
        }
        got.push(row);
    }
    // Rows: events; columns: {tenant}, {user, device}, {user, group g1}, simple user.
    let expected = vec![
        vec![true, true, true, true],    // TV-MATCH-01 {tenant, user}
        vec![true, true, true, true],    // TV-MATCH-02 {user}
        vec![true, true, false, true],   // TV-MATCH-03 {user, group g2}
        vec![false, true, true, true],   // other tenant
        vec![true, false, false, false], // other user
    ];
    assert_eq!(got, expected);
}

/// Subjects added after the matcher has loaded apply at once (stream management tells the
/// matcher, `Matcher::subject_changed` / `invalidate`).
#[tokio::test]
async fn changes_after_the_first_event_apply_at_once() {
    let server = TestServer::builder()
        .configure(|c| c.streams.default_subjects = ssf_store::DefaultSubjects::None)
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let user = json!({"format": "email", "email": "jdoe@example.com"});
    let (status, _) = publish(&server, &revoked("jdoe@example.com")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "loads the matcher's caches");

    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let added = complex(&[
        ("user", user.clone()),
        ("session", json!({"format": "opaque", "id": "s1"})),
    ]);
    add_subject(&server, &rx, &s, added, paths::ADD_SUBJECT).await;
    let (_, body) = publish(&server, &event(SESSION_REVOKED, complex(&[("user", user)]))).await;
    assert_eq!(
        body["streams"], 1,
        "the new stream and its complex subject are seen at once"
    );
}
