//! The receiver's audit log on PostgreSQL: filtered queries and the purge on its own retention.

use sqlx::{AssertSqlSafe, PgPool};

use crate::{
    error::StoreResult,
    model::AuditEntry,
    receiver::{
        ReceiverAuditQuery,
        audit_sql::{Bind, select},
    },
    rows::AuditRow,
};

/// Rows of [`ReceiverAuditQuery`], oldest first.
pub(super) async fn query(
    pool: &PgPool,
    query: &ReceiverAuditQuery,
) -> StoreResult<Vec<AuditEntry>> {
    let (sql, binds) = select(query, |n| format!("${n}"));
    let mut q = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql));
    for bind in binds {
        q = match bind {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    q.fetch_all(pool)
        .await?
        .into_iter()
        .map(AuditRow::into_entry)
        .collect()
}
