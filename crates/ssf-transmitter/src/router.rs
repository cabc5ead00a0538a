//! The transmitter's HTTP surface: one function assembling every route on [`AppState`].
//!
//! | Route | Module |
//! |---|---|
//! | `GET /.well-known/ssf-configuration[/<issuer path>]` (+ legacy aliases) | [`crate::metadata`] |
//! | `GET /.well-known/oauth-authorization-server[/<issuer path>]`, `POST /oauth/token` | [`crate::auth`] |
//! | `GET /jwks.json` | [`crate::metadata`] |
//! | `/ssf/streams`, `/ssf/status`, `/ssf/subjects/{add,remove}`, `/ssf/verify` | `management.rs` |
//! | `POST /ssf/poll/{stream_id}` | `poll.rs` |
//! | `POST /events` | `ingest/http.rs` |
//! | `GET /healthz`, `GET /openapi.json` | here, `openapi.rs` |
//!
//! Every request body is limited to `max_body_bytes` (`413` with a JSON error beyond it), except
//! `POST /events`, which applies `ingest.max_body_bytes` itself.

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

use crate::{
    auth,
    error::ApiError,
    management,
    metadata::{self, paths, well_known_path},
    openapi,
    state::AppState,
};

/// Every route this router serves, as `(method, path)` with the issuer's path left out of the
/// well-known documents; the OpenAPI document must describe each (checked by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", paths::SSF_CONFIGURATION),
    ("GET", paths::OAUTH_AUTHORIZATION_SERVER),
    ("GET", paths::JWKS),
    ("POST", paths::TOKEN),
    ("GET", paths::STREAMS),
    ("POST", paths::STREAMS),
    ("PATCH", paths::STREAMS),
    ("PUT", paths::STREAMS),
    ("DELETE", paths::STREAMS),
    ("GET", paths::STATUS),
    ("POST", paths::STATUS),
    ("POST", paths::ADD_SUBJECT),
    ("POST", paths::REMOVE_SUBJECT),
    ("POST", paths::VERIFICATION),
    ("POST", paths::POLL_ROUTE),
    ("POST", paths::EVENTS),
    ("GET", paths::HEALTHZ),
    ("GET", paths::OPENAPI),
];

/// The full router: discovery, OAuth, JWKS, stream management, ingest and poll. `/metrics` is
/// served by the binary that installs the recorder.
pub fn router(state: AppState) -> Router {
    ssf_jose::install_crypto_provider();
    let issuer = state.config.issuer.clone();
    let mut limited = Router::new()
        .route(
            &well_known_path(paths::SSF_CONFIGURATION, &issuer),
            get(metadata::ssf_configuration),
        )
        .route(
            &auth::oauth_metadata_path(&issuer),
            get(auth::authorization_server_metadata),
        )
        .route(paths::JWKS, get(metadata::jwks))
        .route(paths::TOKEN, post(auth::token_endpoint))
        .route(paths::HEALTHZ, get(healthz))
        .route(paths::OPENAPI, get(openapi::document))
        .merge(management::routes())
        .merge(crate::poll::routes());
    if state.config.metadata.legacy_discovery {
        for alias in [paths::SSE_CONFIGURATION, paths::RISC_CONFIGURATION] {
            limited = limited.route(
                &well_known_path(alias, &issuer),
                get(metadata::ssf_configuration),
            );
        }
    }
    let limit = state.config.max_body_bytes;
    limited
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limit))
        // Ingest reads its body with its own limit (`ingest.max_body_bytes`), for large batches.
        .merge(crate::ingest::routes())
        .fallback(not_found)
        .layer(middleware::map_response(json_413))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `state.shutdown` is cancelled, then finishes the
/// requests in flight.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".to_owned())
}

/// The body-limit layer answers an oversized `Content-Length` with a plain-text `413`; give it
/// the JSON error body every other error has.
async fn json_413(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        ApiError::PayloadTooLarge.into_response()
    } else {
        response
    }
}
