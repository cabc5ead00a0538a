//! Push delivery ([RFC 8935](https://www.rfc-editor.org/rfc/rfc8935)) from the durable outbox.
//!
//! A pool of workers ([`worker`]) claims due SETs of enabled push streams in batches under a
//! lease ([`claim_push`](ssf_store::TransmitterStore::claim_push)), POSTs each one
//! ([`attempt`]) and records every outcome of the batch in one transaction
//! ([`record_outcomes`](ssf_store::TransmitterStore::record_outcomes)):
//!
//! | answer | what happens |
//! |---|---|
//! | `202` (any 2xx with `accept_any_2xx`) | delivered, row deleted (PUSH-18) |
//! | `400` with `{"err","description"}` | parked as failed with the reason, never retried (PUSH-17) |
//! | `401`/`403` | configuration failure: logged as an error, retried at most `auth_failure_attempts` times, then failed (D-08) |
//! | `5xx`, `408`, `429`, timeout, connection failure | retried on the schedule with jitter; `Retry-After` honoured up to `retry.max_retry_after` (PUSH-16) |
//! | schedule exhausted | dead-lettered (kept for inspection and replay) |
//! | other `4xx`, `3xx` (never followed), refused destination | failed |
//!
//! Failures are logged per stream at `WARN`, rate-limited, and the streams that keep failing show
//! in `/healthz` and `ssf_push_failing_streams` ([`health`]).
//!
//! Retries are durable: `next_attempt_at` is in the store, so a restart loses nothing; a worker
//! that dies mid-delivery loses only its lease, and the reaper hands the rows to the next worker.
//! Workers wake the moment a SET is queued (the store's wake-ups), else look again every
//! `idle_poll_interval`, and stop after their current batch when `state.shutdown` fires.

pub mod attempt;
pub mod health;
pub mod worker;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssf_http::{ClientConfig, RetryConfig};

/// Push delivery settings: `[transmitter.push]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PushSettings {
    /// Worker tasks claiming and delivering. Default 4.
    pub workers: usize,
    /// SETs claimed per batch. Default 64.
    pub batch_size: u32,
    /// Concurrent requests per worker. Default 16.
    pub concurrency: usize,
    /// How long a claim is held before the reaper may hand the SET to another worker; must be
    /// longer than `http.request_timeout`. Default 60 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub lease: Duration,
    /// How often an idle worker looks for due SETs when no wake-up came (retries coming due,
    /// other nodes' writes). Default 1 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub idle_poll_interval: Duration,
    /// Count any 2xx as delivered, not only 202 (PUSH-18). Default false.
    pub accept_any_2xx: bool,
    /// Attempts a SET gets while the receiver answers 401/403 before it is failed. Default 3.
    pub auth_failure_attempts: u32,
    /// The retry schedule, jitter and `Retry-After` cap (PUSH-16).
    pub retry: RetryConfig,
    /// A stream whose pushes keep failing is logged at `WARN` at its first failure and then at
    /// most this often ([`health`], D-TX-20). Default 60 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub failure_log_interval: Duration,
    /// The outbound HTTP client: timeouts, SSRF guard and its allow-list (PUSH-05, PUSH-20).
    pub http: ClientConfig,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            batch_size: 64,
            concurrency: 16,
            lease: Duration::from_secs(60),
            idle_poll_interval: Duration::from_secs(1),
            accept_any_2xx: false,
            auth_failure_attempts: 3,
            retry: RetryConfig::default(),
            failure_log_interval: Duration::from_secs(60),
            http: ClientConfig::default(),
        }
    }
}

impl PushSettings {
    /// Checks the settings that would make delivery misbehave.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 || self.batch_size == 0 || self.concurrency == 0 {
            return Err(
                "push.workers, push.batch_size and push.concurrency must be at least 1".into(),
            );
        }
        if self.lease <= self.http.request_timeout {
            return Err(format!(
                "push.lease ({:?}) must be longer than push.http.request_timeout ({:?}), or a \
                 slow receiver would get the same SET from two workers",
                self.lease, self.http.request_timeout
            ));
        }
        if self.idle_poll_interval.is_zero() {
            return Err("push.idle_poll_interval must be above zero".into());
        }
        Ok(())
    }

    /// How often expired leases are returned to the queue: a quarter of the lease, between
    /// 250 ms and 30 s.
    pub fn reap_interval(&self) -> Duration {
        (self.lease / 4).clamp(Duration::from_millis(250), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_lease_must_exceed_the_timeout() {
        let mut s = PushSettings::default();
        assert!(s.validate().is_ok());
        s.lease = s.http.request_timeout;
        assert!(s.validate().unwrap_err().contains("lease"));
        s.lease = Duration::from_secs(2);
        s.http.request_timeout = Duration::from_secs(1);
        assert_eq!(s.reap_interval(), Duration::from_millis(500));
    }
}
