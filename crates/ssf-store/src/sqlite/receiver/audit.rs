//! The receiver's audit log on SQLite: the purge on its own retention, in chunks.

use ssf_types::UnixMillis;

use super::{PURGE_CHUNK, SqliteReceiverStore};
use crate::error::StoreResult;

/// Deletes audit rows (and their subject keys) older than `older_than`, in chunks, each its own
/// writer job so incoming batches interleave.
pub(super) async fn purge(store: &SqliteReceiverStore, older_than: UnixMillis) -> StoreResult<u64> {
    let mut total = 0;
    loop {
        let (removed, subjects) = store
            .write(move |c| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "DELETE FROM receiver_audit WHERE id IN (SELECT id FROM receiver_audit \
                         WHERE at < $1 ORDER BY id LIMIT $2)",
                    )
                    .bind(older_than.0)
                    .bind(PURGE_CHUNK)
                    .execute(&mut *c)
                    .await?;
                    let subjects = sqlx::query(
                        "DELETE FROM receiver_audit_subjects WHERE (subject, iss, jti) IN \
                         (SELECT subject, iss, jti FROM receiver_audit_subjects WHERE at < $1 \
                         LIMIT $2)",
                    )
                    .bind(older_than.0)
                    .bind(PURGE_CHUNK)
                    .execute(&mut *c)
                    .await?;
                    Ok((rows.rows_affected(), subjects.rows_affected()))
                })
            })
            .await?;
        total += removed;
        if removed < PURGE_CHUNK as u64 && subjects < PURGE_CHUNK as u64 {
            return Ok(total);
        }
    }
}
