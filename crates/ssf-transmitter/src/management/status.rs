//! The status endpoint ([SSF 1.0 §8.1.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.2)).

use axum::{
    Json,
    extract::State,
    http::Uri,
    response::{IntoResponse, Response},
};
use serde_json::json;
use ssf_store::StreamStatus as StoreStatus;
use ssf_types::{
    ParseMode, StreamId, StreamStatus,
    stream::{StatusRequest, StatusResponse},
};

use super::{JsonBody, audit, bad_body, require_query_stream_id, streams::owned, touch};
use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    state::AppState,
};

/// `GET ?stream_id=` — Read Stream Status (SSF 1.0 §8.1.2.1): `200` with `stream_id`, `status`
/// and `reason` when known (SSF-STATUS-01); `400` without `stream_id` (SSF-STATUS-18); `404`
/// for an unknown stream (SSF-STATUS-06).
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let stream_id = require_query_stream_id(&uri)?;
    let record = owned(&state, &principal, &stream_id).await?;
    touch(&state, &principal, &stream_id).await;
    Ok(Json(response(stream_id, record.status, record.status_reason)).into_response())
}

/// `POST` — Update Stream Status (SSF 1.0 §8.1.2.2): `200` with the new status (SSF-STATUS-07).
/// An unknown status is `400` (D-18); the current status again is a no-op apart from the reason
/// (D-10). The store holds queued SETs while `paused` and drops them on `disabled`
/// (SSF-STATUS-11/12/15). No stream-updated event is sent for a change the receiver asked for
/// (SSF-EVT-17).
pub(super) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let request = StatusRequest::from_json(&body.value()?, ParseMode::Strict).map_err(bad_body)?;
    let status = StoreStatus::parse(request.status.as_str())
        .ok_or_else(|| ApiError::BadRequest("unknown stream status".to_owned()))?;
    let change = state
        .store
        .set_stream_status(
            &principal.client_id,
            &request.stream_id,
            status,
            request.reason.clone(),
        )
        .await?
        .ok_or(ApiError::StreamNotFound)?;
    if change.previous != status {
        state.matcher.invalidate();
    }
    touch(&state, &principal, &request.stream_id).await;
    if change.previous != status {
        tracing::info!(stream_id = %request.stream_id, from = %change.previous, to = %status, dropped = change.dropped, "stream status changed");
    }
    let detail = json!({
        "previous": change.previous.as_str(),
        "status": status.as_str(),
        "reason": request.reason,
        "dropped": change.dropped,
    });
    audit(
        &state,
        &principal,
        "stream.status",
        Some(&request.stream_id),
        detail,
    )
    .await;
    let stream = change.stream;
    Ok(Json(response(
        stream.stream_id,
        stream.status,
        stream.status_reason,
    ))
    .into_response())
}

fn response(stream_id: StreamId, status: StoreStatus, reason: Option<String>) -> StatusResponse {
    StatusResponse::new(stream_id, StreamStatus::from(status.as_str()), reason)
}
