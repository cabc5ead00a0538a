//! Stream management (checklist 4.2-4.11; CONF `openid-ssf-stream-control-*`,
//! `openid-ssf-stream-subject-control-happy-path` and the verification negative tests).

mod errors;
mod isolation;
mod status;
mod streams;
mod subjects;
mod verification;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use ssf_transmitter::metadata::paths;

use crate::support::TestServer;

/// A push delivery to a (never contacted) receiver.
pub(crate) fn push_delivery() -> Value {
    json!({"method": "urn:ietf:rfc:8935", "endpoint_url": "https://receiver.example.com/events"})
}

/// `method path` with a JSON body and `token`.
pub(crate) async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: &Value,
) -> Response {
    server
        .request(method, path)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `GET path` with `token`.
pub(crate) async fn get(server: &TestServer, path: &str, token: &str) -> Response {
    server.get(path).bearer_auth(token).send().await.unwrap()
}

/// `path?stream_id=id`.
pub(crate) fn with_id(path: &str, id: &str) -> String {
    format!("{path}?stream_id={id}")
}

/// Asserts the status and `Cache-Control: no-store` (SSF-AUTH-13); returns the JSON body.
pub(crate) async fn expect(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let no_store = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = crate::support::body_json(response).await;
    assert_eq!(got, status, "body: {body}");
    assert_eq!(no_store.as_deref(), Some("no-store"), "SSF-AUTH-13");
    body
}

/// The stored configuration of `id` as its owner reads it.
pub(crate) async fn read_stream(server: &TestServer, token: &str, id: &str) -> Value {
    expect(
        get(server, &with_id(paths::STREAMS, id), token).await,
        StatusCode::OK,
    )
    .await
}
