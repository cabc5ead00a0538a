//! [`TransmitterStore`] for [`SqliteStore`]: writes through the group-commit writer, reads from the
//! read pool, wake-ups after commit.

use std::time::Duration;

use async_trait::async_trait;
use ssf_types::{StreamId, UnixMillis};

use super::{SqliteStore, outbox};
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

/// The shared stream and subject operations, on SQLite.
type Streams = streams::Streams<sqlx::Sqlite>;
/// The shared audit log and client operations, on SQLite.
type Records = records::Records<sqlx::Sqlite>;
/// The shared poll operation, on SQLite.
type Poll = poll::Poll<sqlx::Sqlite>;
/// The shared outbox operations, on SQLite.
type Outbox = shared_outbox::Outbox<sqlx::Sqlite>;
/// The shared idempotency-key operations, on SQLite.
type Idempotency = idempotency::Idempotency<sqlx::Sqlite>;

impl SqliteStore {
    fn wake(&self, streams: &[StreamId]) {
        for stream in streams {
            self.hub.notify(stream);
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl TransmitterStore for SqliteStore {
    async fn create_stream(&self, stream: NewStream) -> StoreResult<StreamRecord> {
        let now = self.now();
        self.write(move |c| Box::pin(async move { Streams::create(c, stream, now).await }))
            .await
    }

    async fn get_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<StreamRecord>> {
        Streams::select_scoped(&self.readers, client_id, stream_id).await
    }

    async fn list_streams(&self, client_id: &str) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_for_client(&self.readers, client_id).await
    }

    async fn find_stream(&self, stream_id: &StreamId) -> StoreResult<Option<StreamRecord>> {
        Streams::find(&self.readers, stream_id).await
    }

    async fn list_all_streams(
        &self,
        after: Option<&StreamId>,
        limit: u32,
    ) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_all(&self.readers, after, limit).await
    }

    async fn update_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        update: StreamUpdate,
    ) -> StoreResult<Option<StreamRecord>> {
        let (client_id, stream_id, now) = (client_id.to_owned(), stream_id.clone(), self.now());
        let updated = self
            .write(move |c| {
                Box::pin(
                    async move { Streams::update(c, &client_id, &stream_id, update, now).await },
                )
            })
            .await?;
        if let Some(stream) = &updated {
            // A method change may have released waiting SETs.
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
        let (client_id, stream_id, now) = (client_id.to_owned(), stream_id.clone(), self.now());
        let changed = self
            .write(move |c| {
                Box::pin(async move {
                    Streams::set_status(c, &client_id, &stream_id, status, reason, now).await
                })
            })
            .await?;
        Ok(changed.map(|(change, released)| {
            if released {
                self.hub.notify(&change.stream.stream_id);
            }
            change
        }))
    }

    async fn delete_stream(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool> {
        let (client_id, stream_id) = (client_id.to_owned(), stream_id.clone());
        self.write(move |c| {
            Box::pin(async move { Streams::delete(c, &client_id, &stream_id).await })
        })
        .await
    }

    async fn touch_activity(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool> {
        let (client_id, stream_id, now) = (client_id.to_owned(), stream_id.clone(), self.now());
        self.write(move |c| {
            Box::pin(async move { Streams::touch(c, &client_id, &stream_id, now).await })
        })
        .await
    }

    async fn list_inactive_streams(&self) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_inactive(&self.readers, self.now()).await
    }

    async fn begin_verification(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<VerificationGate>> {
        let (client_id, stream_id, now) = (client_id.to_owned(), stream_id.clone(), self.now());
        self.write(move |c| {
            Box::pin(
                async move { Streams::begin_verification(c, &client_id, &stream_id, now).await },
            )
        })
        .await
    }

    async fn add_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
        verified: Option<bool>,
    ) -> StoreResult<bool> {
        let (client_id, stream_id, now) = (client_id.to_owned(), stream_id.clone(), self.now());
        let entry = (subject_key.to_owned(), subject, true, verified);
        self.write(move |c| {
            Box::pin(
                async move { Streams::upsert_subject(c, &client_id, &stream_id, entry, now).await },
            )
        })
        .await
    }

    async fn remove_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
    ) -> StoreResult<bool> {
        let (client_id, stream_id, now) = (client_id.to_owned(), stream_id.clone(), self.now());
        let entry = (subject_key.to_owned(), subject, false, None);
        self.write(move |c| {
            Box::pin(
                async move { Streams::upsert_subject(c, &client_id, &stream_id, entry, now).await },
            )
        })
        .await
    }

    async fn get_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
    ) -> StoreResult<Option<SubjectEntry>> {
        Streams::get_subject(&self.readers, client_id, stream_id, subject_key).await
    }

    async fn list_subjects(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubjectEntry>> {
        Streams::list_subjects(&self.readers, client_id, stream_id, after_key, limit).await
    }

    async fn subject_entries(&self, subject_keys: &[String]) -> StoreResult<Vec<SubjectEntry>> {
        Streams::subject_entries(&self.readers, subject_keys).await
    }

    async fn count_subjects(&self, stream_id: &StreamId) -> StoreResult<SubjectCounts> {
        Streams::count_subjects(&self.readers, stream_id).await
    }

    async fn match_streams(&self, subject_keys: &[String]) -> StoreResult<Vec<StreamId>> {
        Streams::match_streams(&self.readers, subject_keys).await
    }

    async fn enqueue(&self, sets: Vec<NewSet>) -> StoreResult<EnqueueReport> {
        if sets.is_empty() {
            return Ok(EnqueueReport::default());
        }
        let now = self.now();
        let (report, woken) = self
            .write(move |c| Box::pin(async move { outbox::enqueue(c, &sets, now).await }))
            .await?;
        self.wake(&woken);
        Ok(report)
    }

    async fn enqueue_idempotent(
        &self,
        sets: Vec<NewSet>,
        claim: IdempotencyClaim,
        respond: Respond,
    ) -> StoreResult<IdempotentEnqueue> {
        let now = self.now();
        let (outcome, woken) = self
            .write(move |c| {
                Box::pin(async move { Idempotency::enqueue(c, &sets, &claim, &respond, now).await })
            })
            .await?;
        self.wake(&woken);
        Ok(outcome)
    }

    async fn idempotency_record(
        &self,
        client_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        Idempotency::record(&self.readers, client_id, key).await
    }

    async fn purge_idempotency_keys(&self) -> StoreResult<u64> {
        let now = self.now();
        self.write(move |c| Box::pin(async move { Idempotency::purge(c, now).await }))
            .await
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
        let (owner, now, lease_ms) = (lease_owner.to_owned(), self.now(), millis(lease));
        if lease_ms <= 0 {
            return Err(StoreError::InvalidArgument(
                "lease must be positive".to_owned(),
            ));
        }
        self.write(move |c| {
            Box::pin(async move { Outbox::claim_push(c, &owner, max, lease_ms, now).await })
        })
        .await
    }

    async fn record_outcomes(
        &self,
        lease_owner: &str,
        outcomes: Vec<DeliveryOutcome>,
    ) -> StoreResult<OutcomeReport> {
        if outcomes.is_empty() {
            return Ok(OutcomeReport::default());
        }
        let (owner, now) = (lease_owner.to_owned(), self.now());
        let (report, woken) = self
            .write(move |c| {
                Box::pin(async move { Outbox::record_outcomes(c, &owner, &outcomes, now).await })
            })
            .await?;
        self.wake(&woken);
        Ok(report)
    }

    async fn reap_expired_leases(&self) -> StoreResult<u64> {
        let now = self.now();
        let reaped = self
            .write(move |c| Box::pin(async move { Outbox::reap(c, now).await }))
            .await?;
        if reaped > 0 {
            self.hub.notify_all();
        }
        Ok(reaped)
    }

    async fn next_push_due(&self) -> StoreResult<Option<UnixMillis>> {
        Outbox::next_push_due(&self.readers).await
    }

    async fn poll(&self, request: PollRequest) -> StoreResult<PollResponse> {
        let now = self.now();
        let (response, woken) = self
            .write(move |c| Box::pin(async move { Poll::poll(c, &request, now).await }))
            .await?;
        self.wake(&woken);
        Ok(response)
    }

    async fn drop_queued(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<Option<u64>> {
        let (client_id, stream_id) = (client_id.to_owned(), stream_id.clone());
        self.write(move |c| {
            Box::pin(async move {
                if Streams::select_scoped(&mut *c, &client_id, &stream_id)
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
                Outbox::drop_queued(c, &stream_id).await.map(Some)
            })
        })
        .await
    }

    async fn list_parked(&self, query: ParkedQuery) -> StoreResult<Vec<OutboxEntry>> {
        Outbox::list_parked(&self.readers, query).await
    }

    async fn replay(&self, selector: ReplaySelector) -> StoreResult<u64> {
        let now = self.now();
        let (replayed, woken) = self
            .write(move |c| Box::pin(async move { Outbox::replay(c, &selector, now).await }))
            .await?;
        self.wake(&woken);
        Ok(replayed)
    }

    async fn purge_parked(&self, finished_before: UnixMillis) -> StoreResult<u64> {
        self.write(move |c| Box::pin(async move { Outbox::purge_parked(c, finished_before).await }))
            .await
    }

    async fn outbox_counts(&self, stream_id: Option<&StreamId>) -> StoreResult<OutboxCounts> {
        Outbox::counts(&self.readers, stream_id).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.now();
        self.write(move |c| Box::pin(async move { Records::append_audit(c, entry, now).await }))
            .await
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Records::list_audit(&self.readers, query).await
    }

    async fn upsert_client(&self, client: OAuthClient) -> StoreResult<ClientRecord> {
        let now = self.now();
        self.write(move |c| Box::pin(async move { Records::upsert_client(c, client, now).await }))
            .await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        Records::get_client(&self.readers, client_id).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        Records::list_clients(&self.readers).await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        self.write(move |c| Box::pin(async move { Records::delete_client(c, &client_id).await }))
            .await
    }

    fn subscribe(&self, stream_id: Option<&StreamId>) -> WorkSubscription {
        self.hub.subscribe(stream_id)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}
