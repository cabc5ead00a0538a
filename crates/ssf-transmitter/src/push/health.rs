//! Which push streams keep failing, told to operators without flooding them (issue 12, item 4;
//! decision D-TX-20).
//!
//! Every recorded push outcome updates one entry per stream whose last attempt failed. The first
//! failure after a success is logged at `WARN` at once, with the stream, the answer (`http_503`,
//! `transport_error`, ...) and when the next attempt is due; further failures of that stream are
//! logged at most once per `push.failure_log_interval`, saying how many were not logged in
//! between. A delivery after failures logs `INFO` "recovered" and clears the entry. The failing
//! streams are the gauge `ssf_push_failing_streams` and `stream:<id>` checks of `/healthz`
//! ([`PushHealth::failing`]).

use std::{
    collections::BTreeMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use ssf_store::{DeliveryError, DeliveryOutcome};
use ssf_types::{StreamId, UnixMillis};

use crate::metrics;

/// The state of one stream whose last push attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailingStream {
    /// Failed attempts since the last delivery.
    pub consecutive_failures: u32,
    /// When the first of them was recorded.
    pub failing_since: UnixMillis,
    /// The last failure: `http_503`, `transport_error`, an RFC 8935 `err` code, ...
    pub last_error: String,
    /// Its description, if any.
    pub last_description: Option<String>,
    /// When the SET is tried again; `None` when it was failed or dead-lettered for good.
    pub next_attempt_at: Option<UnixMillis>,
    /// When a failure of this stream was last logged.
    logged_at: UnixMillis,
    /// Failures since then that were not logged.
    unlogged: u32,
}

impl FailingStream {
    /// One line for `/healthz`: what fails, since when, and what happens next.
    pub fn summary(&self, now: UnixMillis) -> String {
        let next = match self.next_attempt_at {
            Some(at) => format!("next attempt in {}s", seconds_until(now, at)),
            None => "the SET was given up (see the outbox's failed and dead SETs)".to_owned(),
        };
        let detail = self
            .last_description
            .as_deref()
            .map(|d| format!(" ({})", truncate(d, 160)))
            .unwrap_or_default();
        format!(
            "{} push attempt(s) failed in a row over {}s; last: {}{detail}; {next}; check that \
             the receiver's endpoint is up and accepts this transmitter's SETs",
            self.consecutive_failures,
            seconds_until(self.failing_since, now),
            self.last_error,
        )
    }
}

/// The failing push streams of this node, shared by its push workers.
#[derive(Debug)]
pub struct PushHealth {
    streams: Mutex<BTreeMap<StreamId, FailingStream>>,
    log_interval: Duration,
}

impl PushHealth {
    /// Failures of one stream are logged at most once per `log_interval` (the first one at once).
    pub(crate) fn new(log_interval: Duration) -> Self {
        Self {
            streams: Mutex::default(),
            log_interval,
        }
    }

    /// Takes one push outcome of a SET of `stream_id` into account, logging as described above.
    pub(crate) fn record(&self, stream_id: &StreamId, outcome: &DeliveryOutcome, now: UnixMillis) {
        let (error, next_attempt_at) = match outcome {
            DeliveryOutcome::Delivered(_) => {
                self.delivered(stream_id);
                return;
            }
            DeliveryOutcome::Retry {
                error,
                next_attempt_at,
                ..
            } => {
                // Put back because the stream was paused or turned to poll: not a failure.
                if error.code == NOT_PUSHING {
                    return;
                }
                (error, Some(*next_attempt_at))
            }
            DeliveryOutcome::Failed { error, .. } | DeliveryOutcome::DeadLetter { error, .. } => {
                (error, None)
            }
        };
        self.failed(stream_id, error, next_attempt_at, now);
    }

    /// The streams whose last push attempt failed, in `stream_id` order.
    pub fn failing(&self) -> Vec<(StreamId, FailingStream)> {
        self.lock()
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    }

    fn delivered(&self, stream_id: &StreamId) {
        let mut streams = self.lock();
        if let Some(was) = streams.remove(stream_id) {
            tracing::info!(%stream_id, failed_attempts = was.consecutive_failures,
                "push delivery recovered");
            metrics::failing_push_streams(streams.len());
        }
    }

    fn failed(
        &self,
        stream_id: &StreamId,
        error: &DeliveryError,
        next_attempt_at: Option<UnixMillis>,
        now: UnixMillis,
    ) {
        let mut streams = self.lock();
        let first = !streams.contains_key(stream_id);
        let entry = streams
            .entry(stream_id.clone())
            .or_insert_with(|| FailingStream {
                consecutive_failures: 0,
                failing_since: now,
                last_error: String::new(),
                last_description: None,
                next_attempt_at: None,
                logged_at: now,
                unlogged: 0,
            });
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
        entry.last_error.clone_from(&error.code);
        entry.last_description.clone_from(&error.description);
        entry.next_attempt_at = next_attempt_at;
        let interval = i64::try_from(self.log_interval.as_millis()).unwrap_or(i64::MAX);
        let due = first || now.0.saturating_sub(entry.logged_at.0) >= interval;
        if due {
            log_failure(stream_id, entry, now);
            entry.logged_at = now;
            entry.unlogged = 0;
        } else {
            entry.unlogged = entry.unlogged.saturating_add(1);
        }
        if first {
            metrics::failing_push_streams(streams.len());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<StreamId, FailingStream>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `code` of a SET put back because its stream stopped pushing (see the push worker).
pub(crate) const NOT_PUSHING: &str = "stream_not_pushing";

fn log_failure(stream_id: &StreamId, s: &FailingStream, now: UnixMillis) {
    let description = s
        .last_description
        .as_deref()
        .map_or("", |d| truncate(d, 300));
    let hint = if matches!(s.last_error.as_str(), "http_401" | "http_403") {
        "the receiver refused this transmitter's credentials: check the stream's \
         authorization_header (D-08)"
    } else {
        "check that the receiver's push endpoint is up and accepts this transmitter's SETs"
    };
    match s.next_attempt_at {
        Some(at) => tracing::warn!(
            %stream_id, error = %s.last_error, description,
            consecutive_failures = s.consecutive_failures,
            not_logged_since_last = s.unlogged,
            next_attempt_in_secs = seconds_until(now, at),
            "push to the receiver failed; will retry: {hint}"
        ),
        None => tracing::warn!(
            %stream_id, error = %s.last_error, description,
            consecutive_failures = s.consecutive_failures,
            not_logged_since_last = s.unlogged,
            "push to the receiver failed; SET given up (failed or dead-lettered): {hint}"
        ),
    }
}

fn seconds_until(from: UnixMillis, to: UnixMillis) -> i64 {
    to.0.saturating_sub(from.0).max(0) / 1000
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use ssf_store::OutboxId;

    use super::*;

    fn retry(code: &str, at: i64) -> DeliveryOutcome {
        DeliveryOutcome::Retry {
            id: OutboxId(1),
            next_attempt_at: UnixMillis(at),
            error: DeliveryError {
                code: code.to_owned(),
                description: Some("Service Unavailable".into()),
            },
        }
    }

    #[test]
    fn failures_are_tracked_until_a_delivery_and_logged_at_most_once_per_interval() {
        let health = PushHealth::new(Duration::from_secs(60));
        let stream = StreamId::new("s1");
        health.record(&stream, &retry("http_503", 2_000), UnixMillis(1_000));
        let (_, first) = health.failing().remove(0);
        assert_eq!(first.consecutive_failures, 1);
        assert_eq!(
            first.logged_at,
            UnixMillis(1_000),
            "the first failure is logged at once"
        );

        // Within the interval: counted, not logged.
        health.record(&stream, &retry("http_503", 7_000), UnixMillis(6_000));
        let (_, second) = health.failing().remove(0);
        assert_eq!((second.consecutive_failures, second.unlogged), (2, 1));
        assert_eq!(second.logged_at, UnixMillis(1_000));
        assert!(
            second
                .summary(UnixMillis(6_000))
                .contains("next attempt in 1s")
        );

        // After the interval: logged again, with the count of the ones in between.
        health.record(
            &stream,
            &retry("transport_error", 62_000),
            UnixMillis(61_000),
        );
        let (_, third) = health.failing().remove(0);
        assert_eq!((third.consecutive_failures, third.unlogged), (3, 0));
        assert_eq!(third.logged_at, UnixMillis(61_000));
        assert_eq!(third.last_error, "transport_error");

        health.record(
            &stream,
            &DeliveryOutcome::Delivered(OutboxId(1)),
            UnixMillis(70_000),
        );
        assert!(health.failing().is_empty(), "a delivery clears the stream");
    }

    #[test]
    fn a_paused_stream_is_not_a_failure_and_a_dead_letter_has_no_next_attempt() {
        let health = PushHealth::new(Duration::from_secs(60));
        let stream = StreamId::new("s1");
        health.record(&stream, &retry(NOT_PUSHING, 2_000), UnixMillis(1_000));
        assert!(health.failing().is_empty());
        let dead = DeliveryOutcome::DeadLetter {
            id: OutboxId(1),
            error: DeliveryError {
                code: "http_500".into(),
                description: None,
            },
        };
        health.record(&stream, &dead, UnixMillis(1_000));
        let (_, s) = health.failing().remove(0);
        assert_eq!(s.next_attempt_at, None);
        assert!(s.summary(UnixMillis(1_000)).contains("given up"));
    }
}
