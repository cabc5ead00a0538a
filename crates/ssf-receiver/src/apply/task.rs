//! The apply task's loop, two stages deep: while batch N is being committed, batch N+1 is
//! collected, de-duplicated and planned; it is submitted once N's outcome is known. At most one
//! commit is in flight, so a failed commit never leaves a later batch stored on top of it: the
//! prepared batch is failed too (its SETs are redelivered) and memory is reloaded. Between
//! batches it also follows the state writes of other receiver nodes ([`super::follow`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use ssf_store::{
    StoreResult,
    receiver::{ApplyItem, ApplyResult, ReceiverStore},
};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    ApplyDetail, ApplyOutcome, Job,
    follow::{Caught, Follow},
    item::item,
};
use crate::{
    error::{Cause, ReceiverError, SharedCause},
    handler::{EventHandler, Handling, Plan},
    metrics,
};

type Key = (String, String);

/// Where a job's answer comes from.
enum Slot {
    /// Recorded before this batch, or in the batch committed just before it.
    Seen,
    /// The same (`iss`, `jti`) as an earlier item of this batch: its fate, as a duplicate.
    SameAsEarlier,
    /// Item `n` of this batch.
    Item(usize),
}

/// A batch de-duplicated and planned (its effects are in the handler's memory).
struct Prepared {
    jobs: Vec<Job>,
    slots: Vec<Slot>,
    has_writes: Vec<bool>,
    /// Per item: whether it changes state, and its audit subject keys.
    effects: Vec<(bool, Vec<String>)>,
    items: Vec<ApplyItem>,
    /// The keys of `items`.
    keys: BTreeSet<Key>,
}

/// A batch whose commit is running.
struct InFlight {
    jobs: Vec<Job>,
    slots: Vec<Slot>,
    has_writes: Vec<bool>,
    effects: Vec<(bool, Vec<String>)>,
    keys: BTreeSet<Key>,
    commit: JoinHandle<StoreResult<Vec<ApplyResult>>>,
}

/// What woke the loop.
enum Next {
    /// This many jobs were received (0: the channel is closed).
    Jobs(usize),
    /// The commit in flight ended.
    Committed(Result<StoreResult<Vec<ApplyResult>>, tokio::task::JoinError>),
    /// Other nodes may have committed state writes.
    Follow,
}

/// The apply task's state: the store, the handler whose memory it keeps, and where that memory
/// stands in the store's state log.
pub(super) struct Task {
    store: Arc<dyn ReceiverStore>,
    handler: Arc<dyn EventHandler>,
    /// Memory holds effects the store did not take: reload before planning again.
    needs_reload: bool,
    follow: Follow,
}

impl Task {
    /// A task on `store` and `handler`; subscribes to other nodes' commits at once.
    pub(super) fn new(
        store: Arc<dyn ReceiverStore>,
        handler: Arc<dyn EventHandler>,
        follow_every: std::time::Duration,
    ) -> Self {
        let follow = Follow::new(store.as_ref(), follow_every);
        Self {
            store,
            handler,
            needs_reload: false,
            follow,
        }
    }

    /// Replaces the handler's memory with the stored state; returns the number of rows.
    pub(super) async fn load(&mut self) -> StoreResult<usize> {
        // The log head first: whatever commits between it and the load is read again later.
        let head = self.store.state_log_head().await?;
        let rows = self.store.load_state().await?;
        let n = rows.len();
        self.handler.load(rows);
        self.follow.loaded_at(head);
        self.needs_reload = false;
        Ok(n)
    }

    /// Whether the store keeps a state log for other nodes (known once loaded).
    pub(super) fn has_state_log(&self) -> bool {
        self.follow.has_log()
    }
}

pub(super) async fn run(mut rx: mpsc::Receiver<Job>, mut task: Task, max_batch: usize) {
    let mut in_flight: Option<InFlight> = None;
    loop {
        let mut jobs = Vec::with_capacity(max_batch);
        // Biased, following first: under a steady stream of own jobs, other nodes' writes would
        // otherwise wait for a random draw (their catch-up is one indexed read).
        let next = match in_flight.as_mut() {
            None => tokio::select! {
                biased;
                () = task.follow.due() => Next::Follow,
                n = rx.recv_many(&mut jobs, max_batch) => Next::Jobs(n),
            },
            Some(flight) => tokio::select! {
                biased;
                () = task.follow.due() => Next::Follow,
                done = &mut flight.commit => Next::Committed(done),
                n = rx.recv_many(&mut jobs, max_batch) => Next::Jobs(n),
            },
        };
        let received = match next {
            Next::Jobs(n) => n,
            Next::Committed(done) => {
                if let Some(flight) = in_flight.take() {
                    task.finish(flight, Some(done)).await;
                }
                continue;
            }
            Next::Follow => {
                let caught = task
                    .follow
                    .catch_up(task.store.as_ref(), task.handler.as_ref())
                    .await;
                if caught == Caught::Truncated {
                    // A reload drops the planned effects of a batch in flight: let it land first.
                    if let Some(flight) = in_flight.take() {
                        task.finish(flight, None).await;
                    }
                    task.reload("log_truncated").await;
                }
                continue;
            }
        };
        if received == 0 {
            break;
        }
        ::metrics::histogram!(metrics::APPLY_BATCH_SIZE).record(jobs.len() as f64);
        let committing = in_flight.as_ref().map(|f| &f.keys);
        let prepared = task.prepare(jobs, committing).await;
        if let Some(flight) = in_flight.take()
            && !task.finish(flight, None).await
        {
            // Planned on top of effects that were not stored.
            if let Some(prepared) = prepared {
                answer_all(prepared.jobs, text("the previous batch failed; retry"));
            }
            task.reload("failed_commit").await;
            continue;
        }
        if let Some(prepared) = prepared {
            in_flight = Some(task.submit(prepared));
        }
    }
    if let Some(flight) = in_flight {
        task.finish(flight, None).await;
    }
}

impl Task {
    /// De-duplicates and plans `jobs`; `None` when they were all answered (store unreadable).
    /// Keys of `committing` (the batch in flight) count as recorded: if that batch fails, this
    /// one is failed as a whole.
    async fn prepare(
        &mut self,
        jobs: Vec<Job>,
        committing: Option<&BTreeSet<Key>>,
    ) -> Option<Prepared> {
        if self.needs_reload && !self.reload("failed_commit").await {
            answer_all(jobs, text("the receiver state could not be reloaded"));
            return None;
        }
        let keys: Vec<Key> = jobs
            .iter()
            .map(|j| (j.set.issuer.as_str().to_owned(), j.set.jti().to_owned()))
            .collect();
        let seen = match self.store.seen_among(&keys).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::error!(error = %e, "receiver store read failed");
                answer_all(jobs, Arc::new(e));
                return None;
            }
        };
        let mut first: BTreeMap<&Key, usize> = BTreeMap::new();
        let mut slots = Vec::with_capacity(jobs.len());
        let mut items = Vec::with_capacity(jobs.len());
        let mut has_writes = Vec::with_capacity(jobs.len());
        let mut effects = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let key = &keys[i];
            if seen.get(i).copied().unwrap_or(false) || committing.is_some_and(|c| c.contains(key))
            {
                slots.push(Slot::Seen);
                continue;
            }
            if first.contains_key(key) {
                slots.push(Slot::SameAsEarlier);
                continue;
            }
            let plan = match job.set.handling {
                Handling::Act => self.handler.plan_audited(&job.set),
                Handling::Discard(_) => Plan::default(),
            };
            if !plan.writes.is_empty() {
                // Later SETs are planned on top of these effects.
                self.handler.commit(&plan.writes);
            }
            has_writes.push(!plan.writes.is_empty());
            first.insert(key, items.len());
            slots.push(Slot::Item(items.len()));
            let stored = item(&job.set, plan);
            let changed = !stored.writes.is_empty() || stored.control.is_some();
            effects.push((changed, stored.audit_subjects.clone()));
            items.push(stored);
        }
        let item_keys = first.into_keys().cloned().collect();
        Some(Prepared {
            jobs,
            slots,
            has_writes,
            effects,
            items,
            keys: item_keys,
        })
    }

    /// Starts the commit of `prepared`.
    fn submit(&mut self, prepared: Prepared) -> InFlight {
        let Prepared {
            jobs,
            slots,
            has_writes,
            effects,
            items,
            keys,
        } = prepared;
        let store = Arc::clone(&self.store);
        let commit = tokio::spawn(async move {
            if items.is_empty() {
                Ok(Vec::new())
            } else {
                store.apply_batch(items).await
            }
        });
        InFlight {
            jobs,
            slots,
            has_writes,
            effects,
            keys,
            commit,
        }
    }

    /// Waits for the commit (unless `done` already holds its outcome) and answers every job.
    /// `false` if it failed: memory must then be reloaded. SETs another node recorded first are
    /// answered as duplicates and change nothing else.
    async fn finish(
        &mut self,
        flight: InFlight,
        done: Option<Result<StoreResult<Vec<ApplyResult>>, tokio::task::JoinError>>,
    ) -> bool {
        let outcome = match done {
            Some(done) => done,
            None => flight.commit.await,
        };
        let stored: Result<_, SharedCause> = match outcome {
            Ok(result) => result.map_err(|e| Arc::new(e) as SharedCause),
            Err(join) => Err(Arc::new(join)),
        };
        match stored {
            Ok(results) => {
                let mut effects = flight.effects;
                for (job, slot) in flight.jobs.into_iter().zip(flight.slots) {
                    let outcome = match slot {
                        Slot::Seen | Slot::SameAsEarlier => ApplyDetail::duplicate(),
                        Slot::Item(n) => match results.get(n) {
                            Some(ApplyResult::Applied) => {
                                if job.set.handling == Handling::Act {
                                    self.handler.applied(&job.set);
                                }
                                let (changed, subjects) =
                                    effects.get_mut(n).map(std::mem::take).unwrap_or_default();
                                ApplyDetail {
                                    outcome: ApplyOutcome::Applied,
                                    changed,
                                    subjects,
                                }
                            }
                            // Recorded meanwhile by another receiver node (it lost the dedupe
                            // race). The effects planned into memory are this same SET's; the
                            // winner stored its own, which this node follows from the state log.
                            // Writes obey the event-time rule, so holding both converges to the
                            // stored state: no reload, and the next batch goes on (D-RX-13).
                            _ => {
                                ::metrics::counter!(metrics::DEDUPE_RACES_TOTAL).increment(1);
                                tracing::debug!(jti = %job.set.jti(), "another receiver node recorded this SET first");
                                ApplyDetail::duplicate()
                            }
                        },
                    };
                    finish_job(job, Ok(outcome));
                }
                true
            }
            Err(reason) => {
                tracing::error!(%reason, "receiver group commit failed; SETs will be redelivered");
                if flight.has_writes.iter().any(|w| *w) {
                    self.needs_reload = true;
                    self.reload("failed_commit").await;
                }
                for (job, slot) in flight.jobs.into_iter().zip(flight.slots) {
                    let result = match slot {
                        // Recorded before this batch was even planned.
                        Slot::Seen => Ok(ApplyDetail::duplicate()),
                        Slot::SameAsEarlier | Slot::Item(_) => {
                            Err(ReceiverError::NotRecorded(Arc::clone(&reason)))
                        }
                    };
                    finish_job(job, result);
                }
                false
            }
        }
    }

    /// Rebuilds the handler's memory from the store; `false` if the store cannot be read.
    async fn reload(&mut self, reason: &'static str) -> bool {
        ::metrics::counter!(metrics::STATE_RELOADS_TOTAL, "reason" => reason).increment(1);
        match self.load().await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "reloading the receiver state failed");
                self.needs_reload = true;
                false
            }
        }
    }
}

fn answer_all(jobs: Vec<Job>, reason: SharedCause) {
    for job in jobs {
        finish_job(job, Err(ReceiverError::NotRecorded(Arc::clone(&reason))));
    }
}

/// A cause that is only text.
fn text(reason: &str) -> SharedCause {
    Arc::from(Cause::from(reason))
}

fn finish_job(job: Job, result: Result<ApplyDetail, ReceiverError>) {
    ::metrics::histogram!(metrics::APPLY_SECONDS).record(job.queued.elapsed().as_secs_f64());
    if matches!(&result, Ok(d) if d.outcome == ApplyOutcome::Duplicate) {
        ::metrics::counter!(metrics::DEDUPE_HITS_TOTAL).increment(1);
    }
    // The caller may have gone away (connection closed); the outcome is durable either way.
    let _ = job.reply.send(result);
}
