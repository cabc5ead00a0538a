//! One SET in, one answer out: [`SetReceiver`] runs the [pipeline](crate::pipeline) and the
//! [apply task](crate::apply) and says what to answer, for push ([`crate::push`]) and poll
//! ([`crate::poller`], through [`PollSetProcessor`]) alike, and notes each SET in its log of
//! [recent SETs](crate::recent) ([`SetReceiver::recent`]). [`StreamRegistry`] holds the
//! [`StreamContext`] of each of the receiver's streams by stream key.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use async_trait::async_trait;
use ssf_types::{Jti, SetErrorCode};

use crate::{
    apply::{Applier, ApplyOutcome},
    metrics,
    pipeline::{Pipeline, StreamContext, Verdict},
    recent::{RecentFilter, RecentOutcome, RecentSet, RecentSets},
};

/// The answer for one SET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Valid and recorded now: push `202`, poll `ack`.
    Applied,
    /// Valid and recorded before: push `202`, poll `ack` (SSF-RXV-13).
    Duplicate,
    /// Invalid: push `400` + `{"err","description"}`, poll `setErrs` (PUSH-10, POLL-15).
    Rejected {
        /// The RFC 8935 §2.4 code.
        err: SetErrorCode,
        /// A constant text (SSF-SEC-17).
        description: Cow<'static, str>,
    },
    /// Not judged or not stored for a passing reason (keys or store unavailable, shutting
    /// down): push `503`, poll neither `ack` nor `setErrs`, so it is delivered again.
    Unavailable(String),
}

/// The stream contexts by stream key. Update an entry whenever a stream or its peer changes.
#[derive(Debug, Default)]
pub struct StreamRegistry {
    streams: RwLock<BTreeMap<String, Arc<StreamContext>>>,
}

impl StreamRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the context of `ctx.stream_key`.
    pub fn insert(&self, ctx: StreamContext) {
        let key = ctx.stream_key.to_string();
        self.streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::new(ctx));
    }

    /// Removes a stream (its pushes are then refused with `access_denied`); `true` if it was
    /// there.
    pub fn remove(&self, stream_key: &str) -> bool {
        self.streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(stream_key)
            .is_some()
    }

    /// The context of `stream_key`.
    pub fn get(&self, stream_key: &str) -> Option<Arc<StreamContext>> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream_key)
            .cloned()
    }

    /// Every stream key.
    pub fn keys(&self) -> Vec<String> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }
}

/// Pipeline plus apply task, and the log of recent SETs. Share it behind an `Arc`.
#[derive(Debug)]
pub struct SetReceiver {
    pipeline: Pipeline,
    applier: Arc<Applier>,
    recent: RecentSets,
}

impl SetReceiver {
    /// Joins a pipeline and a started apply task (use the same store for both); remembers the
    /// last [`DEFAULT_RECENT_CAPACITY`](crate::recent::DEFAULT_RECENT_CAPACITY) SETs.
    pub fn new(pipeline: Pipeline, applier: Arc<Applier>) -> Self {
        Self {
            pipeline,
            applier,
            recent: RecentSets::default(),
        }
    }

    /// Remembering the last `capacity` SETs instead (`0`: none).
    #[must_use]
    pub fn with_recent_capacity(mut self, capacity: usize) -> Self {
        self.recent = RecentSets::new(capacity);
        self
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The apply task.
    pub fn applier(&self) -> &Arc<Applier> {
        &self.applier
    }

    /// The SETs this receiver judged lately (push and poll), newest first: when, peer and
    /// stream, `iss`, `jti`, `txn`, event type, subject and outcome (see [`crate::recent`]).
    pub fn recent(&self) -> Vec<RecentSet> {
        self.recent.list(&RecentFilter::all())
    }

    /// The recent SETs matching `filter` (a subject, a `jti`, a limit), newest first.
    pub fn recent_matching(&self, filter: &RecentFilter) -> Vec<RecentSet> {
        self.recent.list(filter)
    }

    /// The log of recent SETs itself.
    pub fn recent_sets(&self) -> &RecentSets {
        &self.recent
    }

    /// Judges and records the compact SET `token` received on stream `ctx`.
    pub async fn receive(&self, ctx: &StreamContext, token: &[u8]) -> Receipt {
        let unverified = |outcome| {
            let max = self.pipeline.config().max_set_bytes;
            RecentSet::of_unverified(ctx, token, max, self.pipeline.clock().now(), outcome)
        };
        let (receipt, seen) = match self.pipeline.validate(ctx, token).await {
            Verdict::Accepted(set) => {
                let mut seen = RecentSet::of_verified(&set);
                match self.applier.apply_detailed(*set).await {
                    Ok(detail) => {
                        seen.subject_keys = detail.subjects;
                        match detail.outcome {
                            ApplyOutcome::Applied => {
                                if seen.outcome == RecentOutcome::Applied && !detail.changed {
                                    seen.outcome = RecentOutcome::NoChange;
                                }
                                (Receipt::Applied, seen)
                            }
                            ApplyOutcome::Duplicate => {
                                seen.outcome = RecentOutcome::Duplicate;
                                seen.description = None;
                                (Receipt::Duplicate, seen)
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(peer = %ctx.peer, error = %e, "SET not recorded; it will be redelivered");
                        let seen = seen.unavailable(&e.to_string());
                        (Receipt::Unavailable(e.to_string()), seen)
                    }
                }
            }
            Verdict::Rejected(r) => {
                let seen = unverified(RecentOutcome::Rejected).rejected(&r);
                let receipt = Receipt::Rejected {
                    err: r.err,
                    description: r.description,
                };
                (receipt, seen)
            }
            Verdict::Unavailable(reason) => {
                let seen = unverified(RecentOutcome::Unavailable).unavailable(&reason);
                (Receipt::Unavailable(reason), seen)
            }
        };
        match &receipt {
            Receipt::Applied => metrics::count_set("applied", ""),
            Receipt::Duplicate => metrics::count_set("duplicate", ""),
            Receipt::Rejected { err, .. } => metrics::count_set("rejected", err.as_str()),
            Receipt::Unavailable(_) => metrics::count_set("unavailable", ""),
        }
        self.recent.record(seen);
        receipt
    }
}

/// Judges and applies one polled SET: what the poller ([`crate::poller`]) hands each SET to.
#[async_trait]
pub trait SetProcessor: Send + Sync {
    /// Processes the SET `set` that the transmitter listed under `jti`: [`Receipt::Applied`]
    /// and [`Receipt::Duplicate`] are acknowledged, [`Receipt::Rejected`] reported in
    /// `setErrs`, [`Receipt::Unavailable`] left for redelivery.
    async fn process(&self, jti: &Jti, set: &str) -> Receipt;
}

/// The poller's [`SetProcessor`] for one poll stream: the stream's context from the registry,
/// then [`SetReceiver::receive`]. Applied and duplicate SETs are acknowledged (told apart, so
/// the poller can back off from rounds of duplicates only), rejected ones
/// reported in `setErrs`, unavailable ones left for redelivery.
#[derive(Clone)]
pub struct PollSetProcessor {
    receiver: Arc<SetReceiver>,
    streams: Arc<StreamRegistry>,
    stream_key: String,
}

impl fmt::Debug for PollSetProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollSetProcessor")
            .field("stream_key", &self.stream_key)
            .finish_non_exhaustive()
    }
}

impl PollSetProcessor {
    /// A processor for the stream `stream_key` of `streams`.
    pub fn new(
        receiver: Arc<SetReceiver>,
        streams: Arc<StreamRegistry>,
        stream_key: impl Into<String>,
    ) -> Self {
        Self {
            receiver,
            streams,
            stream_key: stream_key.into(),
        }
    }
}

#[async_trait]
impl SetProcessor for PollSetProcessor {
    async fn process(&self, _jti: &Jti, set: &str) -> Receipt {
        let Some(ctx) = self.streams.get(&self.stream_key) else {
            return Receipt::Unavailable("the stream is not configured".to_owned());
        };
        self.receiver.receive(&ctx, set.as_bytes()).await
    }
}
