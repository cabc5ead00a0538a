//! A small draft-era (SSE/SSF ID1, RISC-style) transmitter on `127.0.0.1:0`, the shape a
//! `legacy = true` peer still has (checklist section 13):
//! - discovery only at `/.well-known/sse-configuration`, no `spec_version`, the RISC
//!   delivery-method URIs in `delivery_methods_supported`;
//! - a JWKS whose one RSA key has no `kid`, and SETs signed without `kid`;
//! - one stream per receiver with no `stream_id`: `GET` the configuration endpoint reads it,
//!   `POST` replaces it (and must use the draft `delivery_method`/`url` keys; anything else is
//!   `400`, any other method `405`);
//! - verification requests `{"state"}`, answered by a verification event with no subject at
//!   all, under the ID1 URI; events carry their subject inside the event (`subject_type`), a
//!   millisecond `event_timestamp` and an `initiating_entity` outside the final enumeration;
//! - delivery by push (to the receiver's URL, with its `authorization_header`) or by poll.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Json, Router,
    extract::{OriginalUri, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use serde_json::{Value, json};
use ssf_jose::{Jwks, SigningKey};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    fake_tx::{AUD, SESSION_REVOKED, now_secs},
    server_support::{forge, tx_key},
};

pub(crate) const TOKEN: &str = "draft-era-token";
pub(crate) const PUSH_URN: &str = "https://schemas.openid.net/secevent/risc/delivery-method/push";
pub(crate) const POLL_URN: &str = "https://schemas.openid.net/secevent/risc/delivery-method/poll";
const SSE_VERIFICATION: &str = "https://schemas.openid.net/secevent/sse/event-type/verification";

/// What the draft transmitter holds and saw.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    /// The single stream's configuration as shown (no `stream_id`).
    pub(crate) stream: Value,
    /// Where and how to push (kept, not shown: ID1 had no `authorization_header`).
    pub(crate) push_to: Option<(String, Option<String>)>,
    /// Every request: `METHOD path?query`.
    pub(crate) requests: Vec<String>,
    /// Bodies of configuration `POST`s.
    pub(crate) updates: Vec<Value>,
    /// Bodies of verification requests.
    pub(crate) verifications: Vec<Value>,
    /// Statuses of the pushes it made.
    pub(crate) push_statuses: Vec<u16>,
    /// Queued SETs for poll, and the `ack`s received.
    pub(crate) queue: BTreeMap<String, String>,
    pub(crate) acks: Vec<String>,
    next_jti: u32,
}

pub(crate) struct DraftTransmitter {
    pub(crate) base: String,
    state: Arc<Mutex<Draft>>,
    task: JoinHandle<()>,
}

impl Drop for DraftTransmitter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type S = State<(String, Arc<Mutex<Draft>>)>;

impl DraftTransmitter {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Draft {
            stream: json!({
                "iss": base, "aud": AUD,
                "events_supported": [SESSION_REVOKED], "events_delivered": [],
            }),
            ..Draft::default()
        }));
        let app = Router::new()
            .route("/.well-known/sse-configuration", get(metadata))
            .route("/jwks", get(jwks))
            .route("/stream", any(stream))
            .route("/status", get(status))
            .route("/verify", post(verify))
            .route("/poll", post(poll))
            .with_state((base.clone(), Arc::clone(&state)));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, Draft> {
        self.state.lock().unwrap()
    }

    /// A draft-era session-revoked SET for `email`, signed without `kid`: the subject inside
    /// the event with `subject_type`, a millisecond `event_timestamp`, an `initiating_entity`
    /// the final enumeration does not have.
    pub(crate) fn event(&self, email: &str) -> (String, String) {
        let jti = self.next_jti("evt");
        let claims = json!({
            "iss": self.base, "jti": jti, "iat": now_secs(), "aud": AUD,
            "events": {SESSION_REVOKED: {
                "subject": {"subject_type": "email", "email": email},
                "event_timestamp": now_secs() * 1000,
                "initiating_entity": "risk-engine",
            }},
        });
        (jti, sign(&claims))
    }

    /// Delivers `set` the way the stream says: pushes it (returns the status) or queues it.
    pub(crate) async fn deliver(&self, jti: &str, set: String) -> Option<u16> {
        deliver(&self.state, jti, set).await
    }

    fn next_jti(&self, prefix: &str) -> String {
        let mut d = self.state();
        d.next_jti += 1;
        format!("{prefix}-{}", d.next_jti)
    }
}

/// Signed with the transmitter's RSA key, with a header that names no `kid`.
fn sign(claims: &Value) -> String {
    forge(
        &json!({"typ": "secevent+jwt", "alg": "RS256"}),
        claims,
        tx_key(),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes())
}

fn log(state: &Mutex<Draft>, method: &Method, uri: &OriginalUri) {
    state
        .lock()
        .unwrap()
        .requests
        .push(format!("{method} {}", uri.0));
}

async fn metadata(State((base, _)): S) -> Json<Value> {
    Json(json!({
        "issuer": base,
        "jwks_uri": format!("{base}/jwks"),
        "delivery_methods_supported": [PUSH_URN, POLL_URN],
        "configuration_endpoint": format!("{base}/stream"),
        "status_endpoint": format!("{base}/status"),
        "verification_endpoint": format!("{base}/verify"),
    }))
}

async fn jwks() -> Json<Value> {
    let mut jwk = SigningKey::public_jwk(tx_key());
    jwk.kid = None;
    Json(serde_json::to_value(Jwks { keys: vec![jwk] }).unwrap())
}

async fn stream(
    State((base, state)): S,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: String,
) -> Response {
    log(&state, &method, &uri);
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut d = state.lock().unwrap();
    match method {
        Method::GET => Json(d.stream.clone()).into_response(),
        Method::POST => {
            let Ok(body) = serde_json::from_str::<Value>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            d.updates.push(body.clone());
            let delivery = &body["delivery"];
            let method = delivery["delivery_method"].as_str().unwrap_or_default();
            let draft_keys = delivery.get("method").is_none()
                && delivery.get("endpoint_url").is_none()
                && (method == POLL_URN || (method == PUSH_URN && delivery["url"].is_string()));
            if !draft_keys {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "invalid_request", "error_description": "bad delivery"})),
                )
                    .into_response();
            }
            let requested = body["events_requested"].clone();
            let delivered: Vec<Value> = requested
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| *e == SESSION_REVOKED)
                .cloned()
                .collect();
            let (shown, push_to) = if method == PUSH_URN {
                let url = delivery["url"].as_str().unwrap().to_owned();
                let auth = delivery["authorization_header"].as_str().map(str::to_owned);
                (
                    json!({"delivery_method": PUSH_URN, "url": url}),
                    Some((url, auth)),
                )
            } else {
                (
                    json!({"delivery_method": POLL_URN, "url": format!("{base}/poll")}),
                    None,
                )
            };
            d.push_to = push_to;
            d.stream["events_requested"] = requested;
            d.stream["events_delivered"] = json!(delivered);
            d.stream["delivery"] = shown;
            Json(d.stream.clone()).into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn status(
    State((_, state)): S,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    log(&state, &method, &uri);
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"status": "enabled"})).into_response()
}

async fn verify(
    State((base, state)): S,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&state, &method, &uri);
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let jti = {
        let mut d = state.lock().unwrap();
        d.verifications.push(body.clone());
        d.next_jti += 1;
        format!("verify-{}", d.next_jti)
    };
    let claims = json!({
        "iss": base, "jti": jti, "iat": now_secs(), "aud": AUD,
        "events": {SSE_VERIFICATION: {"state": body["state"]}},
    });
    let set = sign(&claims);
    tokio::spawn(async move { deliver(&state, &jti, set).await });
    StatusCode::NO_CONTENT.into_response()
}

async fn deliver(state: &Mutex<Draft>, jti: &str, set: String) -> Option<u16> {
    let push_to = state.lock().unwrap().push_to.clone();
    let Some((url, auth)) = push_to else {
        state.lock().unwrap().queue.insert(jti.to_owned(), set);
        return None;
    };
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/secevent+jwt")
        .body(set);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let status = request.send().await.unwrap().status().as_u16();
    state.lock().unwrap().push_statuses.push(status);
    Some(status)
}

async fn poll(
    State((_, state)): S,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&state, &method, &uri);
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if state.lock().unwrap().queue.is_empty() && body["returnImmediately"] != true {
        // A short "long poll", so an idle receiver does not poll in a tight loop.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut d = state.lock().unwrap();
    for jti in body["ack"].as_array().into_iter().flatten() {
        let jti = jti.as_str().unwrap().to_owned();
        d.queue.remove(&jti);
        d.acks.push(jti);
    }
    let sets: BTreeMap<&String, &String> = d.queue.iter().collect();
    Json(json!({"sets": sets, "moreAvailable": false})).into_response()
}
