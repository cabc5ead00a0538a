//! Unknown streams and other receivers' streams answer 404 on every endpoint (SSF-AUTH-02/05,
//! SSF-SEC-03; CONF "unknown stream -> 404" tests).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use ssf_transmitter::metadata::paths;

use super::{call, expect, get, read_stream, with_id};
use crate::support::{RECEIVER, RECEIVER_2, TestServer};

/// Every operation on stream `id`: (what, method, path, body).
fn operations(id: &str) -> Vec<(&'static str, Method, String, Value)> {
    let subject = json!({"format": "email", "email": "a@example.com"});
    vec![
        (
            "read",
            Method::GET,
            with_id(paths::STREAMS, id),
            Value::Null,
        ),
        (
            "update",
            Method::PATCH,
            paths::STREAMS.to_owned(),
            json!({"stream_id": id, "description": "x"}),
        ),
        (
            "replace",
            Method::PUT,
            paths::STREAMS.to_owned(),
            json!({"stream_id": id}),
        ),
        (
            "delete",
            Method::DELETE,
            with_id(paths::STREAMS, id),
            Value::Null,
        ),
        (
            "read status",
            Method::GET,
            with_id(paths::STATUS, id),
            Value::Null,
        ),
        (
            "update status",
            Method::POST,
            paths::STATUS.to_owned(),
            json!({"stream_id": id, "status": "paused"}),
        ),
        (
            "add subject",
            Method::POST,
            paths::ADD_SUBJECT.to_owned(),
            json!({"stream_id": id, "subject": subject}),
        ),
        (
            "remove subject",
            Method::POST,
            paths::REMOVE_SUBJECT.to_owned(),
            json!({"stream_id": id, "subject": subject}),
        ),
        (
            "verify",
            Method::POST,
            paths::VERIFICATION.to_owned(),
            json!({"stream_id": id}),
        ),
    ]
}

async fn run(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    let mut request = server.request(method, path).bearer_auth(token);
    if !body.is_null() {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn unknown_stream_is_404_everywhere_ssf_stream_32_39_44_47_status_06() {
    let server = TestServer::start().await;
    let token = server.token(RECEIVER).await;
    for (what, method, path, body) in operations("no-such-stream") {
        let response = run(&server, &token, method, &path, &body).await;
        let body = expect(response, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"], "not_found", "{what}");
    }
}

#[tokio::test]
async fn another_receivers_stream_is_404_like_an_unknown_one_ssf_auth_05() {
    let server = TestServer::start().await;
    let owner = server.token(RECEIVER).await;
    let other = server.token(RECEIVER_2).await;
    let id = server.create_poll_stream(&owner).await;
    let before = read_stream(&server, &owner, &id).await;
    let unknown_bodies: Vec<Value> = {
        let mut v = Vec::new();
        for (_, method, path, body) in operations("no-such-stream") {
            v.push(
                expect(
                    run(&server, &other, method, &path, &body).await,
                    StatusCode::NOT_FOUND,
                )
                .await,
            );
        }
        v
    };
    for ((what, method, path, body), unknown) in operations(&id).into_iter().zip(unknown_bodies) {
        let answer = expect(
            run(&server, &other, method, &path, &body).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(
            answer, unknown,
            "{what}: same answer as for an unknown stream"
        );
    }
    assert_eq!(
        expect(get(&server, paths::STREAMS, &other).await, StatusCode::OK).await,
        json!([])
    );
    assert_eq!(read_stream(&server, &owner, &id).await, before, "untouched");
    // Nor can the other receiver poll it (SSF-SEC-03).
    let poll = call(
        &server,
        Method::POST,
        &format!("{}{id}", paths::POLL_PREFIX),
        &other,
        &json!({"returnImmediately": true}),
    )
    .await;
    assert_eq!(poll.status(), StatusCode::NOT_FOUND);
}
