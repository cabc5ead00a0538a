//! One [`ReceiverStore::apply_batch`](crate::receiver::ReceiverStore::apply_batch), on either
//! engine: multi-row statements inside the caller's transaction (one group commit of the SQLite
//! writer, or one PostgreSQL transaction).

use std::{collections::BTreeSet, marker::PhantomData};

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};
use ssf_types::{StreamId, UnixMillis};

use crate::{
    engine::Engine,
    error::StoreResult,
    model::NewAuditEntry,
    receiver::{ApplyItem, ApplyResult, StateWrite, StreamControl},
};

/// Rows per multi-row statement (5 bound values each stays far below SQLite's variable limit).
pub(crate) const CHUNK: usize = 100;

/// `INSERT ... VALUES (...), (...)` text with `rows` groups of `cols` placeholders, in the
/// style of `D` (see [`Engine::push_placeholder`]).
pub(crate) fn values_sql<D: Engine>(head: &str, rows: usize, cols: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (cols * 5 + 4));
    sql.push_str(head);
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { " (" } else { ", (" });
        for col in 0..cols {
            n += 1;
            if col > 0 {
                sql.push_str(", ");
            }
            D::push_placeholder(&mut sql, n);
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// Splits `writes` into consecutive runs of at most `max` with no (kind, key) twice in a run.
fn distinct_runs<'a, 'w>(writes: &'a [&'w StateWrite], max: usize) -> Vec<&'a [&'w StateWrite]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut seen = BTreeSet::new();
    for (i, write) in writes.iter().enumerate() {
        if i - start == max || !seen.insert((write.kind(), write.key())) {
            runs.push(&writes[start..i]);
            start = i;
            seen.clear();
            seen.insert((write.kind(), write.key()));
        }
    }
    if start < writes.len() {
        runs.push(&writes[start..]);
    }
    runs
}

/// The receiver's batch on engine `D`.
pub(crate) struct Batch<D>(PhantomData<D>);

impl<D: Engine> Batch<D>
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
    /// Records the batch (see [`ReceiverStore::apply_batch`]) in the caller's transaction:
    /// dedupe inserts, state writes in event-time order, control changes and audit rows. Returns
    /// the results and the state writes it applied, in order (PostgreSQL appends them to its state
    /// change log). Only reads its arguments (a PostgreSQL transaction may run again).
    ///
    /// [`ReceiverStore::apply_batch`]: crate::receiver::ReceiverStore::apply_batch
    pub(crate) async fn apply_items<'i>(
        conn: &mut D::Connection,
        items: &'i [ApplyItem],
        now: UnixMillis,
    ) -> StoreResult<(Vec<ApplyResult>, Vec<&'i StateWrite>)> {
        // Only the first occurrence of a key in the batch may be applied.
        let mut keys = BTreeSet::new();
        let unique: Vec<usize> = (0..items.len())
            .filter(|&i| keys.insert((items[i].iss.as_str(), items[i].jti.as_str())))
            .collect();
        let mut by_key = unique.clone();
        if D::LOCK_IN_KEY_ORDER {
            // Two nodes recording overlapping batches take the key locks in the same order.
            by_key.sort_by_key(|&i| (items[i].iss.as_str(), items[i].jti.as_str()));
        }
        let mut inserted = BTreeSet::new();
        for chunk in by_key.chunks(CHUNK) {
            let sql = values_sql::<D>(
                "INSERT INTO received_sets (iss, jti, received_at, stream_key, event_type) VALUES",
                chunk.len(),
                5,
                "ON CONFLICT (iss, jti) DO NOTHING RETURNING iss, jti",
            );
            let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
            for &i in chunk {
                let item = &items[i];
                query = query
                    .bind(&item.iss)
                    .bind(&item.jti)
                    .bind(item.received_at.0)
                    .bind(&item.stream_key)
                    .bind(&item.event_type);
            }
            inserted.extend(query.fetch_all(&mut *conn).await?);
        }

        let mut results = vec![ApplyResult::Duplicate; items.len()];
        let mut puts: Vec<&StateWrite> = Vec::new();
        let mut logged: Vec<&StateWrite> = Vec::new();
        let mut audits: Vec<(&NewAuditEntry, &ApplyItem)> = Vec::new();
        for &i in &unique {
            let item = &items[i];
            // `remove`: the same key is applied once even if RETURNING somehow repeated it.
            if !inserted.remove(&(item.iss.clone(), item.jti.clone())) {
                continue;
            }
            results[i] = ApplyResult::Applied;
            logged.extend(&item.writes);
            for write in &item.writes {
                match write {
                    StateWrite::Put { .. } => puts.push(write),
                    StateWrite::Delete {
                        kind,
                        key,
                        event_time,
                    } => {
                        // Keep the order of puts and deletes on the same row.
                        Self::flush_puts(conn, &mut puts, now).await?;
                        sqlx::query(
                            "DELETE FROM receiver_state WHERE kind = $1 AND key = $2 \
                             AND event_time <= $3",
                        )
                        .bind(kind)
                        .bind(key)
                        .bind(*event_time)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
            }
            if let Some(control) = &item.control {
                Self::apply_control(conn, &item.stream_key, control, now).await?;
            }
            if let Some(audit) = &item.audit {
                audits.push((audit, item));
            }
        }
        Self::flush_puts(conn, &mut puts, now).await?;
        for chunk in audits.chunks(CHUNK) {
            Self::insert_audits(conn, chunk, now).await?;
        }
        Ok((results, logged))
    }

    /// Writes the pending puts with multi-row upserts. SQLite applies the rows of one statement in
    /// order; PostgreSQL refuses an upsert that touches one row twice, so there a statement ends
    /// before a repeated (kind, key) ([`Engine::DISTINCT_ROWS_PER_UPSERT`]). Statements run in
    /// order, so two puts on one row behave as two statements would.
    async fn flush_puts(
        conn: &mut D::Connection,
        puts: &mut Vec<&StateWrite>,
        now: UnixMillis,
    ) -> StoreResult<()> {
        let chunks: Vec<&[&StateWrite]> = if D::DISTINCT_ROWS_PER_UPSERT {
            distinct_runs(puts, CHUNK)
        } else {
            puts.chunks(CHUNK).collect()
        };
        for chunk in chunks {
            let sql = values_sql::<D>(
                "INSERT INTO receiver_state (kind, key, value, event_time, updated_at) VALUES",
                chunk.len(),
                5,
                "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, \
                 event_time = excluded.event_time, updated_at = excluded.updated_at \
                 WHERE excluded.event_time >= receiver_state.event_time",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for write in chunk {
                if let StateWrite::Put {
                    kind,
                    key,
                    value,
                    event_time,
                } = write
                {
                    query = query
                        .bind(kind.as_str())
                        .bind(key.as_str())
                        .bind(serde_json::to_string(value)?)
                        .bind(*event_time)
                        .bind(now.0);
                }
            }
            query.execute(&mut *conn).await?;
        }
        puts.clear();
        Ok(())
    }

    async fn apply_control(
        conn: &mut D::Connection,
        stream_key: &str,
        control: &StreamControl,
        now: UnixMillis,
    ) -> StoreResult<()> {
        match control {
            StreamControl::Status { status, reason } => {
                sqlx::query(
                    "UPDATE receiver_streams SET status = $2, status_reason = $3, updated_at = $4 \
                     WHERE stream_key = $1",
                )
                .bind(stream_key)
                .bind(status.as_str())
                .bind(reason.as_deref())
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
            }
            StreamControl::Verified => {
                sqlx::query(
                    "UPDATE receiver_streams SET last_verified_at = $2, updated_at = $2 \
                     WHERE stream_key = $1",
                )
                .bind(stream_key)
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Appends the audit rows of applied items, with the (`iss`, `jti`) they record and their
    /// subject keys.
    async fn insert_audits(
        conn: &mut D::Connection,
        entries: &[(&NewAuditEntry, &ApplyItem)],
        now: UnixMillis,
    ) -> StoreResult<()> {
        let sql = values_sql::<D>(
            "INSERT INTO receiver_audit (at, actor, action, stream_id, detail, iss, jti) VALUES",
            entries.len(),
            7,
            "",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (entry, item) in entries {
            let stream = entry
                .stream_id
                .as_ref()
                .map_or(item.stream_key.as_str(), StreamId::as_str);
            query = query
                .bind(now.0)
                .bind(entry.actor.as_str())
                .bind(entry.action.as_str())
                .bind(stream)
                .bind(serde_json::to_string(&entry.detail)?)
                .bind(item.iss.as_str())
                .bind(item.jti.as_str());
        }
        query.execute(&mut *conn).await?;
        let subjects: Vec<(&str, &ApplyItem)> = entries
            .iter()
            .flat_map(|(_, item)| item.audit_subjects.iter().map(move |s| (s.as_str(), *item)))
            .collect();
        for chunk in subjects.chunks(CHUNK) {
            let sql = values_sql::<D>(
                "INSERT INTO receiver_audit_subjects (subject, iss, jti, at) VALUES",
                chunk.len(),
                4,
                "ON CONFLICT DO NOTHING",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (subject, item) in chunk {
                query = query
                    .bind(*subject)
                    .bind(item.iss.as_str())
                    .bind(item.jti.as_str())
                    .bind(now.0);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Postgres, Sqlite};

    use super::*;

    #[test]
    fn values_sql_has_one_placeholder_per_value() {
        assert_eq!(
            values_sql::<Sqlite>("INSERT INTO t (a, b) VALUES", 2, 2, "RETURNING a"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) RETURNING a"
        );
    }

    #[test]
    fn values_sql_numbers_placeholders_in_order() {
        assert_eq!(
            values_sql::<Postgres>("INSERT INTO t (a, b) VALUES", 2, 2, "RETURNING a"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING a"
        );
    }

    #[test]
    fn runs_never_repeat_a_row() {
        let put = |key: &str| StateWrite::Put {
            kind: "k".to_owned(),
            key: key.to_owned(),
            value: serde_json::Value::Null,
            event_time: 0,
        };
        let writes = [put("a"), put("b"), put("a"), put("c"), put("d")];
        let refs: Vec<&StateWrite> = writes.iter().collect();
        let sizes: Vec<usize> = distinct_runs(&refs, 2).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        let sizes: Vec<usize> = distinct_runs(&refs, 100).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![2, 3]);
    }
}
