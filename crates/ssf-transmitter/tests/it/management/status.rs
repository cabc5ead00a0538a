//! Stream status (SSF 1.0 §8.1.2; checklist 4.9).

use reqwest::{Method, StatusCode};
use serde_json::json;
use ssf_transmitter::metadata::paths;

use super::{call, expect, get, with_id};
use crate::support::{RECEIVER, TestServer};

#[tokio::test]
async fn new_streams_are_enabled_ssf_stream_48() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let status = expect(
        get(&server, &with_id(paths::STATUS, &id), &token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status, json!({"stream_id": id, "status": "enabled"}));
}

#[tokio::test]
async fn reason_is_echoed_tv_status_03_04() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let body =
        json!({"stream_id": id, "status": "paused", "reason": "Disabled by administrator action."});
    let answer = expect(
        call(&server, Method::POST, paths::STATUS, &token, &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer, body);
    let read = expect(
        get(&server, &with_id(paths::STATUS, &id), &token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, body, "TV-STATUS-01");
}

#[tokio::test]
async fn same_status_is_a_no_op_d_10() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let body = json!({"stream_id": id, "status": "enabled"});
    for _ in 0..2 {
        let answer = expect(
            call(&server, Method::POST, paths::STATUS, &token, &body).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(answer["status"], "enabled");
    }
}

#[tokio::test]
async fn invalid_status_requests_are_400_d_18_ssf_status_09_18() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    for body in [
        json!({"stream_id": id, "status": "stopped"}),
        json!({"stream_id": id}),
        json!({"status": "paused"}),
        json!({"stream_id": id, "status": 1}),
    ] {
        expect(
            call(&server, Method::POST, paths::STATUS, &token, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    expect(
        get(&server, paths::STATUS, &token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let status = expect(
        get(&server, &with_id(paths::STATUS, &id), &token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["status"], "enabled", "nothing changed");
}

#[tokio::test]
async fn read_only_tokens_read_but_do_not_change_status_ssf_auth_12() {
    let server = TestServer::start().await;
    let token = server.token_with_scope(RECEIVER, Some("ssf.read")).await;
    let manage = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&manage).await;
    expect(
        get(&server, &with_id(paths::STATUS, &id), &token).await,
        StatusCode::OK,
    )
    .await;
    let body = json!({"stream_id": id, "status": "paused"});
    expect(
        call(&server, Method::POST, paths::STATUS, &token, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}
