//! The receiver's audit log on PostgreSQL: filtered queries and the purge on its own retention.

use sqlx::{AssertSqlSafe, PgPool};
use ssf_types::{StreamId, UnixMillis};

use super::AuditDbRow;
use crate::{
    error::StoreResult,
    model::AuditEntry,
    receiver::{
        ReceiverAuditQuery,
        audit_sql::{Bind, select},
    },
};

/// Rows of [`ReceiverAuditQuery`], oldest first.
pub(super) async fn query(
    pool: &PgPool,
    query: &ReceiverAuditQuery,
) -> StoreResult<Vec<AuditEntry>> {
    let (sql, binds) = select(query, |n| format!("${n}"));
    let mut q = sqlx::query_as::<_, AuditDbRow>(AssertSqlSafe(sql));
    for bind in binds {
        q = match bind {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    q.fetch_all(pool)
        .await?
        .into_iter()
        .map(AuditDbRow::into_entry)
        .collect()
}

impl AuditDbRow {
    pub(super) fn into_entry(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            id: self.id,
            at: UnixMillis(self.at),
            actor: self.actor,
            action: self.action,
            stream_id: self.stream_id.map(StreamId::new),
            detail: serde_json::from_str(&self.detail)?,
        })
    }
}
