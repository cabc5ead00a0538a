//! Verification requests ([SSF 1.0 §8.1.4.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4.2)).

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;
use ssf_store::{StreamRecord, StreamStatus, VerificationGate};
use ssf_types::{ParseMode, stream::VerificationRequest};

use super::{JsonBody, audit, bad_body, streams::owned, touch};
use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    state::AppState,
};

/// `POST` — Trigger a verification event: `204` (SSF-VERIFY-02). `state` is echoed unchanged in
/// the verification SET (SSF-VERIFY-04), which is queued behind earlier SETs and held while the
/// stream is paused (SSF-VERIFY-13). Faster than `min_verification_interval`: `429` with
/// `Retry-After` (SSF-VERIFY-12). A disabled stream answers `204` and sends nothing (D-11).
pub(super) async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let request =
        VerificationRequest::from_json(&body.value()?, ParseMode::Strict).map_err(bad_body)?;
    let record = owned(&state, &principal, &request.stream_id).await?;
    if record.status == StreamStatus::Disabled {
        touch(&state, &principal, &request.stream_id).await;
        tracing::info!(stream_id = %request.stream_id, "verification on a disabled stream: nothing sent (D-11)");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let gate = state
        .store
        .begin_verification(&principal.client_id, &request.stream_id)
        .await?
        .ok_or(ApiError::StreamNotFound)?;
    if let VerificationGate::TooSoon { next_allowed_at } = gate {
        let wait_ms = next_allowed_at.0.saturating_sub(state.clock.now().0).max(0);
        let secs = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000).max(1);
        return Err(ApiError::TooManyRequests {
            message: "verification requested faster than min_verification_interval".to_owned(),
            retry_after_secs: Some(secs),
        });
    }
    send_verification(&state, &record, request.state.clone()).await?;
    let detail = json!({ "state_present": request.state.is_some() });
    audit(
        &state,
        &principal,
        "stream.verify",
        Some(&request.stream_id),
        detail,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Signs and enqueues the verification SET for `stream` with the receiver's `state`, through
/// the delivery side's [`enqueue_verification`](crate::control_events::enqueue_verification)
/// (which also sends nothing on a disabled stream, D-11).
pub(crate) async fn send_verification(
    state: &AppState,
    stream: &StreamRecord,
    state_param: Option<String>,
) -> Result<(), ApiError> {
    let jti = crate::control_events::enqueue_verification(state, stream, state_param).await?;
    tracing::debug!(stream_id = %stream.stream_id, jti = ?jti, "verification SET queued");
    Ok(())
}
