//! Delivery test helpers: a fake push receiver whose answers a test scripts, SET verification
//! against the transmitter's published JWKS, publishing and polling shortcuts, and a bounded
//! "eventually".
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::{BTreeSet, VecDeque},
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use reqwest::StatusCode as ReqStatus;
use serde_json::{Value, json};
use ssf_jose::{JwksSnapshot, SetVerifier, VerifiedSet, VerifyOptions, decode_unverified};
use ssf_transmitter::metadata::paths;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

use crate::support::{PRODUCER, TestServer, body_json};

/// The push delivery method URI.
pub const PUSH: &str = "urn:ietf:rfc:8935";

/// How the fake receiver answers one push.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, empty body.
    Status(u16),
    /// This status with a JSON body.
    Json(u16, Value),
    /// This status with one extra header.
    WithHeader(u16, &'static str, String),
    /// Never answer (the transmitter's timeout fires).
    Hang,
    /// Answer 202 after a delay (a slow receiver).
    Slow(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body (a compact SET).
    pub body: String,
}

impl Received {
    /// The SET's `jti` (decoded without verification).
    pub fn jti(&self) -> String {
        claims(&self.body)["jti"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The claims of a compact SET, decoded without verification.
pub fn claims(set: &str) -> Value {
    Value::Object(decode_unverified(set).expect("a compact SET").claims)
}

struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
    changed: Notify,
}

/// A push receiver on `127.0.0.1:0`.
pub struct FakeReceiver {
    /// Its push endpoint URL.
    pub url: String,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for FakeReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let next = inner.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| inner.fallback.lock().unwrap().clone())
    };
    inner.received.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    inner.changed.notify_waiters();
    let status = |s: u16| StatusCode::from_u16(s).unwrap();
    match reply {
        Reply::Status(s) => status(s).into_response(),
        Reply::Json(s, body) => (status(s), axum::Json(body)).into_response(),
        Reply::WithHeader(s, name, value) => {
            let mut r = status(s).into_response();
            r.headers_mut()
                .insert(name, HeaderValue::from_str(&value).unwrap());
            r
        }
        Reply::Hang => std::future::pending().await,
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::ACCEPTED.into_response()
        }
    }
}

impl FakeReceiver {
    /// Starts a receiver that answers 202 unless told otherwise.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            received: Mutex::default(),
            script: Mutex::default(),
            fallback: Mutex::new(Reply::Status(202)),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/push", post(handle))
            .with_state(Arc::clone(&inner));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/push", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner, task }
    }

    /// Answers the next push with `reply` (queued after earlier scripted replies).
    pub fn then(&self, reply: Reply) -> &Self {
        self.inner.script.lock().unwrap().push_back(reply);
        self
    }

    /// Answers every unscripted push with `reply`.
    pub fn always(&self, reply: Reply) {
        *self.inner.fallback.lock().unwrap() = reply;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The distinct jtis received (the receiver's dedupe).
    pub fn distinct_jtis(&self) -> BTreeSet<String> {
        self.received().iter().map(Received::jti).collect()
    }

    /// Waits (at most 30 s) until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_until(|r| r.len() >= n, &format!("{n} pushes"))
            .await
    }

    /// Waits (at most 30 s) until `cond` holds for the requests received.
    pub async fn wait_until(
        &self,
        cond: impl Fn(&[Received]) -> bool,
        what: &str,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.inner.changed.notified();
            let got = self.received();
            if cond(&got) {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}; got {} pushes", got.len());
            }
        }
    }
}

/// Polls `cond` until it holds, at most 30 s (no timing assertion, just a bound).
pub async fn eventually<F, Fut>(what: &str, cond: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A verifier of the server's SETs for `audience`, with keys from its published JWKS.
pub async fn verifier(server: &TestServer, audience: &str) -> SetVerifier {
    let response = server.get(paths::JWKS).send().await.unwrap();
    let jwks = ssf_jose::Jwks::from_json(&response.bytes().await.unwrap()).unwrap();
    let options = VerifyOptions::new(server.issuer(), audience);
    SetVerifier::new(
        options,
        Arc::new(JwksSnapshot::new(&jwks)),
        server.state.clock.clone(),
    )
}

/// Verifies a SET and checks the SSF transmitter rules: `typ`, one event, `sub_id`, a string
/// `txn`, no `sub`/`exp` (SSF-SET-01, 12..17).
pub fn check_set(verifier: &SetVerifier, set: &str) -> VerifiedSet {
    let verified = verifier.verify(set).expect("SET verifies");
    let c = claims(set);
    let header = decode_unverified(set).unwrap().header;
    assert_eq!(header["typ"], "secevent+jwt", "SSF-SET-01/02");
    assert!(c.get("sub").is_none(), "SSF-SET-13");
    assert!(c.get("exp").is_none(), "SSF-SET-14");
    assert!(c["sub_id"].is_object(), "SSF-SET-12");
    assert!(c["txn"].is_string(), "SSF-SET-10");
    assert_eq!(c["events"].as_object().unwrap().len(), 1, "SSF-SET-17");
    verified
}

/// A push stream of `client` to `url` requesting `events`, with an optional `authorization_header`.
pub async fn push_stream(
    server: &TestServer,
    token: &str,
    url: &str,
    authorization: Option<&str>,
    events: &[&str],
) -> String {
    let mut delivery = json!({"method": PUSH, "endpoint_url": url});
    if let Some(a) = authorization {
        delivery["authorization_header"] = json!(a);
    }
    let config = server
        .create_stream(
            token,
            json!({"delivery": delivery, "events_requested": events}),
        )
        .await;
    config["stream_id"].as_str().unwrap().to_owned()
}

/// A poll stream requesting `events`.
pub async fn poll_stream(server: &TestServer, token: &str, events: &[&str]) -> String {
    let config = server
        .create_stream(token, json!({"events_requested": events}))
        .await;
    config["stream_id"].as_str().unwrap().to_owned()
}

/// `POST /events` as the producer; returns status and body.
pub async fn publish(server: &TestServer, body: &Value) -> (ReqStatus, Value) {
    let token = server.token(PRODUCER).await;
    let response = server
        .post(paths::EVENTS)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

/// A session-revoked event about `email`.
pub fn revoked(email: &str) -> Value {
    json!({
        "event_type": crate::support::SESSION_REVOKED,
        "sub_id": {"format": "email", "email": email},
        "event": {"event_timestamp": 1_735_689_600, "initiating_entity": "policy"}
    })
}

/// An event of `event_type` about `sub_id`, with no fields.
pub fn event(event_type: &str, sub_id: Value) -> Value {
    json!({"event_type": event_type, "sub_id": sub_id})
}

/// `POST /ssf/status` with `status` as `token`'s client; asserts success.
pub async fn set_status(server: &TestServer, token: &str, stream_id: &str, status: &str) {
    let response = server
        .post(paths::STATUS)
        .bearer_auth(token)
        .json(&json!({"stream_id": stream_id, "status": status}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "set {status}: {}",
        body_json(response).await
    );
}

/// `POST /ssf/poll/{stream_id}` with `body`; returns status and body.
pub async fn poll(
    server: &TestServer,
    token: &str,
    stream_id: &str,
    body: &Value,
) -> (ReqStatus, Value) {
    let response = server
        .post(&format!("/ssf/poll/{stream_id}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

/// The `sets` of a poll answer as (jti, SET) pairs.
pub fn sets(answer: &Value) -> Vec<(String, String)> {
    answer["sets"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The event-type URI of a SET.
pub fn event_type(set: &str) -> String {
    claims(set)["events"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}
