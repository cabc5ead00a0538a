//! RFC 8936 poll delivery, on either engine: one transaction per poll. On PostgreSQL the stream
//! row is updated (activity) first, which locks it: polls of one stream on several nodes take
//! turns, and a status change cannot slip in between the status check and the hand-out; the
//! hand-out skips rows locked by other nodes (see [`Engine::HAND_OUT_POLL`]).

use std::{
    collections::{BTreeSet, HashSet},
    marker::PhantomData,
};

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use ssf_types::{Jti, StreamId, UnixMillis};

use super::outbox::Outbox;
use crate::{
    engine::{Engine, SubjectKey},
    error::{StoreError, StoreResult},
    model::{
        DeliveryMethod, StreamStatus,
        outbox::{PollRequest, PollResponse, PolledSet},
    },
    sql,
};

/// The lease owner recorded on SETs handed out by a poll.
pub(crate) const POLL_LEASE_OWNER: &str = "rfc8936-poll";

/// Jtis per `ack` statement (a power of two).
const JTIS_PER_STATEMENT: usize = 128;

/// The poll operation on engine `D`.
pub(crate) struct Poll<D>(PhantomData<D>);

impl<D: Engine> Poll<D>
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
    /// One poll; returns the answer and the streams whose waiting SETs were released.
    pub(crate) async fn poll(
        conn: &mut D::Connection,
        request: &PollRequest,
        now: UnixMillis,
    ) -> StoreResult<(PollResponse, Vec<StreamId>)> {
        if request.redelivery_after_ms <= 0 {
            return Err(StoreError::InvalidArgument(
                "redelivery_after_ms must be positive".to_owned(),
            ));
        }
        let stream = request.stream_id.as_str();
        let row: Option<(String, String)> = match D::POLL_TOUCH_RETURNING {
            // A push stream is touched too, but the error below rolls that back.
            Some(touch) => {
                sqlx::query_as(touch)
                    .bind(stream)
                    .bind(&request.client_id)
                    .bind(now.0)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => {
                sqlx::query_as(sql::SELECT_POLL_STREAM)
                    .bind(stream)
                    .bind(&request.client_id)
                    .fetch_optional(&mut *conn)
                    .await?
            }
        };
        let Some((status, delivery)) = row else {
            return Err(StoreError::StreamNotFound);
        };
        let status = StreamStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("stream status {status:?}")))?;
        if DeliveryMethod::parse(&delivery) != Some(DeliveryMethod::Poll) {
            return Err(StoreError::WrongDeliveryMethod {
                expected: DeliveryMethod::Poll,
            });
        }
        if D::POLL_TOUCH_RETURNING.is_none() {
            sqlx::query(sql::TOUCH_STREAM)
                .bind(stream)
                .bind(&request.client_id)
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
        }

        let mut finished: Vec<SubjectKey> = Vec::new();
        let (acked, unknown_acks) = Self::ack(conn, stream, &request.ack, &mut finished).await?;
        let mut errors_recorded = 0;
        let mut unknown_errs = Vec::new();
        for (jti, error) in &request.set_errs {
            let row: Option<(String, String)> = sqlx::query_as(sql::SET_ERR)
                .bind(stream)
                .bind(jti.as_str())
                .bind(&error.code)
                .bind(&error.description)
                .bind(now.0)
                .fetch_optional(&mut *conn)
                .await?;
            match row {
                Some((subject_key, channel)) => {
                    errors_recorded += 1;
                    if channel == DeliveryMethod::Push.as_str() {
                        finished.push((stream.to_owned(), subject_key));
                    }
                }
                None => unknown_errs.push(jti.clone()),
            }
        }
        let woken = Outbox::<D>::promote(conn, finished).await?;

        let mut sets = Vec::new();
        let mut more_available = false;
        if status == StreamStatus::Enabled {
            sqlx::query(sql::POLL_REAP)
                .bind(stream)
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
            if request.max_events > 0 {
                let mut rows: Vec<(i64, String, String)> = sqlx::query_as(D::HAND_OUT_POLL)
                    .bind(stream)
                    .bind(POLL_LEASE_OWNER)
                    .bind(now.plus_millis(request.redelivery_after_ms).0)
                    .bind(i64::from(request.max_events))
                    .fetch_all(&mut *conn)
                    .await?;
                rows.sort_by_key(|row| row.0);
                sets = rows
                    .into_iter()
                    .map(|(_, jti, set_jwt)| PolledSet {
                        jti: Jti::new(jti),
                        set_jwt,
                    })
                    .collect();
            }
            let more: Option<(i64,)> = sqlx::query_as(sql::POLL_MORE)
                .bind(stream)
                .fetch_optional(&mut *conn)
                .await?;
            more_available = more.is_some();
        }
        let response = PollResponse {
            sets,
            more_available,
            status,
            acked,
            unknown_acks,
            errors_recorded,
            unknown_errs,
        };
        Ok((response, woken))
    }

    /// Deletes acknowledged SETs of `stream`; returns how many and the jtis that matched nothing.
    async fn ack(
        conn: &mut D::Connection,
        stream: &str,
        jtis: &[Jti],
        finished: &mut Vec<SubjectKey>,
    ) -> StoreResult<(u64, Vec<Jti>)> {
        let unique: Vec<&Jti> = jtis.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut deleted: HashSet<String> = HashSet::new();
        for chunk in sql::pow2_chunks(&unique, JTIS_PER_STATEMENT) {
            // Safe: only generated placeholders are interpolated.
            let text = format!(
                "{}{}{}",
                sql::ACK_PREFIX,
                sql::param_list(2, chunk.len()),
                sql::ACK_RETURNING
            );
            let mut query =
                sqlx::query_as::<_, (String, String, String)>(AssertSqlSafe(text)).bind(stream);
            for jti in chunk {
                query = query.bind(jti.as_str());
            }
            for (jti, subject_key, channel) in query.fetch_all(&mut *conn).await? {
                if channel == DeliveryMethod::Push.as_str() {
                    finished.push((stream.to_owned(), subject_key));
                }
                deleted.insert(jti);
            }
        }
        let unknown = unique
            .into_iter()
            .filter(|j| !deleted.contains(j.as_str()))
            .cloned()
            .collect();
        Ok((deleted.len() as u64, unknown))
    }
}
