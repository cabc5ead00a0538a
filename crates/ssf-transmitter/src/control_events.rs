//! The transmitter's own events: verification
//! ([SSF 1.0 §8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4))
//! and stream-updated ([SSF 1.0 §8.1.5](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.5)),
//! and status changes the transmitter makes on its own.
//!
//! Both events carry the stream's own subject, `{"format":"opaque","id":<stream_id>}`
//! (SSF-EVT-03, SSF-EVT-12), go through the outbox like every SET — behind the SETs queued
//! earlier, held while the stream is paused (SSF-VERIFY-13), nothing on a disabled stream
//! (D-11) — and are delivered in order with each other (one ordering key per stream).

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use ssf_store::{NewAuditEntry, NewSet, StatusChange, StreamRecord, StreamStatus};
use ssf_types::{
    Event, Jti, SubjectId,
    event::{StreamUpdated, Verification},
};
use tokio::sync::oneshot;

use crate::{
    error::ApiError,
    matching::Target,
    metrics,
    mint::{self, SetParts},
    state::AppState,
};

/// The ordering key of the SSF events of a stream: they are delivered in the order they were
/// made (SSF-STATUS-14) and independently of the subjects' SETs.
pub(crate) const STREAM_SUBJECT_KEY: &str = "$stream";

/// Signs an SSF event about `stream` itself.
fn mint_control(
    state: &AppState,
    stream: &StreamRecord,
    event: &Event,
) -> Result<NewSet, ApiError> {
    let target = Target::from_record(stream)
        .map_err(|e| ApiError::Internal(format!("stream configuration unreadable: {e}").into()))?;
    let now = state.clock.now();
    let txn = mint::new_txn(now);
    let sub_id = SubjectId::for_stream(&stream.stream_id);
    let parts = SetParts {
        aud: &target.aud,
        sub_id: &sub_id,
        event,
        txn: &txn,
        now,
    };
    let (jti, set_jwt) = state.minter.sign(parts)?;
    Ok(NewSet {
        stream_id: stream.stream_id.clone(),
        jti,
        subject_key: STREAM_SUBJECT_KEY.to_owned(),
        set_jwt,
    })
}

/// Queues one control SET; `None` if the store dropped it (stream disabled or gone).
async fn enqueue_one(state: &AppState, set: NewSet) -> Result<Option<Jti>, ApiError> {
    let jti = set.jti.clone();
    let report = state.store.enqueue(vec![set]).await?;
    metrics::sets_enqueued(report.queued);
    Ok((report.queued > 0).then_some(jti))
}

/// Queues a verification SET for `stream` (SSF-EVT-01..04). `verify_state` is the receiver's
/// `state`, echoed byte for byte (SSF-VERIFY-04); `None` for a verification the transmitter
/// starts itself, which carries no `state` (SSF-VERIFY-05). Returns the SET's `jti`, or `None`
/// when the stream is disabled and nothing is sent (D-11). On a paused stream the SET is held
/// and delivered once the stream is enabled (SSF-VERIFY-13).
pub async fn enqueue_verification(
    state: &AppState,
    stream: &StreamRecord,
    verify_state: Option<String>,
) -> Result<Option<Jti>, ApiError> {
    if stream.status == StreamStatus::Disabled {
        return Ok(None);
    }
    let event = Event::Verification(Verification::new(verify_state));
    let set = mint_control(state, stream, &event)?;
    enqueue_one(state, set).await
}

/// Queues a stream-updated SET announcing `status` (SSF-EVT-10..12). Call it while the stream
/// can still transmit: before pausing or disabling it, after enabling it (SSF-EVT-13/14);
/// [`change_status`] does both in the right order. `None` if the stream is disabled.
pub(crate) async fn enqueue_stream_updated(
    state: &AppState,
    stream: &StreamRecord,
    status: StreamStatus,
    reason: Option<String>,
) -> Result<Option<Jti>, ApiError> {
    let set = mint_stream_updated(state, stream, status, reason)?;
    enqueue_one(state, set).await
}

fn mint_stream_updated(
    state: &AppState,
    stream: &StreamRecord,
    status: StreamStatus,
    reason: Option<String>,
) -> Result<NewSet, ApiError> {
    let status = ssf_types::StreamStatus::from(status.as_str());
    mint_control(
        state,
        stream,
        &Event::StreamUpdated(StreamUpdated::new(status, reason)),
    )
}

/// A status change the transmitter makes on its own (inactivity, an administrator), with the
/// stream-updated event SSF 1.0 §8.1.2 requires (SSF-STATUS-16):
///
/// - `enabled` → `paused`/`disabled`: the event is queued first, and the status changes once it
///   has left the queue (pushed with 202, or handed out by a poll) or after `grace`, so the
///   receiver hears it **before** the stream stops (SSF-EVT-13). If the grace runs out, a paused
///   stream still delivers the event once enabled again; a disabled one drops it.
/// - `paused`/`disabled` → `enabled`: the status changes, then the event is queued (SSF-EVT-14).
/// - between `paused` and `disabled`: nothing can be transmitted, so no event.
///
/// Setting the current status only updates the reason, without an event (D-10). `None` if the
/// stream no longer exists.
pub async fn change_status(
    state: &AppState,
    stream: &StreamRecord,
    status: StreamStatus,
    reason: Option<String>,
    grace: Duration,
) -> Result<Option<StatusChange>, ApiError> {
    let from = stream.status;
    if from == StreamStatus::Enabled && status != StreamStatus::Enabled {
        let set = mint_stream_updated(state, stream, status, reason.clone())?;
        let sent = state.deliveries.watch(set.jti.clone());
        if enqueue_one(state, set).await?.is_some() {
            tokio::select! {
                _ = sent => {}
                () = tokio::time::sleep(grace) => tracing::warn!(
                    stream_id = %stream.stream_id, %status,
                    "stream-updated event not delivered within the grace period; changing status anyway"
                ),
                () = state.shutdown.cancelled() => {}
            }
        }
    }
    let change = state
        .store
        .set_stream_status(&stream.client_id, &stream.stream_id, status, reason.clone())
        .await?;
    state.matcher.invalidate();
    let Some(change) = change else {
        return Ok(None);
    };
    if change.previous != StreamStatus::Enabled && status == StreamStatus::Enabled {
        enqueue_stream_updated(state, &change.stream, status, reason.clone()).await?;
    }
    if change.previous != status {
        let detail = serde_json::json!({
            "from": change.previous.as_str(), "to": status.as_str(), "reason": reason,
            "dropped": change.dropped,
        });
        let entry = NewAuditEntry {
            actor: "transmitter".to_owned(),
            action: "stream.status".to_owned(),
            stream_id: Some(stream.stream_id.clone()),
            detail,
        };
        if let Err(e) = state.store.append_audit(entry).await {
            tracing::warn!(error = %e, "audit entry for a status change not written");
        }
        tracing::info!(stream_id = %stream.stream_id, from = %change.previous, to = %status,
            "transmitter changed a stream's status");
    }
    Ok(Some(change))
}

/// In-process notices that particular SETs have left the queue: delivered or refused by push,
/// or handed out by a poll. [`change_status`] waits on them; the push workers and the poll
/// endpoint report. Costs nothing while nobody waits.
#[derive(Default)]
pub(crate) struct DeliveryWatch {
    waiters: Mutex<HashMap<Jti, Vec<oneshot::Sender<()>>>>,
    count: AtomicUsize,
}

impl fmt::Debug for DeliveryWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryWatch")
            .field("waiting", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl DeliveryWatch {
    /// Resolves when `jti` is reported finished. Register before enqueueing.
    pub(crate) fn watch(&self, jti: Jti) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        waiters.entry(jti).or_default().push(tx);
        self.count.store(waiters.len(), Ordering::Relaxed);
        rx
    }

    /// Reports SETs that left the queue.
    pub(crate) fn finished<'a>(&self, jtis: impl IntoIterator<Item = &'a Jti>) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for jti in jtis {
            for tx in waiters.remove(jti).unwrap_or_default() {
                let _ = tx.send(());
            }
        }
        // Forget waiters that gave up.
        waiters.retain(|_, txs| txs.iter().any(|tx| !tx.is_closed()));
        self.count.store(waiters.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watch_resolves_on_finish_and_forgets_abandoned_waiters() {
        let watch = DeliveryWatch::default();
        let a = watch.watch(Jti::new("a"));
        let b = watch.watch(Jti::new("b"));
        drop(b);
        watch.finished([&Jti::new("a")]);
        assert!(a.await.is_ok());
        assert_eq!(watch.count.load(Ordering::Relaxed), 0);
        watch.finished([&Jti::new("zzz")]);
    }
}
