//! The settings of event delivery: `[transmitter.ingest]` ([`IngestSettings`]),
//! `[transmitter.push]` ([`PushSettings`]) and `[transmitter.poll]` ([`PollSettings`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssf_http::{ClientConfig, RetryConfig};

/// Ingest settings: `[transmitter.ingest]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct IngestSettings {
    /// Most events in one batch request. Default 1000.
    pub max_batch: usize,
    /// Largest `POST /events` body in bytes (`413` beyond). Default 4 MiB.
    pub max_body_bytes: usize,
    /// Stream records are re-read at least this often. Changes made through this process's
    /// management API apply at once ([`Matcher::invalidate`](crate::matching::Matcher::invalidate)),
    /// and so do changes made through another node on the same PostgreSQL database (announced
    /// with `NOTIFY`, `Matcher::invalidate_all`);
    /// the TTL is the safety net behind both. Default 1 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub stream_cache_ttl: Duration,
    /// The in-memory index of complex added/removed subjects is fully reloaded this often. It is
    /// updated at once by this process's subject calls, and reloaded at once after another
    /// node on the same PostgreSQL database changed a stream or subject; this period is the
    /// safety net behind both. Default 5 min.
    #[serde(with = "ssf_http::duration_serde")]
    pub subject_index_reload: Duration,
    /// How long an `Idempotency-Key` is remembered (D-TX-16): a retry within the window gets
    /// the first answer again and queues nothing; after it the key is free and the record is
    /// purged by the lease reaper. Default 24 h.
    #[serde(with = "ssf_http::duration_serde")]
    pub idempotency_window: Duration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            max_body_bytes: 4 * 1024 * 1024,
            stream_cache_ttl: Duration::from_secs(1),
            subject_index_reload: Duration::from_secs(300),
            idempotency_window: Duration::from_secs(24 * 3600),
        }
    }
}

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
    /// most this often ([`PushHealth`](crate::PushHealth), D-TX-20). Default 60 s.
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

/// Poll delivery settings: `[transmitter.poll]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PollSettings {
    /// The longest a long poll waits for a SET (POLL-07; D-14: below proxy idle timeouts).
    /// Default 25 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub long_poll_wait: Duration,
    /// The most SETs one answer carries, also when `maxEvents` is omitted or larger (D-17).
    /// Default 100.
    pub max_events_cap: u32,
    /// SETs handed out and not acknowledged within this time are returned again (POLL-12).
    /// Default 60 s.
    #[serde(with = "ssf_http::duration_serde")]
    pub redelivery_after: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            long_poll_wait: Duration::from_secs(25),
            max_events_cap: 100,
            redelivery_after: Duration::from_secs(60),
        }
    }
}

impl PollSettings {
    /// The poll route's timeout, which never cuts a long poll short: the wait plus 15 s. The
    /// handler applies it itself; a router-wide timeout layer must not be shorter on this route.
    pub fn route_timeout(&self) -> Duration {
        self.long_poll_wait + Duration::from_secs(15)
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
