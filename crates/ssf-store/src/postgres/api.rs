//! [`TransmitterStore`] for [`PgStore`]: every write is one transaction (run again if it lost a
//! race, see [`transaction!`](super::transaction)); reads go straight to the pool. Wake-ups are
//! sent with `NOTIFY` inside the transaction (other nodes) and to the local hub after commit.
//! Every write that changes a stream or a subject also sends `NOTIFY` on the configuration
//! channel ([`notify_config_in`]), for the other nodes' [`TransmitterStore::config_changes`].

use std::time::Duration;

use async_trait::async_trait;
use ssf_types::{StreamId, UnixMillis};

use super::{PgStore, notify_config_in, notify_in, outbox, transaction};
use crate::{
    error::{StoreError, StoreResult},
    model::{
        AuditEntry, AuditQuery, ClientRecord, NewAuditEntry, NewStream, OAuthClient, StatusChange,
        StreamRecord, StreamStatus, StreamUpdate, SubjectCounts, SubjectEntry, VerificationGate,
        idempotency::{IdempotencyClaim, IdempotencyRecord, IdempotentEnqueue, Respond},
        outbox::{
            ClaimedSet, DeliveryOutcome, EnqueueReport, NewSet, OutboxCounts, OutboxEntry,
            OutcomeReport, ParkedQuery, PollRequest, PollResponse, ReplaySelector,
        },
    },
    transmitter::{TransmitterStore, idempotency, outbox as shared_outbox, poll, records, streams},
    wake::WorkSubscription,
};

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The shared stream and subject operations, on PostgreSQL.
type Streams = streams::Streams<sqlx::Postgres>;
/// The shared audit log and client operations, on PostgreSQL.
type Records = records::Records<sqlx::Postgres>;
/// The shared poll operation, on PostgreSQL.
type Poll = poll::Poll<sqlx::Postgres>;
/// The shared outbox operations, on PostgreSQL.
type Outbox = shared_outbox::Outbox<sqlx::Postgres>;
/// The shared idempotency-key operations, on PostgreSQL.
type Idempotency = idempotency::Idempotency<sqlx::Postgres>;

#[async_trait]
impl TransmitterStore for PgStore {
    async fn create_stream(&self, stream: NewStream) -> StoreResult<StreamRecord> {
        let now = self.now();
        transaction!(self.pool, |tx| {
            let created = Streams::create(tx, stream.clone(), now).await?;
            notify_config_in(tx, &self.notifier).await?;
            Ok(created)
        })
    }

    async fn get_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<StreamRecord>> {
        Streams::select_scoped(&self.pool, client_id, stream_id).await
    }

    async fn list_streams(&self, client_id: &str) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_for_client(&self.pool, client_id).await
    }

    async fn find_stream(&self, stream_id: &StreamId) -> StoreResult<Option<StreamRecord>> {
        Streams::find(&self.pool, stream_id).await
    }

    async fn list_all_streams(
        &self,
        after: Option<&StreamId>,
        limit: u32,
    ) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_all(&self.pool, after, limit).await
    }

    async fn update_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        update: StreamUpdate,
    ) -> StoreResult<Option<StreamRecord>> {
        let now = self.now();
        let updated = transaction!(self.pool, |tx| {
            let updated = Streams::update(tx, client_id, stream_id, update.clone(), now).await?;
            if updated.is_some() {
                // A method change may have released waiting SETs.
                notify_in(tx, &self.notifier, Some(std::slice::from_ref(stream_id))).await?;
                notify_config_in(tx, &self.notifier).await?;
            }
            Ok(updated)
        })?;
        if let Some(stream) = &updated {
            self.hub.notify(&stream.stream_id);
        }
        Ok(updated)
    }

    async fn set_stream_status(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<Option<StatusChange>> {
        let now = self.now();
        let changed = transaction!(self.pool, |tx| {
            let changed =
                Streams::set_status(tx, client_id, stream_id, status, reason.clone(), now).await?;
            if matches!(changed, Some((_, true))) {
                notify_in(tx, &self.notifier, Some(std::slice::from_ref(stream_id))).await?;
            }
            if changed.is_some() {
                notify_config_in(tx, &self.notifier).await?;
            }
            Ok(changed)
        })?;
        Ok(changed.map(|(change, released)| {
            if released {
                self.hub.notify(&change.stream.stream_id);
            }
            change
        }))
    }

    async fn delete_stream(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool> {
        transaction!(self.pool, |tx| {
            let deleted = Streams::delete(tx, client_id, stream_id).await?;
            if deleted {
                notify_config_in(tx, &self.notifier).await?;
            }
            Ok(deleted)
        })
    }

    async fn touch_activity(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool> {
        let now = self.now();
        transaction!(self.pool, |tx| Streams::touch(
            tx, client_id, stream_id, now
        )
        .await)
    }

    async fn list_inactive_streams(&self) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_inactive(&self.pool, self.now()).await
    }

    async fn begin_verification(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<VerificationGate>> {
        let now = self.now();
        transaction!(self.pool, |tx| {
            Streams::begin_verification(tx, client_id, stream_id, now).await
        })
    }

    async fn add_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
        verified: Option<bool>,
    ) -> StoreResult<bool> {
        let now = self.now();
        transaction!(self.pool, |tx| {
            let entry = (subject_key.to_owned(), subject.clone(), true, verified);
            let stored = Streams::upsert_subject(tx, client_id, stream_id, entry, now).await?;
            if stored {
                notify_config_in(tx, &self.notifier).await?;
            }
            Ok(stored)
        })
    }

    async fn remove_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
    ) -> StoreResult<bool> {
        let now = self.now();
        transaction!(self.pool, |tx| {
            let entry = (subject_key.to_owned(), subject.clone(), false, None);
            let stored = Streams::upsert_subject(tx, client_id, stream_id, entry, now).await?;
            if stored {
                notify_config_in(tx, &self.notifier).await?;
            }
            Ok(stored)
        })
    }

    async fn get_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
    ) -> StoreResult<Option<SubjectEntry>> {
        Streams::get_subject(&self.pool, client_id, stream_id, subject_key).await
    }

    async fn list_subjects(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubjectEntry>> {
        Streams::list_subjects(&self.pool, client_id, stream_id, after_key, limit).await
    }

    async fn subject_entries(&self, subject_keys: &[String]) -> StoreResult<Vec<SubjectEntry>> {
        Streams::subject_entries(&self.pool, subject_keys).await
    }

    async fn count_subjects(&self, stream_id: &StreamId) -> StoreResult<SubjectCounts> {
        Streams::count_subjects(&self.pool, stream_id).await
    }

    async fn match_streams(&self, subject_keys: &[String]) -> StoreResult<Vec<StreamId>> {
        Streams::match_streams(&self.pool, subject_keys).await
    }

    async fn enqueue(&self, sets: Vec<NewSet>) -> StoreResult<EnqueueReport> {
        if sets.is_empty() {
            return Ok(EnqueueReport::default());
        }
        let now = self.now();
        let (report, woken) = transaction!(self.pool, |tx| {
            let (report, woken) = outbox::enqueue(tx, &sets, now).await?;
            notify_in(tx, &self.notifier, Some(&woken)).await?;
            Ok((report, woken))
        })?;
        self.wake_local(&woken);
        Ok(report)
    }

    async fn enqueue_idempotent(
        &self,
        sets: Vec<NewSet>,
        claim: IdempotencyClaim,
        respond: Respond,
    ) -> StoreResult<IdempotentEnqueue> {
        let now = self.now();
        let (outcome, woken) = transaction!(self.pool, |tx| {
            let (outcome, woken) = Idempotency::enqueue(tx, &sets, &claim, &respond, now).await?;
            notify_in(tx, &self.notifier, Some(&woken)).await?;
            Ok((outcome, woken))
        })?;
        self.wake_local(&woken);
        Ok(outcome)
    }

    async fn idempotency_record(
        &self,
        client_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        Idempotency::record(&self.pool, client_id, key).await
    }

    async fn purge_idempotency_keys(&self) -> StoreResult<u64> {
        let now = self.now();
        transaction!(self.pool, |tx| Idempotency::purge(tx, now).await)
    }

    async fn claim_push(
        &self,
        lease_owner: &str,
        max: u32,
        lease: Duration,
    ) -> StoreResult<Vec<ClaimedSet>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let (now, lease_ms) = (self.now(), millis(lease));
        if lease_ms <= 0 {
            return Err(StoreError::InvalidArgument(
                "lease must be positive".to_owned(),
            ));
        }
        transaction!(self.pool, |tx| {
            Outbox::claim_push(tx, lease_owner, max, lease_ms, now).await
        })
    }

    async fn record_outcomes(
        &self,
        lease_owner: &str,
        outcomes: Vec<DeliveryOutcome>,
    ) -> StoreResult<OutcomeReport> {
        if outcomes.is_empty() {
            return Ok(OutcomeReport::default());
        }
        let now = self.now();
        let (report, woken) = transaction!(self.pool, |tx| {
            let (report, woken) = Outbox::record_outcomes(tx, lease_owner, &outcomes, now).await?;
            notify_in(tx, &self.notifier, Some(&woken)).await?;
            Ok((report, woken))
        })?;
        self.wake_local(&woken);
        Ok(report)
    }

    async fn reap_expired_leases(&self) -> StoreResult<u64> {
        let now = self.now();
        let reaped = transaction!(self.pool, |tx| {
            let reaped = Outbox::reap(tx, now).await?;
            if reaped > 0 {
                notify_in(tx, &self.notifier, None).await?;
            }
            Ok(reaped)
        })?;
        if reaped > 0 {
            self.hub.notify_all();
        }
        Ok(reaped)
    }

    async fn next_push_due(&self) -> StoreResult<Option<UnixMillis>> {
        Outbox::next_push_due(&self.pool).await
    }

    async fn poll(&self, request: PollRequest) -> StoreResult<PollResponse> {
        let now = self.now();
        let (response, woken) = transaction!(self.pool, |tx| {
            let (response, woken) = Poll::poll(tx, &request, now).await?;
            notify_in(tx, &self.notifier, Some(&woken)).await?;
            Ok((response, woken))
        })?;
        self.wake_local(&woken);
        Ok(response)
    }

    async fn drop_queued(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<Option<u64>> {
        transaction!(self.pool, |tx| {
            if Streams::select_scoped(&mut *tx, client_id, stream_id)
                .await?
                .is_none()
            {
                Ok(None)
            } else {
                Outbox::drop_queued(tx, stream_id).await.map(Some)
            }
        })
    }

    async fn list_parked(&self, query: ParkedQuery) -> StoreResult<Vec<OutboxEntry>> {
        Outbox::list_parked(&self.pool, query).await
    }

    async fn replay(&self, selector: ReplaySelector) -> StoreResult<u64> {
        let now = self.now();
        let (replayed, woken) = transaction!(self.pool, |tx| {
            let (replayed, woken) = Outbox::replay(tx, &selector, now).await?;
            notify_in(tx, &self.notifier, Some(&woken)).await?;
            Ok((replayed, woken))
        })?;
        self.wake_local(&woken);
        Ok(replayed)
    }

    async fn purge_parked(&self, finished_before: UnixMillis) -> StoreResult<u64> {
        transaction!(self.pool, |tx| Outbox::purge_parked(tx, finished_before)
            .await)
    }

    async fn outbox_counts(&self, stream_id: Option<&StreamId>) -> StoreResult<OutboxCounts> {
        Outbox::counts(&self.pool, stream_id).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.now();
        transaction!(self.pool, |tx| Records::append_audit(
            tx,
            entry.clone(),
            now
        )
        .await)
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Records::list_audit(&self.pool, query).await
    }

    async fn upsert_client(&self, client: OAuthClient) -> StoreResult<ClientRecord> {
        let now = self.now();
        transaction!(self.pool, |tx| Records::upsert_client(
            tx,
            client.clone(),
            now
        )
        .await)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        Records::get_client(&self.pool, client_id).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        Records::list_clients(&self.pool).await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        transaction!(self.pool, |tx| Records::delete_client(tx, client_id).await)
    }

    fn subscribe(&self, stream_id: Option<&StreamId>) -> WorkSubscription {
        self.hub.subscribe(stream_id)
    }

    /// Signalled for every stream or subject change another node commits on this schema, and
    /// once after each lost `LISTEN` connection; `None` with [`PgOptions::listen`] off.
    ///
    /// [`PgOptions::listen`]: super::PgOptions::listen
    fn config_changes(&self) -> Option<WorkSubscription> {
        self.config_hub.as_ref().map(|hub| hub.subscribe(None))
    }

    async fn close(&self) {
        self.stop_listener();
        self.pool.close().await;
    }
}
