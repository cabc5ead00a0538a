//! Outbox records: queued SETs, push claims and outcomes, poll requests and answers.
//!
//! A row's life: enqueue -> `waiting` (behind an earlier SET of the same stream and subject, push
//! only) / `pending` / `held` (stream paused) -> `leased` (claimed by a push worker, or handed out
//! by a poll) -> deleted (delivered with 202 / acknowledged), or back to `pending` (retry, lease
//! expiry), or parked as `failed` (400 `err`, `setErrs`) / `dead` (retries exhausted).

use std::collections::BTreeMap;

use ssf_types::{Jti, StreamId, UnixMillis};

use super::{StreamStatus, text_enum};

/// The id of an outbox row: increasing in enqueue (generation) order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(pub i64);

text_enum! {
    /// Where an outbox row is in its life.
    OutboxState {
        /// Queued behind an earlier undelivered SET of the same stream and subject key (push only).
        Waiting = "waiting",
        /// Ready: claimable once `next_attempt_at` has passed (push), or handed out by the next poll.
        Pending = "pending",
        /// Queued while the stream is paused (SSF-STATUS-12).
        Held = "held",
        /// Claimed by a push worker or handed out by a poll, until `lease_until`.
        Leased = "leased",
        /// Refused permanently by the receiver (push 400 `err`, poll `setErrs`); kept for inspection.
        Failed = "failed",
        /// Every retry failed; kept for inspection and replay.
        Dead = "dead",
    }
}

impl OutboxState {
    /// Whether the row still waits for delivery (counts as "queued").
    pub fn is_queued(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::Pending | Self::Held | Self::Leased
        )
    }
}

/// One signed SET to queue for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSet {
    /// The stream it goes to.
    pub stream_id: StreamId,
    /// The SET's `jti`; unique within the stream.
    pub jti: Jti,
    /// The ordering key: SETs of the same stream with the same key are delivered by push in
    /// enqueue order (SSF-STATUS-14). Use the canonical subject key; for events about the stream
    /// itself (verification, stream-updated) use a fixed key such as `"$stream"`; to opt out of
    /// ordering use a unique value such as the jti.
    pub subject_key: String,
    /// The SET in compact serialization.
    pub set_jwt: String,
}

/// What an enqueue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueReport {
    /// Rows written (pending, waiting or held).
    pub queued: u64,
    /// Of those, rows held because their stream is paused.
    pub held: u64,
    /// Streams whose SETs were dropped: unknown, deleted or disabled (SSF-STATUS-15).
    pub dropped_streams: Vec<StreamId>,
}

/// A SET a push worker claimed under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSet {
    /// The row.
    pub id: OutboxId,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its `jti`.
    pub jti: Jti,
    /// Its ordering key.
    pub subject_key: String,
    /// The compact SET to POST.
    pub set_jwt: String,
    /// Delivery attempts so far, including this one.
    pub attempts: u32,
    /// When it was enqueued.
    pub created_at: UnixMillis,
    /// The lease ends here; after that the reaper may give the row to someone else.
    pub lease_until: UnixMillis,
}

/// Why a delivery failed, as recorded on the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// The RFC 8935/8936 `err` code, or a transport code such as `http_503` or `timeout`.
    pub code: String,
    /// Human-readable detail (`description`), if any.
    pub description: Option<String>,
}

impl DeliveryError {
    /// An error with a code and a description.
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            description: Some(description.into()),
        }
    }
}

/// The result of one push attempt, reported with
/// [`record_outcomes`](crate::TransmitterStore::record_outcomes)
/// ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// `202 Accepted` (PUSH-18): the row is deleted.
    Delivered(OutboxId),
    /// Recoverable failure (5xx, 429, timeout, PUSH-16): back to the queue at `next_attempt_at`.
    Retry {
        /// The row.
        id: OutboxId,
        /// Earliest next attempt (schedule, jitter, capped `Retry-After`).
        next_attempt_at: UnixMillis,
        /// What went wrong.
        error: DeliveryError,
    },
    /// `400` with an `err` (PUSH-17): parked as `failed`, never retried automatically.
    Failed {
        /// The row.
        id: OutboxId,
        /// The receiver's `err` and `description`.
        error: DeliveryError,
    },
    /// The retry schedule is exhausted: parked as `dead`.
    DeadLetter {
        /// The row.
        id: OutboxId,
        /// The last error.
        error: DeliveryError,
    },
}

impl DeliveryOutcome {
    /// The row this outcome is about.
    pub fn id(&self) -> OutboxId {
        match self {
            Self::Delivered(id) => *id,
            Self::Retry { id, .. } | Self::Failed { id, .. } | Self::DeadLetter { id, .. } => *id,
        }
    }
}

/// What [`record_outcomes`](crate::TransmitterStore::record_outcomes) applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeReport {
    /// Outcomes applied.
    pub applied: u64,
    /// Outcomes ignored: the row is gone (stream deleted or disabled, already delivered) or the
    /// caller's lease was lost to the reaper.
    pub stale: Vec<OutboxId>,
}

/// A full outbox row, for inspection (dead letters, failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The row.
    pub id: OutboxId,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its `jti`.
    pub jti: Jti,
    /// Its ordering key.
    pub subject_key: String,
    /// Its state.
    pub state: OutboxState,
    /// The compact SET.
    pub set_jwt: String,
    /// Delivery attempts.
    pub attempts: u32,
    /// Enqueued at.
    pub created_at: UnixMillis,
    /// Next attempt at (push).
    pub next_attempt_at: UnixMillis,
    /// The last recorded error.
    pub error: Option<DeliveryError>,
    /// When it was parked (failed/dead).
    pub finished_at: Option<UnixMillis>,
}

/// A page of parked rows (dead letters and permanent failures), oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParkedQuery {
    /// Only this stream.
    pub stream_id: Option<StreamId>,
    /// Only this state (`Failed` or `Dead`); both when `None`.
    pub state: Option<OutboxState>,
    /// Only ids greater than this.
    pub after: Option<OutboxId>,
    /// At most this many.
    pub limit: u32,
}

/// Which parked rows to [`replay`](crate::TransmitterStore::replay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySelector {
    /// These rows (ignored unless failed or dead).
    Ids(Vec<OutboxId>),
    /// Every failed or dead row of this stream.
    Stream(StreamId),
}

/// One poll request ([RFC 8936 §2.2](https://www.rfc-editor.org/rfc/rfc8936#section-2.2)), after
/// the transmitter has authenticated the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// The authenticated client; the stream must be its own (POLL-19).
    pub client_id: String,
    /// The stream of the poll URL.
    pub stream_id: StreamId,
    /// `ack`: jtis the receiver has processed.
    pub ack: Vec<Jti>,
    /// `setErrs`: jtis the receiver refused, with their errors.
    pub set_errs: BTreeMap<Jti, DeliveryError>,
    /// `maxEvents` (capped by the caller, D-17); `0` for acknowledge-only.
    pub max_events: u32,
    /// Hand-outs not acknowledged within this many milliseconds become eligible again (POLL-12).
    pub redelivery_after_ms: i64,
}

/// One SET handed out by a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledSet {
    /// Its `jti` (the key in `sets`).
    pub jti: Jti,
    /// The compact SET.
    pub set_jwt: String,
}

/// The store's answer to a poll ([RFC 8936 §2.3](https://www.rfc-editor.org/rfc/rfc8936#section-2.3)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollResponse {
    /// SETs handed out, oldest first.
    pub sets: Vec<PolledSet>,
    /// More SETs are ready than were handed out.
    pub more_available: bool,
    /// The stream's status; nothing is handed out unless it is `enabled` (POLL-20).
    pub status: StreamStatus,
    /// Acknowledged rows deleted.
    pub acked: u64,
    /// `ack` jtis that matched nothing queued (already acknowledged, unknown): ignored (POLL-22).
    pub unknown_acks: Vec<Jti>,
    /// `setErrs` recorded as failed.
    pub errors_recorded: u64,
    /// `setErrs` jtis that matched nothing queued: ignored (POLL-22).
    pub unknown_errs: Vec<Jti>,
}

/// Outbox rows by state (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Behind an earlier SET of the same subject.
    pub waiting: u64,
    /// Ready or scheduled for retry.
    pub pending: u64,
    /// Held by a paused stream.
    pub held: u64,
    /// Leased to a worker or handed out by a poll.
    pub leased: u64,
    /// Permanently refused.
    pub failed: u64,
    /// Retries exhausted.
    pub dead: u64,
}

impl OutboxCounts {
    /// Rows still to deliver.
    pub fn queued(&self) -> u64 {
        self.waiting + self.pending + self.held + self.leased
    }

    pub(crate) fn add(&mut self, state: OutboxState, n: u64) {
        let slot = match state {
            OutboxState::Waiting => &mut self.waiting,
            OutboxState::Pending => &mut self.pending,
            OutboxState::Held => &mut self.held,
            OutboxState::Leased => &mut self.leased,
            OutboxState::Failed => &mut self.failed,
            OutboxState::Dead => &mut self.dead,
        };
        *slot += n;
    }
}
