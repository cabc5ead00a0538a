//! The axum side of `POST /events`: authentication, media type, the body limit and the
//! idempotency headers, then [`Ingest::accept`]; its answer or [`IngestError`] becomes the
//! response (errors through [`crate::error`]).

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};

use super::{
    Answer, Ingest, IngestError, Request,
    idempotency::{
        IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_FROM, IDEMPOTENT_REPLAYED, KeySource, Remembered, bad_key,
        parse_key,
    },
};
use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    metadata::paths,
    state::AppState,
};

/// The ingest route, to merge into the transmitter's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(paths::EVENTS, post(publish))
}

async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    principal.require(Scope::Publish)?;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let json = ct.to_str().is_ok_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v.starts_with("application/json") || v.contains("+json")
        });
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send application/json".to_owned(),
            ));
        }
    }
    let key = key_source(&headers)?;
    let bytes = axum::body::to_bytes(body, state.config.ingest.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let ingest: &Ingest = &state.ingest;
    let request = Request {
        principal: &principal,
        body: &bytes,
        key,
    };
    match ingest.accept(request).await? {
        Answer::Accepted(body) => Ok((StatusCode::ACCEPTED, Json(body)).into_response()),
        Answer::Remembered(remembered) => stored(&remembered),
    }
}

/// Reads the idempotency headers: a malformed key, a repeated header, an unknown
/// `Idempotency-Key-From` value or both headers at once are `400`.
fn key_source(headers: &HeaderMap) -> Result<KeySource, IngestError> {
    let key = single(headers, IDEMPOTENCY_KEY)?;
    let from = single(headers, IDEMPOTENCY_KEY_FROM)?;
    match (key, from) {
        (Some(_), Some(_)) => Err(IngestError::Invalid(
            "send either Idempotency-Key or Idempotency-Key-From, not both".to_owned(),
        )),
        (Some(value), None) => {
            let text = value
                .to_str()
                .map_err(|_| bad_key("Idempotency-Key", "it has a non-ASCII byte"))?;
            parse_key(text)
                .map(KeySource::Header)
                .map_err(|why| bad_key("Idempotency-Key", why))
        }
        (None, Some(value)) => match value.to_str().map(str::trim) {
            Ok(v) if v.eq_ignore_ascii_case("txn") => Ok(KeySource::Txn),
            _ => Err(IngestError::Invalid(
                "Idempotency-Key-From: the only value is `txn`".to_owned(),
            )),
        },
        (None, None) => Ok(KeySource::None),
    }
}

/// The one value of header `name`, if any; `400` when it is repeated.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h HeaderValue>, IngestError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(IngestError::Invalid(format!("send one {name} header")));
    }
    Ok(first)
}

/// A remembered answer as a response (`Idempotent-Replayed: true` when it is the first
/// request's answer again).
fn stored(remembered: &Remembered) -> Result<Response, ApiError> {
    let response = &remembered.response;
    let status = StatusCode::from_u16(response.status)
        .map_err(|_| ApiError::Internal(format!("stored status {}", response.status).into()))?;
    let body: serde_json::Value = serde_json::from_str(&response.body)
        .map_err(|e| ApiError::Internal(format!("stored answer: {e}").into()))?;
    let mut out = (status, Json(body)).into_response();
    if remembered.replayed {
        out.headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(out)
}
