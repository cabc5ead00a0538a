//! The outbox: events waiting for the transmitter, in order per (user, asset).

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, AnyPool};
use ssf_types::UnixMillis;

use super::sql::audit;
use crate::error::JitError;

/// An outbox row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be sent (or retried).
    Pending,
    /// Accepted by the transmitter (`202`).
    Sent,
    /// Refused by the transmitter (a `4xx`); kept for inspection.
    Failed,
}

impl OutboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, JitError> {
        match s {
            "pending" => Ok(Self::Pending),
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            other => Err(JitError::Corrupt(format!("outbox status {other:?}"))),
        }
    }
}

/// One queued event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    /// Position in the queue.
    pub seq: i64,
    /// The (user, asset) it belongs to: rows of one key go out in `seq` order.
    pub order_key: String,
    /// `grant` or `revoke`.
    pub action: String,
    /// The `txn`.
    pub txn: String,
    /// The `POST /events` body.
    pub body: Value,
    /// Pending, sent or failed.
    pub status: OutboxStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due.
    #[serde(with = "crate::time::millis")]
    pub next_attempt_at: UnixMillis,
    /// The last error.
    pub last_error: Option<String>,
    /// The transmitter's answer (`{"txn", "streams", "jtis"}`).
    pub response: Option<Value>,
    /// When it was sent.
    #[serde(with = "crate::time::millis::option")]
    pub sent_at: Option<UnixMillis>,
}

type Tuple = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const COLS: &str = "SELECT seq, order_key, action, txn, body, status, attempts, next_attempt_at, last_error, response, sent_at FROM jit_outbox";

fn row(t: Tuple) -> Result<OutboxRow, JitError> {
    let json = |s: &str| {
        serde_json::from_str::<Value>(s).map_err(|e| JitError::CorruptValue {
            what: "outbox json",
            source: e.into(),
        })
    };
    Ok(OutboxRow {
        seq: t.0,
        order_key: t.1,
        action: t.2,
        txn: t.3,
        body: json(&t.4)?,
        status: OutboxStatus::parse(&t.5)?,
        attempts: t.6,
        next_attempt_at: UnixMillis(t.7),
        last_error: t.8,
        response: t.9.as_deref().map(json).transpose()?,
        sent_at: t.10.map(UnixMillis),
    })
}

pub(super) async fn list(
    pool: &AnyPool,
    status: Option<OutboxStatus>,
) -> Result<Vec<OutboxRow>, JitError> {
    let rows: Vec<Tuple> = match status {
        Some(s) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLS} WHERE status = $1 ORDER BY seq"
            )))
            .bind(s.as_str())
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} ORDER BY seq")))
                .fetch_all(pool)
                .await?
        }
    };
    rows.into_iter().map(row).collect()
}

/// Pending rows due at `now`, in queue order, leaving out every row behind a pending row of
/// the same (user, asset) that waits for its retry: a revoke never overtakes the grant it
/// revokes. The caller keeps the order within the batch (see `Emitter::run_once`).
pub(super) async fn due(
    pool: &AnyPool,
    now: UnixMillis,
    limit: usize,
) -> Result<Vec<OutboxRow>, JitError> {
    let rows: Vec<Tuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{COLS} o WHERE o.status = 'pending' AND o.next_attempt_at <= $1 AND NOT EXISTS \
         (SELECT 1 FROM jit_outbox p WHERE p.order_key = o.order_key AND p.status = 'pending' \
         AND p.seq < o.seq AND p.next_attempt_at > $1) \
         ORDER BY o.seq LIMIT $2"
    )))
    .bind(now.0)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(row).collect()
}

async fn context(
    conn: &mut AnyConnection,
    seq: i64,
) -> Result<(String, String, String, String), JitError> {
    let found: Option<(String, String, String, String)> =
        sqlx::query_as("SELECT txn, order_key, system, ticket_id FROM jit_outbox WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&mut *conn)
            .await?;
    found.ok_or_else(|| JitError::Internal(format!("outbox row {seq} not found").into()))
}

pub(super) async fn mark_sent(
    conn: &mut AnyConnection,
    seq: i64,
    response: &Value,
    now: UnixMillis,
) -> Result<(), JitError> {
    sqlx::query(
        "UPDATE jit_outbox SET status = 'sent', sent_at = $1, response = $2, attempts = attempts + 1, last_error = NULL \
         WHERE seq = $3",
    )
    .bind(now.0)
    .bind(response.to_string())
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    let (txn, order_key, system, ticket) = context(conn, seq).await?;
    let detail =
        json!({"seq": seq, "jtis": response.get("jtis"), "streams": response.get("streams")});
    let subject = order_key.split_once('|').map(|(s, _)| s.to_owned());
    audit(
        conn,
        now,
        Some(&system),
        Some(&ticket),
        Some(&txn),
        "sent",
        subject.as_deref(),
        None,
        &detail,
    )
    .await
}

pub(super) async fn mark_retry(
    conn: &mut AnyConnection,
    seq: i64,
    error: &str,
    next_at: UnixMillis,
) -> Result<(), JitError> {
    sqlx::query("UPDATE jit_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE seq = $3")
        .bind(error)
        .bind(next_at.0)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn mark_failed(
    conn: &mut AnyConnection,
    seq: i64,
    error: &str,
    now: UnixMillis,
) -> Result<(), JitError> {
    sqlx::query("UPDATE jit_outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE seq = $2")
        .bind(error)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    let (txn, order_key, system, ticket) = context(conn, seq).await?;
    let subject = order_key.split_once('|').map(|(s, _)| s.to_owned());
    let detail = json!({"seq": seq, "error": error});
    audit(
        conn,
        now,
        Some(&system),
        Some(&ticket),
        Some(&txn),
        "failed",
        subject.as_deref(),
        None,
        &detail,
    )
    .await
}

pub(super) async fn retry_failed(
    conn: &mut AnyConnection,
    seq: i64,
    now: UnixMillis,
) -> Result<bool, JitError> {
    let done = sqlx::query("UPDATE jit_outbox SET status = 'pending', next_attempt_at = $1 WHERE seq = $2 AND status = 'failed'")
        .bind(now.0)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
