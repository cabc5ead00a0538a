//! Idempotent ingest (D-TX-16): `Idempotency-Key` and `Idempotency-Key-From: txn` on
//! `POST /events`, on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header::HeaderValue};
use serde_json::{Value, json};
use ssf_transmitter::metadata::paths;

use super::queued;
use crate::{
    fake_receiver::{poll_stream, revoked},
    postgres::{Db, on_both_backends},
    support::{ADMIN, PRODUCER, RECEIVER, SESSION_REVOKED, TestServer, body_json},
};

/// One answer of `POST /events`.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    replayed: bool,
    body: Value,
}

/// `POST /events` as `client` with exactly `body`'s bytes and `headers`.
async fn send(
    server: &TestServer,
    client: &str,
    body: &Value,
    headers: &[(&str, HeaderValue)],
) -> Answer {
    let token = server.token(client).await;
    send_as(server, &token, body, headers).await
}

/// `POST /events` with `token`.
async fn send_as(
    server: &TestServer,
    token: &str,
    body: &Value,
    headers: &[(&str, HeaderValue)],
) -> Answer {
    let mut request = server
        .post(paths::EVENTS)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let replayed = match response.headers().get("idempotent-replayed") {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) => panic!("Idempotent-Replayed: {v:?}"),
    };
    Answer {
        status,
        replayed,
        body: body_json(response).await,
    }
}

fn key(value: &str) -> (&'static str, HeaderValue) {
    ("idempotency-key", HeaderValue::from_str(value).unwrap())
}

fn from_txn() -> (&'static str, HeaderValue) {
    ("idempotency-key-from", HeaderValue::from_static("txn"))
}

/// A manual-clock server on `db` with one poll stream wanting session-revoked.
async fn server(db: &Db) -> TestServer {
    let server = db
        .builder()
        .manual_clock()
        .configure(|c| c.ingest.idempotency_window = Duration::from_secs(3600))
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    server
}

on_both_backends!(
    a_retry_gets_the_first_answer_and_queues_nothing_d_tx_16,
    the_same_key_with_another_body_is_422_d_tx_16,
    keys_are_scoped_to_the_client_d_tx_16,
    after_the_window_a_key_is_new_again_d_tx_16,
    malformed_keys_are_400_d_tx_16,
    txn_acts_as_the_key_on_request_d_tx_16,
    a_concurrent_pair_with_one_key_queues_once_d_tx_16,
    expired_keys_are_purged_by_the_reaper_d_tx_16,
);

async fn a_retry_gets_the_first_answer_and_queues_nothing_d_tx_16(db: Db) {
    let server = server(&db).await;
    let event = revoked("jane@example.com");
    let first = send(&server, PRODUCER, &event, &[key("\"k-1\"")]).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    assert!(!first.replayed);
    assert_eq!(first.body["streams"], 1);
    assert_eq!(queued(&server).await, 1);

    server.advance(60);
    let retry = send(&server, PRODUCER, &event, &[key("\"k-1\"")]).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    assert!(retry.replayed, "Idempotent-Replayed: true");
    assert_eq!(retry.body, first.body, "the same jti and txn");
    assert_eq!(queued(&server).await, 1, "nothing new queued");

    // The bare spelling names the same key; a batch is remembered in its own shape.
    let bare = send(&server, PRODUCER, &event, &[key("k-1")]).await;
    assert!(bare.replayed && bare.body == first.body, "{bare:?}");
    let batch = json!([revoked("a@example.com"), revoked("b@example.com")]);
    let first = send(&server, PRODUCER, &batch, &[key("batch-1")]).await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let retry = send(&server, PRODUCER, &batch, &[key("batch-1")]).await;
    assert!(retry.replayed && retry.body == first.body, "{retry:?}");
    assert_eq!(queued(&server).await, 3);
}

async fn the_same_key_with_another_body_is_422_d_tx_16(db: Db) {
    let server = server(&db).await;
    let first = send(&server, PRODUCER, &revoked("a@example.com"), &[key("k")]).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let other = send(&server, PRODUCER, &revoked("b@example.com"), &[key("k")]).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "{other:?}");
    assert_eq!(other.body["error"], "idempotency_key_reused");
    assert!(
        other.body["error_description"]
            .as_str()
            .unwrap()
            .contains("different request"),
        "{other:?}"
    );
    assert_eq!(
        queued(&server).await,
        1,
        "nothing queued for the refused body"
    );
}

async fn keys_are_scoped_to_the_client_d_tx_16(db: Db) {
    let server = server(&db).await;
    let event = revoked("jane@example.com");
    let a = send(&server, PRODUCER, &event, &[key("shared")]).await;
    let b = send(&server, ADMIN, &event, &[key("shared")]).await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    assert!(!a.replayed && !b.replayed, "independent keys");
    assert_ne!(a.body["jtis"], b.body["jtis"]);
    assert_eq!(queued(&server).await, 2);
}

async fn after_the_window_a_key_is_new_again_d_tx_16(db: Db) {
    let server = server(&db).await;
    let event = revoked("jane@example.com");
    let first = send(&server, PRODUCER, &event, &[key("k")]).await;
    server.advance(3599);
    assert!(send(&server, PRODUCER, &event, &[key("k")]).await.replayed);
    server.advance(1);
    let later = send(&server, PRODUCER, &event, &[key("k")]).await;
    assert_eq!(later.status, StatusCode::ACCEPTED);
    assert!(!later.replayed, "the window has passed");
    assert_ne!(later.body["jtis"], first.body["jtis"], "new SETs");
    assert_eq!(queued(&server).await, 2);
    assert!(send(&server, PRODUCER, &event, &[key("k")]).await.replayed);
}

async fn malformed_keys_are_400_d_tx_16(db: Db) {
    let server = server(&db).await;
    let event = revoked("jane@example.com");
    let long = "k".repeat(256);
    let cases: Vec<(Vec<(&str, HeaderValue)>, &str)> = vec![
        (vec![key(&long)], "printable ASCII"),
        (vec![key("\"\"")], "empty"),
        (vec![key("\"open")], "not closed"),
        (
            vec![(
                "idempotency-key",
                HeaderValue::from_bytes(b"caf\xe9").unwrap(),
            )],
            "ASCII",
        ),
        (vec![key("a"), key("b")], "one idempotency-key"),
        (vec![key("a"), from_txn()], "not both"),
        (
            vec![("idempotency-key-from", HeaderValue::from_static("jti"))],
            "`txn`",
        ),
    ];
    for (headers, says) in cases {
        let answer = send(&server, PRODUCER, &event, &headers).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{headers:?}: {answer:?}"
        );
        assert_eq!(answer.body["error"], "invalid_request");
        let why = answer.body["error_description"].as_str().unwrap();
        assert!(why.contains(says), "{headers:?}: {why}");
    }
    assert_eq!(queued(&server).await, 0);
}

async fn txn_acts_as_the_key_on_request_d_tx_16(db: Db) {
    let server = server(&db).await;
    let mut event = revoked("jane@example.com");
    event["txn"] = json!("ticket-42");
    let first = send(&server, PRODUCER, &event, &[from_txn()]).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    assert_eq!(first.body["txn"], "ticket-42");
    let retry = send(&server, PRODUCER, &event, &[from_txn()]).await;
    assert!(retry.replayed && retry.body == first.body, "{retry:?}");
    // The txn is the key: an explicit key with the same text finds it.
    assert!(
        send(&server, PRODUCER, &event, &[key("ticket-42")])
            .await
            .replayed
    );
    assert_eq!(queued(&server).await, 1);

    let mut other = revoked("a@example.com");
    other["txn"] = json!("ticket-43");
    let batch = json!([other.clone(), other.clone()]);
    let ok = send(&server, PRODUCER, &batch, &[from_txn()]).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "a batch sharing one txn");
    let mut third = revoked("b@example.com");
    third["txn"] = json!("ticket-44");
    let mixed = json!([other, third]);
    let refused = send(&server, PRODUCER, &mixed, &[from_txn()]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body["error_description"]
            .as_str()
            .unwrap()
            .contains("same `txn`")
    );
    let bare = send(&server, PRODUCER, &revoked("c@example.com"), &[from_txn()]).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);
    assert!(
        bare.body["error_description"]
            .as_str()
            .unwrap()
            .contains("needs a `txn`")
    );
    assert_eq!(queued(&server).await, 3);
}

async fn a_concurrent_pair_with_one_key_queues_once_d_tx_16(db: Db) {
    let server = std::sync::Arc::new(server(&db).await);
    for round in 0..5 {
        let event = revoked(&format!("user{round}@example.com"));
        let k = format!("race-{round}");
        let token = server.token(PRODUCER).await;
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (server, event, k) = (server.clone(), event.clone(), k.clone());
                let token = token.clone();
                tokio::spawn(async move { send_as(&server, &token, &event, &[key(&k)]).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        assert!(
            answers.iter().all(|a| a.status == StatusCode::ACCEPTED),
            "{answers:?}"
        );
        assert_eq!(answers[0].body, answers[1].body, "one answer for both");
        assert_eq!(
            answers.iter().filter(|a| !a.replayed).count(),
            1,
            "exactly one request queued: {answers:?}"
        );
        assert_eq!(queued(&server).await, round + 1);
    }
}

async fn expired_keys_are_purged_by_the_reaper_d_tx_16(db: Db) {
    let server = db
        .builder()
        .manual_clock()
        .with_workers()
        .configure(|c| {
            c.ingest.idempotency_window = Duration::from_secs(60);
            c.push.http.request_timeout = Duration::from_millis(900);
            c.push.lease = Duration::from_secs(1);
        })
        .start()
        .await;
    let event = revoked("jane@example.com");
    assert_eq!(
        send(&server, PRODUCER, &event, &[key("k")]).await.status,
        StatusCode::ACCEPTED
    );
    let store = &server.state.store;
    assert!(
        store
            .idempotency_record(PRODUCER, "k")
            .await
            .unwrap()
            .is_some()
    );
    server.advance(61);
    let deadline = Instant::now() + Duration::from_secs(30);
    while store
        .idempotency_record(PRODUCER, "k")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the expired key was never purged"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
