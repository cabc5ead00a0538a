//! Durable de-duplication and application of accepted SETs, group-committed.
//!
//! One apply task owns the write path. Callers ([`Applier::apply`]) queue a [`ReceivedSet`] with
//! a reply channel; the task takes whatever is queued (up to [`ApplyOptions::max_batch`]) and:
//! 1. asks the store which (`iss`, `jti`) pairs are already recorded: those are
//!    [`ApplyOutcome::Duplicate`], answered `202` / acknowledged again and never re-applied
//!    (RFC 8935 §2, RFC 8936 §2.4; checklist SSF-RXV-13, PUSH-14, POLL-13). A pair repeated
//!    within the batch gets its first occurrence's fate;
//! 2. for each new SET, in order, asks the [`EventHandler`] to plan its state changes and
//!    commits them to the handler's memory at once, so later SETs of the batch are planned on top
//!    of them (see [`EventHandler`] for why, and how a failed transaction is undone: memory is
//!    reloaded from the store);
//! 3. stores the whole batch in ONE transaction ([`ReceiverStore::apply_batch`]): every new
//!    (`iss`, `jti`, `received_at`), every state write, audit entries, stream-status and
//!    verification bookkeeping;
//! 4. only then answers each caller. If the transaction fails, every caller gets an
//!    [`ReceiverError`] (push answers `503`, the poller does not acknowledge), so the transmitter
//!    delivers again and nothing is half-applied.
//!
//! Crash safety follows: a SET is acknowledged only after its commit, so a crash before the
//! answer loses nothing (it is redelivered), and a redelivery after a crash finds its `jti` and
//! is not applied twice. (`iss`, `jti`) pairs are kept for [`ApplyOptions::retention`] (default
//! 7 days, SSF-RXV-20), which must exceed the transmitters' retry horizon; a purge task forgets
//! older ones.
//!
//! Audit: every new SET the handler planned for gets one audit row in the same transaction (the
//! handler's [`Plan::audit`](crate::handler::Plan::audit): for the enforcement engine the event
//! type, subject, rules, outcome, `jti`, `iss`, `txn` and the number of effects), `set.applied`
//! when it changed something and `set.no_change` when not (e.g. an older event than the state
//! holds); discarded SETs get `set.discarded`. Duplicates get none. Audit rows are kept for
//! [`ApplyOptions::audit_retention`] (default 90 days), purged apart from the (`iss`, `jti`)
//! pairs (decision D-RX-04); query them with
//! [`ReceiverStore::query_audit`].
//!
//! Several nodes: receiver nodes sharing one PostgreSQL share the dedupe set and the stored
//! state, and each node's task also applies to its handler's memory the writes the other nodes
//! committed (read from the store's state log when notified, and every
//! [`ApplyOptions::follow_interval`]), so a decision on any node reflects a SET applied on
//! another (see `follow`).

mod follow;
mod item;
mod task;

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use ssf_store::receiver::ReceiverStore;
use ssf_types::Clock;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::{
    error::ReceiverError,
    handler::{EventHandler, ReceivedSet},
    metrics,
};

/// Settings of the apply task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// At most this many SETs share one transaction (default 512).
    pub max_batch: usize,
    /// SETs waiting beyond this many make callers wait (default 8192).
    pub queue_capacity: usize,
    /// How long (`iss`, `jti`) pairs are remembered (default 7 days, SSF-RXV-20).
    pub retention: Duration,
    /// How long audit rows are kept (default 90 days; decision D-RX-04). Purged by the same
    /// task as the pairs, on its own cut-off.
    pub audit_retention: Duration,
    /// How often the purge runs; `None` never (call [`Applier::purge_now`]). Default 1 h.
    pub purge_interval: Option<Duration>,
    /// With several receiver nodes on one store (PostgreSQL): how often this node checks the
    /// store's state log for writes of other nodes when no notification came (default 5 s).
    /// Notifications make it follow at once; this only bounds how long a missed one delays it.
    pub follow_interval: Duration,
    /// How long the state log keeps entries for nodes that fall behind (default 10 min); a node
    /// further behind reloads the whole state. Purged every minute.
    pub state_log_retention: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            queue_capacity: 8192,
            retention: Duration::from_secs(7 * 24 * 3600),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            purge_interval: Some(Duration::from_secs(3600)),
            follow_interval: Duration::from_secs(5),
            state_log_retention: Duration::from_secs(600),
        }
    }
}

/// What happened to an accepted SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Recorded now (and acted on, unless discarded).
    Applied,
    /// Recorded before: answered like the first time, not applied again.
    Duplicate,
}

/// What happened to an accepted SET, with what [`Applier::apply_detailed`] also tells: whether
/// it changed anything and the subject keys its audit entry is filed under.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyDetail {
    /// Applied or duplicate.
    pub outcome: ApplyOutcome,
    /// Recorded now and it changed state (handler writes or the stream's status); `false` for
    /// an event that changed nothing, a discarded SET and a duplicate.
    pub changed: bool,
    /// The subject keys of the handler's audit entry ([`PlanAudit::subjects`](crate::handler::PlanAudit::subjects)); empty for
    /// duplicates and SETs the handler did not plan.
    pub subjects: Vec<String>,
}

impl ApplyDetail {
    fn duplicate() -> Self {
        Self {
            outcome: ApplyOutcome::Duplicate,
            changed: false,
            subjects: Vec::new(),
        }
    }
}

pub(crate) struct Job {
    set: Box<ReceivedSet>,
    reply: oneshot::Sender<Result<ApplyDetail, ReceiverError>>,
    queued: tokio::time::Instant,
}

/// The handle to the apply task. Share it behind an `Arc`.
pub struct Applier {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    purge: Option<JoinHandle<()>>,
    store: Arc<dyn ReceiverStore>,
    clock: Arc<dyn Clock>,
    retention: Retention,
}

/// The two cut-offs of the purge.
#[derive(Debug, Clone, Copy)]
struct Retention {
    seen: Duration,
    audit: Duration,
    state_log: Duration,
}

impl fmt::Debug for Applier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applier")
            .field("store", &self.store)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Applier {
    /// Loads the stored state into `handler` ([`EventHandler::load`]) and starts the apply task
    /// (and the purge task, if configured). Fails if the state cannot be read.
    pub async fn start(
        store: Arc<dyn ReceiverStore>,
        handler: Arc<dyn EventHandler>,
        clock: Arc<dyn Clock>,
        options: ApplyOptions,
    ) -> Result<Self, ReceiverError> {
        let mut state = task::Task::new(Arc::clone(&store), handler, options.follow_interval);
        let rows = state.load().await?;
        tracing::info!(rows, "receiver state loaded");
        let has_log = state.has_state_log();
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let task = tokio::spawn(task::run(rx, state, options.max_batch.max(1)));
        let retention = Retention {
            seen: options.retention,
            audit: options.audit_retention,
            state_log: options.state_log_retention,
        };
        let purge = options.purge_interval.map(|every| {
            tokio::spawn(purge_loop(
                Arc::clone(&store),
                Arc::clone(&clock),
                retention,
                every,
                has_log,
            ))
        });
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
            purge,
            store,
            clock,
            retention,
        })
    }

    /// Records `set` (and acts on it) unless its (`iss`, `jti`) is already recorded; returns once
    /// the outcome is durable.
    pub async fn apply(&self, set: ReceivedSet) -> Result<ApplyOutcome, ReceiverError> {
        self.apply_detailed(set).await.map(|d| d.outcome)
    }

    /// [`apply`](Self::apply), also saying whether the SET changed anything and under which
    /// subject keys it was audited (what the receiver's recent-SET log shows).
    pub async fn apply_detailed(&self, set: ReceivedSet) -> Result<ApplyDetail, ReceiverError> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(ReceiverError::Cancelled)?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            set: Box::new(set),
            reply,
            queued: tokio::time::Instant::now(),
        };
        queue
            .send(job)
            .await
            .map_err(|_| ReceiverError::Cancelled)?;
        answer.await.map_err(|_| ReceiverError::Cancelled)?
    }

    /// Forgets (`iss`, `jti`) pairs older than the retention, and audit rows older than the
    /// audit retention, now; returns how many pairs.
    pub async fn purge_now(&self) -> Result<u64, ReceiverError> {
        purge_once(self.store.as_ref(), self.clock.as_ref(), self.retention).await
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ReceiverStore> {
        &self.store
    }

    /// Stops accepting SETs, finishes the queued ones, stops the purge task. Does not close
    /// the store.
    pub async fn close(&self) {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(purge) = &self.purge {
            purge.abort();
        }
        if let Some(task) = self.task.lock().await.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "receiver apply task failed");
        }
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        if let Some(purge) = &self.purge {
            purge.abort();
        }
    }
}

fn cutoff(clock: &dyn Clock, keep: Duration) -> ssf_types::UnixMillis {
    let ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    clock.now().plus_millis(-ms)
}

async fn purge_once(
    store: &dyn ReceiverStore,
    clock: &dyn Clock,
    retention: Retention,
) -> Result<u64, ReceiverError> {
    purge_state_log(store, clock, retention).await?;
    let removed = store.purge_seen(cutoff(clock, retention.seen)).await?;
    ::metrics::counter!(metrics::PURGED_TOTAL).increment(removed);
    if removed > 0 {
        tracing::info!(removed, "purged recorded SET ids past retention");
    }
    let audit = store.purge_audit(cutoff(clock, retention.audit)).await?;
    if audit > 0 {
        tracing::info!(
            removed = audit,
            "purged audit rows past the audit retention"
        );
    }
    Ok(removed)
}

/// Forgets state log entries past their retention (nothing without a log).
async fn purge_state_log(
    store: &dyn ReceiverStore,
    clock: &dyn Clock,
    retention: Retention,
) -> Result<u64, ReceiverError> {
    let removed = store
        .purge_state_log(cutoff(clock, retention.state_log))
        .await?;
    if removed > 0 {
        tracing::debug!(removed, "purged state log entries past their retention");
    }
    Ok(removed)
}

/// How often the state log is purged: it grows with every applied write, so much more often
/// than the (`iss`, `jti`) pairs.
const STATE_LOG_PURGE_EVERY: Duration = Duration::from_secs(60);

async fn purge_loop(
    store: Arc<dyn ReceiverStore>,
    clock: Arc<dyn Clock>,
    retention: Retention,
    every: Duration,
    has_log: bool,
) {
    let every = every.max(Duration::from_secs(1));
    let mut ticks = tokio::time::interval(every);
    let mut log_ticks = tokio::time::interval(STATE_LOG_PURGE_EVERY.min(every));
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(e) = purge_once(store.as_ref(), clock.as_ref(), retention).await {
                    tracing::warn!(error = %e, "purge of recorded SET ids failed");
                }
            }
            _ = log_ticks.tick(), if has_log => {
                if let Err(e) = purge_state_log(store.as_ref(), clock.as_ref(), retention).await {
                    tracing::warn!(error = %e, "purge of the state log failed");
                }
            }
        }
    }
}
