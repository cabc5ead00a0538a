//! The transmitter's storage contract, and its one implementation for both engines: the modules
//! below are generic over the crate-private `Engine` (see the crate docs), and `api` implements
//! [`TransmitterStore`] once for every backend, on the backend's write path (crate-private
//! `Backend`: the SQLite writer or a PostgreSQL transaction with `NOTIFY`).

mod api;
pub(crate) mod idempotency;
pub(crate) mod outbox;
pub(crate) mod poll;
pub(crate) mod records;
pub(crate) mod streams;

use std::{collections::BTreeMap, fmt, time::Duration};

use async_trait::async_trait;
use ssf_types::{StreamId, UnixMillis};

use crate::{
    error::StoreResult,
    model::{
        AuditEntry, AuditQuery, ClientRecord, NewAuditEntry, NewStream, OAuthClient, StatusChange,
        StreamRecord, StreamStatus, StreamUpdate, SubjectCounts, SubjectEntry, VerificationGate,
        idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentEnqueue, Respond},
        outbox::{
            ClaimedSet, DeliveryError, DeliveryOutcome, EnqueueReport, NewSet, OutboxCounts,
            OutboxEntry, OutboxId, OutcomeReport, ParkedQuery, PollRequest, PollResponse,
            ReplaySelector,
        },
    },
    wake::WorkSubscription,
};

/// Durable state of an SSF transmitter: streams, subjects, the SET outbox, audit log, OAuth clients.
///
/// Object safe: use it as `Arc<dyn TransmitterStore>` (or as a generic bound). Every write is
/// durable when its future resolves (per the backend's sync setting); a future dropped before it
/// resolves may or may not have been applied. Times come from the clock the store was opened with.
///
/// Client scoping: operations that take a `client_id` only see that client's streams; a stream of
/// another client is reported exactly like a missing one (`None`/`false`/`StreamNotFound`), never
/// revealed (SSF-STREAM-32, POLL-19). Unscoped operations (`find_stream`, `claim_push`, ...) are for
/// the transmitter's own workers, never for answering a receiver.
#[async_trait]
pub trait TransmitterStore: Send + Sync + fmt::Debug {
    // --- Streams (SSF 1.0 §8.1.1) ------------------------------------------------------------

    /// Stores a new stream; several per client are allowed (D-13). `last_activity_at` starts at
    /// now. Fails with `Conflict` if the `stream_id` exists (for any client).
    async fn create_stream(&self, stream: NewStream) -> StoreResult<StreamRecord>;

    /// The stream if it exists and belongs to `client_id` (SSF-STREAM-31/32). Does not count as
    /// activity; call [`touch_activity`](Self::touch_activity) for that.
    async fn get_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<StreamRecord>>;

    /// Every stream of `client_id`, oldest first (SSF-STREAM-31: the array of a GET without id).
    async fn list_streams(&self, client_id: &str) -> StoreResult<Vec<StreamRecord>>;

    /// The stream regardless of owner: for workers (push endpoint lookup) and the matcher.
    async fn find_stream(&self, stream_id: &StreamId) -> StoreResult<Option<StreamRecord>>;

    /// All streams by id, after `after`, at most `limit`: for the transmitter's caches and admin.
    async fn list_all_streams(
        &self,
        after: Option<&StreamId>,
        limit: u32,
    ) -> StoreResult<Vec<StreamRecord>>;

    /// Replaces a stream's configuration (the caller computed the PATCH/PUT result,
    /// SSF-STREAM-34/41) and bumps `revision`. With `expected_revision`, fails with
    /// `RevisionMismatch` if another update came first. Changing the delivery method moves the
    /// queued SETs to the new method. `None` if the stream is not the client's.
    async fn update_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        update: StreamUpdate,
    ) -> StoreResult<Option<StreamRecord>>;

    /// Sets status and reason (SSF 1.0 §8.1.2.2), atomically with the queue: `paused` holds
    /// queued SETs (SSF-STATUS-11/12), `enabled` releases them in their original order and wakes
    /// workers, `disabled` drops every queued SET (SSF-STATUS-15; parked rows stay). Setting the
    /// current status again only updates the reason (D-10). `None` if not the client's stream.
    async fn set_stream_status(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<Option<StatusChange>>;

    /// Deletes the stream with its subjects and every outbox row, queued or parked
    /// (SSF-STREAM-49). `false` if not the client's stream.
    async fn delete_stream(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool>;

    /// Records receiver activity now, restarting the `inactivity_timeout` counter (SSF-STREAM-11).
    /// Call it for every management call that references the stream; polls record it themselves
    /// (POLL-23). `false` if not the client's stream.
    async fn touch_activity(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool>;

    /// Streams not `disabled` whose `inactivity_timeout` has run out since their last activity
    /// (SSF-STREAM-10): the transmitter may pause/disable/delete them and then MUST send a
    /// stream-updated event (SSF-STREAM-12).
    async fn list_inactive_streams(&self) -> StoreResult<Vec<StreamRecord>>;

    /// Atomically checks `min_verification_interval` and, if allowed, records now as the last
    /// verification (SSF-STREAM-08, SSF-VERIFY-12). Also counts as activity. `None` if not the
    /// client's stream. The verification SET is then enqueued like any other SET, behind
    /// earlier ones and held while paused (SSF-VERIFY-13).
    async fn begin_verification(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<VerificationGate>>;

    // --- Subjects (SSF 1.0 §8.1.3) -----------------------------------------------------------

    /// Add Subject (SSF-SUBJ-01): records the subject under its canonical key as included,
    /// replacing an earlier removal. `verified` is stored as given (SSF-SUBJ-02 is the caller's
    /// default). `false` if not the client's stream.
    async fn add_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
        verified: Option<bool>,
    ) -> StoreResult<bool>;

    /// Remove Subject (SSF-SUBJ-06): records the subject as excluded, so a `default_subjects`
    /// `ALL` stream stops matching it and a `NONE` stream no longer includes it. `false` if not
    /// the client's stream. Refusing the stream's own subject (SSF-SUBJ-09) is the caller's job.
    async fn remove_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
    ) -> StoreResult<bool>;

    /// The entry for one canonical key on the client's stream, if any.
    async fn get_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
    ) -> StoreResult<Option<SubjectEntry>>;

    /// Entries of the client's stream ordered by key, after `after_key`, at most `limit`.
    async fn list_subjects(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubjectEntry>>;

    /// Every entry, on any stream, for any of these keys: the exceptions a cached matcher needs.
    async fn subject_entries(&self, subject_keys: &[String]) -> StoreResult<Vec<SubjectEntry>>;

    /// How many subjects the stream has recorded, added and removed, whoever owns it (operator
    /// views; one indexed count). Zeros for an unknown stream.
    async fn count_subjects(&self, stream_id: &StreamId) -> StoreResult<SubjectCounts>;

    /// [`count_subjects`](Self::count_subjects) of every stream that has recorded subjects, in
    /// one query (operator views of many streams); a stream without any is absent.
    async fn subject_counts_by_stream(&self) -> StoreResult<BTreeMap<StreamId, SubjectCounts>>;

    /// How many streams there are, of every client.
    async fn count_streams(&self) -> StoreResult<u64>;

    /// Streams (not `disabled`) that cover an event whose subject has these canonical keys: a
    /// stream matches if any key is included, or if it is `default_subjects` `ALL` and no key is
    /// excluded. Filtering by `events_delivered` is the caller's. Scans all streams: a reference
    /// rule; hot paths should cache streams and use [`subject_entries`](Self::subject_entries).
    async fn match_streams(&self, subject_keys: &[String]) -> StoreResult<Vec<StreamId>>;

    // --- Outbox: enqueue and push (RFC 8935) -------------------------------------------------

    /// Writes all `sets` in one transaction and returns once it is durable: only then may the
    /// producer be answered (DESIGN §3). SETs of unknown or `disabled` streams are dropped and
    /// reported (SSF-STATUS-15); of `paused` streams held (SSF-STATUS-12). A push SET behind an
    /// undelivered SET with the same stream and subject key waits for it (SSF-STATUS-14). Any
    /// error (e.g. a duplicate jti) stores nothing. Wakes subscribers of the affected streams.
    async fn enqueue(&self, sets: Vec<NewSet>) -> StoreResult<EnqueueReport>;

    /// [`enqueue`](Self::enqueue) under an idempotency key (D-TX-16), in one transaction with
    /// the key: if `claim.key` of `claim.client_id` is held by an earlier request whose window
    /// has not passed, nothing is queued and that request's record is returned
    /// ([`IdempotentEnqueue::Existing`], whatever its `request_hash`: comparing is the
    /// caller's). Otherwise the SETs are queued (`sets` may be empty), the key is remembered with
    /// `claim.request_hash`, the response `respond` builds from the report and
    /// `expires_at = now + claim.window`, and both commit together. A key whose window has
    /// passed is taken over as if new. Two concurrent calls with one key: exactly one queues; the
    /// other waits for it and gets `Existing` (or queues, if the first failed).
    async fn enqueue_idempotent(
        &self,
        sets: Vec<NewSet>,
        claim: IdempotencyClaim,
        respond: Respond,
    ) -> StoreResult<IdempotentEnqueue>;

    /// The stored record of `key` for `client_id`, live or expired but not purged yet (check
    /// [`IdempotencyRecord::is_live`]).
    async fn idempotency_record(
        &self,
        client_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;

    /// Deletes every idempotency key whose window has passed by now. Returns how many.
    async fn purge_idempotency_keys(&self) -> StoreResult<u64>;

    /// Leases up to `max` due push SETs of `enabled` streams to `lease_owner` for `lease`,
    /// oldest due first, and counts an attempt on each. Never returns a row leased to someone
    /// else, nor a SET while an earlier one of its stream and subject key is undelivered
    /// (PUSH-06, SSF-STATUS-14).
    async fn claim_push(
        &self,
        lease_owner: &str,
        max: u32,
        lease: Duration,
    ) -> StoreResult<Vec<ClaimedSet>>;

    /// Applies push results in one transaction (RFC 8935 §2). `Delivered` deletes the row even
    /// if the lease was lost (the receiver has it); `Retry`/`Failed`/`DeadLetter` apply only
    /// while `lease_owner` still holds the lease. Anything not applied is reported as stale.
    /// Finishing a SET releases the next one of its subject.
    async fn record_outcomes(
        &self,
        lease_owner: &str,
        outcomes: Vec<DeliveryOutcome>,
    ) -> StoreResult<OutcomeReport>;

    /// `202 Accepted` for these rows (PUSH-18): see [`record_outcomes`](Self::record_outcomes).
    async fn mark_delivered(
        &self,
        lease_owner: &str,
        ids: &[OutboxId],
    ) -> StoreResult<OutcomeReport> {
        let outcomes = ids
            .iter()
            .copied()
            .map(DeliveryOutcome::Delivered)
            .collect();
        self.record_outcomes(lease_owner, outcomes).await
    }

    /// A recoverable failure (PUSH-16): the row returns to the queue at `next_attempt_at`
    /// (durable), keeping its place ahead of later SETs of its subject.
    async fn schedule_retry(
        &self,
        lease_owner: &str,
        id: OutboxId,
        next_attempt_at: UnixMillis,
        error: DeliveryError,
    ) -> StoreResult<OutcomeReport> {
        let outcome = DeliveryOutcome::Retry {
            id,
            next_attempt_at,
            error,
        };
        self.record_outcomes(lease_owner, vec![outcome]).await
    }

    /// A `400` with `err` (PUSH-17): parked as `failed` with the reason; no retry.
    async fn fail_permanently(
        &self,
        lease_owner: &str,
        id: OutboxId,
        error: DeliveryError,
    ) -> StoreResult<OutcomeReport> {
        let outcome = DeliveryOutcome::Failed { id, error };
        self.record_outcomes(lease_owner, vec![outcome]).await
    }

    /// Retries exhausted: parked as `dead`, kept for inspection and [`replay`](Self::replay).
    async fn dead_letter(
        &self,
        lease_owner: &str,
        id: OutboxId,
        error: DeliveryError,
    ) -> StoreResult<OutcomeReport> {
        let outcome = DeliveryOutcome::DeadLetter { id, error };
        self.record_outcomes(lease_owner, vec![outcome]).await
    }

    /// Returns every row whose lease has expired to the queue (held if its stream is paused),
    /// so nothing claimed by a crashed worker or handed out by an unacknowledged poll is lost.
    /// Returns how many. Run it periodically; it wakes workers when it returns rows.
    async fn reap_expired_leases(&self) -> StoreResult<u64>;

    /// The earliest `next_attempt_at` of a claimable push SET, to sleep until then.
    async fn next_push_due(&self) -> StoreResult<Option<UnixMillis>>;

    // --- Outbox: poll (RFC 8936) -------------------------------------------------------------

    /// One poll, in one transaction (RFC 8936 §2.4): first deletes the `ack`ed SETs (POLL-10),
    /// then parks `setErrs` as `failed` with their errors (POLL-11) — unknown jtis in either are
    /// ignored and reported (POLL-22) — then, if the stream is `enabled` (POLL-20), hands out up
    /// to `max_events` SETs oldest first (POLL-06), including ones handed out earlier and not
    /// acknowledged within `redelivery_after_ms`, with the same jti (POLL-12). Never touches
    /// another stream (POLL-19). Counts as activity (POLL-23). Errors: `StreamNotFound`, and
    /// `WrongDeliveryMethod` for a push stream (POLL-21).
    async fn poll(&self, request: PollRequest) -> StoreResult<PollResponse>;

    // --- Outbox: administration and metrics --------------------------------------------------

    /// Drops every queued SET of the client's stream (parked rows stay). `None` if not the
    /// client's stream. `set_stream_status(disabled)` already does this atomically.
    async fn drop_queued(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<Option<u64>>;

    /// Parked rows (dead letters and permanent failures) for inspection, oldest first.
    async fn list_parked(&self, query: ParkedQuery) -> StoreResult<Vec<OutboxEntry>>;

    /// Puts parked rows back in the queue with a fresh attempt count, due now (held if paused;
    /// rows of disabled streams stay parked). Returns how many. Wakes workers.
    async fn replay(&self, selector: ReplaySelector) -> StoreResult<u64>;

    /// Deletes parked rows parked before `finished_before` (retention). Returns how many.
    async fn purge_parked(&self, finished_before: UnixMillis) -> StoreResult<u64>;

    /// Outbox rows by state, for one stream or all (metrics).
    async fn outbox_counts(&self, stream_id: Option<&StreamId>) -> StoreResult<OutboxCounts>;

    /// [`outbox_counts`](Self::outbox_counts) of every stream with outbox rows, in one query
    /// (operator views of many streams); a stream without any is absent.
    async fn outbox_counts_by_stream(&self) -> StoreResult<BTreeMap<StreamId, OutboxCounts>>;

    // --- Audit log ---------------------------------------------------------------------------

    /// Appends an audit entry stamped now; returns its id.
    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64>;

    /// A page of the audit log, oldest first.
    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    // --- OAuth clients -----------------------------------------------------------------------

    /// Creates or replaces a client (keeps `created_at`).
    async fn upsert_client(&self, client: OAuthClient) -> StoreResult<ClientRecord>;

    /// The client, if stored.
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>>;

    /// Every client by id.
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;

    /// Deletes a client; its streams stay. `false` if it did not exist.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;

    // --- Wake-ups and lifecycle --------------------------------------------------------------

    /// Registers for wake-ups: `Some(stream)` for a long poll, `None` for push workers (any
    /// stream). Take it before looking for work, then [`WorkSubscription::wait`] if none.
    fn subscribe(&self, stream_id: Option<&StreamId>) -> WorkSubscription;

    /// Registers for "streams or subjects changed elsewhere": the subscription is signalled
    /// whenever another process sharing this database committed a change to a stream (create,
    /// update, replace, delete, status) or a subject (add, remove), and whenever such changes
    /// may have been missed (e.g. a lost connection). Nothing says which stream changed: a
    /// holder of cached stream or subject data reloads all of it. Changes made through this
    /// store instance are not signalled; its caller knows of them already.
    ///
    /// Take it before loading the data it guards, then [`WorkSubscription::wait`] in a loop
    /// and reload after each signal, so a change committed in between is never missed.
    ///
    /// `None` (the default) when no other process can change the data, so nothing ever needs
    /// signalling: one SQLite file serves one node. PostgreSQL returns a subscription
    /// (`LISTEN`/`NOTIFY`, DESIGN §4) unless its `LISTEN` task is turned off.
    fn config_changes(&self) -> Option<WorkSubscription> {
        None
    }

    /// Finishes pending writes and closes the database. Later calls fail with `Closed`.
    async fn close(&self);
}
