//! The one [`TransmitterStore`] implementation, for every [`Backend`]: reads go to the backend's
//! read pool, writes through [`Backend::write`], which announces what they changed.

use std::{collections::BTreeMap, time::Duration};

use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use ssf_types::{StreamId, UnixMillis};

use super::{
    TransmitterStore, idempotency::Idempotency, outbox::Outbox, poll::Poll, records::Records,
    streams::Streams,
};
use crate::{
    backend::{Announce, Backend, Work},
    engine::Engine,
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
    wake::WorkSubscription,
};

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A value and the streams its write made work for.
type Woken<T> = (T, Vec<StreamId>);

/// Announces the work of a [`Woken`] value.
fn woken<T>(value: &Woken<T>) -> Announce<'_> {
    Announce::work(&value.1)
}

#[async_trait]
impl<B: Backend> TransmitterStore for B
where
    <B::Db as sqlx::Database>::Arguments: IntoArguments<B::Db>,
    for<'c> &'c mut <B::Db as sqlx::Database>::Connection: Executor<'c, Database = B::Db>,
    usize: ColumnIndex<<B::Db as sqlx::Database>::Row>,
    for<'a> &'a str: ColumnIndex<<B::Db as sqlx::Database>::Row> + Encode<'a, B::Db> + Type<B::Db>,
    for<'a> Option<&'a str>: Encode<'a, B::Db>,
    for<'a> String: Encode<'a, B::Db> + Decode<'a, B::Db> + Type<B::Db>,
    for<'a> Option<String>: Encode<'a, B::Db>,
    for<'a> i64: Encode<'a, B::Db> + Decode<'a, B::Db> + Type<B::Db>,
    for<'a> Option<i64>: Encode<'a, B::Db>,
    for<'a> bool: Encode<'a, B::Db> + Decode<'a, B::Db> + Type<B::Db>,
    for<'a> Option<bool>: Encode<'a, B::Db>,
{
    async fn create_stream(&self, stream: NewStream) -> StoreResult<StreamRecord> {
        let now = self.now();
        self.write(
            stream,
            move |c, stream| Box::pin(Streams::create(c, stream.clone(), now)),
            |_| Announce::config_if(true),
        )
        .await
    }

    async fn get_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<StreamRecord>> {
        Streams::select_scoped(self.readers(), client_id, stream_id).await
    }

    async fn list_streams(&self, client_id: &str) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_for_client(self.readers(), client_id).await
    }

    async fn find_stream(&self, stream_id: &StreamId) -> StoreResult<Option<StreamRecord>> {
        Streams::find(self.readers(), stream_id).await
    }

    async fn list_all_streams(
        &self,
        after: Option<&StreamId>,
        limit: u32,
    ) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_all(self.readers(), after, limit).await
    }

    async fn update_stream(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        update: StreamUpdate,
    ) -> StoreResult<Option<StreamRecord>> {
        let now = self.now();
        self.write(
            (client_id.to_owned(), stream_id.clone(), update),
            move |c, (client_id, stream_id, update)| {
                Box::pin(Streams::update(
                    c,
                    client_id,
                    stream_id,
                    update.clone(),
                    now,
                ))
            },
            // A method change may have released waiting SETs.
            |updated| match updated {
                Some(stream) => Announce {
                    work: Work::Streams(std::slice::from_ref(&stream.stream_id)),
                    config: true,
                },
                None => Announce::NOTHING,
            },
        )
        .await
    }

    async fn set_stream_status(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<Option<StatusChange>> {
        let now = self.now();
        let changed = self
            .write(
                (client_id.to_owned(), stream_id.clone(), reason),
                move |c, (client_id, stream_id, reason)| {
                    Box::pin(Streams::set_status(
                        c,
                        client_id,
                        stream_id,
                        status,
                        reason.clone(),
                        now,
                    ))
                },
                |changed| match changed {
                    Some((change, released)) => Announce {
                        work: if *released {
                            Work::Streams(std::slice::from_ref(&change.stream.stream_id))
                        } else {
                            Work::Nothing
                        },
                        config: true,
                    },
                    None => Announce::NOTHING,
                },
            )
            .await?;
        Ok(changed.map(|(change, _)| change))
    }

    async fn delete_stream(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool> {
        self.write(
            (client_id.to_owned(), stream_id.clone()),
            |c, (client_id, stream_id)| Box::pin(Streams::delete(c, client_id, stream_id)),
            |deleted| Announce::config_if(*deleted),
        )
        .await
    }

    async fn touch_activity(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<bool> {
        let now = self.now();
        self.write(
            (client_id.to_owned(), stream_id.clone()),
            move |c, (client_id, stream_id)| Box::pin(Streams::touch(c, client_id, stream_id, now)),
            |_| Announce::NOTHING,
        )
        .await
    }

    async fn list_inactive_streams(&self) -> StoreResult<Vec<StreamRecord>> {
        Streams::list_inactive(self.readers(), self.now()).await
    }

    async fn begin_verification(
        &self,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<VerificationGate>> {
        let now = self.now();
        self.write(
            (client_id.to_owned(), stream_id.clone()),
            move |c, (client_id, stream_id)| {
                Box::pin(Streams::begin_verification(c, client_id, stream_id, now))
            },
            |_| Announce::NOTHING,
        )
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
        let entry = (subject_key.to_owned(), subject, true, verified);
        let now = self.now();
        self.write(
            (client_id.to_owned(), stream_id.clone(), entry),
            move |c, (client_id, stream_id, entry)| {
                Box::pin(Streams::upsert_subject(
                    c,
                    client_id,
                    stream_id,
                    entry.clone(),
                    now,
                ))
            },
            |stored| Announce::config_if(*stored),
        )
        .await
    }

    async fn remove_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
        subject: serde_json::Value,
    ) -> StoreResult<bool> {
        let entry = (subject_key.to_owned(), subject, false, None);
        let now = self.now();
        self.write(
            (client_id.to_owned(), stream_id.clone(), entry),
            move |c, (client_id, stream_id, entry)| {
                Box::pin(Streams::upsert_subject(
                    c,
                    client_id,
                    stream_id,
                    entry.clone(),
                    now,
                ))
            },
            |stored| Announce::config_if(*stored),
        )
        .await
    }

    async fn get_subject(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
    ) -> StoreResult<Option<SubjectEntry>> {
        Streams::get_subject(self.readers(), client_id, stream_id, subject_key).await
    }

    async fn list_subjects(
        &self,
        client_id: &str,
        stream_id: &StreamId,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubjectEntry>> {
        Streams::list_subjects(self.readers(), client_id, stream_id, after_key, limit).await
    }

    async fn subject_entries(&self, subject_keys: &[String]) -> StoreResult<Vec<SubjectEntry>> {
        Streams::subject_entries(self.readers(), subject_keys).await
    }

    async fn count_subjects(&self, stream_id: &StreamId) -> StoreResult<SubjectCounts> {
        Streams::count_subjects(self.readers(), stream_id).await
    }

    async fn subject_counts_by_stream(&self) -> StoreResult<BTreeMap<StreamId, SubjectCounts>> {
        Streams::subject_counts_by_stream(self.readers()).await
    }

    async fn count_streams(&self) -> StoreResult<u64> {
        Streams::count(self.readers()).await
    }

    async fn match_streams(&self, subject_keys: &[String]) -> StoreResult<Vec<StreamId>> {
        Streams::match_streams(self.readers(), subject_keys).await
    }

    async fn enqueue(&self, sets: Vec<NewSet>) -> StoreResult<EnqueueReport> {
        if sets.is_empty() {
            return Ok(EnqueueReport::default());
        }
        let now = self.now();
        let (report, _) = self
            .write(
                sets,
                move |c, sets| Box::pin(<B::Db as Engine>::enqueue(c, sets, now)),
                woken,
            )
            .await?;
        Ok(report)
    }

    async fn enqueue_idempotent(
        &self,
        sets: Vec<NewSet>,
        claim: IdempotencyClaim,
        respond: Respond,
    ) -> StoreResult<IdempotentEnqueue> {
        let now = self.now();
        let (outcome, _) = self
            .write(
                (sets, claim, respond),
                move |c, (sets, claim, respond)| {
                    Box::pin(Idempotency::enqueue(c, sets, claim, respond, now))
                },
                woken,
            )
            .await?;
        Ok(outcome)
    }

    async fn idempotency_record(
        &self,
        client_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        Idempotency::record(self.readers(), client_id, key).await
    }

    async fn purge_idempotency_keys(&self) -> StoreResult<u64> {
        let now = self.now();
        self.write(
            (),
            move |c, ()| Box::pin(Idempotency::purge(c, now)),
            |_| Announce::NOTHING,
        )
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
        let (now, lease_ms) = (self.now(), millis(lease));
        if lease_ms <= 0 {
            return Err(StoreError::InvalidArgument(
                "lease must be positive".to_owned(),
            ));
        }
        self.write(
            lease_owner.to_owned(),
            move |c, owner| Box::pin(Outbox::claim_push(c, owner, max, lease_ms, now)),
            |_| Announce::NOTHING,
        )
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
        let now = self.now();
        let (report, _) = self
            .write(
                (lease_owner.to_owned(), outcomes),
                move |c, (owner, outcomes)| {
                    Box::pin(Outbox::record_outcomes(c, owner, outcomes, now))
                },
                woken,
            )
            .await?;
        Ok(report)
    }

    async fn reap_expired_leases(&self) -> StoreResult<u64> {
        let now = self.now();
        self.write(
            (),
            move |c, ()| Box::pin(Outbox::reap(c, now)),
            |reaped| Announce {
                work: if *reaped > 0 {
                    Work::Everywhere
                } else {
                    Work::Nothing
                },
                config: false,
            },
        )
        .await
    }

    async fn next_push_due(&self) -> StoreResult<Option<UnixMillis>> {
        Outbox::next_push_due(self.readers()).await
    }

    async fn poll(&self, request: PollRequest) -> StoreResult<PollResponse> {
        let now = self.now();
        let (response, _) = self
            .write(
                request,
                move |c, request| Box::pin(Poll::poll(c, request, now)),
                woken,
            )
            .await?;
        Ok(response)
    }

    async fn drop_queued(&self, client_id: &str, stream_id: &StreamId) -> StoreResult<Option<u64>> {
        self.write(
            (client_id.to_owned(), stream_id.clone()),
            |c, (client_id, stream_id)| {
                Box::pin(async move {
                    if Streams::select_scoped(&mut *c, client_id, stream_id)
                        .await?
                        .is_none()
                    {
                        return Ok(None);
                    }
                    Outbox::drop_queued(c, stream_id).await.map(Some)
                })
            },
            |_| Announce::NOTHING,
        )
        .await
    }

    async fn list_parked(&self, query: ParkedQuery) -> StoreResult<Vec<OutboxEntry>> {
        Outbox::list_parked(self.readers(), query).await
    }

    async fn replay(&self, selector: ReplaySelector) -> StoreResult<u64> {
        let now = self.now();
        let (replayed, _) = self
            .write(
                selector,
                move |c, selector| Box::pin(Outbox::replay(c, selector, now)),
                woken,
            )
            .await?;
        Ok(replayed)
    }

    async fn purge_parked(&self, finished_before: UnixMillis) -> StoreResult<u64> {
        self.write(
            (),
            move |c, ()| Box::pin(Outbox::purge_parked(c, finished_before)),
            |_| Announce::NOTHING,
        )
        .await
    }

    async fn outbox_counts(&self, stream_id: Option<&StreamId>) -> StoreResult<OutboxCounts> {
        Outbox::counts(self.readers(), stream_id).await
    }

    async fn outbox_counts_by_stream(&self) -> StoreResult<BTreeMap<StreamId, OutboxCounts>> {
        Outbox::counts_by_stream(self.readers()).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.now();
        self.write(
            entry,
            move |c, entry| Box::pin(Records::append_audit(c, entry.clone(), now)),
            |_| Announce::NOTHING,
        )
        .await
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Records::list_audit(self.readers(), query).await
    }

    async fn upsert_client(&self, client: OAuthClient) -> StoreResult<ClientRecord> {
        let now = self.now();
        self.write(
            client,
            move |c, client| Box::pin(Records::upsert_client(c, client.clone(), now)),
            |_| Announce::NOTHING,
        )
        .await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        Records::get_client(self.readers(), client_id).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        Records::list_clients(self.readers()).await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        self.write(
            client_id.to_owned(),
            |c, client_id| Box::pin(Records::delete_client(c, client_id)),
            |_| Announce::NOTHING,
        )
        .await
    }

    fn subscribe(&self, stream_id: Option<&StreamId>) -> WorkSubscription {
        self.hub().subscribe(stream_id)
    }

    fn config_changes(&self) -> Option<WorkSubscription> {
        self.config_signal()
    }

    async fn close(&self) {
        self.shut_down().await;
    }
}
