//! The scheduled health rounds of a set-up peer: read the stream's status, set the stream up
//! again if the transmitter lost it, and request verification
//! ([SSF 1.0 §8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)).
//!
//! Rounds follow the peer's `verification_interval`, but never come faster than the stream's
//! `min_verification_interval` (SSF-STREAM-08): a transmitter MAY answer faster verification
//! requests `429` (SSF-VERIFY-12), so asking sooner only produces errors. The schedule is read
//! from the injected [`Clock`](ssf_types::Clock): the next round is due one interval after the
//! last one (or after set-up), and the wait re-reads the clock at least every second.

use std::{sync::Arc, time::Duration};

use ssf_types::{StreamStatus, UnixMillis};
use tokio_util::sync::CancellationToken;

use super::{PeerHandle, SetupContext, desired_config, ensure_stream};
use crate::error::ReceiverError;

/// The longest single wait before the clock is read again.
const CLOCK_TICK: Duration = Duration::from_secs(1);

impl PeerHandle {
    /// The interval between health rounds (each requests verification): the peer's
    /// `verification_interval`, raised to the stream's `min_verification_interval` when that is
    /// longer (SSF-STREAM-08, SSF-VERIFY-12). `None` when the interval is zero (verification
    /// only at set-up).
    pub fn verification_interval(&self) -> Option<Duration> {
        let configured = self.config.verification_interval;
        if configured.is_zero() {
            return None;
        }
        let minimum = self
            .stream
            .borrow()
            .min_verification_interval
            .map_or(Duration::ZERO, Duration::from_secs);
        Some(configured.max(minimum))
    }

    /// When the next health round is due: one [`verification_interval`](Self::verification_interval)
    /// after the last round, the last verification request, or set-up, whichever is latest.
    /// `None` when rounds are off.
    pub fn next_health_round_at(&self) -> Option<UnixMillis> {
        let interval = self.verification_interval()?;
        let health = self.health();
        let last = [health.checked_at, health.verification_requested_at]
            .into_iter()
            .flatten()
            .fold(self.set_up_at, UnixMillis::max);
        Some(last.plus_millis(i64::try_from(interval.as_millis()).unwrap_or(i64::MAX)))
    }

    /// One health round: read the status; if the transmitter no longer knows the stream,
    /// find or create it again; then request verification. Paused or disabled streams are
    /// logged, not changed: that is the transmitter's or an operator's decision.
    pub async fn check_health(&self, ctx: &SetupContext) -> Result<(), ReceiverError> {
        let result = self.health_round(ctx).await;
        let now = ctx.clock.now();
        self.update_health(|h| {
            h.checked_at = Some(now);
            h.last_error = result.as_ref().err().map(ToString::to_string);
        });
        result
    }

    async fn health_round(&self, ctx: &SetupContext) -> Result<(), ReceiverError> {
        let stream_id = self.stream_id();
        let status = match &stream_id {
            Some(id) => self.client.status(id).await,
            None => Err(ReceiverError::InvalidRequest("no stream".to_owned())),
        };
        match status {
            Ok(status) => {
                if status.status != StreamStatus::Enabled {
                    tracing::warn!(peer = %self.name(), status = %status.status, reason = ?status.reason, "stream is not enabled");
                }
                self.update_health(|h| h.status = Some(status.status.clone()));
                ctx.book
                    .record_status(self.name(), &status.status, status.reason.as_deref())
                    .await?;
                if status.status == StreamStatus::Disabled {
                    return Ok(());
                }
            }
            Err(e)
                if e.status() == Some(404) || matches!(e, ReceiverError::ForeignStream { .. }) =>
            {
                tracing::warn!(peer = %self.name(), error = %e, "stream lost; setting it up again");
                let desired = desired_config(ctx, &self.config)?;
                let config = ensure_stream(&self.client, &desired, None).await?;
                ctx.book.record_stream(&self.config, &config).await?;
                self.stream.send_replace(config);
                ctx.register(self);
            }
            // No status endpoint: verification alone tells whether the stream works.
            Err(ReceiverError::MissingEndpoint(_)) => {}
            Err(e) => return Err(e),
        }
        self.request_verification(ctx.book.as_ref(), ctx.clock.as_ref())
            .await
            .map(|_| ())
    }
}

/// Runs [`PeerHandle::check_health`] whenever [`PeerHandle::next_health_round_at`] is due on
/// the context's clock, until `cancel` fires. Does nothing when the interval is zero.
pub async fn run_health_checks(
    handle: Arc<PeerHandle>,
    ctx: Arc<SetupContext>,
    cancel: CancellationToken,
) {
    loop {
        // Re-read every round: a re-created stream may name another minimum.
        let Some(due) = handle.next_health_round_at() else {
            return;
        };
        loop {
            let left = due.0.saturating_sub(ctx.clock.now().0);
            if left <= 0 {
                break;
            }
            let wait =
                Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)).min(CLOCK_TICK);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(e) = handle.check_health(&ctx).await {
            tracing::warn!(peer = %handle.name(), error = %e, "stream health check failed");
        }
    }
}
