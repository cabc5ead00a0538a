//! One push: POST one SET to one endpoint and decide what happens to it
//! ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2)).

use std::time::{Duration, Instant};

use ssf_http::{
    GuardedClient, Outcome, PermanentReason, RetrySchedule, SuccessPolicy, Url, classify_error,
    classify_status, parse_retry_after, read_body_limited,
    reqwest::{
        StatusCode,
        header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER},
    },
};
use ssf_store::{ClaimedSet, DeliveryError, DeliveryOutcome};
use ssf_types::{ParseMode, PushErrorBody, UnixMillis};

use crate::metrics::{self, PushOutcome};

/// RFC 8935 §2.1 media type of the request body.
pub(crate) const SECEVENT_JWT: &str = "application/secevent+jwt";
/// The most of a response body read (the RFC 8935 §2.3 error object is small).
const MAX_RESPONSE_BYTES: usize = 8 * 1024;

/// Where and how a stream's SETs are pushed (SSF 1.0 §6.1.1).
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `delivery.endpoint_url`.
    pub url: Url,
    /// `delivery.authorization_header`, sent verbatim as `Authorization` (SSF-STREAM-17); none
    /// is sent when absent (SSF-STREAM-18). Marked sensitive.
    pub authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url.as_str())
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// What a push attempt needs besides the SET.
#[derive(Debug)]
pub(crate) struct Attempter<'a> {
    /// The guarded client.
    pub client: &'a GuardedClient,
    /// The retry schedule.
    pub schedule: &'a RetrySchedule,
    /// Which statuses count as delivered.
    pub policy: SuccessPolicy,
    /// Attempts allowed while the receiver answers 401/403.
    pub auth_failure_attempts: u32,
}

impl Attempter<'_> {
    /// POSTs `set` to `endpoint` (PUSH-01..04) and returns the outcome to record; `now` is
    /// read after the answer, from the injected clock.
    pub(crate) async fn push(
        &self,
        endpoint: &Endpoint,
        set: &ClaimedSet,
        now: impl Fn() -> UnixMillis,
    ) -> DeliveryOutcome {
        let request = match self.client.post(endpoint.url.clone()) {
            Ok(r) => r,
            Err(e) => {
                let error = err("destination_refused", e.to_string());
                return self.failed(set, error, PushOutcome::Failed, None);
            }
        };
        let mut request = request
            .header(CONTENT_TYPE, HeaderValue::from_static(SECEVENT_JWT))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(value) = &endpoint.authorization {
            request = request.authorization(value.clone());
        }
        let started = Instant::now();
        let response = request.body(set.set_jwt.clone()).send().await;
        let elapsed = started.elapsed();
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let outcome = classify_error(&e);
                return self.decide(set, outcome, None, None, e.to_string(), elapsed, now());
            }
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let body = read_body_limited(response, MAX_RESPONSE_BYTES)
            .await
            .unwrap_or_default();
        let outcome = classify_status(status, self.policy);
        let now = now();
        let retry_after = retry_after.and_then(|v| parse_retry_after(&v, now));
        let detail = String::from_utf8_lossy(&body)
            .chars()
            .take(512)
            .collect::<String>();
        self.decide(
            set,
            outcome,
            Some(status),
            retry_after,
            detail,
            elapsed,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        set: &ClaimedSet,
        outcome: Outcome,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
        detail: String,
        elapsed: Duration,
        now: UnixMillis,
    ) -> DeliveryOutcome {
        match outcome {
            Outcome::Delivered => {
                metrics::push_attempt(PushOutcome::Delivered, Some(elapsed));
                DeliveryOutcome::Delivered(set.id)
            }
            Outcome::Permanent(PermanentReason::BadRequest) => {
                // PUSH-17: the receiver refused the SET itself; record its `err`.
                let body = serde_json::from_str(&detail)
                    .ok()
                    .and_then(|v| PushErrorBody::from_json(&v, ParseMode::Legacy).ok());
                let (code, description) = match body {
                    Some(b) => (
                        b.err.as_str().to_owned(),
                        Some(b.description).filter(|d| !d.is_empty()),
                    ),
                    None => (
                        "http_400".to_owned(),
                        Some(detail).filter(|d| !d.is_empty()),
                    ),
                };
                let error = DeliveryError { code, description };
                self.failed(set, error, PushOutcome::Failed, Some(elapsed))
            }
            Outcome::Permanent(reason) => {
                let code = match (&reason, status) {
                    (PermanentReason::Refused(_), _) => "destination_refused".to_owned(),
                    (PermanentReason::Redirect(_), Some(s)) => format!("redirect_{}", s.as_u16()),
                    (_, Some(s)) => format!("http_{}", s.as_u16()),
                    (_, None) => "request_failed".to_owned(),
                };
                self.failed(
                    set,
                    err(&code, reason.to_string()),
                    PushOutcome::Failed,
                    Some(elapsed),
                )
            }
            Outcome::Unauthorized(status) => {
                // Logged per stream, rate-limited, by `PushHealth` (D-TX-20).
                tracing::debug!(stream_id = %set.stream_id, jti = %set.jti,
                    status = status.as_u16(), attempts = set.attempts, "push unauthorized");
                let error = err(&format!("http_{}", status.as_u16()), outcome.to_string());
                if set.attempts >= self.auth_failure_attempts {
                    return self.failed(set, error, PushOutcome::Unauthorized, Some(elapsed));
                }
                metrics::push_attempt(PushOutcome::Unauthorized, Some(elapsed));
                match self.schedule.next_delay(set.attempts) {
                    Some(delay) => retry(set, now, delay, error),
                    None => self.failed(set, error, PushOutcome::Failed, None),
                }
            }
            Outcome::Retryable(reason) => {
                let code = status.map_or_else(
                    || "transport_error".to_owned(),
                    |s| format!("http_{}", s.as_u16()),
                );
                let description = if detail.is_empty() {
                    reason.to_string()
                } else {
                    format!("{reason}: {detail}")
                };
                let error = DeliveryError {
                    code,
                    description: Some(description),
                };
                match self.schedule.next_delay_after(set.attempts, retry_after) {
                    Some(delay) => {
                        metrics::push_attempt(PushOutcome::Retry, Some(elapsed));
                        tracing::debug!(stream_id = %set.stream_id, jti = %set.jti,
                            attempts = set.attempts, ?delay, error = %error.code, "push will be retried");
                        retry(set, now, delay, error)
                    }
                    None => {
                        metrics::push_attempt(PushOutcome::DeadLetter, Some(elapsed));
                        tracing::debug!(stream_id = %set.stream_id, jti = %set.jti,
                            attempts = set.attempts, error = %error.code,
                            "push retries exhausted; SET dead-lettered");
                        DeliveryOutcome::DeadLetter { id: set.id, error }
                    }
                }
            }
            // `Outcome` is non-exhaustive: anything new is treated as a permanent failure.
            other => self.failed(
                set,
                err("unexpected_outcome", other.to_string()),
                PushOutcome::Failed,
                None,
            ),
        }
    }

    fn failed(
        &self,
        set: &ClaimedSet,
        error: DeliveryError,
        outcome: PushOutcome,
        elapsed: Option<Duration>,
    ) -> DeliveryOutcome {
        metrics::push_attempt(outcome, elapsed);
        tracing::debug!(
            stream_id = %set.stream_id, jti = %set.jti, err = %error.code,
            description = error.description.as_deref().unwrap_or(""),
            "push failed permanently; SET parked as failed"
        );
        DeliveryOutcome::Failed { id: set.id, error }
    }
}

fn err(code: &str, description: String) -> DeliveryError {
    DeliveryError {
        code: code.to_owned(),
        description: Some(description),
    }
}

fn retry(
    set: &ClaimedSet,
    now: UnixMillis,
    delay: Duration,
    error: DeliveryError,
) -> DeliveryOutcome {
    let millis = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    DeliveryOutcome::Retry {
        id: set.id,
        next_attempt_at: now.plus_millis(millis),
        error,
    }
}
