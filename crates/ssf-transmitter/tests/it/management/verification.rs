//! Verification requests (SSF 1.0 §8.1.4.2; checklist 4.11; CONF verification negative tests and
//! `min_verification_interval`).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ssf_transmitter::metadata::paths;

use super::{call, expect};
use crate::support::{RECEIVER, TestServer};

const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// Every SET waiting on a poll stream, as decoded payloads (polled with `returnImmediately`).
async fn poll_payloads(server: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let path = format!("{}{id}", paths::POLL_PREFIX);
    let body = json!({"returnImmediately": true, "maxEvents": 50});
    let response = call(server, Method::POST, &path, token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["sets"]
        .as_object()
        .unwrap()
        .values()
        .map(|set| {
            let payload = set.as_str().unwrap().split('.').nth(1).unwrap();
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn verification_is_204_and_echoes_state_ssf_verify_02_04() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let state = "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=";
    let body = json!({"stream_id": id, "state": state});
    let response = call(&server, Method::POST, paths::VERIFICATION, &token, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "TV-VERIFY-01");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.bytes().await.unwrap().is_empty());

    let sets = poll_payloads(&server, &token, &id).await;
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set["iss"], server.issuer());
    assert_eq!(
        set["sub_id"],
        json!({"format": "opaque", "id": id}),
        "SSF-EVT-03"
    );
    assert_eq!(set["events"][VERIFICATION]["state"], state, "SSF-VERIFY-04");
}

#[tokio::test]
async fn verification_without_state_carries_none() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    expect(
        call(
            &server,
            Method::POST,
            paths::VERIFICATION,
            &token,
            &json!({"stream_id": id}),
        )
        .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let sets = poll_payloads(&server, &token, &id).await;
    assert_eq!(sets.len(), 1);
    assert!(sets[0]["events"][VERIFICATION].get("state").is_none());
}

#[tokio::test]
async fn invalid_verification_bodies_are_400_ssf_verify_03() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    for body in [
        json!({}),
        json!({"stream_id": 5}),
        json!({"stream_id": id, "state": 5}),
        json!([id]),
    ] {
        expect(
            call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let broken = server
        .post(paths::VERIFICATION)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"stream_id\":")
        .send()
        .await
        .unwrap();
    expect(broken, StatusCode::BAD_REQUEST).await;
    assert!(
        poll_payloads(&server, &token, &id).await.is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn verification_faster_than_the_interval_is_429_ssf_verify_12() {
    let server = TestServer::builder().manual_clock().start().await;
    let token = server.token(RECEIVER).await;
    let config = server.create_stream(&token, json!({})).await;
    assert_eq!(config["min_verification_interval"], 10);
    let id = config["stream_id"].as_str().unwrap();
    let body = json!({"stream_id": id});
    expect(
        call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    server.advance(4);
    let response = call(&server, Method::POST, paths::VERIFICATION, &token, &body).await;
    assert_eq!(response.headers()["retry-after"], "6");
    assert_eq!(
        expect(response, StatusCode::TOO_MANY_REQUESTS).await["error"],
        "too_many_requests"
    );
    server.advance(6);
    expect(
        call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
        StatusCode::NO_CONTENT,
    )
    .await;
}

#[tokio::test]
async fn no_interval_means_no_429() {
    let server = TestServer::builder()
        .configure(|c| c.streams.min_verification_interval_secs = 0)
        .start()
        .await;
    let token = server.token(RECEIVER).await;
    let config = server.create_stream(&token, json!({})).await;
    assert!(config.get("min_verification_interval").is_none());
    let body = json!({"stream_id": config["stream_id"]});
    for _ in 0..3 {
        expect(
            call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
            StatusCode::NO_CONTENT,
        )
        .await;
    }
}

#[tokio::test]
async fn verification_on_a_disabled_stream_sends_nothing_d_11() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let disable = json!({"stream_id": id, "status": "disabled"});
    expect(
        call(&server, Method::POST, paths::STATUS, &token, &disable).await,
        StatusCode::OK,
    )
    .await;
    let body = json!({"stream_id": id, "state": "s"});
    expect(
        call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let enable = json!({"stream_id": id, "status": "enabled"});
    expect(
        call(&server, Method::POST, paths::STATUS, &token, &enable).await,
        StatusCode::OK,
    )
    .await;
    assert!(poll_payloads(&server, &token, &id).await.is_empty());
}

#[tokio::test]
async fn verification_on_a_paused_stream_is_held_ssf_verify_13() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let pause = json!({"stream_id": id, "status": "paused"});
    expect(
        call(&server, Method::POST, paths::STATUS, &token, &pause).await,
        StatusCode::OK,
    )
    .await;
    let body = json!({"stream_id": id, "state": "held"});
    expect(
        call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert!(
        poll_payloads(&server, &token, &id).await.is_empty(),
        "SSF-STATUS-11"
    );
    let enable = json!({"stream_id": id, "status": "enabled"});
    expect(
        call(&server, Method::POST, paths::STATUS, &token, &enable).await,
        StatusCode::OK,
    )
    .await;
    let sets = poll_payloads(&server, &token, &id).await;
    assert_eq!(sets.len(), 1, "SSF-STATUS-12");
    assert_eq!(sets[0]["events"][VERIFICATION]["state"], "held");
}

#[tokio::test]
async fn delete_discards_queued_sets_ssf_stream_49() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let id = server.create_poll_stream(&token).await;
    let body = json!({"stream_id": id});
    expect(
        call(&server, Method::POST, paths::VERIFICATION, &token, &body).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let sid = ssf_types::StreamId::new(id.as_str());
    let counts = server.state.store.outbox_counts(Some(&sid)).await.unwrap();
    assert_eq!(counts.queued(), 1, "one SET queued");
    let response = server
        .request(
            Method::DELETE,
            &format!("{}?stream_id={id}", paths::STREAMS),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let counts = server.state.store.outbox_counts(Some(&sid)).await.unwrap();
    assert_eq!(
        counts.queued() + counts.failed + counts.dead,
        0,
        "nothing left for the deleted stream"
    );
}
