//! Streams and subjects, on either engine: the shared SQL of `sql`, with the row locks of
//! [`Engine`] where SQLite's single writer made a read-then-write safe and PostgreSQL needs a
//! lock (revision check, status change, verification gate, subject of a stream being changed).

use std::{collections::BTreeMap, marker::PhantomData};

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::Engine,
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, NewStream, StatusChange, StreamRecord, StreamStatus, StreamUpdate,
        SubjectCounts, SubjectEntry, VerificationGate,
    },
    rows::{self, StreamRow, SubjectRow},
    sql,
};

/// Keys per statement; far below SQLite's variable limit and PostgreSQL's 65535 parameters.
const KEYS_PER_STATEMENT: usize = 512;

/// The stream and subject operations on engine `D`.
pub(crate) struct Streams<D>(PhantomData<D>);

impl<D: Engine> Streams<D>
where
    D::Arguments: IntoArguments<D>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    usize: ColumnIndex<D::Row>,
    for<'a> &'a str: ColumnIndex<D::Row> + Encode<'a, D> + Type<D>,
    for<'a> Option<&'a str>: Encode<'a, D>,
    for<'a> String: Encode<'a, D> + Decode<'a, D> + Type<D>,
    for<'a> Option<String>: Encode<'a, D>,
    for<'a> i64: Encode<'a, D> + Decode<'a, D> + Type<D>,
    for<'a> Option<i64>: Encode<'a, D>,
    for<'a> bool: Encode<'a, D> + Decode<'a, D> + Type<D>,
    for<'a> Option<bool>: Encode<'a, D>,
{
    /// The stream if it belongs to `client_id`.
    pub(crate) async fn select_scoped<'e>(
        e: impl Executor<'e, Database = D>,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<StreamRecord>> {
        sqlx::query_as::<_, StreamRow>(sql::SELECT_STREAM_SCOPED)
            .bind(stream_id.as_str())
            .bind(client_id)
            .fetch_optional(e)
            .await?
            .map(StreamRow::into_record)
            .transpose()
    }

    pub(crate) async fn list_for_client(
        pool: &Pool<D>,
        client_id: &str,
    ) -> StoreResult<Vec<StreamRecord>> {
        let rows = sqlx::query_as::<_, StreamRow>(sql::SELECT_CLIENT_STREAMS)
            .bind(client_id)
            .fetch_all(pool)
            .await?;
        rows::stream_records(rows)
    }

    pub(crate) async fn find(
        pool: &Pool<D>,
        stream_id: &StreamId,
    ) -> StoreResult<Option<StreamRecord>> {
        sqlx::query_as::<_, StreamRow>(sql::SELECT_STREAM)
            .bind(stream_id.as_str())
            .fetch_optional(pool)
            .await?
            .map(StreamRow::into_record)
            .transpose()
    }

    pub(crate) async fn list_all(
        pool: &Pool<D>,
        after: Option<&StreamId>,
        limit: u32,
    ) -> StoreResult<Vec<StreamRecord>> {
        let rows = sqlx::query_as::<_, StreamRow>(sql::SELECT_ALL_STREAMS)
            .bind(after.map_or("", StreamId::as_str))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
        rows::stream_records(rows)
    }

    pub(crate) async fn list_inactive(
        pool: &Pool<D>,
        now: UnixMillis,
    ) -> StoreResult<Vec<StreamRecord>> {
        let rows = sqlx::query_as::<_, StreamRow>(sql::SELECT_INACTIVE_STREAMS)
            .bind(now.0)
            .fetch_all(pool)
            .await?;
        rows::stream_records(rows)
    }

    pub(crate) async fn create(
        conn: &mut D::Connection,
        stream: NewStream,
        now: UnixMillis,
    ) -> StoreResult<StreamRecord> {
        let config = serde_json::to_string(&stream.config)?;
        sqlx::query(sql::INSERT_STREAM)
            .bind(stream.stream_id.as_str())
            .bind(&stream.client_id)
            .bind(stream.delivery.as_str())
            .bind(stream.status.as_str())
            .bind(stream.default_subjects.as_str())
            .bind(config)
            .bind(stream.inactivity_timeout_secs)
            .bind(stream.min_verification_interval_secs)
            .bind(now.0)
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::conflict_or(e, || format!("stream {}", stream.stream_id)))?;
        Self::select_scoped(&mut *conn, &stream.client_id, &stream.stream_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("inserted stream not found".to_owned()))
    }

    /// `(status, delivery, revision)` of the client's stream, read (and locked) with `query`.
    async fn state_scoped(
        conn: &mut D::Connection,
        query: &'static str,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<Option<(StreamStatus, DeliveryMethod, i64)>> {
        let row: Option<(String, String, i64)> = sqlx::query_as(query)
            .bind(stream_id.as_str())
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|(status, delivery, revision)| {
            let status = StreamStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("stream status {status:?}")))?;
            let delivery = DeliveryMethod::parse(&delivery)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery method {delivery:?}")))?;
            Ok((status, delivery, revision))
        })
        .transpose()
    }

    pub(crate) async fn update(
        conn: &mut D::Connection,
        client_id: &str,
        stream_id: &StreamId,
        update: StreamUpdate,
        now: UnixMillis,
    ) -> StoreResult<Option<StreamRecord>> {
        let lock = D::STREAM_STATE_FOR_UPDATE;
        let Some((status, delivery, revision)) =
            Self::state_scoped(conn, lock, client_id, stream_id).await?
        else {
            return Ok(None);
        };
        if update
            .expected_revision
            .is_some_and(|expected| expected != revision)
        {
            return Err(StoreError::RevisionMismatch { current: revision });
        }
        sqlx::query(sql::UPDATE_STREAM_CONFIG)
            .bind(stream_id.as_str())
            .bind(serde_json::to_string(&update.config)?)
            .bind(update.delivery.as_str())
            .bind(update.inactivity_timeout_secs)
            .bind(update.min_verification_interval_secs)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        if delivery != update.delivery {
            D::rechannel(conn, stream_id, update.delivery, status).await?;
        }
        Self::select_scoped(&mut *conn, client_id, stream_id).await
    }

    /// Changes the status; the flag says whether held SETs were released (wake workers).
    pub(crate) async fn set_status(
        conn: &mut D::Connection,
        client_id: &str,
        stream_id: &StreamId,
        status: StreamStatus,
        reason: Option<String>,
        now: UnixMillis,
    ) -> StoreResult<Option<(StatusChange, bool)>> {
        let lock = D::STREAM_STATE_FOR_UPDATE;
        let Some((previous, _, _)) = Self::state_scoped(conn, lock, client_id, stream_id).await?
        else {
            return Ok(None);
        };
        sqlx::query(sql::UPDATE_STREAM_STATUS)
            .bind(stream_id.as_str())
            .bind(status.as_str())
            .bind(reason)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        let mut dropped = 0;
        let mut released = false;
        match status {
            StreamStatus::Paused => {
                sqlx::query(sql::HOLD_STREAM)
                    .bind(stream_id.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
            StreamStatus::Enabled => {
                let done = sqlx::query(sql::RELEASE_STREAM)
                    .bind(stream_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                released = D::rows_affected(&done) > 0;
            }
            StreamStatus::Disabled => {
                let done = sqlx::query(sql::DROP_QUEUED)
                    .bind(stream_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                dropped = D::rows_affected(&done);
            }
        }
        let stream = Self::select_scoped(&mut *conn, client_id, stream_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("updated stream not found".to_owned()))?;
        Ok(Some((
            StatusChange {
                previous,
                stream,
                dropped,
            },
            released,
        )))
    }

    pub(crate) async fn delete(
        conn: &mut D::Connection,
        client_id: &str,
        stream_id: &StreamId,
    ) -> StoreResult<bool> {
        let done = sqlx::query(sql::DELETE_STREAM)
            .bind(stream_id.as_str())
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done) > 0)
    }

    pub(crate) async fn touch(
        conn: &mut D::Connection,
        client_id: &str,
        stream_id: &StreamId,
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let done = sqlx::query(sql::TOUCH_STREAM)
            .bind(stream_id.as_str())
            .bind(client_id)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        Ok(D::rows_affected(&done) > 0)
    }

    pub(crate) async fn begin_verification(
        conn: &mut D::Connection,
        client_id: &str,
        stream_id: &StreamId,
        now: UnixMillis,
    ) -> StoreResult<Option<VerificationGate>> {
        let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(D::VERIFICATION_FOR_UPDATE)
            .bind(stream_id.as_str())
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some((interval_secs, last)) = row else {
            return Ok(None);
        };
        if let (Some(secs), Some(last)) = (interval_secs, last) {
            let next_allowed_at = UnixMillis(last).plus_millis(secs.saturating_mul(1000));
            if now < next_allowed_at {
                return Ok(Some(VerificationGate::TooSoon { next_allowed_at }));
            }
        }
        sqlx::query(sql::RECORD_VERIFICATION)
            .bind(stream_id.as_str())
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        Ok(Some(VerificationGate::Allowed))
    }

    /// Records a subject as included or excluded on the client's stream.
    pub(crate) async fn upsert_subject(
        conn: &mut D::Connection,
        client_id: &str,
        stream_id: &StreamId,
        entry: (String, serde_json::Value, bool, Option<bool>),
        now: UnixMillis,
    ) -> StoreResult<bool> {
        let lock = D::STREAM_STATE_FOR_KEY_SHARE;
        if Self::state_scoped(conn, lock, client_id, stream_id)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let (subject_key, subject, included, verified) = entry;
        sqlx::query(sql::UPSERT_SUBJECT)
            .bind(stream_id.as_str())
            .bind(subject_key)
            .bind(serde_json::to_string(&subject)?)
            .bind(included)
            .bind(verified)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
        Ok(true)
    }

    pub(crate) async fn get_subject(
        pool: &Pool<D>,
        client_id: &str,
        stream_id: &StreamId,
        subject_key: &str,
    ) -> StoreResult<Option<SubjectEntry>> {
        sqlx::query_as::<_, SubjectRow>(sql::SELECT_SUBJECT)
            .bind(stream_id.as_str())
            .bind(client_id)
            .bind(subject_key)
            .fetch_optional(pool)
            .await?
            .map(SubjectRow::into_entry)
            .transpose()
    }

    pub(crate) async fn list_subjects(
        pool: &Pool<D>,
        client_id: &str,
        stream_id: &StreamId,
        after_key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubjectEntry>> {
        let rows = sqlx::query_as::<_, SubjectRow>(sql::LIST_SUBJECTS)
            .bind(stream_id.as_str())
            .bind(client_id)
            .bind(after_key.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
        rows::subject_entries(rows)
    }

    pub(crate) async fn subject_entries(
        pool: &Pool<D>,
        keys: &[String],
    ) -> StoreResult<Vec<SubjectEntry>> {
        let mut out = Vec::new();
        for chunk in sql::pow2_chunks(keys, KEYS_PER_STATEMENT) {
            // Safe: only generated placeholders are interpolated.
            let text = format!(
                "{}{} ORDER BY x.stream_id, x.subject_key",
                sql::SUBJECT_ENTRIES_PREFIX,
                sql::param_list(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, SubjectRow>(AssertSqlSafe(text));
            for key in chunk {
                query = query.bind(key.as_str());
            }
            out.extend(rows::subject_entries(query.fetch_all(pool).await?)?);
        }
        out.sort_by(|a, b| (&a.stream_id, &a.subject_key).cmp(&(&b.stream_id, &b.subject_key)));
        Ok(out)
    }

    /// Added and removed subjects of a stream (the primary key's index covers it).
    pub(crate) async fn count_subjects(
        pool: &Pool<D>,
        stream_id: &StreamId,
    ) -> StoreResult<SubjectCounts> {
        let rows: Vec<(bool, i64)> = sqlx::query_as(sql::COUNT_SUBJECTS)
            .bind(stream_id.as_str())
            .fetch_all(pool)
            .await?;
        let mut counts = SubjectCounts::default();
        for (included, n) in rows {
            counts.add(included, n);
        }
        Ok(counts)
    }

    /// [`Self::count_subjects`] of every stream with any, in one grouped query.
    pub(crate) async fn subject_counts_by_stream(
        pool: &Pool<D>,
    ) -> StoreResult<BTreeMap<StreamId, SubjectCounts>> {
        let rows: Vec<(String, bool, i64)> = sqlx::query_as(sql::COUNT_SUBJECTS_BY_STREAM)
            .fetch_all(pool)
            .await?;
        let mut by_stream: BTreeMap<StreamId, SubjectCounts> = BTreeMap::new();
        for (stream_id, included, n) in rows {
            by_stream
                .entry(StreamId::new(stream_id))
                .or_default()
                .add(included, n);
        }
        Ok(by_stream)
    }

    /// How many streams there are, of every client.
    pub(crate) async fn count(pool: &Pool<D>) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as(sql::COUNT_STREAMS).fetch_one(pool).await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    pub(crate) async fn match_streams(
        pool: &Pool<D>,
        keys: &[String],
    ) -> StoreResult<Vec<StreamId>> {
        if keys.len() > KEYS_PER_STATEMENT {
            return Err(StoreError::InvalidArgument(format!(
                "at most {KEYS_PER_STATEMENT} subject keys per event"
            )));
        }
        let ids: Vec<(String,)> = if keys.is_empty() {
            sqlx::query_as(sql::MATCH_WITHOUT_KEYS)
                .fetch_all(pool)
                .await?
        } else {
            // Safe: only generated placeholders are interpolated.
            let text = sql::match_streams(&sql::param_list(1, keys.len()));
            let mut query = sqlx::query_as(AssertSqlSafe(text));
            for key in keys {
                query = query.bind(key.as_str());
            }
            query.fetch_all(pool).await?
        };
        Ok(ids.into_iter().map(|(id,)| StreamId::new(id)).collect())
    }
}
