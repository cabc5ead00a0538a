//! The one [`ReceiverStore`] implementation, for every [`ReceiverBackend`]: reads go to the
//! backend's read pool, writes through [`ReceiverBackend::transact`]; the batch and the state
//! change log are the backend's.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use ssf_types::{StreamId, UnixMillis};

use super::{
    ApplyItem, ApplyResult, ReceiverAuditQuery, ReceiverStore, ReceiverStream,
    ReceiverStreamRecord, StateChanges, StateRow, tables::Tables,
};
use crate::{
    backend::ReceiverBackend,
    error::StoreResult,
    model::{AuditEntry, AuditQuery, NewAuditEntry, StreamStatus},
    wake::WorkSubscription,
};

/// Rows deleted per purge transaction.
const PURGE_CHUNK: i64 = 5000;

#[async_trait]
impl<B: ReceiverBackend> ReceiverStore for B
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
    async fn apply_batch(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.apply(items).await
    }

    async fn is_seen(&self, iss: &str, jti: &str) -> StoreResult<bool> {
        Tables::is_seen(self.readers(), iss, jti).await
    }

    async fn seen_among(&self, keys: &[(String, String)]) -> StoreResult<Vec<bool>> {
        Tables::seen_among(self.readers(), keys).await
    }

    async fn purge_seen(&self, older_than: UnixMillis) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let removed = self
                .transact((), move |c, ()| {
                    Box::pin(Tables::purge_seen_chunk(c, older_than, PURGE_CHUNK))
                })
                .await?;
            total += removed;
            if removed < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn seen_count(&self) -> StoreResult<u64> {
        Tables::seen_count(self.readers()).await
    }

    async fn load_state(&self) -> StoreResult<Vec<StateRow>> {
        Tables::load_state(self.readers()).await
    }

    async fn state_rows(&self, kind: &str) -> StoreResult<Vec<StateRow>> {
        Tables::state_rows(self.readers(), kind).await
    }

    async fn state_log_head(&self) -> StoreResult<Option<i64>> {
        ReceiverBackend::state_log_head(self).await
    }

    async fn state_changes(&self, cursor: i64, limit: u32) -> StoreResult<StateChanges> {
        ReceiverBackend::state_changes(self, cursor, limit).await
    }

    async fn purge_state_log(&self, older_than: UnixMillis) -> StoreResult<u64> {
        ReceiverBackend::purge_state_log(self, older_than).await
    }

    fn state_change_signal(&self) -> Option<WorkSubscription> {
        ReceiverBackend::state_change_signal(self)
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.now();
        self.transact(entry, move |c, entry| {
            Box::pin(Tables::append_audit(c, entry, now))
        })
        .await
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let query = ReceiverAuditQuery {
            stream_key: query.stream_id.map(StreamId::into_string),
            after_id: query.after_id,
            limit: query.limit,
            ..ReceiverAuditQuery::default()
        };
        Tables::query_audit(self.readers(), &query).await
    }

    async fn query_audit(&self, query: ReceiverAuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Tables::query_audit(self.readers(), &query).await
    }

    async fn purge_audit(&self, older_than: UnixMillis) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let (removed, subjects) = self
                .transact((), move |c, ()| {
                    Box::pin(Tables::purge_audit_chunk(c, older_than, PURGE_CHUNK))
                })
                .await?;
            total += removed;
            if removed < PURGE_CHUNK as u64 && subjects < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn upsert_stream(&self, stream: ReceiverStream) -> StoreResult<ReceiverStreamRecord> {
        let now = self.now();
        self.transact(stream, move |c, stream| {
            Box::pin(Tables::upsert_stream(c, stream, now))
        })
        .await
    }

    async fn get_stream(&self, stream_key: &str) -> StoreResult<Option<ReceiverStreamRecord>> {
        Tables::get_stream(self.readers(), stream_key).await
    }

    async fn list_streams(&self) -> StoreResult<Vec<ReceiverStreamRecord>> {
        Tables::list_streams(self.readers()).await
    }

    async fn delete_stream(&self, stream_key: &str) -> StoreResult<bool> {
        self.transact(stream_key.to_owned(), |c, key| {
            Box::pin(Tables::delete_stream(c, key))
        })
        .await
    }

    async fn set_stream_status(
        &self,
        stream_key: &str,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<bool> {
        let now = self.now();
        self.transact((stream_key.to_owned(), reason), move |c, (key, reason)| {
            Box::pin(Tables::set_stream_status(
                c,
                key,
                status,
                reason.as_deref(),
                now,
            ))
        })
        .await
    }

    async fn set_expected_verification_state(
        &self,
        stream_key: &str,
        state: Option<String>,
    ) -> StoreResult<bool> {
        let now = self.now();
        self.transact((stream_key.to_owned(), state), move |c, (key, state)| {
            Box::pin(Tables::set_expected_verification_state(
                c,
                key,
                state.as_deref(),
                now,
            ))
        })
        .await
    }

    async fn is_expected_verification_state(
        &self,
        stream_key: &str,
        state: &str,
    ) -> StoreResult<bool> {
        Tables::is_expected_verification_state(self.readers(), stream_key, state, self.now()).await
    }

    async fn close(&self) {
        self.shut_down().await;
    }
}
