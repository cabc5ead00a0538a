//! The per-subject order rule across nodes (SSF-STATUS-14): which keys are busy, releasing the
//! next waiting SET of a key, and settling the SETs a transaction queued behind others.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sqlx::PgConnection;
use ssf_types::StreamId;

use crate::{
    engine::SubjectKey,
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

/// The shared outbox operations, on PostgreSQL.
type Outbox = crate::transmitter::outbox::Outbox<sqlx::Postgres>;

/// Makes every key of `keys` (each with a waiting SET queued by this transaction) safe to
/// commit: either this transaction holds a lock on the key's in-flight row, whose finisher then
/// waits for the commit and sees the waiting SETs, or there is no in-flight row and the oldest
/// waiting SET is released here. Without this, a row finishing concurrently could promote
/// nothing (it cannot see uncommitted SETs) and leave the new SETs waiting forever.
///
/// One `FOR SHARE` select can miss an in-flight row that became ready while it waited for a lock
/// on the row before it, so it repeats until each key is settled. Returns the streams with a
/// released SET.
pub(crate) async fn settle(
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
            let locked: HashSet<String> = Outbox::keys_with(conn, IN_FLIGHT, &stream_id, &refs)
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
    Err(StoreError::CommitFailed {
        reason: crate::postgres::UNSETTLED.to_owned(),
        source: None,
    })
}
