//! The transmitter's background tasks: push workers, the lease reaper (which also purges expired
//! idempotency keys), the inactivity sweep,
//! the outbox metrics sampler and, on a store shared with other nodes, the follower of their
//! stream and subject changes. [`Transmitter::start`] spawns them; they stop when
//! `state.shutdown` fires (push workers finish and record their current batch first).

use std::time::Duration;

use ssf_store::{Wake, WorkSubscription};
use ssf_types::UnixMillis;
use tokio::task::JoinHandle;

use crate::{
    inactivity, metrics,
    push::worker::{PushContext, Pusher},
    state::AppState,
};

/// How often the outbox gauges are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(10);

/// How often expired idempotency keys are purged, in milliseconds of the injected clock.
const PURGE_INTERVAL_MS: i64 = 60_000;

/// The longest single wait of the configuration follower; it only bounds one `wait` call (the
/// follower waits again), shutdown ends it at once.
const CONFIG_WAIT: Duration = Duration::from_secs(3600);

/// Starts the transmitter's background work.
#[derive(Debug)]
pub struct Transmitter;

/// The running background tasks.
#[derive(Debug)]
#[must_use = "dropping the handles detaches the tasks; keep them to join or abort"]
pub struct Workers {
    /// Every spawned task.
    pub handles: Vec<JoinHandle<()>>,
}

impl Transmitter {
    /// Spawns `push.workers` push workers, the lease reaper, the inactivity sweep, the metrics
    /// sampler and, when the store reports other nodes' changes
    /// ([`config_changes`](ssf_store::TransmitterStore::config_changes)), the task that drops the
    /// matcher's caches on each of them, on the current Tokio runtime. Fails if the push settings
    /// are unusable.
    pub fn start(state: &AppState) -> Result<Workers, String> {
        metrics::describe();
        let cx = PushContext::of(state);
        let pusher = Pusher::new(cx.clone())?;
        let node = uuid::Uuid::new_v4().simple().to_string();
        let mut handles = Vec::new();
        for i in 0..state.config.push.workers {
            let owner = format!("push-{}-{i}", &node[..12]);
            handles.push(tokio::spawn(std::sync::Arc::clone(&pusher).run(owner)));
        }
        handles.push(tokio::spawn(reaper(cx.clone())));
        handles.push(tokio::spawn(inactivity::run(state.clone())));
        handles.push(tokio::spawn(sampler(cx)));
        // Subscribed before the caches warm up, so a change committed meanwhile is not missed.
        if let Some(changes) = state.store.config_changes() {
            handles.push(tokio::spawn(follow_config(state.clone(), changes)));
        }
        let warm = state.clone();
        handles.push(tokio::spawn(async move {
            if let Err(e) = warm.matcher.warm(warm.store.as_ref()).await {
                tracing::warn!(error = %e, "loading the stream cache failed; the first event retries");
            }
        }));
        Ok(Workers { handles })
    }
}

impl Workers {
    /// Waits for every task to end (after `state.shutdown` fired).
    pub async fn join(self) {
        for handle in self.handles {
            if let Err(e) = handle.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "a transmitter task panicked");
            }
        }
    }

    /// Stops every task at once, wherever it is; unrecorded deliveries are retried after their
    /// lease ends. For tests that simulate a crash, and for a forced stop.
    pub fn abort(&self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Returns SETs whose lease expired (a crashed worker, an unacknowledged poll) to the queue,
/// and at most every minute of the injected clock deletes expired idempotency
/// keys of the ingest endpoint (D-TX-16).
async fn reaper(cx: PushContext) {
    let interval = cx.settings.reap_interval();
    let mut last_purge: Option<UnixMillis> = None;
    loop {
        tokio::select! {
            () = cx.shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        match cx.store.reap_expired_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sets = n, "expired leases returned to the queue"),
            Err(e) => tracing::warn!(error = %e, "reaping expired leases failed"),
        }
        let now = cx.clock.now();
        if last_purge.is_none_or(|at| now.0.saturating_sub(at.0) >= PURGE_INTERVAL_MS) {
            last_purge = Some(now);
            match cx.store.purge_idempotency_keys().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(keys = n, "expired idempotency keys purged"),
                Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
            }
        }
    }
}

/// Drops the matcher's stream cache and complex-subject index whenever another node changed a
/// stream or a subject, so this node routes by the change at once (see [`crate::matching`]).
async fn follow_config(state: AppState, mut changes: WorkSubscription) {
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => break,
            wake = changes.wait(CONFIG_WAIT) => {
                if wake == Wake::Signalled {
                    tracing::debug!("streams or subjects changed on another node; reloading caches");
                    state.matcher.invalidate_all();
                }
            }
        }
    }
}

/// Samples the outbox counts into the `ssf_outbox_sets` gauge.
async fn sampler(cx: PushContext) {
    loop {
        match cx.store.outbox_counts(None).await {
            Ok(counts) => metrics::outbox(&counts),
            Err(e) => tracing::debug!(error = %e, "outbox counts unavailable"),
        }
        tokio::select! {
            () = cx.shutdown.cancelled() => break,
            () = tokio::time::sleep(METRICS_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{TransmitterConfig, config::InactivityAction};

    /// The delivery-side settings as an operator writes them (every key shown at its default
    /// except where noted).
    const EXAMPLE: &str = r#"
        [ingest]
        max_batch = 1000
        max_body_bytes = 4194304
        stream_cache_ttl = "1s"
        subject_index_reload = "5m"
        idempotency_window = "24h"

        [push]
        workers = 8                       # not the default
        batch_size = 64
        concurrency = 16
        lease = "60s"
        idle_poll_interval = "1s"
        accept_any_2xx = false
        auth_failure_attempts = 3

        [push.retry]
        delays = ["1s", "5s", "30s", "2m", "10m", "1h", "6h", "24h"]
        jitter_percent = 20
        max_retry_after = "1h"

        [push.http]
        request_timeout = "10s"
        allowed_networks = ["10.20.0.0/16"] # not the default

        [poll]
        long_poll_wait = "25s"
        max_events_cap = 100
        redelivery_after = "60s"

        [inactivity]
        action = "disable"                # not the default
        sweep_interval = "60s"
        notify_grace = "30s"
    "#;

    #[test]
    fn delivery_settings_read_from_toml() {
        let config: TransmitterConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(config.push.workers, 8);
        assert_eq!(config.push.retry.delays.len(), 8);
        assert_eq!(config.push.http.allowed_networks.len(), 1);
        assert_eq!(config.poll.long_poll_wait, Duration::from_secs(25));
        assert_eq!(config.ingest.subject_index_reload, Duration::from_secs(300));
        assert_eq!(
            config.ingest.idempotency_window,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(config.inactivity.action, InactivityAction::Disable);
        assert!(config.push.validate().is_ok());
        assert!(
            toml::from_str::<TransmitterConfig>("[push]\nworker = 3").is_err(),
            "typos refused"
        );
    }
}
