//! Metric names of the receiver's server side, recorded through the [`metrics`] facade (install
//! any recorder, e.g. the Prometheus exporter, in the binary).
//!
//! | Name | Kind | Labels | Meaning |
//! |---|---|---|---|
//! | `ssf_receiver_sets_total` | counter | `result` (`applied`, `duplicate`, `rejected`, `unavailable`), `err` (RFC 8935 code or empty) | SETs judged, push and poll |
//! | `ssf_receiver_dedupe_hits_total` | counter | | redelivered SETs answered without re-applying (SSF-RXV-13) |
//! | `ssf_receiver_dedupe_races_total` | counter | | SETs another receiver node recorded between this node's dedupe check and its commit (answered as duplicates, no reload; D-RX-13) |
//! | `ssf_receiver_discarded_total` | counter | `reason` | valid SETs recorded but not acted on (D-05, D-06, D-21) |
//! | `ssf_receiver_apply_seconds` | histogram | | from queueing a valid SET to its durable commit |
//! | `ssf_receiver_apply_batch_size` | histogram | | SETs per group commit |
//! | `ssf_receiver_event_age_seconds` | histogram | | now − `iat` of accepted SETs |
//! | `ssf_receiver_purged_total` | counter | | (`iss`, `jti`) pairs forgotten after the retention window |
//! | `ssf_receiver_state_followed_total` | counter | | state writes of other receiver nodes applied to this node's memory |
//! | `ssf_receiver_state_reloads_total` | counter | `reason` (`failed_commit`, `log_truncated`) | full reloads of the state from the store |
//! | `ssf_receiver_peer_setup_failures_total` | counter | `peer`, `reason` (see [`SetupFailure`](crate::peers::SetupFailure)) | failed set-up attempts of a transmitter peer (each is retried) |
//! | `ssf_receiver_peer_up` | gauge | `peer` | 1 once the peer's stream is set up, 0 while its set-up runs or retries |
//!
//! The client side adds `ssf_receiver_poll_requests_total{peer,result}`,
//! `ssf_receiver_poll_sets_total{peer,result}` ([`poller`](crate::poller)) and
//! `ssf_receiver_jwks_fetches_total{result}` ([`jwks`](crate::jwks)).

/// Counter of judged SETs, labels `result` and `err`.
pub const SETS_TOTAL: &str = "ssf_receiver_sets_total";
/// Counter of duplicates answered without re-applying.
pub const DEDUPE_HITS_TOTAL: &str = "ssf_receiver_dedupe_hits_total";
/// Counter of SETs another node recorded first (a lost dedupe race).
pub const DEDUPE_RACES_TOTAL: &str = "ssf_receiver_dedupe_races_total";
/// Counter of valid SETs not acted on, label `reason`.
pub const DISCARDED_TOTAL: &str = "ssf_receiver_discarded_total";
/// Histogram: queueing to durable commit, seconds.
pub const APPLY_SECONDS: &str = "ssf_receiver_apply_seconds";
/// Histogram: SETs per group commit.
pub const APPLY_BATCH_SIZE: &str = "ssf_receiver_apply_batch_size";
/// Histogram: now − `iat`, seconds.
pub const EVENT_AGE_SECONDS: &str = "ssf_receiver_event_age_seconds";
/// Counter of purged (`iss`, `jti`) pairs.
pub const PURGED_TOTAL: &str = "ssf_receiver_purged_total";

/// Counter of other nodes' state writes applied to memory.
pub const STATE_FOLLOWED_TOTAL: &str = "ssf_receiver_state_followed_total";
/// Counter of full state reloads, label `reason`.
pub const STATE_RELOADS_TOTAL: &str = "ssf_receiver_state_reloads_total";

/// Counter of failed peer set-up attempts, labels `peer` and `reason`.
pub const PEER_SETUP_FAILURES_TOTAL: &str = "ssf_receiver_peer_setup_failures_total";
/// Gauge: 1 when the peer's stream is set up, label `peer`.
pub const PEER_UP: &str = "ssf_receiver_peer_up";

/// Registers descriptions of the metrics above with the installed recorder.
pub fn describe() {
    ::metrics::describe_counter!(SETS_TOTAL, "SETs judged by the receiver, by result and err");
    ::metrics::describe_counter!(
        DEDUPE_HITS_TOTAL,
        "Redelivered SETs acknowledged again, not re-applied"
    );
    ::metrics::describe_counter!(
        DEDUPE_RACES_TOTAL,
        "SETs another receiver node recorded between this node's dedupe check and its commit"
    );
    ::metrics::describe_counter!(
        DISCARDED_TOTAL,
        "Valid SETs recorded but not acted on, by reason"
    );
    ::metrics::describe_histogram!(
        APPLY_SECONDS,
        ::metrics::Unit::Seconds,
        "Time from queueing a valid SET to its durable commit"
    );
    ::metrics::describe_histogram!(APPLY_BATCH_SIZE, "SETs per group commit");
    ::metrics::describe_histogram!(
        EVENT_AGE_SECONDS,
        ::metrics::Unit::Seconds,
        "Age of accepted SETs at receipt (now - iat)"
    );
    ::metrics::describe_counter!(
        PURGED_TOTAL,
        "Recorded (iss, jti) pairs purged after retention"
    );
    ::metrics::describe_counter!(
        STATE_FOLLOWED_TOTAL,
        "State writes of other receiver nodes applied to this node's memory"
    );
    ::metrics::describe_counter!(
        STATE_RELOADS_TOTAL,
        "Full reloads of the receiver state from the store, by reason"
    );
    ::metrics::describe_counter!(
        PEER_SETUP_FAILURES_TOTAL,
        "Failed set-up attempts of a transmitter peer, by peer and reason (each is retried)"
    );
    ::metrics::describe_gauge!(
        PEER_UP,
        "1 when the transmitter peer's stream is set up, 0 while set-up runs or retries"
    );
}

/// Counts one judged SET.
pub(crate) fn count_set(result: &'static str, err: &str) {
    ::metrics::counter!(SETS_TOTAL, "result" => result, "err" => err.to_owned()).increment(1);
}
