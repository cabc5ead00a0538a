//! The database goes away (issue 12, item 1): producers, pollers and management clients get
//! `503` with `Retry-After`, the retry signal, instead of `500 internal error`; nothing is half
//! stored, and everything works again once the database is back.

use std::{sync::Arc, time::Duration};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use ssf_store::{SqliteOptions, SqliteStore, conformance::outage::OutageProxy};
use ssf_transmitter::metadata::paths;
use ssf_types::SystemClock;

use crate::{
    fake_receiver::{poll_stream, revoked},
    postgres::Schema,
    support::{PRODUCER, RECEIVER, SESSION_REVOKED, TestServer, body_json},
};

/// `POST /events` with one session-revoked event.
async fn publish(server: &TestServer) -> Response {
    let token = server.token(PRODUCER).await;
    server
        .post(paths::EVENTS)
        .bearer_auth(token)
        .json(&revoked("jane@example.com"))
        .send()
        .await
        .unwrap()
}

/// A `503` that tells the client to come back: `Retry-After` and the OAuth-style error code.
async fn assert_retry_later(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("5"),
        "{what}: Retry-After"
    );
    let body = body_json(response).await;
    assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
}

/// `POST /ssf/poll/{stream_id}` without acknowledging anything.
async fn poll(server: &TestServer, token: &str, stream_id: &str) -> Response {
    server
        .post(&format!("/ssf/poll/{stream_id}"))
        .bearer_auth(token)
        .json(&json!({"returnImmediately": true}))
        .send()
        .await
        .unwrap()
}

/// How many SETs a poll hands out.
async fn polled(response: Response) -> usize {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = body_json(response).await;
    body["sets"].as_object().map_or(0, serde_json::Map::len)
}

#[tokio::test]
async fn postgres_down_is_503_with_retry_after_and_work_resumes_when_it_is_back() {
    let Some(db) = Schema::create().await else {
        return;
    };
    let proxy = OutageProxy::start(db.server_url()).await;
    let store = db
        .node_through(proxy.url(), Duration::from_millis(500))
        .await;
    let server = TestServer::builder().store(store).start().await;
    let receiver = server.token(RECEIVER).await;
    let stream_id = poll_stream(&server, &receiver, &[SESSION_REVOKED]).await;
    assert_eq!(publish(&server).await.status(), StatusCode::ACCEPTED);

    proxy.cut();
    assert_retry_later(publish(&server).await, "POST /events").await;
    assert_retry_later(poll(&server, &receiver, &stream_id).await, "poll").await;
    let status = server
        .get(&format!("{}?stream_id={stream_id}", paths::STATUS))
        .bearer_auth(&receiver)
        .send()
        .await
        .unwrap();
    assert_retry_later(status, "GET /ssf/status").await;

    proxy.restore().await;
    assert_eq!(publish(&server).await.status(), StatusCode::ACCEPTED);
    // The event refused during the outage was not half stored: exactly the two accepted ones.
    assert_eq!(polled(poll(&server, &receiver, &stream_id).await).await, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_locked_sqlite_file_is_503_with_retry_after_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transmitter.db");
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(200),
        ..SqliteOptions::new(&path)
    };
    let store = SqliteStore::open(options, Arc::new(SystemClock))
        .await
        .unwrap();
    let server = TestServer::builder().store(Arc::new(store)).start().await;
    let receiver = server.token(RECEIVER).await;
    let stream_id = poll_stream(&server, &receiver, &[SESSION_REVOKED]).await;

    // Another process holds the write lock (a backup tool, a stuck `sqlite3` shell).
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    assert_retry_later(publish(&server).await, "POST /events").await;

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(publish(&server).await.status(), StatusCode::ACCEPTED);
    assert_eq!(polled(poll(&server, &receiver, &stream_id).await).await, 1);
    server.shutdown().await;
}
