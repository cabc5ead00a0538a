//! Stream management ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1)):
//! create, read, update, replace and delete streams, their status, their subjects, and
//! verification requests.
//!
//! Every endpoint needs a bearer token (SSF-AUTH-01): `ssf.read` for `GET` on streams and
//! status, `ssf.manage` for everything else (SSF-AUTH-12). A receiver only ever sees its own
//! streams; another receiver's `stream_id` answers `404` like an unknown one (SSF-AUTH-05).
//! Every response carries `Cache-Control: no-store` (SSF-AUTH-13), every call that names a
//! stream counts as receiver activity (SSF-STREAM-11), and every change is written to the
//! audit log.

mod status;
mod streams;
mod subjects;
mod verification;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, HeaderValue, Uri, header},
    middleware,
    response::Response,
    routing::{get, post},
};
use serde_json::Value;
use ssf_store::NewAuditEntry;
use ssf_types::{BodyError, StreamId};

use crate::{auth::Principal, error::ApiError, metadata::paths, state::AppState};

/// The management routes, with `Cache-Control: no-store` on every response.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            paths::STREAMS,
            get(streams::read)
                .post(streams::create)
                .patch(streams::update)
                .put(streams::replace)
                .delete(streams::delete),
        )
        .route(paths::STATUS, get(status::read).post(status::update))
        .route(paths::ADD_SUBJECT, post(subjects::add))
        .route(paths::REMOVE_SUBJECT, post(subjects::remove))
        .route(paths::VERIFICATION, post(verification::verify))
        .layer(middleware::map_response(no_store))
}

async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON request body: the `Content-Type` must be JSON when present (`415` otherwise), and
/// the body within the configured size (`413`). Parsing is left to the protocol types.
#[derive(Debug)]
pub(crate) struct JsonBody(pub Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        check_json_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("the request body could not be read".to_owned())
                }
            })?;
        Ok(Self(bytes))
    }
}

impl JsonBody {
    /// The body as a JSON value (`400` if it is not JSON).
    pub(crate) fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.0).map_err(|e| bad_body(BodyError::InvalidJson(e.into())))
    }
}

/// `application/json` or any `+json` type; an absent `Content-Type` is tolerated.
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "the request body must be application/json".to_owned(),
        ))
    }
}

/// An invalid body: `400` with the protocol type's explanation (SSF 1.0 §8 error tables).
pub(crate) fn bad_body(err: BodyError) -> ApiError {
    ApiError::BadRequest(err.to_string())
}

/// The required `stream_id` query parameter (SSF-STREAM-45, SSF-STATUS-18): `400` if absent.
pub(crate) fn query_stream_id(uri: &Uri) -> Result<Option<StreamId>, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "stream_id" {
            if found.is_some() || v.is_empty() {
                return Err(ApiError::BadRequest(
                    "give exactly one non-empty stream_id".to_owned(),
                ));
            }
            found = Some(StreamId::new(v.into_owned()));
        }
    }
    Ok(found)
}

/// [`query_stream_id`], required.
pub(crate) fn require_query_stream_id(uri: &Uri) -> Result<StreamId, ApiError> {
    query_stream_id(uri)?
        .ok_or_else(|| ApiError::BadRequest("the stream_id query parameter is required".to_owned()))
}

/// Records receiver activity on the stream (SSF-STREAM-11). A failure is logged, not answered:
/// the operation itself succeeded.
pub(crate) async fn touch(state: &AppState, principal: &Principal, stream_id: &StreamId) {
    if let Err(err) = state
        .store
        .touch_activity(&principal.client_id, stream_id)
        .await
    {
        tracing::warn!(%stream_id, error = %err, "recording stream activity failed");
    }
}

/// Appends an audit entry for a change made by `principal`. Never put secrets in `detail`.
/// A failure is logged: the change is already durable.
pub(crate) async fn audit(
    state: &AppState,
    principal: &Principal,
    action: &str,
    stream_id: Option<&StreamId>,
    detail: Value,
) {
    let entry = NewAuditEntry {
        actor: principal.client_id.clone(),
        action: action.to_owned(),
        stream_id: stream_id.cloned(),
        detail,
    };
    if let Err(err) = state.store.append_audit(entry).await {
        tracing::error!(action, error = %err, "writing the audit log failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(check_json_content_type(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_json_content_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(matches!(
            check_json_content_type(&h),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn stream_id_query() {
        let uri: Uri = "/ssf/streams?stream_id=abc".parse().unwrap();
        assert_eq!(require_query_stream_id(&uri).unwrap().as_str(), "abc");
        let uri: Uri = "/ssf/streams".parse().unwrap();
        assert!(require_query_stream_id(&uri).is_err());
        let uri: Uri = "/ssf/streams?stream_id=".parse().unwrap();
        assert!(query_stream_id(&uri).is_err());
    }
}
