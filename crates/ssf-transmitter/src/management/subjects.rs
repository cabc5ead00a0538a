//! Add and Remove Subject ([SSF 1.0 §8.1.3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.3)).

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use ssf_types::{
    ParseMode, SubjectId,
    stream::{AddSubjectRequest, RemoveSubjectRequest},
};

use super::{JsonBody, audit, bad_body, streams::owned, touch};
use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    state::AppState,
    subject_key::subject_key,
};

/// `POST` — Add Subject (SSF 1.0 §8.1.3.2): `200` with an empty body (SSF-SUBJ-03, B-01).
/// `verified` defaults to `true` (SSF-SUBJ-02). A malformed subject or an unagreed proprietary
/// format is `400` (D-04). The answer never depends on whether the transmitter knows the
/// subject (SSF-SUBJ-10): every valid subject is recorded as a statement of interest.
pub(super) async fn add(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let request =
        AddSubjectRequest::from_json(&body.value()?, ParseMode::Strict).map_err(bad_body)?;
    check_format(&state, &request.subject)?;
    let key = subject_key(&request.subject);
    let added = state
        .store
        .add_subject(
            &principal.client_id,
            &request.stream_id,
            &key,
            Value::Object(request.subject.to_json()),
            Some(request.is_verified()),
        )
        .await?;
    if !added {
        return Err(ApiError::StreamNotFound);
    }
    state
        .matcher
        .subject_changed(&request.stream_id, &request.subject, true);
    touch(&state, &principal, &request.stream_id).await;
    let detail =
        json!({ "format": request.subject.format().as_str(), "verified": request.is_verified() });
    audit(
        &state,
        &principal,
        "subject.add",
        Some(&request.stream_id),
        detail,
    )
    .await;
    Ok(StatusCode::OK.into_response())
}

/// `POST` — Remove Subject (SSF 1.0 §8.1.3.3): `204` (SSF-SUBJ-07). The stream's own
/// `{"format":"opaque","id":<stream_id>}` subject cannot be removed: `400` (SSF-SUBJ-09). An
/// unknown subject is removed silently (`204`, SSF-SUBJ-08).
pub(super) async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Scope::Manage)?;
    let request =
        RemoveSubjectRequest::from_json(&body.value()?, ParseMode::Strict).map_err(bad_body)?;
    owned(&state, &principal, &request.stream_id).await?;
    if request.removes_stream_subject() {
        return Err(ApiError::BadRequest(
            "the stream's own subject cannot be removed".to_owned(),
        ));
    }
    check_format(&state, &request.subject)?;
    let key = subject_key(&request.subject);
    let removed = state
        .store
        .remove_subject(
            &principal.client_id,
            &request.stream_id,
            &key,
            Value::Object(request.subject.to_json()),
        )
        .await?;
    if !removed {
        return Err(ApiError::StreamNotFound);
    }
    state
        .matcher
        .subject_changed(&request.stream_id, &request.subject, false);
    touch(&state, &principal, &request.stream_id).await;
    let detail = json!({ "format": request.subject.format().as_str() });
    audit(
        &state,
        &principal,
        "subject.remove",
        Some(&request.stream_id),
        detail,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// D-04: a format this version does not know (also as a complex member) is refused unless it
/// is listed in `streams.proprietary_subject_formats`.
fn check_format(state: &AppState, subject: &SubjectId) -> Result<(), ApiError> {
    let allowed = &state.config.streams.proprietary_subject_formats;
    let unknown = |s: &SubjectId| matches!(s, SubjectId::Other { format, .. } if !allowed.iter().any(|a| a == format));
    let refused = match subject.as_complex() {
        Some(complex) => complex.members.values().any(unknown),
        None => unknown(subject),
    };
    if refused {
        return Err(ApiError::BadRequest(
            "the subject format is not supported by this transmitter".to_owned(),
        ));
    }
    Ok(())
}
