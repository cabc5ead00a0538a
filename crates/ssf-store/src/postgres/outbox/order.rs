//! The per-subject order rule across nodes (SSF-STATUS-14): which keys are busy, releasing the
//! next waiting SET of a key, and settling the SETs a transaction queued behind others.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sqlx::{AssertSqlSafe, PgConnection};
use ssf_types::StreamId;

use crate::{
    error::{StoreError, StoreResult},
    sql,
};

/// Keys of `$1` with an in-flight row, among an `IN` list of keys starting at `$2`; locks those
/// rows (at most one per key) so that finishing one waits until this transaction commits, and
/// the promotion that follows it then sees the SETs queued behind it here.
pub(in crate::postgres) const IN_FLIGHT: (&str, &str) = (
    "SELECT subject_key FROM outbox WHERE stream_id = $1 \
     AND state IN ('pending', 'held', 'leased') AND subject_key IN ",
    // Locked in id order, the order finishing transactions lock rows in (see `LOCK_FINISHING`),
    // so the two do not deadlock.
    " ORDER BY id FOR SHARE",
);

/// Rounds of [`settle`] before the transaction is run again from the start.
const SETTLE_ROUNDS: usize = 20;

/// Subject keys per `IN` list (a power of two).
const KEYS_PER_STATEMENT: usize = 256;

pub(crate) use crate::engine::SubjectKey;

/// Which of `keys` of `stream` have a row matching the statement `(prefix, suffix)` (an `IN`
/// list goes between them). A key may be listed more than once.
pub(in crate::postgres) async fn keys_with(
    conn: &mut PgConnection,
    (prefix, suffix): (&str, &str),
    stream: &str,
    keys: &[&str],
) -> StoreResult<Vec<String>> {
    let mut found = Vec::new();
    for chunk in sql::pow2_chunks(keys, KEYS_PER_STATEMENT) {
        // Safe: `prefix` and `suffix` are constants; only generated placeholders go between.
        let text = format!("{prefix}{}{suffix}", sql::param_list(2, chunk.len()));
        let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(text)).bind(stream);
        for key in chunk {
            query = query.bind(*key);
        }
        found.extend(query.fetch_all(&mut *conn).await?.into_iter().map(|(k,)| k));
    }
    Ok(found)
}

/// Releases the next waiting SET of each key; returns the streams that got a ready SET.
pub(crate) async fn promote(
    conn: &mut PgConnection,
    keys: impl IntoIterator<Item = SubjectKey>,
) -> StoreResult<Vec<StreamId>> {
    let mut by_stream: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (stream, key) in keys {
        by_stream.entry(stream).or_default().insert(key);
    }
    let mut woken = BTreeSet::new();
    for (stream_id, keys) in by_stream {
        // Usually nothing waits: one statement per stream instead of one per key.
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let waiting = (sql::WAITING_KEYS_PREFIX, "");
        for subject_key in keys_with(conn, waiting, &stream_id, &keys).await? {
            let done = sqlx::query(sql::PROMOTE)
                .bind(stream_id.as_str())
                .bind(subject_key.as_str())
                .execute(&mut *conn)
                .await?;
            if done.rows_affected() > 0 {
                woken.insert(stream_id.clone());
            }
        }
    }
    Ok(woken.into_iter().map(StreamId::new).collect())
}

/// Makes every key of `keys` (each with a waiting SET queued by this transaction) safe to
/// commit: either this transaction holds a lock on the key's in-flight row, whose finisher then
/// waits for the commit and sees the waiting SETs, or there is no in-flight row and the oldest
/// waiting SET is released here. Without this, a row finishing concurrently could promote
/// nothing (it cannot see uncommitted SETs) and leave the new SETs waiting forever.
///
/// One `FOR SHARE` select can miss an in-flight row that became ready while it waited for a lock
/// on the row before it, so it repeats until each key is settled. Returns the streams with a
/// released SET.
pub(in crate::postgres) async fn settle(
    conn: &mut PgConnection,
    keys: BTreeSet<SubjectKey>,
) -> StoreResult<Vec<StreamId>> {
    let mut open: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (stream, key) in keys {
        open.entry(stream).or_default().push(key);
    }
    let mut woken = BTreeSet::new();
    for _ in 0..SETTLE_ROUNDS {
        if open.is_empty() {
            return Ok(woken.into_iter().map(StreamId::new).collect());
        }
        let mut next: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (stream_id, keys) in open {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let locked: HashSet<String> = keys_with(conn, IN_FLIGHT, &stream_id, &refs)
                .await?
                .into_iter()
                .collect();
            for subject_key in keys.iter().filter(|k| !locked.contains(*k)) {
                let done = sqlx::query(sql::PROMOTE)
                    .bind(stream_id.as_str())
                    .bind(subject_key.as_str())
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() > 0 {
                    woken.insert(stream_id.clone());
                } else {
                    next.entry(stream_id.clone())
                        .or_default()
                        .push(subject_key.clone());
                }
            }
        }
        open = next;
    }
    Err(StoreError::CommitFailed(
        crate::postgres::UNSETTLED.to_owned(),
    ))
}
