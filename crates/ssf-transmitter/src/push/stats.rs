//! Per-stream delivery figures of this node since it started, push and poll, for operators
//! (the console's stream view): SETs delivered, when last, consecutive failures and the last
//! error. Kept in memory by [`DeliveryStats`] (each node of a cluster counts what it
//! delivered; a restart starts from zero); the durable truth is the outbox
//! ([`outbox_counts`](ssf_store::TransmitterStore::outbox_counts)).
//!
//! - **Push**: a SET is delivered when the receiver answered `2xx` (as the push policy accepts
//!   it); each failed attempt (an error answer, a timeout, a refused destination, a dead
//!   letter) counts as a failure. A SET put back because its stream was paused or turned to
//!   poll is neither.
//! - **Poll**: a SET is delivered when the receiver acknowledges it (`ack`); a SET it reports in
//!   `setErrs` counts as a failure, with its `err` as the last error. Handing SETs out is not
//!   delivery.
//!
//! A delivery resets the consecutive failures; the last error stays for reference (its time
//! says whether it came before the last delivery).

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use ssf_store::{DeliveryError, DeliveryOutcome};
use ssf_types::{StreamId, UnixMillis};

use super::health::NOT_PUSHING;

/// One failed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryFailure {
    /// When it was recorded.
    pub at: UnixMillis,
    /// What failed: `http_503`, `transport_error`, an RFC 8935 `err` code (push `400` or poll
    /// `setErrs`), ...
    pub code: String,
    /// Its description, if any (the receiver's words or the transport error).
    pub description: Option<String>,
}

/// The figures of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamDelivery {
    /// SETs delivered since this node started (push `2xx`, poll acknowledged).
    pub delivered: u64,
    /// When the last one was delivered.
    pub last_delivered_at: Option<UnixMillis>,
    /// Failed attempts (push) or reported SETs (poll `setErrs`) since the last delivery.
    pub consecutive_failures: u32,
    /// Failed attempts and reported SETs since this node started.
    pub failures: u64,
    /// The last failure, if any ever happened (also after a later delivery).
    pub last_error: Option<DeliveryFailure>,
}

/// The delivery figures of every stream this node delivered to, shared by its push workers
/// and poll endpoint; reach it with [`AppState::delivery_stats`](crate::AppState::delivery_stats).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    streams: Mutex<BTreeMap<StreamId, StreamDelivery>>,
}

impl DeliveryStats {
    /// No figures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one push outcome of a SET of `stream_id` into account.
    pub fn record_push(&self, stream_id: &StreamId, outcome: &DeliveryOutcome, now: UnixMillis) {
        let error = match outcome {
            DeliveryOutcome::Delivered(_) => return self.delivered(stream_id, 1, now),
            DeliveryOutcome::Retry { error, .. } if error.code == NOT_PUSHING => return,
            DeliveryOutcome::Retry { error, .. }
            | DeliveryOutcome::Failed { error, .. }
            | DeliveryOutcome::DeadLetter { error, .. } => error,
        };
        self.failed(stream_id, 1, error, now);
    }

    /// Takes one poll of `stream_id` into account: `acked` SETs acknowledged, and the SETs the
    /// receiver reported in `setErrs` (one `err` and description each).
    pub fn record_poll<'a>(
        &self,
        stream_id: &StreamId,
        acked: u64,
        reported: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: UnixMillis,
    ) {
        if acked > 0 {
            self.delivered(stream_id, acked, now);
        }
        for (err, description) in reported {
            let error = DeliveryError {
                code: err.to_owned(),
                description: (!description.is_empty()).then(|| description.to_owned()),
            };
            self.failed(stream_id, 1, &error, now);
        }
    }

    /// The figures of `stream_id` (all zero when nothing was delivered to it yet).
    pub fn stream(&self, stream_id: &StreamId) -> StreamDelivery {
        self.lock().get(stream_id).cloned().unwrap_or_default()
    }

    /// Every stream with figures, in `stream_id` order.
    pub fn all(&self) -> Vec<(StreamId, StreamDelivery)> {
        self.lock()
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    }

    fn delivered(&self, stream_id: &StreamId, n: u64, now: UnixMillis) {
        let mut streams = self.lock();
        let entry = streams.entry(stream_id.clone()).or_default();
        entry.delivered = entry.delivered.saturating_add(n);
        entry.last_delivered_at = Some(now);
        entry.consecutive_failures = 0;
    }

    fn failed(&self, stream_id: &StreamId, n: u32, error: &DeliveryError, now: UnixMillis) {
        let mut streams = self.lock();
        let entry = streams.entry(stream_id.clone()).or_default();
        entry.consecutive_failures = entry.consecutive_failures.saturating_add(n);
        entry.failures = entry.failures.saturating_add(u64::from(n));
        entry.last_error = Some(DeliveryFailure {
            at: now,
            code: error.code.clone(),
            description: error.description.clone(),
        });
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<StreamId, StreamDelivery>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use ssf_store::OutboxId;

    use super::*;

    fn error(code: &str) -> DeliveryError {
        DeliveryError {
            code: code.to_owned(),
            description: Some("Service Unavailable".into()),
        }
    }

    #[test]
    fn push_deliveries_and_failures_are_counted_per_stream() {
        let stats = DeliveryStats::new();
        let (a, b) = (StreamId::new("a"), StreamId::new("b"));
        let retry = |code: &str| DeliveryOutcome::Retry {
            id: OutboxId(1),
            next_attempt_at: UnixMillis(9),
            error: error(code),
        };
        stats.record_push(&a, &DeliveryOutcome::Delivered(OutboxId(1)), UnixMillis(1));
        stats.record_push(&a, &retry("http_503"), UnixMillis(2));
        stats.record_push(&a, &retry(NOT_PUSHING), UnixMillis(3));
        let dead = DeliveryOutcome::DeadLetter {
            id: OutboxId(2),
            error: error("transport_error"),
        };
        stats.record_push(&a, &dead, UnixMillis(4));
        let s = stats.stream(&a);
        assert_eq!(
            (
                s.delivered,
                s.last_delivered_at,
                s.consecutive_failures,
                s.failures
            ),
            (1, Some(UnixMillis(1)), 2, 2),
            "a paused stream's SET put back is no failure"
        );
        let last = s.last_error.unwrap();
        assert_eq!(
            (last.at, last.code.as_str()),
            (UnixMillis(4), "transport_error")
        );

        stats.record_push(&a, &DeliveryOutcome::Delivered(OutboxId(3)), UnixMillis(5));
        let s = stats.stream(&a);
        assert_eq!((s.delivered, s.consecutive_failures, s.failures), (2, 0, 2));
        assert!(s.last_error.is_some(), "kept for reference");
        assert_eq!(stats.stream(&b), StreamDelivery::default());
        assert_eq!(stats.all().len(), 1);
    }

    #[test]
    fn poll_acks_deliver_and_set_errs_fail() {
        let stats = DeliveryStats::new();
        let s1 = StreamId::new("p");
        stats.record_poll(&s1, 3, [], UnixMillis(10));
        stats.record_poll(
            &s1,
            0,
            [("invalid_key", "unknown kid"), ("invalid_issuer", "")],
            UnixMillis(11),
        );
        let s = stats.stream(&s1);
        assert_eq!(
            (s.delivered, s.last_delivered_at),
            (3, Some(UnixMillis(10)))
        );
        assert_eq!((s.consecutive_failures, s.failures), (2, 2));
        let last = s.last_error.unwrap();
        assert_eq!(
            (last.code.as_str(), last.description),
            ("invalid_issuer", None)
        );
        stats.record_poll(&s1, 1, [], UnixMillis(12));
        assert_eq!(stats.stream(&s1).consecutive_failures, 0);
    }
}
