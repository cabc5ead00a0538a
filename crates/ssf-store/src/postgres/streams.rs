//! Streams and subjects on PostgreSQL: the shared SQL of `sql`, plus row locks where SQLite's
//! single writer made a read-then-write safe (revision check, status change, verification gate).

use sqlx::{AssertSqlSafe, PgConnection, PgExecutor, PgPool};
use ssf_types::{StreamId, UnixMillis};

use super::outbox;
use crate::{
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, NewStream, StatusChange, StreamRecord, StreamStatus, StreamUpdate,
        SubjectEntry, VerificationGate,
    },
    rows::{self, StreamRow, SubjectRow},
    sql,
};

/// The stream if it belongs to `client_id`.
pub(super) async fn select_scoped<'e>(
    e: impl PgExecutor<'e>,
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

pub(super) async fn list_for_client(
    pool: &PgPool,
    client_id: &str,
) -> StoreResult<Vec<StreamRecord>> {
    let rows = sqlx::query_as::<_, StreamRow>(sql::SELECT_CLIENT_STREAMS)
        .bind(client_id)
        .fetch_all(pool)
        .await?;
    rows::stream_records(rows)
}

pub(super) async fn find(pool: &PgPool, stream_id: &StreamId) -> StoreResult<Option<StreamRecord>> {
    sqlx::query_as::<_, StreamRow>(sql::SELECT_STREAM)
        .bind(stream_id.as_str())
        .fetch_optional(pool)
        .await?
        .map(StreamRow::into_record)
        .transpose()
}

pub(super) async fn list_all(
    pool: &PgPool,
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

pub(super) async fn list_inactive(
    pool: &PgPool,
    now: UnixMillis,
) -> StoreResult<Vec<StreamRecord>> {
    let rows = sqlx::query_as::<_, StreamRow>(sql::SELECT_INACTIVE_STREAMS)
        .bind(now.0)
        .fetch_all(pool)
        .await?;
    rows::stream_records(rows)
}

pub(super) async fn create(
    conn: &mut PgConnection,
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
    select_scoped(&mut *conn, &stream.client_id, &stream.stream_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inserted stream not found".to_owned()))
}

/// `sql::SELECT_STREAM_STATE_SCOPED`, locking the row until commit: concurrent updates,
/// status changes and enqueues (`FOR SHARE`) of the stream wait.
const SELECT_STREAM_STATE_SCOPED_FOR_UPDATE: &str = "SELECT status, delivery, revision \
    FROM streams WHERE stream_id = $1 AND client_id = $2 FOR UPDATE";
/// The same with a key-share lock: the stream cannot vanish (or change status) until commit, but
/// polls and activity updates go on.
const SELECT_STREAM_STATE_SCOPED_FOR_SHARE: &str = "SELECT status, delivery, revision \
    FROM streams WHERE stream_id = $1 AND client_id = $2 FOR KEY SHARE";
/// `sql::SELECT_VERIFICATION`, locked: two nodes cannot both pass the interval check.
const SELECT_VERIFICATION_FOR_UPDATE: &str = "SELECT min_verification_interval_secs, \
    last_verification_at FROM streams WHERE stream_id = $1 AND client_id = $2 FOR UPDATE";

/// `(status, delivery, revision)` of the client's stream, locked with `query`.
async fn state_scoped(
    conn: &mut PgConnection,
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

pub(super) async fn update(
    conn: &mut PgConnection,
    client_id: &str,
    stream_id: &StreamId,
    update: StreamUpdate,
    now: UnixMillis,
) -> StoreResult<Option<StreamRecord>> {
    let lock = SELECT_STREAM_STATE_SCOPED_FOR_UPDATE;
    let Some((status, delivery, revision)) = state_scoped(conn, lock, client_id, stream_id).await?
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
        outbox::rechannel(conn, stream_id, update.delivery, status).await?;
    }
    select_scoped(&mut *conn, client_id, stream_id).await
}

/// Changes the status; the flag says whether held SETs were released (wake workers).
pub(super) async fn set_status(
    conn: &mut PgConnection,
    client_id: &str,
    stream_id: &StreamId,
    status: StreamStatus,
    reason: Option<String>,
    now: UnixMillis,
) -> StoreResult<Option<(StatusChange, bool)>> {
    let lock = SELECT_STREAM_STATE_SCOPED_FOR_UPDATE;
    let Some((previous, _, _)) = state_scoped(conn, lock, client_id, stream_id).await? else {
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
            released = done.rows_affected() > 0;
        }
        StreamStatus::Disabled => {
            let done = sqlx::query(sql::DROP_QUEUED)
                .bind(stream_id.as_str())
                .execute(&mut *conn)
                .await?;
            dropped = done.rows_affected();
        }
    }
    let stream = select_scoped(&mut *conn, client_id, stream_id)
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

pub(super) async fn delete(
    conn: &mut PgConnection,
    client_id: &str,
    stream_id: &StreamId,
) -> StoreResult<bool> {
    let done = sqlx::query(sql::DELETE_STREAM)
        .bind(stream_id.as_str())
        .bind(client_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn touch(
    conn: &mut PgConnection,
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
    Ok(done.rows_affected() > 0)
}

pub(super) async fn begin_verification(
    conn: &mut PgConnection,
    client_id: &str,
    stream_id: &StreamId,
    now: UnixMillis,
) -> StoreResult<Option<VerificationGate>> {
    let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(SELECT_VERIFICATION_FOR_UPDATE)
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
pub(super) async fn upsert_subject(
    conn: &mut PgConnection,
    client_id: &str,
    stream_id: &StreamId,
    entry: (String, serde_json::Value, bool, Option<bool>),
    now: UnixMillis,
) -> StoreResult<bool> {
    let lock = SELECT_STREAM_STATE_SCOPED_FOR_SHARE;
    if state_scoped(conn, lock, client_id, stream_id)
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

pub(super) async fn get_subject(
    pool: &PgPool,
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

pub(super) async fn list_subjects(
    pool: &PgPool,
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

/// Keys per statement; far below the 65535 bind parameters of PostgreSQL.
const KEYS_PER_STATEMENT: usize = 512;

pub(super) async fn subject_entries(
    pool: &PgPool,
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

pub(super) async fn match_streams(pool: &PgPool, keys: &[String]) -> StoreResult<Vec<StreamId>> {
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
