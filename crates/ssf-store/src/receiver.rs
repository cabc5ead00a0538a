//! The receiver's storage contract: durable de-duplication of received SETs by (`iss`, `jti`),
//! the materialised state the receiver's handlers build from them, the receiver's audit log, and
//! the bookkeeping of the receiver's own streams (status, verification state, push secret digest).
//!
//! A receiver acknowledges a SET only after [`ReceiverStore::apply_batch`] committed its
//! (`iss`, `jti`) together with its effects, in one transaction: a crash before the answer loses
//! nothing (the transmitter redelivers) and a redelivery is never applied twice
//! ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2), checklist SSF-RXV-13,
//! PUSH-14, SSF-SEC-06). This module knows nothing of the receiver's handlers: state rows are
//! `(kind, key) -> (value, event_time)` with JSON values.
//!
//! The operations are written once for both engines (`batch`: [`ReceiverStore::apply_batch`];
//! `tables`: everything else); [`crate::sqlite::receiver`] (its own file, separate from the
//! transmitter's, with its own migrations `migrations/sqlite-receiver`) and
//! [`crate::postgres::receiver`] add how writes run and what only their engine has.

mod api;
pub(crate) mod audit_sql;
pub(crate) mod batch;
#[cfg(feature = "conformance")]
pub mod conformance;
pub(crate) mod tables;
pub(crate) mod verification_sql;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::StoreResult,
    model::{AuditEntry, AuditQuery, DeliveryMethod, NewAuditEntry, StreamStatus},
    wake::WorkSubscription,
};

/// How long a verification request's `state` stays acceptable: a day, far beyond any
/// transmitter's delivery delay, and short enough that old states do not pile up.
pub const VERIFICATION_REQUEST_TTL_MS: i64 = 24 * 3600 * 1000;

/// One change to the receiver's materialised state, planned by a handler from one SET.
///
/// Rows are ordered by event time, which makes writes idempotent and commutative: a `Put`
/// replaces the stored row only when it is not older (`event_time >=` the stored one), and a
/// `Delete` removes the row only when the stored row is not newer than the delete. A redelivered
/// or out-of-order SET therefore never rolls the state back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StateWrite {
    /// Insert or replace the row `(kind, key)`, unless the stored row is newer.
    Put {
        /// What the row holds (a handler-defined name, e.g. `revocation`).
        kind: String,
        /// The row's key within its kind.
        key: String,
        /// The state, as JSON.
        value: Value,
        /// The event time (epoch milliseconds) the state is from.
        event_time: i64,
    },
    /// Remove the row `(kind, key)`, unless the stored row is newer than `event_time`. Use
    /// `i64::MAX` for an unconditional delete.
    Delete {
        /// The row's kind.
        kind: String,
        /// The row's key.
        key: String,
        /// The event time (epoch milliseconds) of the delete.
        event_time: i64,
    },
}

impl StateWrite {
    /// The row kind this write touches.
    pub fn kind(&self) -> &str {
        match self {
            Self::Put { kind, .. } | Self::Delete { kind, .. } => kind,
        }
    }

    /// The row key this write touches.
    pub fn key(&self) -> &str {
        match self {
            Self::Put { key, .. } | Self::Delete { key, .. } => key,
        }
    }
}

/// One stored row of the receiver's materialised state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    /// The row's kind.
    pub kind: String,
    /// The row's key.
    pub key: String,
    /// The state, as JSON.
    pub value: Value,
    /// The event time (epoch milliseconds) the state is from.
    pub event_time: i64,
    /// When the row was last written.
    pub updated_at: UnixMillis,
}

/// A receiver-side change to one of the receiver's streams, carried by a control SET and stored
/// in the same transaction as its (`iss`, `jti`).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamControl {
    /// A stream-updated event announced this status
    /// ([SSF 1.0 §8.1.5](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.5),
    /// SSF-EVT-18).
    Status {
        /// The new status.
        status: StreamStatus,
        /// The transmitter's `reason`, if any.
        reason: Option<String>,
    },
    /// A verification event was accepted now
    /// ([SSF 1.0 §8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)).
    Verified,
}

/// One received, validated SET to record, with what it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyItem {
    /// The SET's `iss`.
    pub iss: String,
    /// The SET's `jti`.
    pub jti: String,
    /// When the receiver got it.
    pub received_at: UnixMillis,
    /// The receiver's stream it came on (see [`ReceiverStream::stream_key`]).
    pub stream_key: String,
    /// The event-type URI.
    pub event_type: String,
    /// State changes, applied in order.
    pub writes: Vec<StateWrite>,
    /// An audit entry to append with it, if any. Stored with the item's `iss` and `jti`, so
    /// [`ReceiverAuditQuery::jti`] finds it.
    pub audit: Option<NewAuditEntry>,
    /// The subject keys [`ReceiverAuditQuery::subject`] finds the audit entry by (e.g. a
    /// canonical subject pattern and each of its handle keys). Ignored without `audit`.
    pub audit_subjects: Vec<String>,
    /// A change to the stream's own bookkeeping, if this is a control event. Ignored when no
    /// stream with `stream_key` is stored.
    pub control: Option<StreamControl>,
}

/// A page of the receiver's audit log, oldest first (or newest first): every filter that is set
/// must match.
///
/// Operators ask "what happened to this SET" (`jti`, optionally `iss`), "what happened to this
/// user" (`subject`: a key given in [`ApplyItem::audit_subjects`]) and "what happened lately"
/// (`since`); `after_id` pages through a long answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverAuditQuery {
    /// Only entries of this receiver stream key.
    pub stream_key: Option<String>,
    /// Only entries recording the SET with this `jti`.
    pub jti: Option<String>,
    /// Only entries recording a SET from this `iss`.
    pub iss: Option<String>,
    /// Only entries filed under this subject key.
    pub subject: Option<String>,
    /// Only entries appended at or after this time.
    pub since: Option<UnixMillis>,
    /// Only entries with an id greater than this.
    pub after_id: Option<i64>,
    /// The newest entries first ("what happened lately", e.g. the operator console) instead of
    /// the oldest.
    pub newest_first: bool,
    /// At most this many entries.
    pub limit: u32,
}

/// A page of the state change log: the state writes other receiver nodes sharing the store
/// committed after a cursor ([`ReceiverStore::state_changes`]).
///
/// A node that keeps the state in memory (the enforcement engine) applies `writes` in order;
/// writes follow the event-time rule of [`StateWrite`], so applying one that memory already
/// reflects changes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateChanges {
    /// The writes of other nodes, in commit order (this store's own are skipped: their node
    /// applied them to its memory before storing them).
    pub writes: Vec<StateWrite>,
    /// The cursor for the next call: the last log entry read, own ones included.
    pub cursor: i64,
    /// A full page was read: call again at once with `cursor`.
    pub more: bool,
    /// Entries after the given cursor were purged before they were read: rebuild memory from
    /// [`ReceiverStore::load_state`] (taking [`ReceiverStore::state_log_head`] first).
    pub truncated: bool,
}

/// What [`ReceiverStore::apply_batch`] did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyResult {
    /// First time this (`iss`, `jti`) was seen: recorded, and its writes, audit and control
    /// change stored.
    Applied,
    /// Already recorded (earlier, or earlier in the same batch): nothing of it was stored
    /// (SSF-RXV-13, PUSH-14).
    Duplicate,
}

/// One of the receiver's streams, as the receiver's client side records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverStream {
    /// The receiver's local key for the stream: the last path segment of its push URL
    /// (`/ssf/push/{stream_key}`) and the key of this record. Typically the peer's name.
    pub stream_key: String,
    /// The configured transmitter (peer) name.
    pub peer: String,
    /// The transmitter's issuer (the stream's `iss`, SSF 1.0 §4.1.6).
    pub issuer: String,
    /// The transmitter's `stream_id`, once known.
    pub stream_id: Option<StreamId>,
    /// Push or poll.
    pub delivery: DeliveryMethod,
    /// The last known status.
    pub status: StreamStatus,
    /// The last known status reason.
    pub status_reason: Option<String>,
    /// Lowercase hex SHA-256 of the exact `Authorization` value this receiver gave the
    /// transmitter in `authorization_header` (push only). The secret itself is never stored.
    pub push_auth_sha256: Option<String>,
    /// The stream configuration as the transmitter last returned it (JSON). Never put the
    /// `authorization_header` value here.
    pub config: Value,
}

/// A stored [`ReceiverStream`] with the store-maintained fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverStreamRecord {
    /// The stream as last upserted (status updated by stream-updated events too).
    pub stream: ReceiverStream,
    /// The `state` of the last verification request (SSF 1.0 §8.1.4.2), if any.
    pub expected_verification_state: Option<String>,
    /// When that request was recorded.
    pub verification_requested_at: Option<UnixMillis>,
    /// When a verification event was last accepted on this stream.
    pub last_verified_at: Option<UnixMillis>,
    /// When the record was created.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}

/// Durable state of an SSF receiver.
///
/// Object safe (`Arc<dyn ReceiverStore>`). Every write is durable when its future resolves;
/// times come from the clock the store was opened with.
#[async_trait]
pub trait ReceiverStore: Send + Sync + fmt::Debug {
    // --- Received SETs and state --------------------------------------------------------------

    /// Records every item in ONE transaction, in order: an item whose (`iss`, `jti`) is already
    /// recorded, or appeared earlier in `items`, is a [`ApplyResult::Duplicate`] and stores
    /// nothing; any other item stores its (`iss`, `jti`, `received_at`), its writes, its audit
    /// entry and its control change. On error nothing of the batch is stored.
    async fn apply_batch(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>>;

    /// Whether (`iss`, `jti`) is recorded.
    async fn is_seen(&self, iss: &str, jti: &str) -> StoreResult<bool>;

    /// For each (`iss`, `jti`) of `keys`, whether it is recorded (same order).
    async fn seen_among(&self, keys: &[(String, String)]) -> StoreResult<Vec<bool>>;

    /// Forgets (`iss`, `jti`) pairs received before `older_than` (the replay window, default
    /// 7 days: SSF-RXV-20). Returns how many were removed.
    async fn purge_seen(&self, older_than: UnixMillis) -> StoreResult<u64>;

    /// How many (`iss`, `jti`) pairs are recorded. Counts every row (O(rows): up to the whole
    /// retention window): for tests and diagnostics, not for health checks — a point lookup such
    /// as [`is_seen`](Self::is_seen) shows the database answers.
    async fn seen_count(&self) -> StoreResult<u64>;

    /// Every state row, ordered by kind and key (to rebuild memory at start).
    async fn load_state(&self) -> StoreResult<Vec<StateRow>>;

    /// The state rows of one kind, ordered by key.
    async fn state_rows(&self, kind: &str) -> StoreResult<Vec<StateRow>>;

    // --- Following other nodes --------------------------------------------------------------

    /// The position of the state change log now, or `None` when this store serves one node and
    /// keeps no log (SQLite: one file, one node). Take it *before* [`load_state`](Self::load_state)
    /// and pass it to [`state_changes`](Self::state_changes): entries committed in between are
    /// read again, which the event-time rule makes harmless.
    async fn state_log_head(&self) -> StoreResult<Option<i64>> {
        Ok(None)
    }

    /// Up to `limit` state writes other nodes committed after `cursor` (see [`StateChanges`]).
    /// A store without a log returns nothing.
    async fn state_changes(&self, cursor: i64, limit: u32) -> StoreResult<StateChanges> {
        let _ = limit;
        Ok(StateChanges {
            cursor,
            ..StateChanges::default()
        })
    }

    /// Forgets log entries written before `older_than`; returns how many. A node whose cursor is
    /// older is told to reload ([`StateChanges::truncated`]).
    async fn purge_state_log(&self, older_than: UnixMillis) -> StoreResult<u64> {
        let _ = older_than;
        Ok(0)
    }

    /// Signalled when another node committed state writes (PostgreSQL: `LISTEN`), and once
    /// after a lost connection came back; `None` when there is no log or nothing listens.
    /// Subscribe before reading the changes, so a commit in between is not missed.
    fn state_change_signal(&self) -> Option<WorkSubscription> {
        None
    }

    // --- Audit --------------------------------------------------------------------------------

    /// Appends an audit entry; returns its id. `stream_id` holds the receiver's stream key.
    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64>;

    /// Audit entries after `query.after_id`, oldest first, at most `query.limit`.
    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Audit entries matching every filter of `query`, oldest first, at most `query.limit`.
    async fn query_audit(&self, query: ReceiverAuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Forgets audit entries appended before `older_than` (their own retention, longer than the
    /// replay window of [`purge_seen`](Self::purge_seen): decision D-RX-04). Returns how many.
    async fn purge_audit(&self, older_than: UnixMillis) -> StoreResult<u64>;

    // --- The receiver's streams ------------------------------------------------------------

    /// Creates or replaces the stream `stream.stream_key`. Keeps the verification bookkeeping
    /// of an existing record.
    async fn upsert_stream(&self, stream: ReceiverStream) -> StoreResult<ReceiverStreamRecord>;

    /// The stream with this key.
    async fn get_stream(&self, stream_key: &str) -> StoreResult<Option<ReceiverStreamRecord>>;

    /// Every stream, by key.
    async fn list_streams(&self) -> StoreResult<Vec<ReceiverStreamRecord>>;

    /// Deletes the stream record; `false` if there was none.
    async fn delete_stream(&self, stream_key: &str) -> StoreResult<bool>;

    /// Records a status the receiver learned out of band (e.g. from a status GET); `false` if
    /// no such stream.
    async fn set_stream_status(
        &self,
        stream_key: &str,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<bool>;

    /// Records the `state` of a verification request this receiver is about to send
    /// (SSF 1.0 §8.1.4.2; `None` for a request without state) as the stream's last one
    /// ([`ReceiverStreamRecord::expected_verification_state`]), and
    /// among the requests sent within [`VERIFICATION_REQUEST_TTL_MS`]. The receiver's pipeline
    /// then accepts verification events whose `state` is any of those
    /// ([`is_expected_verification_state`](Self::is_expected_verification_state), SSF-RXV-10):
    /// several receiver nodes on one store each request verification on their own schedule.
    /// `false` if no such stream.
    async fn set_expected_verification_state(
        &self,
        stream_key: &str,
        state: Option<String>,
    ) -> StoreResult<bool>;

    /// Whether `state` is that of a verification request recorded on the stream (by any node)
    /// within [`VERIFICATION_REQUEST_TTL_MS`] (SSF-RXV-10, SSF-VERIFY-10).
    async fn is_expected_verification_state(
        &self,
        stream_key: &str,
        state: &str,
    ) -> StoreResult<bool>;

    /// Stops accepting writes, lets queued ones finish, closes the database.
    async fn close(&self);
}
