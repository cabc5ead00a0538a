//! Poll delivery: `POST /ssf/poll/{stream_id}` ([RFC 8936](https://www.rfc-editor.org/rfc/rfc8936),
//! [SSF 1.0 §6.1.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-6.1.2)).
//!
//! - The caller needs `ssf.read` (SSF-AUTH-12); a stream that is not the caller's answers `404`
//!   exactly like an unknown one (POLL-19, SSF-AUTH-05); a push stream answers `400` (POLL-21).
//! - `ack`s and `setErrs` are applied first (POLL-09): acknowledged SETs are deleted and never
//!   returned again (POLL-10); reported ones are parked as failed and logged (POLL-11); unknown
//!   jtis are ignored and logged (POLL-22). All four request patterns work (POLL-16).
//! - Then up to `maxEvents` SETs are returned, capped at `poll.max_events_cap` with
//!   `moreAvailable` (POLL-06, D-17); `maxEvents: 0` acknowledges only. SETs handed out and not
//!   acknowledged within `poll.redelivery_after` are returned again with the same jti (POLL-12).
//! - With nothing to return and `returnImmediately` not `true`, the answer waits up to
//!   `poll.long_poll_wait` and returns the moment a SET is queued (POLL-07, POLL-08).
//! - A paused or disabled stream answers `{"sets":{}}`, holding (paused) its SETs (POLL-20).
//! - Every poll counts as receiver activity for `inactivity_timeout` (POLL-23).

pub(crate) mod body;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::post,
};
use ssf_store::{PollRequest as StorePoll, PollResponse as StoreAnswer, StoreError, wake::Wake};
use ssf_types::{Jti, PollRequest, PollResponse, StreamId};

use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    metadata::paths,
    metrics,
    state::AppState,
};

/// The poll route, to merge into the transmitter's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(paths::POLL_ROUTE, post(poll))
}

async fn poll(
    State(state): State<AppState>,
    principal: Principal,
    Path(stream_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let request = body::parse(&body)?;
    let stream_id = StreamId::new(stream_id);
    // The route's own bound, longer than any long poll (POLL-07): only a stuck store hits it.
    let limit = state.config.poll.route_timeout();
    let answer = tokio::time::timeout(
        limit,
        answer(&state, &principal.client_id, &stream_id, &request),
    )
    .await
    .map_err(|_| ApiError::Unavailable("poll timed out in the store".into()))??;
    metrics::poll_request();
    let body = PollResponse::new(answer.sets.into_iter().collect(), answer.more_available);
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// What a poll returns (RFC 8936 §2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PollAnswer {
    /// `sets`: jti and compact SET, oldest first.
    pub sets: Vec<(Jti, String)>,
    /// `moreAvailable`.
    pub more_available: bool,
}

/// One poll of `client_id` on `stream_id`: acknowledgements, then SETs, long-polling when
/// there are none. The library entry point behind the route.
pub(crate) async fn answer(
    state: &AppState,
    client_id: &str,
    stream_id: &StreamId,
    request: &PollRequest,
) -> Result<PollAnswer, ApiError> {
    let settings = &state.config.poll;
    let cap = settings.max_events_cap.max(1);
    let max_events = request
        .max_events
        .map_or(cap, |n| u32::try_from(n).unwrap_or(u32::MAX).min(cap));
    let long_poll = max_events > 0 && !request.returns_immediately();
    let redelivery_after_ms = i64::try_from(settings.redelivery_after.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    // Subscribe before the first look, so a SET queued in between still wakes the long poll.
    let mut wake = state.store.subscribe(Some(stream_id));
    let first = StorePoll {
        client_id: client_id.to_owned(),
        stream_id: stream_id.clone(),
        ack: request.ack.clone(),
        set_errs: body::set_errs(request),
        max_events,
        redelivery_after_ms,
    };
    let mut response = store_poll(state, first).await?;
    report(state, stream_id, request, &response);

    if long_poll && response.sets.is_empty() {
        let deadline = tokio::time::Instant::now() + settings.long_poll_wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                break;
            }
            let woke = tokio::select! {
                w = wake.wait(remaining) => w,
                () = state.shutdown.cancelled() => Wake::TimedOut,
            };
            if woke == Wake::TimedOut {
                break;
            }
            let again = StorePoll {
                client_id: client_id.to_owned(),
                stream_id: stream_id.clone(),
                ack: Vec::new(),
                set_errs: Default::default(),
                max_events,
                redelivery_after_ms,
            };
            response = store_poll(state, again).await?;
            state
                .deliveries
                .finished(response.sets.iter().map(|s| &s.jti));
            if !response.sets.is_empty() {
                break;
            }
        }
    }
    Ok(PollAnswer {
        sets: response
            .sets
            .into_iter()
            .map(|s| (s.jti, s.set_jwt))
            .collect(),
        more_available: response.more_available,
    })
}

async fn store_poll(state: &AppState, request: StorePoll) -> Result<StoreAnswer, ApiError> {
    state.store.poll(request).await.map_err(|e| match e {
        StoreError::StreamNotFound => ApiError::StreamNotFound,
        StoreError::WrongDeliveryMethod { .. } => ApiError::BadRequest(
            "this stream uses push delivery; it cannot be polled (RFC 8936, POLL-21)".to_owned(),
        ),
        other => ApiError::from(other),
    })
}

/// Logs acknowledgements and errors (POLL-11, POLL-22), counts them per stream and reports the
/// SETs that left the queue.
fn report(state: &AppState, stream_id: &StreamId, request: &PollRequest, response: &StoreAnswer) {
    let reported = request
        .set_errs
        .iter()
        .filter(|(jti, _)| !response.unknown_errs.contains(jti))
        .map(|(_, e)| (e.err.as_str(), e.description.as_str()));
    state
        .delivery_stats
        .record_poll(stream_id, response.acked, reported, state.clock.now());
    for (jti, error) in &request.set_errs {
        if response.unknown_errs.contains(jti) {
            continue;
        }
        tracing::warn!(%stream_id, %jti, err = %error.err, description = %error.description,
            "receiver reported a SET error (setErrs); SET parked as failed");
    }
    if !response.unknown_acks.is_empty() || !response.unknown_errs.is_empty() {
        tracing::info!(%stream_id, unknown_acks = ?response.unknown_acks,
            unknown_errs = ?response.unknown_errs, "poll named jtis that are not queued; ignored");
    }
    let done = request
        .ack
        .iter()
        .filter(|j| !response.unknown_acks.contains(j))
        .chain(
            request
                .set_errs
                .keys()
                .filter(|j| !response.unknown_errs.contains(j)),
        )
        .chain(response.sets.iter().map(|s| &s.jti));
    state.deliveries.finished(done);
}

#[cfg(test)]
mod tests {
    use crate::config::PollSettings;

    #[test]
    fn poll_urls_are_unique_per_stream_ssf_stream_19() {
        let config = crate::TransmitterConfig {
            issuer: "https://tx.example/".to_owned(),
            ..crate::TransmitterConfig::default()
        };
        let endpoints = crate::metadata::Endpoints::new(&config);
        let a = endpoints.poll_url("a");
        assert_eq!(a, "https://tx.example/ssf/poll/a");
        assert_ne!(a, endpoints.poll_url("b"));
    }

    #[test]
    fn route_timeout_exceeds_the_long_poll() {
        let s = PollSettings::default();
        assert!(s.route_timeout() > s.long_poll_wait);
    }
}
