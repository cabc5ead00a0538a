//! [`ReceiverStore`] on PostgreSQL, shared by every receiver node behind a load balancer.
//!
//! The same tables as the SQLite receiver (`migrations/postgres-receiver`), tracked in their own
//! migrations table (`_ssf_receiver_migrations`) so they can live in the transmitter's database
//! and schema. [`ReceiverStore::apply_batch`] is one transaction: `INSERT ... ON CONFLICT DO
//! NOTHING RETURNING` on (`iss`, `jti`) tells new SETs from duplicates. Two nodes recording the
//! same SET at once meet on that primary key: the second waits for the first to commit and then
//! sees a duplicate, so the SET is applied exactly once. State rows follow the event-time rule
//! in the upsert itself, so concurrent batches touching one row commute.
//!
//! Every batch that applied writes also appends them to the state change log and `NOTIFY`s
//! [`STATE_CHANNEL`] (see the `log` module); each store `LISTEN`s there (unless `PgOptions::listen` is
//! off), so a node's in-memory state can follow what the other nodes applied
//! ([`ReceiverStore::state_changes`]).

use std::{
    collections::BTreeSet,
    sync::{Arc, LazyLock},
};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, PgPool, migrate::Migrator};
use ssf_types::{Clock, StreamId, UnixMillis};

mod audit;
mod log;

use super::{PgOptions, current_schema, listen, transaction};
use crate::{
    error::{StoreError, StoreResult},
    model::{AuditEntry, AuditQuery, DeliveryMethod, NewAuditEntry, StreamStatus},
    receiver::batch::{CHUNK, values_sql},
    receiver::{
        ApplyItem, ApplyResult, ReceiverAuditQuery, ReceiverStore, ReceiverStream,
        ReceiverStreamRecord, StateChanges, StateRow, VERIFICATION_REQUEST_TTL_MS,
        verification_sql,
    },
    wake::{WakeHub, WorkSubscription},
};

/// The shared receiver batch, on PostgreSQL.
type Batch = crate::receiver::batch::Batch<sqlx::Postgres>;

/// The channel on which receiver nodes announce committed state writes (in the `public` schema;
/// `ssf_rx_state_<schema>` elsewhere). The payload is the sending store's node id.
pub const STATE_CHANNEL: &str = "ssf_rx_state";

/// The receiver migrations as embedded (`migrations/postgres-receiver`).
static EMBEDDED: Migrator = sqlx::migrate!("migrations/postgres-receiver");

/// The table that tracks the receiver migrations, apart from the transmitter's.
pub const RECEIVER_MIGRATIONS_TABLE: &str = "_ssf_receiver_migrations";

/// The receiver migrations, tracked in [`RECEIVER_MIGRATIONS_TABLE`].
pub static RECEIVER_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = Migrator::with_migrations(EMBEDDED.iter().cloned().collect());
    migrator.dangerous_set_table_name(RECEIVER_MIGRATIONS_TABLE);
    migrator
});

/// Where a receiver node announces its state writes, and how it recognises its own.
#[derive(Debug, Clone)]
pub(crate) struct StateNotifier {
    /// The state channel of the store's schema.
    channel: String,
    /// This store instance's id, the payload of every notification it sends.
    node: String,
}

/// A [`ReceiverStore`] in a PostgreSQL database.
#[derive(Debug)]
pub struct PgReceiverStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    /// Where this node announces its state writes, and its node id.
    notifier: StateNotifier,
    /// Signalled by the `LISTEN` task when another node committed state writes.
    hub: Arc<WakeHub>,
    listener: listen::Listener,
}

impl PgReceiverStore {
    /// Connects to `url` and applies the receiver migrations (unless `options.run_migrations` is
    /// off), taking times from `clock`. With `options.listen` (the default) it also listens for
    /// the state writes of other nodes ([`ReceiverStore::state_change_signal`]).
    pub async fn connect(
        url: &str,
        clock: Arc<dyn Clock>,
        options: PgOptions,
    ) -> StoreResult<Self> {
        let pool = options.pool(url).await?;
        if options.run_migrations {
            migrate(&pool).await?;
        }
        let schema = current_schema(&pool).await?;
        let notifier = StateNotifier {
            channel: listen::schema_channel(STATE_CHANNEL, &schema),
            node: uuid::Uuid::new_v4().simple().to_string(),
        };
        let hub = WakeHub::new();
        let listener = if options.listen {
            let connect = options.connect_options(url)?;
            let routes = listen::Routes {
                own_node: notifier.node.clone(),
                routes: vec![listen::Route {
                    channel: notifier.channel.clone(),
                    hub: Arc::clone(&hub),
                }],
            };
            listen::Listener::start(connect, routes).await?
        } else {
            listen::Listener::default()
        };
        Ok(Self {
            pool,
            clock,
            notifier,
            hub,
            listener,
        })
    }

    /// The `NOTIFY` channel this store announces state writes on.
    pub fn state_channel(&self) -> &str {
        &self.notifier.channel
    }

    /// Connects with default options.
    pub async fn connect_url(url: &str, clock: Arc<dyn Clock>) -> StoreResult<Self> {
        Self::connect(url, clock, PgOptions::default()).await
    }

    /// The connection pool (for diagnostics and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Applies the receiver migrations on `pool` (what `ssf migrate` runs for a receiver).
pub async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    RECEIVER_MIGRATOR
        .run_direct(None, &mut *conn, false)
        .await?;
    Ok(())
}

const STREAM_COLS: &str = "stream_key, peer, issuer, stream_id, delivery, status, \
    status_reason, push_auth_sha256, config, expected_verification_state, \
    verification_requested_at, last_verified_at, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct StateDbRow {
    kind: String,
    key: String,
    value: String,
    event_time: i64,
    updated_at: i64,
}

impl StateDbRow {
    fn into_row(self) -> StoreResult<StateRow> {
        Ok(StateRow {
            kind: self.kind,
            key: self.key,
            value: serde_json::from_str(&self.value)?,
            event_time: self.event_time,
            updated_at: UnixMillis(self.updated_at),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct StreamDbRow {
    stream_key: String,
    peer: String,
    issuer: String,
    stream_id: Option<String>,
    delivery: String,
    status: String,
    status_reason: Option<String>,
    push_auth_sha256: Option<String>,
    config: String,
    expected_verification_state: Option<String>,
    verification_requested_at: Option<i64>,
    last_verified_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl StreamDbRow {
    fn into_record(self) -> StoreResult<ReceiverStreamRecord> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("{what} {v:?}"));
        Ok(ReceiverStreamRecord {
            stream: ReceiverStream {
                delivery: DeliveryMethod::parse(&self.delivery)
                    .ok_or_else(|| corrupt("delivery method", &self.delivery))?,
                status: StreamStatus::parse(&self.status)
                    .ok_or_else(|| corrupt("stream status", &self.status))?,
                stream_key: self.stream_key,
                peer: self.peer,
                issuer: self.issuer,
                stream_id: self.stream_id.map(StreamId::new),
                status_reason: self.status_reason,
                push_auth_sha256: self.push_auth_sha256,
                config: serde_json::from_str(&self.config)?,
            },
            expected_verification_state: self.expected_verification_state,
            verification_requested_at: self.verification_requested_at.map(UnixMillis),
            last_verified_at: self.last_verified_at.map(UnixMillis),
            created_at: UnixMillis(self.created_at),
            updated_at: UnixMillis(self.updated_at),
        })
    }
}

#[async_trait]
impl ReceiverStore for PgReceiverStore {
    async fn apply_batch(&self, items: Vec<ApplyItem>) -> StoreResult<Vec<ApplyResult>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        transaction!(self.pool, |tx| {
            let (results, logged) = Batch::apply_items(tx, &items, now).await?;
            log::append(tx, &self.notifier, &logged, now).await?;
            Ok(results)
        })
    }

    async fn is_seen(&self, iss: &str, jti: &str) -> StoreResult<bool> {
        let row: Option<(bool,)> =
            sqlx::query_as("SELECT TRUE FROM received_sets WHERE iss = $1 AND jti = $2")
                .bind(iss)
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    async fn seen_among(&self, keys: &[(String, String)]) -> StoreResult<Vec<bool>> {
        let mut seen = BTreeSet::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = values_sql::<sqlx::Postgres>(
                "SELECT iss, jti FROM received_sets WHERE (iss, jti) IN (VALUES",
                chunk.len(),
                2,
                ")",
            );
            let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
            for (iss, jti) in chunk {
                query = query.bind(iss.as_str()).bind(jti.as_str());
            }
            seen.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(keys.iter().map(|k| seen.contains(k)).collect())
    }

    async fn purge_seen(&self, older_than: UnixMillis) -> StoreResult<u64> {
        transaction!(self.pool, |tx| {
            let done = sqlx::query("DELETE FROM received_sets WHERE received_at < $1")
                .bind(older_than.0)
                .execute(&mut *tx)
                .await?;
            Ok(done.rows_affected())
        })
    }

    async fn seen_count(&self) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM received_sets")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn load_state(&self) -> StoreResult<Vec<StateRow>> {
        sqlx::query_as::<_, StateDbRow>(
            "SELECT kind, key, value, event_time, updated_at FROM receiver_state \
             ORDER BY kind, key",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(StateDbRow::into_row)
        .collect()
    }

    async fn state_rows(&self, kind: &str) -> StoreResult<Vec<StateRow>> {
        sqlx::query_as::<_, StateDbRow>(
            "SELECT kind, key, value, event_time, updated_at FROM receiver_state \
             WHERE kind = $1 ORDER BY key",
        )
        .bind(kind)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(StateDbRow::into_row)
        .collect()
    }

    async fn state_log_head(&self) -> StoreResult<Option<i64>> {
        log::head(&self.pool).await.map(Some)
    }

    async fn state_changes(&self, cursor: i64, limit: u32) -> StoreResult<StateChanges> {
        log::changes(&self.pool, &self.notifier.node, cursor, limit).await
    }

    async fn purge_state_log(&self, older_than: UnixMillis) -> StoreResult<u64> {
        transaction!(self.pool, |tx| log::purge(tx, older_than).await)
    }

    fn state_change_signal(&self) -> Option<WorkSubscription> {
        self.listener.is_running().then(|| self.hub.subscribe(None))
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let now = self.clock.now();
        let detail = serde_json::to_string(&entry.detail)?;
        transaction!(self.pool, |tx| {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO receiver_audit (at, actor, action, stream_id, detail) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(now.0)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(entry.stream_id.as_ref().map(StreamId::as_str))
            .bind(&detail)
            .fetch_one(&mut *tx)
            .await?;
            Ok(id)
        })
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let query = ReceiverAuditQuery {
            stream_key: query.stream_id.map(StreamId::into_string),
            after_id: query.after_id,
            limit: query.limit,
            ..ReceiverAuditQuery::default()
        };
        audit::query(&self.pool, &query).await
    }

    async fn query_audit(&self, query: ReceiverAuditQuery) -> StoreResult<Vec<AuditEntry>> {
        audit::query(&self.pool, &query).await
    }

    async fn purge_audit(&self, older_than: UnixMillis) -> StoreResult<u64> {
        transaction!(self.pool, |tx| {
            let done = sqlx::query("DELETE FROM receiver_audit WHERE at < $1")
                .bind(older_than.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM receiver_audit_subjects WHERE at < $1")
                .bind(older_than.0)
                .execute(&mut *tx)
                .await?;
            Ok(done.rows_affected())
        })
    }

    async fn upsert_stream(&self, stream: ReceiverStream) -> StoreResult<ReceiverStreamRecord> {
        let now = self.clock.now();
        let config = serde_json::to_string(&stream.config)?;
        let sql = format!(
            "INSERT INTO receiver_streams (stream_key, peer, issuer, stream_id, delivery, status, \
             status_reason, push_auth_sha256, config, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (stream_key) DO UPDATE SET peer = excluded.peer, \
             issuer = excluded.issuer, stream_id = excluded.stream_id, \
             delivery = excluded.delivery, status = excluded.status, \
             status_reason = excluded.status_reason, push_auth_sha256 = excluded.push_auth_sha256, \
             config = excluded.config, updated_at = excluded.updated_at RETURNING {STREAM_COLS}"
        );
        transaction!(self.pool, |tx| {
            // Safe: `STREAM_COLS` is a constant.
            sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql.clone()))
                .bind(&stream.stream_key)
                .bind(&stream.peer)
                .bind(&stream.issuer)
                .bind(stream.stream_id.as_ref().map(StreamId::as_str))
                .bind(stream.delivery.as_str())
                .bind(stream.status.as_str())
                .bind(&stream.status_reason)
                .bind(&stream.push_auth_sha256)
                .bind(&config)
                .bind(now.0)
                .fetch_one(&mut *tx)
                .await?
                .into_record()
        })
    }

    async fn get_stream(&self, stream_key: &str) -> StoreResult<Option<ReceiverStreamRecord>> {
        let sql = format!("SELECT {STREAM_COLS} FROM receiver_streams WHERE stream_key = $1");
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .bind(stream_key)
            .fetch_optional(&self.pool)
            .await?
            .map(StreamDbRow::into_record)
            .transpose()
    }

    async fn list_streams(&self) -> StoreResult<Vec<ReceiverStreamRecord>> {
        let sql = format!("SELECT {STREAM_COLS} FROM receiver_streams ORDER BY stream_key");
        sqlx::query_as::<_, StreamDbRow>(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(StreamDbRow::into_record)
            .collect()
    }

    async fn delete_stream(&self, stream_key: &str) -> StoreResult<bool> {
        transaction!(self.pool, |tx| {
            sqlx::query(verification_sql::DELETE_STREAM)
                .bind(stream_key)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM receiver_streams WHERE stream_key = $1")
                .bind(stream_key)
                .execute(&mut *tx)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn set_stream_status(
        &self,
        stream_key: &str,
        status: StreamStatus,
        reason: Option<String>,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        transaction!(self.pool, |tx| {
            let done = sqlx::query(
                "UPDATE receiver_streams SET status = $2, status_reason = $3, \
                 updated_at = $4 WHERE stream_key = $1",
            )
            .bind(stream_key)
            .bind(status.as_str())
            .bind(&reason)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn set_expected_verification_state(
        &self,
        stream_key: &str,
        state: Option<String>,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        transaction!(self.pool, |tx| {
            let done = sqlx::query(
                "UPDATE receiver_streams SET expected_verification_state = $2, \
                 verification_requested_at = $3, updated_at = $3 WHERE stream_key = $1",
            )
            .bind(stream_key)
            .bind(&state)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            if let Some(state) = &state {
                sqlx::query(verification_sql::INSERT)
                    .bind(stream_key)
                    .bind(state)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(verification_sql::PRUNE)
                .bind(stream_key)
                .bind(now.0 - VERIFICATION_REQUEST_TTL_MS)
                .execute(&mut *tx)
                .await?;
            Ok(true)
        })
    }

    async fn is_expected_verification_state(
        &self,
        stream_key: &str,
        state: &str,
    ) -> StoreResult<bool> {
        let since = self.clock.now().0 - VERIFICATION_REQUEST_TTL_MS;
        let (n,): (i64,) = sqlx::query_as(verification_sql::COUNT_SINCE)
            .bind(stream_key)
            .bind(state)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn close(&self) {
        self.listener.stop();
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiver_has_its_own_migrations_table() {
        assert_eq!(RECEIVER_MIGRATOR.table_name, RECEIVER_MIGRATIONS_TABLE);
        assert_eq!(RECEIVER_MIGRATOR.iter().count(), EMBEDDED.iter().count());
    }
}
