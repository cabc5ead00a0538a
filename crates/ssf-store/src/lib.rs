//! Durable storage for Shared Signals transmitters: streams, subjects, the SET outbox, the audit
//! log and OAuth clients, behind one [`TransmitterStore`] trait.
//!
//! - [`SqliteStore`]: the embedded default, one SQLite file in WAL mode with group commit.
//! - [`PgStore`]: PostgreSQL, for several nodes on one database (`FOR UPDATE SKIP LOCKED`
//!   claims, `LISTEN/NOTIFY` wake-ups). It shares the portable SQL in `sql` and the [`WakeHub`];
//!   `conformance` (feature `conformance`) is the test suite every implementation must pass.
//! - [`open_transmitter_store`] / [`open_receiver_store`] pick one by location (a path or
//!   `sqlite://`, or `postgres://`); the receiver's stores are in [`receiver`].
//!
//! Times are epoch milliseconds from the injected [`ssf_types::Clock`]; JSON is stored as text.
//! See `docs/` of the workspace and the trait's method docs for the delivery semantics
//! ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1),
//! [RFC 8935](https://www.rfc-editor.org/rfc/rfc8935), [RFC 8936](https://www.rfc-editor.org/rfc/rfc8936)).

#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod engine;
pub mod error;
pub mod model;
pub mod open;
pub mod postgres;
pub mod private_files;
pub mod receiver;
mod rows;
mod sql;
pub mod sqlite;
pub mod transmitter;
pub mod wake;

pub use error::{StoreError, StoreResult, database_unavailable};
pub use model::{
    AuditEntry, AuditQuery, ClientRecord, DefaultSubjects, DeliveryMethod, NewAuditEntry,
    NewStream, OAuthClient, StatusChange, StreamRecord, StreamStatus, StreamUpdate, SubjectEntry,
    VerificationGate,
    idempotency::{
        IdempotencyClaim, IdempotencyRecord, IdempotentEnqueue, Respond, StoredResponse,
    },
    outbox::{
        ClaimedSet, DeliveryError, DeliveryOutcome, EnqueueReport, NewSet, OutboxCounts,
        OutboxEntry, OutboxId, OutboxState, OutcomeReport, ParkedQuery, PollRequest, PollResponse,
        PolledSet, ReplaySelector,
    },
};
pub use open::{StoreUrl, open_receiver_store, open_transmitter_store};
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use transmitter::TransmitterStore;
pub use wake::{Wake, WakeHub, WorkSubscription};
