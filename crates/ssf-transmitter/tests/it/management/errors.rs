//! Malformed requests: clear errors, nothing changed (SSF-STREAM-29; CONF broken JSON -> 400).

use reqwest::{Method, StatusCode};
use serde_json::json;
use ssf_transmitter::metadata::paths;

use super::{call, expect, get, push_delivery};
use crate::support::{RECEIVER, TestServer};

async fn no_streams(server: &TestServer, token: &str) {
    assert_eq!(
        expect(get(server, paths::STREAMS, token).await, StatusCode::OK).await,
        json!([])
    );
}

#[tokio::test]
async fn broken_json_is_400_ssf_stream_29() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    for body in ["{", "", "not json", "{\"delivery\": }"] {
        let response = server
            .post(paths::STREAMS)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = expect(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["error"], "invalid_request", "{body:?}");
        assert!(error["error_description"].is_string());
    }
    no_streams(&server, &token).await;
}

#[tokio::test]
async fn wrong_shapes_and_types_are_400() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    for body in [
        json!([]),
        json!("stream"),
        json!({"events_requested": "urn:x"}),
        json!({"events_requested": [1, 2]}),
        json!({"description": 7}),
        json!({"delivery": "push"}),
        json!({"delivery": {}}),
    ] {
        expect(
            call(&server, Method::POST, paths::STREAMS, &token, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    no_streams(&server, &token).await;
}

#[tokio::test]
async fn delivery_is_checked_ssf_stream_20_26_tv_neg_26() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let bad = [
        (
            "push without endpoint_url",
            json!({"method": "urn:ietf:rfc:8935"}),
        ),
        (
            "unknown method",
            json!({"method": "urn:example:carrier-pigeon"}),
        ),
        (
            "ID1 keys",
            json!({"delivery_method": "urn:ietf:rfc:8935", "url": "https://rx.example/e"}),
        ),
        (
            "RISC push URN",
            json!({"method": "https://schemas.openid.net/secevent/risc/delivery-method/push", "endpoint_url": "https://rx.example/e"}),
        ),
        (
            "not a URL",
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "::::"}),
        ),
        (
            "credentials in the URL",
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "https://u:p@rx.example/e"}),
        ),
        (
            "private address",
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "https://10.1.2.3/e"}),
        ),
        (
            "link-local metadata address",
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "http://169.254.169.254/latest"}),
        ),
    ];
    for (why, delivery) in bad {
        let response = call(
            &server,
            Method::POST,
            paths::STREAMS,
            &token,
            &json!({"delivery": delivery}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
    }
    no_streams(&server, &token).await;
    server
        .create_stream(&token, json!({"delivery": push_delivery()}))
        .await;
}

#[tokio::test]
async fn push_urls_must_be_https_by_default_push_05_20() {
    let server = TestServer::builder()
        .configure(|c| c.push.http = ssf_http::ClientConfig::default())
        .start()
        .await;
    let token = server.token(RECEIVER).await;
    for url in ["http://rx.example.com/events", "https://127.0.0.1/events"] {
        let delivery = json!({"method": "urn:ietf:rfc:8935", "endpoint_url": url});
        let response = call(
            &server,
            Method::POST,
            paths::STREAMS,
            &token,
            &json!({"delivery": delivery}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    server
        .create_stream(&token, json!({"delivery": push_delivery()}))
        .await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    let response = server
        .post(paths::STREAMS)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    no_streams(&server, &token).await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::builder()
        .configure(|c| c.max_body_bytes = 1024)
        .start()
        .await;
    let token = server.token(RECEIVER).await;
    let body = json!({"description": "x".repeat(4096)});
    let response = call(&server, Method::POST, paths::STREAMS, &token, &body).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "payload_too_large");
    // Chunked, without Content-Length: the limit applies while reading.
    let payload = body.to_string();
    let host = server.base.trim_start_matches("http://").to_owned();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{payload}\r\n0\r\n\r\n",
        paths::STREAMS,
        payload.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    no_streams(&server, &token).await;
}
