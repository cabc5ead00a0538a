//! Poll delivery (RFC 8936; checklist section 7).

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_store::{OutboxState, ParkedQuery};

use crate::{
    fake_receiver::{claims, poll, poll_stream, publish, revoked, set_status, sets},
    support::{PRODUCER, RECEIVER, RECEIVER_2, SESSION_REVOKED, TestServer},
};

fn immediate(extra: Value) -> Value {
    let mut body = json!({"returnImmediately": true});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

async fn publish_n(server: &TestServer, n: usize) {
    for i in 0..n {
        let (status, _) = publish(server, &revoked(&format!("u{i}@example.com"))).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
}

/// POLL-16 (RFC 8936 §2.4.1, §2.4.2): poll-only, then acknowledge-only; acknowledged SETs are
/// never returned again (POLL-10).
#[tokio::test]
async fn poll_only_then_ack_only() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    publish_n(&server, 2).await;
    let (status, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "POLL-04");
    let got = sets(&body);
    assert_eq!(got.len(), 2);
    for (jti, set) in &got {
        assert_eq!(&claims(set)["jti"], jti);
    }
    let ack: Vec<&String> = got.iter().map(|(j, _)| j).collect();
    let (status, body) = poll(&server, &rx, &s, &json!({"ack": ack, "maxEvents": 0})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["sets"],
        json!({}),
        "maxEvents 0 returns nothing at once"
    );
    assert_eq!(
        server
            .state
            .store
            .outbox_counts(None)
            .await
            .unwrap()
            .queued(),
        0
    );
}

/// POLL-16 (§2.4.3, §2.4.4), POLL-09, POLL-11: poll with ack, then with ack and setErrs; a
/// reported SET is parked as failed and not redelivered.
#[tokio::test]
async fn poll_with_ack_and_with_set_errs() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    publish_n(&server, 3).await;
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({"maxEvents": 1}))).await;
    let j1 = sets(&body)[0].0.clone();
    assert_eq!(body["moreAvailable"], true);
    let (_, body) = poll(
        &server,
        &rx,
        &s,
        &immediate(json!({"maxEvents": 1, "ack": [j1]})),
    )
    .await;
    let j2 = sets(&body)[0].0.clone();
    assert_ne!(j1, j2);
    let errs = json!({"setErrs": {j2.clone(): {"err": "invalid_key", "description": "unknown kid"}},
        "ack": ["unknown-jti"], "maxEvents": 10});
    let (status, body) = poll(&server, &rx, &s, &immediate(errs)).await;
    assert_eq!(status, StatusCode::OK, "POLL-22: an unknown jti is ignored");
    let got = sets(&body);
    assert_eq!(got.len(), 1, "only the third SET: {body}");
    assert!(got[0].0 != j1 && got[0].0 != j2);
    let query = ParkedQuery {
        state: Some(OutboxState::Failed),
        limit: 10,
        ..ParkedQuery::default()
    };
    let failed = server.state.store.list_parked(query).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].jti.as_str(), j2);
    assert_eq!(failed[0].error.as_ref().unwrap().code, "invalid_key");
}

/// POLL-06, D-17: `maxEvents` is respected, the transmitter's cap applies when it is omitted
/// or larger, and `moreAvailable` says more remain.
#[tokio::test]
async fn max_events_and_the_cap_with_more_available() {
    let server = TestServer::builder()
        .configure(|c| c.poll.max_events_cap = 3)
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    publish_n(&server, 7).await;
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({"maxEvents": 2}))).await;
    assert_eq!(sets(&body).len(), 2);
    assert_eq!(body["moreAvailable"], true);
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert_eq!(sets(&body).len(), 3, "the cap");
    assert_eq!(body["moreAvailable"], true);
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({"maxEvents": 50}))).await;
    assert_eq!(sets(&body).len(), 2);
    assert!(
        body.get("moreAvailable").is_none_or(|m| m == false),
        "{body}"
    );
}

/// POLL-07: a long poll returns the moment a SET is queued.
#[tokio::test]
async fn a_long_poll_wakes_when_a_set_is_queued() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let request = server
        .post(&format!("/ssf/poll/{s}"))
        .bearer_auth(&rx)
        .json(&json!({}))
        .send();
    let waiting = tokio::spawn(request);
    publish_n(&server, 1).await;
    let response = waiting.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(sets(&body).len(), 1, "returned with the SET");
}

/// POLL-07/08: `returnImmediately` answers at once; a long poll with nothing queued answers
/// `{"sets":{}}` when its wait ends.
#[tokio::test]
async fn return_immediately_and_an_empty_long_poll() {
    let server = TestServer::builder()
        .configure(|c| c.poll.long_poll_wait = std::time::Duration::from_millis(200))
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let (status, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sets"], json!({}));
    let (status, body) = poll(&server, &rx, &s, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sets"], json!({}));
}

/// POLL-12, SSF-SET-06: a SET handed out and not acknowledged comes back, with the same jti and
/// the same token, after `redelivery_after`.
#[tokio::test]
async fn unacknowledged_sets_are_redelivered_with_the_same_jti() {
    let server = TestServer::builder()
        .manual_clock()
        .configure(|c| c.poll.redelivery_after = std::time::Duration::from_secs(30))
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    publish_n(&server, 1).await;
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    let first = sets(&body);
    assert_eq!(first.len(), 1);
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert!(sets(&body).is_empty(), "handed out, not due again yet");
    server.advance(31);
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert_eq!(sets(&body), first);
}

/// POLL-19, SSF-AUTH-05: another receiver's stream answers 404, and a stream never returns
/// another stream's SETs.
#[tokio::test]
async fn another_streams_sets_are_never_returned() {
    let server = TestServer::start().await;
    let (rx1, rx2) = (server.token(RECEIVER).await, server.token(RECEIVER_2).await);
    let mine = poll_stream(&server, &rx1, &[SESSION_REVOKED]).await;
    let other = poll_stream(
        &server,
        &rx1,
        &["https://schemas.openid.net/secevent/caep/event-type/credential-change"],
    )
    .await;
    publish_n(&server, 1).await;
    let (status, _) = poll(&server, &rx2, &mine, &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = poll(&server, &rx1, &other, &immediate(json!({}))).await;
    assert!(sets(&body).is_empty());
    let (status, _) = poll(&server, &rx1, "no-such-stream", &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = poll(&server, &rx1, &mine, &immediate(json!({}))).await;
    assert_eq!(sets(&body).len(), 1);
}

/// POLL-20: a paused stream answers `{"sets":{}}` and holds; once enabled the SET comes.
#[tokio::test]
async fn a_paused_stream_returns_nothing_and_holds() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    set_status(&server, &rx, &s, "paused").await;
    publish_n(&server, 1).await;
    let (status, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sets"], json!({}));
    set_status(&server, &rx, &s, "enabled").await;
    let (_, body) = poll(&server, &rx, &s, &immediate(json!({}))).await;
    assert_eq!(sets(&body).len(), 1);
}

/// POLL-21: a push stream cannot be polled; POLL-03: malformed bodies are 400; `ssf.read`
/// is required.
#[tokio::test]
async fn wrong_method_bad_body_and_missing_scope_are_refused() {
    let server = TestServer::start().await;
    let rx = server.token(RECEIVER).await;
    let push = crate::fake_receiver::push_stream(
        &server,
        &rx,
        "http://127.0.0.1:9/push",
        None,
        &[SESSION_REVOKED],
    )
    .await;
    let (status, _) = poll(&server, &rx, &push, &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "POLL-21");
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let (status, _) = poll(&server, &rx, &s, &json!({"maxEvents": -1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "POLL-03");
    let (status, _) = poll(&server, &rx, &s, &json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "POLL-03");
    let producer = server.token(PRODUCER).await;
    let (status, _) = poll(&server, &producer, &s, &immediate(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// POLL-23, SSF-STREAM-11: a poll restarts the inactivity counter.
#[tokio::test]
async fn a_poll_counts_as_activity() {
    let server = TestServer::builder().manual_clock().start().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    server.advance(100);
    poll(&server, &rx, &s, &immediate(json!({}))).await;
    let record = server
        .state
        .store
        .find_stream(&ssf_types::StreamId::new(s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.last_activity_at, server.state.clock.now());
}
