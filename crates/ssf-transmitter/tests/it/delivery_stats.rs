//! Per-stream delivery figures (`AppState::delivery_stats`) and subject counts
//! (`TransmitterStore::count_subjects`), what the operator console shows per stream, on SQLite
//! and PostgreSQL.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use ssf_http::RetryConfig;
use ssf_transmitter::metadata::paths;
use ssf_types::StreamId;

use crate::{
    fake_receiver::{
        FakeReceiver, Reply, eventually, poll, poll_stream, publish, push_stream, revoked, sets,
    },
    postgres::{Db, on_both_backends},
    support::{RECEIVER, SESSION_REVOKED},
};

on_both_backends!(
    push_deliveries_and_failures_are_counted_per_stream,
    poll_acks_count_as_deliveries_and_set_errs_as_failures,
    subjects_of_a_stream_are_counted,
);

/// A push answered `202` counts as delivered; `503`s count as consecutive failures with the
/// last answer, until a delivery resets them.
async fn push_deliveries_and_failures_are_counted_per_stream(db: Db) {
    let server = db
        .builder()
        .with_workers()
        .configure(|c| {
            c.push.retry = RetryConfig::default();
            c.push.retry.delays = vec![Duration::from_millis(50), Duration::from_millis(50)];
            c.push.retry.jitter_percent = 0;
            c.push.http.request_timeout = Duration::from_secs(5);
            c.push.idle_poll_interval = Duration::from_millis(50);
        })
        .start()
        .await;
    let rx = FakeReceiver::start().await;
    let token = server.token(RECEIVER).await;
    let id = StreamId::new(push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await);
    let stats = server.state.delivery_stats();
    assert_eq!(stats.stream(&id).delivered, 0);

    publish(&server, &revoked("jane@example.com")).await;
    eventually("one delivery", || async {
        stats.stream(&id).delivered == 1
    })
    .await;
    let first = stats.stream(&id);
    assert!(first.last_delivered_at.is_some());
    assert_eq!((first.consecutive_failures, first.failures), (0, 0));

    rx.always(Reply::Status(503));
    publish(&server, &revoked("bob@example.com")).await;
    // Three attempts (two retries), then the SET is dead-lettered.
    eventually("three failed attempts", || async {
        stats.stream(&id).consecutive_failures == 3
    })
    .await;
    let failing = stats.stream(&id);
    assert_eq!((failing.delivered, failing.failures), (1, 3));
    assert_eq!(failing.last_error.as_ref().unwrap().code, "http_503");

    rx.always(Reply::Status(202));
    publish(&server, &revoked("carol@example.com")).await;
    eventually("a delivery again", || async {
        stats.stream(&id).delivered == 2
    })
    .await;
    let recovered = stats.stream(&id);
    assert_eq!(recovered.consecutive_failures, 0);
    assert!(recovered.last_delivered_at >= first.last_delivered_at);
    assert_eq!(
        recovered.last_error.unwrap().code,
        "http_503",
        "the last error stays for reference"
    );
    assert!(
        stats.all().iter().any(|(s, _)| s == &id),
        "{:?}",
        stats.all()
    );
}

/// Polled SETs count when acknowledged (not when handed out); SETs reported in `setErrs` count
/// as failures with the receiver's `err`.
async fn poll_acks_count_as_deliveries_and_set_errs_as_failures(db: Db) {
    let server = db.builder().start().await;
    let token = server.token(RECEIVER).await;
    let id = StreamId::new(poll_stream(&server, &token, &[SESSION_REVOKED]).await);
    for who in ["a@example.com", "b@example.com", "c@example.com"] {
        let (status, _) = publish(&server, &revoked(who)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (_, body) = poll(
        &server,
        &token,
        id.as_str(),
        &json!({"returnImmediately": true}),
    )
    .await;
    let jtis: Vec<String> = sets(&body).into_iter().map(|(j, _)| j).collect();
    assert_eq!(jtis.len(), 3);
    let stats = server.state.delivery_stats();
    assert_eq!(
        stats.stream(&id).delivered,
        0,
        "handed out is not delivered"
    );

    let ack = json!({"ack": [jtis[0], jtis[1]], "maxEvents": 0,
        "setErrs": {jtis[2].as_str(): {"err": "invalid_key", "description": "unknown kid"}}});
    let (status, _) = poll(&server, &token, id.as_str(), &ack).await;
    assert_eq!(status, StatusCode::OK);
    let s = stats.stream(&id);
    assert_eq!((s.delivered, s.failures, s.consecutive_failures), (2, 1, 1));
    assert!(s.last_delivered_at.is_some());
    let last = s.last_error.unwrap();
    assert_eq!(
        (last.code.as_str(), last.description.as_deref()),
        ("invalid_key", Some("unknown kid"))
    );
    // Acknowledging again (already gone) counts nothing.
    poll(&server, &token, id.as_str(), &ack).await;
    assert_eq!(stats.stream(&id).delivered, 2);
}

/// `count_subjects` counts a stream's added and removed subjects, through the management API.
async fn subjects_of_a_stream_are_counted(db: Db) {
    let server = db.builder().start().await;
    let token = server.token(RECEIVER).await;
    let id = poll_stream(&server, &token, &[SESSION_REVOKED]).await;
    let subject =
        |email: &str| json!({"stream_id": id, "subject": {"format": "email", "email": email}});
    for (path, email) in [
        (paths::ADD_SUBJECT, "jane@example.com"),
        (paths::ADD_SUBJECT, "bob@example.com"),
        (paths::REMOVE_SUBJECT, "carol@example.com"),
    ] {
        let response = server
            .post(path)
            .bearer_auth(&token)
            .json(&subject(email))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    let counts = server
        .state
        .store
        .count_subjects(&StreamId::new(&id))
        .await
        .unwrap();
    assert_eq!((counts.included, counts.excluded), (2, 1));
}
