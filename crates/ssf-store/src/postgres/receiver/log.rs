//! The state change log on PostgreSQL (`receiver_state_log`, migration 0003): how receiver nodes
//! sharing one database learn the state writes the others applied.
//!
//! [`append`] runs at the end of every `apply_batch` transaction that applied writes. It takes a
//! transaction-scoped advisory lock, then ids from the log's sequence, and `NOTIFY`s the schema's
//! state channel; the lock is held to the commit, so ids are handed out in commit order and a
//! reader that saw id N has seen every committed entry below N (aborted ones leave gaps). Holding
//! it serialises only the tail of the apply transactions: the state writes, dedupe inserts and
//! audit rows before it run concurrently on every node.

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use ssf_types::UnixMillis;

use crate::receiver::batch::{CHUNK, values_sql};
use crate::{
    error::{StoreError, StoreResult},
    receiver::{StateChanges, StateWrite},
};

/// The advisory lock that orders log ids by commit, one per schema.
const ORDER_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.receiver_state_log'))";

/// Appends `writes` (applied by this node, in order) to the log and notifies the other nodes at
/// commit. Call last in the transaction: the lock it takes is held until the commit.
pub(super) async fn append(
    conn: &mut PgConnection,
    notifier: &super::StateNotifier,
    writes: &[&StateWrite],
    now: UnixMillis,
) -> StoreResult<()> {
    if writes.is_empty() {
        return Ok(());
    }
    sqlx::query(ORDER_LOCK).execute(&mut *conn).await?;
    for chunk in writes.chunks(CHUNK) {
        let sql = values_sql::<sqlx::Postgres>(
            "INSERT INTO receiver_state_log (at, node, op, kind, key, value, event_time) VALUES",
            chunk.len(),
            7,
            "",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for write in chunk {
            let (op, value, event_time) = match write {
                StateWrite::Put {
                    value, event_time, ..
                } => ("put", Some(serde_json::to_string(value)?), *event_time),
                StateWrite::Delete { event_time, .. } => ("delete", None, *event_time),
            };
            query = query
                .bind(now.0)
                .bind(notifier.node.as_str())
                .bind(op)
                .bind(write.kind())
                .bind(write.key())
                .bind(value)
                .bind(event_time);
        }
        query.execute(&mut *conn).await?;
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&notifier.channel)
        .bind(&notifier.node)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The last log id (or the purge mark of an empty log).
pub(super) async fn head(pool: &PgPool) -> StoreResult<i64> {
    let (head,): (i64,) = sqlx::query_as(
        "SELECT GREATEST(COALESCE((SELECT MAX(id) FROM receiver_state_log), 0), \
         (SELECT through FROM receiver_state_log_purged))",
    )
    .fetch_one(pool)
    .await?;
    Ok(head)
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    node: String,
    op: String,
    kind: String,
    key: String,
    value: Option<String>,
    event_time: i64,
}

impl LogRow {
    fn into_write(self) -> StoreResult<StateWrite> {
        match (self.op.as_str(), self.value) {
            ("put", Some(value)) => Ok(StateWrite::Put {
                kind: self.kind,
                key: self.key,
                value: serde_json::from_str(&value)?,
                event_time: self.event_time,
            }),
            ("delete", _) => Ok(StateWrite::Delete {
                kind: self.kind,
                key: self.key,
                event_time: self.event_time,
            }),
            (op, _) => Err(StoreError::Corrupt(format!(
                "state log entry {} has op {op:?} without a value",
                self.id
            ))),
        }
    }
}

/// The entries after `cursor`, skipping `own_node`'s; see
/// [`ReceiverStore::state_changes`](crate::receiver::ReceiverStore::state_changes).
pub(super) async fn changes(
    pool: &PgPool,
    own_node: &str,
    cursor: i64,
    limit: u32,
) -> StoreResult<StateChanges> {
    let limit = limit.max(1);
    let rows = sqlx::query_as::<_, LogRow>(
        "SELECT id, node, op, kind, key, value, event_time FROM receiver_state_log \
         WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(cursor)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    // Read after the rows: a purge that removed entries this read should have seen has moved
    // the mark past `cursor` by now (the mark moves in the purge's own transaction).
    let (purged,): (i64,) = sqlx::query_as("SELECT through FROM receiver_state_log_purged")
        .fetch_one(pool)
        .await?;
    let more = rows.len() == limit as usize;
    let mut next = cursor;
    let mut writes = Vec::with_capacity(rows.len());
    for row in rows {
        next = next.max(row.id);
        if row.node != own_node {
            writes.push(row.into_write()?);
        }
    }
    Ok(StateChanges {
        writes,
        cursor: next,
        more,
        truncated: cursor < purged,
    })
}

/// Deletes entries written before `older_than` and moves the purge mark past them.
pub(super) async fn purge(conn: &mut PgConnection, older_than: UnixMillis) -> StoreResult<u64> {
    let (removed,): (i64,) = sqlx::query_as(
        "WITH gone AS (DELETE FROM receiver_state_log WHERE at < $1 RETURNING id), \
         mark AS (UPDATE receiver_state_log_purged \
                  SET through = GREATEST(through, (SELECT MAX(id) FROM gone)) \
                  WHERE EXISTS (SELECT 1 FROM gone)) \
         SELECT COUNT(*) FROM gone",
    )
    .bind(older_than.0)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(removed).unwrap_or(0))
}
