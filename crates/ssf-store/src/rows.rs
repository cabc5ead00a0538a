//! Database rows, engine-neutral (`FromRow` is generic over the backend), and their conversion
//! into the public records.

use ssf_types::{Jti, StreamId, UnixMillis};

use crate::{
    error::{StoreError, StoreResult},
    model::{
        AuditEntry, ClientRecord, DefaultSubjects, DeliveryMethod, OAuthClient, StreamRecord,
        StreamStatus, SubjectEntry,
        idempotency::{IdempotencyRecord, StoredResponse},
        outbox::{ClaimedSet, DeliveryError, OutboxEntry, OutboxId, OutboxState},
    },
};

fn parse<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("{what} {text:?}")))
}

fn attempts(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn json(text: &str) -> StoreResult<serde_json::Value> {
    Ok(serde_json::from_str(text)?)
}

/// A `streams` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StreamRow {
    stream_id: String,
    client_id: String,
    delivery: String,
    status: String,
    status_reason: Option<String>,
    default_subjects: String,
    config: String,
    revision: i64,
    inactivity_timeout_secs: Option<i64>,
    min_verification_interval_secs: Option<i64>,
    created_at: i64,
    updated_at: i64,
    last_activity_at: i64,
    last_verification_at: Option<i64>,
}

impl StreamRow {
    pub(crate) fn into_record(self) -> StoreResult<StreamRecord> {
        Ok(StreamRecord {
            stream_id: StreamId::new(self.stream_id),
            client_id: self.client_id,
            delivery: parse(&self.delivery, DeliveryMethod::parse, "delivery method")?,
            status: parse(&self.status, StreamStatus::parse, "stream status")?,
            status_reason: self.status_reason,
            default_subjects: parse(
                &self.default_subjects,
                DefaultSubjects::parse,
                "default_subjects",
            )?,
            config: json(&self.config)?,
            revision: self.revision,
            inactivity_timeout_secs: self.inactivity_timeout_secs,
            min_verification_interval_secs: self.min_verification_interval_secs,
            created_at: UnixMillis(self.created_at),
            updated_at: UnixMillis(self.updated_at),
            last_activity_at: UnixMillis(self.last_activity_at),
            last_verification_at: self.last_verification_at.map(UnixMillis),
        })
    }
}

/// Converts a list of stream rows.
pub(crate) fn stream_records(rows: Vec<StreamRow>) -> StoreResult<Vec<StreamRecord>> {
    rows.into_iter().map(StreamRow::into_record).collect()
}

/// A `stream_subjects` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SubjectRow {
    stream_id: String,
    subject_key: String,
    subject: String,
    included: bool,
    verified: Option<bool>,
    updated_at: i64,
}

impl SubjectRow {
    pub(crate) fn into_entry(self) -> StoreResult<SubjectEntry> {
        Ok(SubjectEntry {
            stream_id: StreamId::new(self.stream_id),
            subject_key: self.subject_key,
            subject: json(&self.subject)?,
            included: self.included,
            verified: self.verified,
            updated_at: UnixMillis(self.updated_at),
        })
    }
}

/// Converts a list of subject rows.
pub(crate) fn subject_entries(rows: Vec<SubjectRow>) -> StoreResult<Vec<SubjectEntry>> {
    rows.into_iter().map(SubjectRow::into_entry).collect()
}

/// A claimed outbox row (`RETURNING` of the claim).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimRow {
    id: i64,
    stream_id: String,
    jti: String,
    subject_key: String,
    set_jwt: String,
    attempts: i64,
    created_at: i64,
    lease_until: Option<i64>,
}

impl ClaimRow {
    pub(crate) fn into_claimed(self) -> ClaimedSet {
        ClaimedSet {
            id: OutboxId(self.id),
            stream_id: StreamId::new(self.stream_id),
            jti: Jti::new(self.jti),
            subject_key: self.subject_key,
            set_jwt: self.set_jwt,
            attempts: attempts(self.attempts),
            created_at: UnixMillis(self.created_at),
            lease_until: UnixMillis(self.lease_until.unwrap_or_default()),
        }
    }
}

/// A full outbox row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutboxRow {
    id: i64,
    stream_id: String,
    jti: String,
    subject_key: String,
    state: String,
    set_jwt: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    error_code: Option<String>,
    error_detail: Option<String>,
    finished_at: Option<i64>,
}

impl OutboxRow {
    pub(crate) fn into_entry(self) -> StoreResult<OutboxEntry> {
        Ok(OutboxEntry {
            id: OutboxId(self.id),
            stream_id: StreamId::new(self.stream_id),
            jti: Jti::new(self.jti),
            subject_key: self.subject_key,
            state: parse(&self.state, OutboxState::parse, "outbox state")?,
            set_jwt: self.set_jwt,
            attempts: attempts(self.attempts),
            created_at: UnixMillis(self.created_at),
            next_attempt_at: UnixMillis(self.next_attempt_at),
            error: self.error_code.map(|code| DeliveryError {
                code,
                description: self.error_detail,
            }),
            finished_at: self.finished_at.map(UnixMillis),
        })
    }
}

/// An `audit_log` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    stream_id: Option<String>,
    detail: String,
}

impl AuditRow {
    pub(crate) fn into_entry(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            id: self.id,
            at: UnixMillis(self.at),
            actor: self.actor,
            action: self.action,
            stream_id: self.stream_id.map(StreamId::new),
            detail: json(&self.detail)?,
        })
    }
}

/// An `oauth_clients` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    scopes: String,
    audience: String,
    created_at: i64,
    updated_at: i64,
}

impl ClientRow {
    pub(crate) fn into_record(self) -> StoreResult<ClientRecord> {
        Ok(ClientRecord {
            client: OAuthClient {
                client_id: self.client_id,
                secret_hash: self.secret_hash,
                scopes: serde_json::from_str(&self.scopes)?,
                audience: serde_json::from_str(&self.audience)?,
            },
            created_at: UnixMillis(self.created_at),
            updated_at: UnixMillis(self.updated_at),
        })
    }
}

/// An `idempotency_keys` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    client_id: String,
    idem_key: String,
    request_hash: String,
    status: i64,
    body: String,
    created_at: i64,
    expires_at: i64,
}

impl IdempotencyRow {
    pub(crate) fn into_record(self) -> StoreResult<IdempotencyRecord> {
        let status = u16::try_from(self.status)
            .map_err(|_| StoreError::Corrupt(format!("idempotency status {}", self.status)))?;
        Ok(IdempotencyRecord {
            client_id: self.client_id,
            key: self.idem_key,
            request_hash: self.request_hash,
            response: StoredResponse {
                status,
                body: self.body,
            },
            created_at: UnixMillis(self.created_at),
            expires_at: UnixMillis(self.expires_at),
        })
    }
}
