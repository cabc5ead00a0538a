//! The apply task's loop: take a batch, de-duplicate, plan, store in one transaction, answer.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::json;
use ssf_store::{
    NewAuditEntry,
    model::StreamStatus as StoredStatus,
    receiver::{ApplyItem, ApplyResult, ReceiverStore, StateWrite, StreamControl},
};
use ssf_types::Event;
use tokio::sync::mpsc;

use super::{ApplyError, ApplyOutcome, Job};
use crate::{
    handler::{EventHandler, Handling, ReceivedSet},
    metrics,
};

/// Where a job's answer comes from.
enum Slot {
    /// Recorded before this batch.
    Seen,
    /// The same (`iss`, `jti`) as an earlier item of this batch: its fate, as a duplicate.
    SameAsEarlier,
    /// Item `n` of this batch.
    Item(usize),
}

struct Task {
    store: Arc<dyn ReceiverStore>,
    handler: Arc<dyn EventHandler>,
    /// Memory holds effects the store did not take: reload before planning again.
    needs_reload: bool,
}

pub(super) async fn run(
    mut rx: mpsc::Receiver<Job>,
    store: Arc<dyn ReceiverStore>,
    handler: Arc<dyn EventHandler>,
    max_batch: usize,
) {
    let mut task = Task {
        store,
        handler,
        needs_reload: false,
    };
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        ::metrics::histogram!(metrics::APPLY_BATCH_SIZE).record(batch.len() as f64);
        task.run_batch(std::mem::take(&mut batch)).await;
    }
}

impl Task {
    async fn run_batch(&mut self, jobs: Vec<Job>) {
        if self.needs_reload && !self.reload().await {
            return answer_all(jobs, "the receiver state could not be reloaded");
        }
        let keys: Vec<(String, String)> = jobs
            .iter()
            .map(|j| (j.set.issuer.as_str().to_owned(), j.set.jti().to_owned()))
            .collect();
        let seen = match self.store.seen_among(&keys).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::error!(error = %e, "receiver store read failed");
                return answer_all(jobs, &e.to_string());
            }
        };

        let mut first: BTreeMap<&(String, String), usize> = BTreeMap::new();
        let mut slots = Vec::with_capacity(jobs.len());
        let mut items = Vec::with_capacity(jobs.len());
        let mut has_writes = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            if seen.get(i).copied().unwrap_or(false) {
                slots.push(Slot::Seen);
                continue;
            }
            if first.contains_key(&keys[i]) {
                slots.push(Slot::SameAsEarlier);
                continue;
            }
            let writes = match job.set.handling {
                Handling::Act => self.handler.plan(&job.set),
                Handling::Discard(_) => Vec::new(),
            };
            if !writes.is_empty() {
                // Later SETs of this batch are planned on top of these effects.
                self.handler.commit(&writes);
            }
            has_writes.push(!writes.is_empty());
            first.insert(&keys[i], items.len());
            slots.push(Slot::Item(items.len()));
            items.push(item(&job.set, writes));
        }

        let stored = if items.is_empty() {
            Ok(Vec::new())
        } else {
            self.store.apply_batch(items).await
        };
        match stored {
            Ok(results) => {
                for (job, slot) in jobs.into_iter().zip(slots) {
                    let outcome = match slot {
                        Slot::Seen | Slot::SameAsEarlier => ApplyOutcome::Duplicate,
                        Slot::Item(n) => match results.get(n) {
                            Some(ApplyResult::Applied) => {
                                if job.set.handling == Handling::Act {
                                    self.handler.applied(&job.set);
                                }
                                ApplyOutcome::Applied
                            }
                            // Recorded meanwhile by another receiver node: our planned effects
                            // were not stored, so memory must come from the store again.
                            _ => {
                                self.needs_reload |= has_writes.get(n).copied().unwrap_or(false);
                                ApplyOutcome::Duplicate
                            }
                        },
                    };
                    finish(job, Ok(outcome));
                }
                if self.needs_reload {
                    self.reload().await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "receiver group commit failed; SETs will be redelivered");
                if has_writes.iter().any(|w| *w) {
                    self.needs_reload = true;
                    self.reload().await;
                }
                let reason = e.to_string();
                for (job, slot) in jobs.into_iter().zip(slots) {
                    let result = match slot {
                        Slot::Seen => Ok(ApplyOutcome::Duplicate),
                        Slot::SameAsEarlier | Slot::Item(_) => {
                            Err(ApplyError::Storage(reason.clone()))
                        }
                    };
                    finish(job, result);
                }
            }
        }
    }

    /// Rebuilds the handler's memory from the store; `false` if the store cannot be read.
    async fn reload(&mut self) -> bool {
        match self.store.load_state().await {
            Ok(rows) => {
                self.handler.load(rows);
                self.needs_reload = false;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "reloading the receiver state failed");
                false
            }
        }
    }
}

fn answer_all(jobs: Vec<Job>, reason: &str) {
    for job in jobs {
        finish(job, Err(ApplyError::Storage(reason.to_owned())));
    }
}

fn finish(job: Job, result: Result<ApplyOutcome, ApplyError>) {
    ::metrics::histogram!(metrics::APPLY_SECONDS).record(job.queued.elapsed().as_secs_f64());
    if let Ok(ApplyOutcome::Duplicate) = result {
        ::metrics::counter!(metrics::DEDUPE_HITS_TOTAL).increment(1);
    }
    // The caller may have gone away (connection closed); the outcome is durable either way.
    let _ = job.reply.send(result);
}

/// The store item for an accepted SET: its id, its writes, and what to audit and record.
fn item(set: &ReceivedSet, writes: Vec<StateWrite>) -> ApplyItem {
    let event_type = set.event.uri().into_string();
    let control = match (&set.handling, &set.event) {
        (Handling::Act, Event::Verification(_)) => Some(StreamControl::Verified),
        (Handling::Act, Event::StreamUpdated(u)) => {
            StoredStatus::parse(u.status.as_str()).map(|status| StreamControl::Status {
                status,
                reason: u.reason.clone(),
            })
        }
        _ => None,
    };
    let audit = match set.handling {
        Handling::Discard(reason) => {
            ::metrics::counter!(metrics::DISCARDED_TOTAL, "reason" => reason.as_str()).increment(1);
            Some(("set.discarded", json!({ "reason": reason.as_str() })))
        }
        Handling::Act if !writes.is_empty() || control.is_some() => {
            Some(("set.applied", json!({ "writes": writes.len() })))
        }
        Handling::Act => None,
    };
    let audit = audit.map(|(action, mut detail)| {
        detail["iss"] = json!(set.issuer.as_str());
        detail["jti"] = json!(set.jti());
        detail["event_type"] = json!(event_type);
        if let Some(txn) = &set.claims.txn {
            detail["txn"] = json!(txn.as_text());
        }
        NewAuditEntry {
            actor: set.peer.to_string(),
            action: action.to_owned(),
            stream_id: None,
            detail,
        }
    });
    ApplyItem {
        iss: set.issuer.as_str().to_owned(),
        jti: set.jti().to_owned(),
        received_at: set.received_at,
        stream_key: set.stream_key.to_string(),
        event_type,
        writes,
        audit,
        control,
    }
}
