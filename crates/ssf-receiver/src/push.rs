//! The RFC 8935 push endpoint: `POST /ssf/push/{stream_key}`, one URL per stream
//! ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2),
//! [SSF 1.0 §6.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-6.1.1);
//! checklist §6 PUSH-07..15).
//!
//! Checks, in order, and answers:
//! 1. a stream key that is [expected](PushState::with_expected_streams) (a configured push peer)
//!    but not registered yet, while that peer's set-up is still running or retrying
//!    ([`PushState::with_peer_states`]) → `503` with `Retry-After` and a JSON
//!    `{"error","error_description"}` saying so: the stream exists at the transmitter,
//!    which may push as soon as it is created, while this receiver's set-up has not finished; a
//!    `400` would make the transmitter drop the SET for good. Unknown (or deleted) stream key →
//!    `400` `{"err":"access_denied"}`: PUSH-11 names `access_denied` for a stream the receiver
//!    does not know; RFC 8935 §2.3 makes a SET failure a `400` with an `err`, and the
//!    transmitter then stops retrying (PUSH-17);
//! 2. `Authorization` ≠ the `authorization_header` value this receiver gave the transmitter
//!    (compared as SHA-256 digests, in constant time) → `401` with `WWW-Authenticate: Bearer`
//!    and `{"err":"authentication_failed"}` (D-08, RFC 6750 §3);
//! 3. `Content-Type` not `application/secevent+jwt` (parameters ignored) → `415` with
//!    `{"err":"invalid_request"}`: a general HTTP error, answered with its own status as RFC 8935
//!    §2.3 and PUSH-13 say, since the body was never read as a SET;
//! 4. body larger than the limit → `413` with `{"err":"invalid_request"}` (PUSH-13);
//! 5. the [pipeline](crate::pipeline) and the [apply task](crate::apply):
//!    `202 Accepted` with an empty body (PUSH-09) for a new or redelivered SET (PUSH-14),
//!    `400` with `Content-Type: application/json` and `{"err","description"}` (PUSH-10),
//!    or `503` with `Retry-After` when the keys or the store are unavailable, so the
//!    transmitter retries (PUSH-16) and nothing unverified or unrecorded is acknowledged.

use std::{collections::BTreeSet, fmt, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use sha2::{Digest, Sha256};
use ssf_types::{SetErrorCode, secret::constant_time_eq, set::SECEVENT_MEDIA_TYPE};

use futures::StreamExt as _;

use crate::{
    peers::PeerStates,
    receive::{Receipt, SetReceiver, StreamRegistry},
};

/// Lowercase hex SHA-256 of an `Authorization` value: what [`StreamContext::push_auth_sha256`]
/// and the store keep instead of the secret.
///
/// [`StreamContext::push_auth_sha256`]: crate::pipeline::StreamContext::push_auth_sha256
pub fn authorization_digest(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// What the push endpoint needs.
pub struct PushState {
    receiver: Arc<SetReceiver>,
    streams: Arc<StreamRegistry>,
    max_body_bytes: usize,
    retry_after: Duration,
    expected: BTreeSet<String>,
    peers: Option<Arc<PeerStates>>,
}

impl fmt::Debug for PushState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushState")
            .field("streams", &self.streams.keys())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl PushState {
    /// The endpoint's state: the body limit is the pipeline's SET size limit, `Retry-After` on
    /// `503` is 5 s.
    pub fn new(receiver: Arc<SetReceiver>, streams: Arc<StreamRegistry>) -> Self {
        let max_body_bytes = receiver.pipeline().config().max_set_bytes;
        Self {
            receiver,
            streams,
            max_body_bytes,
            retry_after: Duration::from_secs(5),
            expected: BTreeSet::new(),
            peers: None,
        }
    }

    /// With the stream keys of the configured push peers: a push to one of them before its
    /// stream is registered (its set-up is still running) is answered `503` with `Retry-After`
    /// instead of `400` `access_denied`, so the transmitter retries rather than failing the SET
    /// (PUSH-16, PUSH-17). Keys not listed here and not registered stay `400`.
    #[must_use]
    pub fn with_expected_streams<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.expected.extend(keys.into_iter().map(Into::into));
        self
    }

    /// With the set-up progress of the peers: an expected stream key gets `503` only while its
    /// peer is [setting up](crate::peers::PeerState::is_setting_up) (starting or retrying), not
    /// once set-up has finished without registering a stream.
    #[must_use]
    pub fn with_peer_states(mut self, peers: Arc<PeerStates>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Whether a push for `stream_key` is answered `503` while unregistered: it is expected
    /// (see [`with_expected_streams`](Self::with_expected_streams)) and its peer's set-up is
    /// still running or retrying (or unknown).
    pub fn expects(&self, stream_key: &str) -> bool {
        self.expected.contains(stream_key)
            && self.peers.as_ref().is_none_or(|peers| {
                peers
                    .get(stream_key)
                    .is_none_or(|state| state.is_setting_up())
            })
    }

    /// With another body limit (default: the pipeline's
    /// [`max_set_bytes`](crate::pipeline::PipelineConfig::max_set_bytes)).
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// With another `Retry-After` for `503` answers.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// The streams.
    pub fn streams(&self) -> &Arc<StreamRegistry> {
        &self.streams
    }

    /// The receiver.
    pub fn receiver(&self) -> &Arc<SetReceiver> {
        &self.receiver
    }
}

/// An RFC 8935 §2.3 error body: `{"err","description"}` as `application/json`.
fn error(status: StatusCode, err: &SetErrorCode, description: &str) -> Response {
    let body = json!({ "err": err.as_str(), "description": description });
    (status, axum::Json(body)).into_response()
}

/// `POST /ssf/push/{stream_key}`: see the module docs.
pub async fn push_set(
    State(state): State<Arc<PushState>>,
    Path(stream_key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ctx) = state.streams.get(&stream_key) else {
        if state.expects(&stream_key) {
            tracing::info!(%stream_key, "push before the stream is set up here; asking to retry");
            let body = json!({
                "error": "temporarily_unavailable",
                "error_description": "this receiver is still setting up the stream of this transmitter; retry later",
            });
            let response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            return with_retry_after(response, state.retry_after);
        }
        crate::metrics::count_set("rejected", SetErrorCode::AccessDenied.as_str());
        return error(
            StatusCode::BAD_REQUEST,
            &SetErrorCode::AccessDenied,
            "this receiver has no such stream",
        );
    };
    if let Some(expected) = &ctx.push_auth_sha256 {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let ok = presented.is_some_and(|p| {
            constant_time_eq(authorization_digest(p).as_bytes(), expected.as_bytes())
        });
        if !ok {
            tracing::warn!(peer = %ctx.peer, present = presented.is_some(), "push refused: authorization");
            crate::metrics::count_set("rejected", SetErrorCode::AuthenticationFailed.as_str());
            let challenge = if presented.is_some() {
                HeaderValue::from_static("Bearer error=\"invalid_token\"")
            } else {
                HeaderValue::from_static("Bearer")
            };
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                &SetErrorCode::AuthenticationFailed,
                "the Authorization header is missing or wrong",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
            return response;
        }
    }
    if !is_secevent(&headers) {
        crate::metrics::count_set("rejected", SetErrorCode::InvalidRequest.as_str());
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &SetErrorCode::InvalidRequest,
            "the Content-Type must be application/secevent+jwt",
        );
    }
    let body = match read_limited(&headers, body, state.max_body_bytes).await {
        Ok(body) => body,
        Err(status) => {
            crate::metrics::count_set("rejected", SetErrorCode::InvalidRequest.as_str());
            let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the SET is too large"
            } else {
                "the request body could not be read"
            };
            return error(status, &SetErrorCode::InvalidRequest, text);
        }
    };
    match state.receiver.receive(&ctx, body.trim_ascii()).await {
        Receipt::Applied | Receipt::Duplicate => StatusCode::ACCEPTED.into_response(),
        Receipt::Rejected { err, description } => {
            error(StatusCode::BAD_REQUEST, &err, &description)
        }
        Receipt::Unavailable(_) => retry_later(state.retry_after),
    }
}

/// `503` with `Retry-After` (whole seconds, at least 1): the transmitter retries (PUSH-16).
fn retry_later(after: Duration) -> Response {
    with_retry_after(StatusCode::SERVICE_UNAVAILABLE.into_response(), after)
}

fn with_retry_after(mut response: Response, after: Duration) -> Response {
    let secs = after.as_secs().max(1).to_string();
    if let Ok(value) = HeaderValue::from_str(&secs) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `Content-Type: application/secevent+jwt`, case-insensitive, parameters ignored.
fn is_secevent(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(SECEVENT_MEDIA_TYPE))
}

/// The body, at most `limit` bytes: `413` beyond (by `Content-Length` before reading, or while
/// reading), `400` if the connection fails mid-body.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, StatusCode> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut stream = body.into_data_stream();
    let mut out = Vec::with_capacity(declared.map_or(1024, |n| n as usize).min(limit));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if out.len() + chunk.len() > limit {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_setup_books_sha256_hex() {
        for value in ["Bearer abc", "", "Basic x=="] {
            assert_eq!(authorization_digest(value), crate::setup::sha256_hex(value));
        }
        assert_eq!(authorization_digest("").len(), 64);
    }

    #[test]
    fn content_type_check() {
        let mut h = HeaderMap::new();
        assert!(!is_secevent(&h));
        for (value, ok) in [
            ("application/secevent+jwt", true),
            ("Application/SecEvent+JWT; charset=utf-8", true),
            ("application/jwt", false),
            ("application/json", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_secevent(&h), ok, "{value}");
        }
    }
}
