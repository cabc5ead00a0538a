//! Following the state writes of other receiver nodes that share the store.
//!
//! Several receiver nodes on one PostgreSQL share the dedupe set and the stored state, but each
//! keeps the state in memory (the enforcement engine decides from memory). The store logs every
//! applied write in commit order ([`ReceiverStore::state_changes`]) and signals the other nodes;
//! the apply task reads what the others committed since its cursor and
//! [`commit`](EventHandler::commit)s it to memory. Writes obey the event-time rule, so applying
//! them in any order, or twice, converges. The apply task is the only writer of memory: it
//! follows between its own batches, so a full reload never races with a commit.
//!
//! A missed notification (a lost `LISTEN` connection) is caught by the periodic check
//! ([`ApplyOptions::follow_interval`](super::ApplyOptions::follow_interval)); a node that fell
//! behind the log's retention reloads the whole state. A store without a log (SQLite: one
//! node) makes all of this a no-op.

use std::time::Duration;

use ssf_store::{WorkSubscription, receiver::ReceiverStore};

use crate::{handler::EventHandler, metrics};

/// Log entries read per query.
const PAGE: u32 = 1000;

/// Where this node stands in the store's state change log.
pub(super) struct Follow {
    /// The last log entry reflected in memory; `None` when the store keeps no log.
    cursor: Option<i64>,
    /// Other nodes' commits (`None`: the store does not listen; the periodic check remains).
    signal: Option<WorkSubscription>,
    every: Duration,
}

/// How a catch-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caught {
    /// Memory reflects the log (or the store could not be read; the next check tries again).
    UpToDate,
    /// Entries this node had not read were purged: reload the whole state.
    Truncated,
}

impl Follow {
    /// Subscribes to `store`'s signal; call before the first load, so no commit falls between.
    pub(super) fn new(store: &dyn ReceiverStore, every: Duration) -> Self {
        Self {
            cursor: None,
            signal: store.state_change_signal(),
            every: every.max(Duration::from_millis(10)),
        }
    }

    /// Sets the cursor to the log head taken just before a full load.
    pub(super) fn loaded_at(&mut self, head: Option<i64>) {
        self.cursor = head;
    }

    /// Whether the store keeps a log (known once loaded).
    pub(super) fn has_log(&self) -> bool {
        self.cursor.is_some()
    }

    /// Resolves when the log should be read: another node signalled, or the periodic check is
    /// due. Never resolves without a log. Cancel-safe: a signal is kept until waited on.
    pub(super) async fn due(&mut self) {
        if self.cursor.is_none() {
            return std::future::pending().await;
        }
        match self.signal.as_mut() {
            Some(signal) => {
                signal.wait(self.every).await;
            }
            None => tokio::time::sleep(self.every).await,
        }
    }

    /// Applies to `handler` every write other nodes committed after the cursor.
    pub(super) async fn catch_up(
        &mut self,
        store: &dyn ReceiverStore,
        handler: &dyn EventHandler,
    ) -> Caught {
        let Some(mut cursor) = self.cursor else {
            return Caught::UpToDate;
        };
        loop {
            let changes = match store.state_changes(cursor, PAGE).await {
                Ok(changes) => changes,
                Err(e) => {
                    tracing::warn!(error = %e, "reading other receiver nodes' state writes failed; retrying later");
                    break;
                }
            };
            if changes.truncated {
                tracing::warn!(
                    cursor,
                    "this node fell behind the state log's retention; reloading the whole state"
                );
                return Caught::Truncated;
            }
            if !changes.writes.is_empty() {
                handler.commit(&changes.writes);
                ::metrics::counter!(metrics::STATE_FOLLOWED_TOTAL)
                    .increment(changes.writes.len() as u64);
                tracing::debug!(
                    writes = changes.writes.len(),
                    "applied other receiver nodes' state writes"
                );
            }
            cursor = changes.cursor;
            if !changes.more {
                break;
            }
        }
        self.cursor = Some(cursor);
        Caught::UpToDate
    }
}
