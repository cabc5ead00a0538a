//! Idempotency keys of the ingest endpoint (decision D-TX-16): a producer that retries a request
//! whose answer it lost gets the first answer again instead of a second set of SETs.
//!
//! The shape follows [draft-ietf-httpapi-idempotency-key-header](https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/):
//! a key is scoped to the client that sent it, remembered with a fingerprint of the request
//! (`request_hash`) and the first response, for a window. The key and the SETs of its request
//! are written in one transaction
//! ([`enqueue_idempotent`](crate::TransmitterStore::enqueue_idempotent)), so a crash never keeps
//! one without the other.

use std::{fmt, sync::Arc, time::Duration};

use ssf_types::UnixMillis;

use super::outbox::EnqueueReport;

/// A key a request claims: who sent it, the key, the fingerprint of the request and how long to
/// remember it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The authenticated client; keys of different clients never collide.
    pub client_id: String,
    /// The key as the client sent it.
    pub key: String,
    /// A fingerprint of the request (e.g. the hex SHA-256 of its body): the same key with
    /// another fingerprint is a different request.
    pub request_hash: String,
    /// How long the key is remembered from now (its record's `expires_at`).
    pub window: Duration,
}

/// The first response to a request with a key, replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body, as text.
    pub body: String,
}

/// A remembered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The client that sent it.
    pub client_id: String,
    /// The key.
    pub key: String,
    /// The fingerprint of the first request.
    pub request_hash: String,
    /// The first response.
    pub response: StoredResponse,
    /// When the first request was stored.
    pub created_at: UnixMillis,
    /// From then on the key is free again (and the record may be purged).
    pub expires_at: UnixMillis,
}

impl IdempotencyRecord {
    /// Whether the key still holds at `now` (before `expires_at`).
    pub fn is_live(&self, now: UnixMillis) -> bool {
        now < self.expires_at
    }
}

/// Builds the response to remember from what the enqueue did, inside its transaction. It may be
/// called more than once (a PostgreSQL transaction that lost a race runs again); the last call's
/// answer is the one stored.
#[derive(Clone)]
pub struct Respond(Arc<dyn Fn(&EnqueueReport) -> StoredResponse + Send + Sync>);

impl Respond {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&EnqueueReport) -> StoredResponse + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The response for `report`.
    pub fn call(&self, report: &EnqueueReport) -> StoredResponse {
        (self.0)(report)
    }
}

impl fmt::Debug for Respond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Respond(..)")
    }
}

/// What [`enqueue_idempotent`](crate::TransmitterStore::enqueue_idempotent) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentEnqueue {
    /// The key was free (never used, or its window had passed): the SETs are queued and the
    /// key is remembered with `response`.
    Enqueued {
        /// What the enqueue did.
        report: EnqueueReport,
        /// The response stored with the key.
        response: StoredResponse,
    },
    /// The key is held by an earlier request within its window: nothing was queued. Compare
    /// its `request_hash` to tell a retry from a different request.
    Existing(IdempotencyRecord),
}
