//! Inactive streams ([SSF 1.0 §8.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.1)
//! `inactivity_timeout`, SSF-STREAM-10..12).
//!
//! A background sweep finds streams whose receiver has shown no eligible activity for their
//! `inactivity_timeout` (polls and management calls restart the counter, SSF-STREAM-11) and
//! pauses or disables them, as configured, through
//! [`control_events::change_status`]: the receiver gets
//! a stream-updated event before the stream stops (SSF-STREAM-12, SSF-EVT-13, SSF-EVT-15).

use std::time::Duration;

use futures::StreamExt as _;
use ssf_store::StreamStatus;

use crate::{config::InactivityAction, control_events, error::ApiError, state::AppState};

/// Streams handled in parallel by one sweep.
const PARALLEL: usize = 16;

/// The reason recorded with the status change and sent in the stream-updated event.
pub const INACTIVITY_REASON: &str = "inactivity_timeout expired without receiver activity";

/// Applies the configured action to every inactive stream once; returns how many changed.
pub async fn sweep_once(state: &AppState) -> Result<usize, ApiError> {
    let settings = &state.config.inactivity;
    let target = match settings.action {
        InactivityAction::None => return Ok(0),
        InactivityAction::Pause => StreamStatus::Paused,
        InactivityAction::Disable => StreamStatus::Disabled,
    };
    let streams = state.store.list_inactive_streams().await?;
    let changed = futures::stream::iter(streams)
        .filter(|s| {
            std::future::ready(
                s.status == StreamStatus::Enabled || target == StreamStatus::Disabled,
            )
        })
        .map(|stream| async move {
            let reason = Some(INACTIVITY_REASON.to_owned());
            let result = control_events::change_status(
                state,
                &stream,
                target,
                reason,
                settings.notify_grace,
            )
            .await;
            match result {
                Ok(Some(change)) if change.previous != target => true,
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(stream_id = %stream.stream_id, error = %e,
                        "could not apply the inactivity timeout");
                    false
                }
            }
        })
        .buffer_unordered(PARALLEL)
        .filter(|changed| std::future::ready(*changed))
        .count()
        .await;
    Ok(changed)
}

/// Sweeps every `sweep_interval` until `state.shutdown` fires.
pub(crate) async fn run(state: AppState) {
    let interval = state
        .config
        .inactivity
        .sweep_interval
        .max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(streams = n, "inactive streams stopped"),
            Err(e) => tracing::warn!(error = %e, "inactivity sweep failed"),
        }
    }
}
