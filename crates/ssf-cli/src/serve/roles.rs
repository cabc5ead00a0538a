//! The roles `ssf serve` runs, each assembled by one function into a [`Role`], and the one
//! HTTP application they share: the roles' routes, `GET /healthz` (every role's store, and the
//! peers a role depends on) and `GET /metrics` (Prometheus text).
//!
//! Adding a role is one more function returning a [`Role`] and one line in `serve.rs`. Paths do
//! not clash, so one listener serves all: the transmitter owns `/.well-known/*`, `/oauth/token`,
//! `/jwks.json`, `/ssf/streams`, `/ssf/status`, `/ssf/subjects/*`, `/ssf/verify`, `/ssf/poll/*`,
//! `/events` and `/openapi.json` (as the fallback router, since its router has a fallback of its
//! own); the receiver `/ssf/push/{peer}` and, with enforcement ([`enforce`]), the AuthZEN
//! routes `/access/v1/*` and `/.well-known/authzen-configuration` (an exact route, matched
//! before the fallback); the ticket bridge ([`jit`]) `/jit/webhooks/{system}`; `ssf serve`
//! itself `/healthz` and `/metrics`.

pub(crate) mod enforce;
pub(crate) mod jit;
pub(crate) mod receiver;
pub(crate) mod transmitter;

use std::{future::Future, path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Json, Router,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Map, Value, json};
use ssf_types::Clock;
use tokio_util::sync::CancellationToken;

use crate::input::{Failure, usage};

/// How long one health probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pinned, boxed, `Send` future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What every role function gets.
#[derive(Debug, Clone)]
pub(crate) struct RoleContext {
    /// `server.data_dir`.
    pub(crate) data_dir: PathBuf,
    /// The only source of "now".
    pub(crate) clock: Arc<dyn Clock>,
    /// Fires on SIGINT/SIGTERM: workers, pollers and long polls stop.
    pub(crate) shutdown: CancellationToken,
    /// Development mode (no `--config`, or `--dev`).
    pub(crate) dev: bool,
}

/// Checks that a role can do its work (its store answers).
#[async_trait]
pub(crate) trait Probe: Send + Sync {
    /// `Err` with the reason when the role is not healthy.
    async fn check(&self) -> Result<(), String>;

    /// Checks of the remote peers the role depends on, by check name (e.g. `peer:idp`), with
    /// the reason and what to fix when one cannot be used. A failing peer makes `/healthz`
    /// answer `degraded`, not `503`: the node itself still works (decision D-RX-09).
    fn peers(&self) -> Vec<(String, Result<(), String>)> {
        Vec::new()
    }
}

/// A running role.
pub(crate) struct Role {
    /// `transmitter`, `receiver`, ...
    pub(crate) name: &'static str,
    /// Its routes, merged into the application.
    pub(crate) routes: Router,
    /// A router answering every path no route matches (at most one role has one).
    pub(crate) fallback: Option<Router>,
    /// Its health probe for `/healthz`.
    pub(crate) probe: Arc<dyn Probe>,
    /// Awaited after the listener stopped: joins its tasks and closes its stores.
    pub(crate) stop: BoxFuture<()>,
    /// Lines for the start-up banner: `(label, value)`.
    pub(crate) banner: Vec<(&'static str, String)>,
    /// What of this role the operator console shows.
    pub(crate) console: ssf_console::Sources,
}

impl std::fmt::Debug for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Role")
            .field("name", &self.name)
            .field("banner", &self.banner)
            .finish_non_exhaustive()
    }
}

/// The application: every role's routes, `/healthz`, `/metrics`, the operator console's
/// routes when it is on, request tracing.
pub(crate) fn app(
    roles: &mut [Role],
    metrics: PrometheusHandle,
    console: Option<Router>,
) -> Result<Router, Failure> {
    let probes: Arc<Vec<(&'static str, Arc<dyn Probe>)>> = Arc::new(
        roles
            .iter()
            .map(|r| (r.name, Arc::clone(&r.probe)))
            .collect(),
    );
    let mut router = Router::new()
        .route("/healthz", get(move || healthz(Arc::clone(&probes))))
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        );
    if let Some(console) = console {
        router = router.merge(console);
    }
    let mut fallback = None;
    for role in roles.iter_mut() {
        router = router.merge(std::mem::take(&mut role.routes));
        if let Some(f) = role.fallback.take() {
            if fallback.is_some() {
                return Err(usage(format!(
                    "two roles want to answer unmatched paths ({}); give one its own listener",
                    role.name
                )));
            }
            fallback = Some(f);
        }
    }
    let router = match fallback {
        Some(f) => router.fallback_service(f),
        None => router.fallback(not_found),
    };
    Ok(router.layer(tower_http::trace::TraceLayer::new_for_http()))
}

/// `GET /healthz`: `200 {"status":"ok","checks":{...}}` when every role's probe passes, else
/// `503` with the failing role marked `unavailable` (the reason is logged, not answered). A
/// peer a role cannot use (e.g. a receiver's transmitter whose set-up keeps failing) is its own
/// check, `"peer:<name>": "unhealthy: <reason and fix>"`, and makes the answer
/// `200 {"status":"degraded",...}` when the roles themselves are fine (decision D-RX-09).
async fn healthz(probes: Arc<Vec<(&'static str, Arc<dyn Probe>)>>) -> Response {
    let mut checks = Map::new();
    let mut healthy = true;
    let mut degraded = false;
    for (name, probe) in probes.iter() {
        let result = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
            Ok(result) => result,
            Err(_) => Err("the health probe timed out".to_owned()),
        };
        let status = match result {
            Ok(()) => "ok",
            Err(reason) => {
                tracing::warn!(role = name, %reason, "health check failed");
                healthy = false;
                "unavailable"
            }
        };
        checks.insert((*name).to_owned(), Value::from(status));
        for (peer, result) in probe.peers() {
            let value = match result {
                Ok(()) => "ok".to_owned(),
                Err(reason) => {
                    degraded = true;
                    format!("unhealthy: {reason}")
                }
            };
            checks.insert(peer, Value::from(value));
        }
    }
    let (status, text) = match (healthy, degraded) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    let body = json!({ "status": text, "checks": checks });
    (status, Json(body)).into_response()
}

async fn not_found() -> Response {
    let body = json!({ "error": "not_found", "error_description": "no such endpoint" });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
