//! The receiver's HTTP routes of the server side: the RFC 8935 push endpoint per stream and
//! `/healthz`. Merge this router with the receiver's others (AuthZEN, webhooks, `/metrics`) in
//! the binary.

use std::sync::Arc;

use axum::{
    Json, Router,
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::push::{PushState, push_set};

/// The route of the push endpoint, `{stream_key}` being the receiver's stream key (the peer's
/// name): the path of `ReceiverConfig::push_url` (`/ssf/push/<name>`).
pub const PUSH_ROUTE: &str = "/ssf/push/{stream_key}";

/// `POST /ssf/push/{stream_key}` ([`push_set`]) and `GET /healthz`.
pub fn router(state: Arc<PushState>) -> Router {
    Router::new()
        .route(PUSH_ROUTE, post(push_set))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Liveness: the process answers HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
