//! Delivery metrics, emitted through the [`metrics`] facade.
//!
//! The binary installs a recorder (Prometheus) and serves `/metrics`; without one every call here
//! is a no-op. No metric carries a per-stream label: stream ids are unbounded and would blow up
//! the series count.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ssf_events_ingested_total` | counter | |
//! | `ssf_events_refused_total` | counter | `reason` (`event_type`, `claims`): `POST /events` requests refused by a producer's allow lists (D-TX-15) |
//! | `ssf_events_idempotent_replays_total` | counter | `outcome` (`replayed`: the first answer again, nothing queued; `key_reused`: `422`, the key was used for another body) (D-TX-16) |
//! | `ssf_sets_enqueued_total` | counter | |
//! | `ssf_outbox_sets` | gauge | `state` (`waiting`, `pending`, `held`, `leased`, `failed`, `dead`) |
//! | `ssf_push_attempts_total` | counter | `outcome` (`delivered`, `retry`, `failed`, `unauthorized`, `dead_letter`) |
//! | `ssf_push_retries_total` | counter | |
//! | `ssf_sets_dead_lettered_total` | counter | |
//! | `ssf_push_latency_seconds` | histogram | (one HTTP push, request to response) |
//! | `ssf_poll_requests_total` | counter | |
//! | `ssf_push_failing_streams` | gauge | (push streams whose last attempt failed, D-TX-20; which ones: `/healthz`) |

use std::{sync::Once, time::Duration};

use ssf_store::OutboxCounts;

/// Events accepted by `POST /events`.
pub(crate) const EVENTS_INGESTED: &str = "ssf_events_ingested_total";
/// `POST /events` requests refused because the producer may not publish one of their events.
pub(crate) const EVENTS_REFUSED: &str = "ssf_events_refused_total";
/// `POST /events` requests answered from an idempotency key's record instead of queued.
pub(crate) const IDEMPOTENT_REPLAYS: &str = "ssf_events_idempotent_replays_total";
/// SETs written to the outbox (ingest and control events).
pub(crate) const SETS_ENQUEUED: &str = "ssf_sets_enqueued_total";
/// Outbox rows by state, sampled from the store.
pub(crate) const OUTBOX_SETS: &str = "ssf_outbox_sets";
/// Push attempts by outcome.
pub(crate) const PUSH_ATTEMPTS: &str = "ssf_push_attempts_total";
/// Push attempts that scheduled a retry.
pub(crate) const PUSH_RETRIES: &str = "ssf_push_retries_total";
/// SETs given up after the retry schedule ran out.
pub(crate) const SETS_DEAD_LETTERED: &str = "ssf_sets_dead_lettered_total";
/// Duration of one push request.
pub(crate) const PUSH_LATENCY: &str = "ssf_push_latency_seconds";
/// RFC 8936 poll requests answered.
pub(crate) const POLL_REQUESTS: &str = "ssf_poll_requests_total";
/// Push streams whose last attempt failed.
pub(crate) const FAILING_PUSH_STREAMS: &str = "ssf_push_failing_streams";

/// How one push attempt ended, the `outcome` label of [`PUSH_ATTEMPTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// `202 Accepted`.
    Delivered,
    /// A recoverable failure; retried later.
    Retry,
    /// A permanent failure (400 `err`, other 4xx, redirect, refused destination).
    Failed,
    /// `401`/`403`: the receiver refused our credentials.
    Unauthorized,
    /// The retry schedule ran out.
    DeadLetter,
}

impl PushOutcome {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Unauthorized => "unauthorized",
            Self::DeadLetter => "dead_letter",
        }
    }
}

/// Registers descriptions and units once per process (harmless without a recorder).
pub fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(EVENTS_INGESTED, "Events accepted by POST /events");
        metrics::describe_counter!(
            EVENTS_REFUSED,
            "POST /events requests refused by the producer's allow lists, by reason"
        );
        metrics::describe_counter!(
            IDEMPOTENT_REPLAYS,
            "POST /events requests answered from their Idempotency-Key's record, by outcome"
        );
        metrics::describe_counter!(SETS_ENQUEUED, "SETs written to the durable outbox");
        metrics::describe_gauge!(OUTBOX_SETS, "Outbox rows by state");
        metrics::describe_counter!(PUSH_ATTEMPTS, "RFC 8935 push attempts by outcome");
        metrics::describe_counter!(PUSH_RETRIES, "Push attempts that scheduled a retry");
        metrics::describe_counter!(
            SETS_DEAD_LETTERED,
            "SETs dead-lettered after the retry schedule"
        );
        metrics::describe_histogram!(
            PUSH_LATENCY,
            metrics::Unit::Seconds,
            "Duration of one push request"
        );
        metrics::describe_counter!(POLL_REQUESTS, "RFC 8936 poll requests answered");
        metrics::describe_gauge!(
            FAILING_PUSH_STREAMS,
            "Push streams whose last delivery attempt failed"
        );
    });
}

/// `n` events accepted.
pub(crate) fn events_ingested(n: usize) {
    metrics::counter!(EVENTS_INGESTED).increment(as_u64(n));
}

/// One `POST /events` request refused by the producer's allow lists.
pub(crate) fn event_refused(reason: crate::auth::publish::RefusalReason) {
    metrics::counter!(EVENTS_REFUSED, "reason" => reason.as_str()).increment(1);
}

/// One `POST /events` request met a live idempotency key: its first answer again (`replayed`),
/// or `key_reused` when the key was used for another body.
pub(crate) fn idempotent_replay(replayed: bool) {
    let outcome = if replayed { "replayed" } else { "key_reused" };
    metrics::counter!(IDEMPOTENT_REPLAYS, "outcome" => outcome).increment(1);
}

/// `n` SETs queued.
pub(crate) fn sets_enqueued(n: u64) {
    metrics::counter!(SETS_ENQUEUED).increment(n);
}

/// One push attempt ended with `outcome` after `elapsed` (`None` when nothing was sent).
pub(crate) fn push_attempt(outcome: PushOutcome, elapsed: Option<Duration>) {
    metrics::counter!(PUSH_ATTEMPTS, "outcome" => outcome.as_str()).increment(1);
    match outcome {
        PushOutcome::Retry => metrics::counter!(PUSH_RETRIES).increment(1),
        PushOutcome::DeadLetter => metrics::counter!(SETS_DEAD_LETTERED).increment(1),
        _ => {}
    }
    if let Some(elapsed) = elapsed {
        metrics::histogram!(PUSH_LATENCY).record(elapsed.as_secs_f64());
    }
}

/// `n` push streams are failing now.
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub(crate) fn failing_push_streams(n: usize) {
    metrics::gauge!(FAILING_PUSH_STREAMS).set(n as f64);
}

/// One poll answered.
pub(crate) fn poll_request() {
    metrics::counter!(POLL_REQUESTS).increment(1);
}

/// Sets the outbox gauges from the store's counts.
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub(crate) fn outbox(counts: &OutboxCounts) {
    for (state, n) in [
        ("waiting", counts.waiting),
        ("pending", counts.pending),
        ("held", counts.held),
        ("leased", counts.leased),
        ("failed", counts.failed),
        ("dead", counts.dead),
    ] {
        metrics::gauge!(OUTBOX_SETS, "state" => state).set(n as f64);
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_labels_are_stable() {
        let labels: Vec<&str> = [
            PushOutcome::Delivered,
            PushOutcome::Retry,
            PushOutcome::Failed,
            PushOutcome::Unauthorized,
            PushOutcome::DeadLetter,
        ]
        .iter()
        .map(|o| o.as_str())
        .collect();
        assert_eq!(
            labels,
            [
                "delivered",
                "retry",
                "failed",
                "unauthorized",
                "dead_letter"
            ]
        );
    }

    #[test]
    fn emitting_without_a_recorder_is_harmless() {
        describe();
        events_ingested(1);
        push_attempt(PushOutcome::Retry, Some(Duration::from_millis(3)));
        outbox(&OutboxCounts::default());
    }
}
