//! Durable storage for Shared Signals transmitters and receivers: streams, subjects, the SET
//! outbox, the audit log and OAuth clients behind one [`TransmitterStore`] trait; the receiver's
//! de-duplication, state and streams behind [`ReceiverStore`](receiver::ReceiverStore).
//!
//! - [`SqliteStore`]: the embedded default, one SQLite file in WAL mode with group commit.
//! - [`PgStore`]: PostgreSQL, for several nodes on one database (`FOR UPDATE SKIP LOCKED`
//!   claims, `LISTEN/NOTIFY` wake-ups); `conformance` (feature `conformance`) is the test suite
//!   every implementation must pass, run on both.
//! - [`open_transmitter_store`] / [`open_receiver_store`] pick one by location (a path or
//!   `sqlite://`, or `postgres://`); the receiver's stores are in [`receiver`].
//!
//! # Structure: one implementation per role, two engines
//!
//! The logic of each operation is written once, generic over the engine, and split by role:
//!
//! - [`transmitter`]: the [`TransmitterStore`] contract, its one implementation (`api`), and in
//!   its private modules `streams` (streams and subjects), `outbox` (claims, outcomes, the
//!   per-subject promotion, reaper, replay, parked rows, counts), `poll` (RFC 8936),
//!   `idempotency` (D-TX-16) and `records` (audit log, OAuth clients).
//! - [`receiver`]: the [`ReceiverStore`](receiver::ReceiverStore) contract, its one
//!   implementation (`api`), with `batch` (`apply_batch`) and `tables` (seen keys, state rows,
//!   audit, the receiver's streams, chunked purges).
//! - `engine`: the narrow, crate-private `Engine` trait the operations are generic over: a
//!   [`sqlx::Database`] plus what differs per engine. That is a few statements (PostgreSQL's row
//!   locks and `SKIP LOCKED` claims where SQLite's single writer needs none), the placeholder
//!   style of statements built at run time (`?` on SQLite, `$N` on PostgreSQL), whether rows
//!   are locked in key order, and hooks into the outbox code that stays per engine.
//! - `backend`: the other seam, the crate-private `Backend` and `ReceiverBackend` traits the two
//!   implementations are generic over: how a write runs (SQLite: a job of the group-commit
//!   writer task; PostgreSQL: one transaction, run again when it lost a race), and who hears of
//!   it (PostgreSQL: `NOTIFY` for the other nodes before the commit, for what the write
//!   announces; every backend: this node's [`WakeHub`] after it).
//! - [`sqlite`] and [`postgres`]: only what one engine has. Opening and migrations, the writer
//!   task, the `LISTEN` task ([`postgres::listen`]), the engine-specific outbox (enqueue and
//!   delivery method changes, and on PostgreSQL the per-subject locks and settling), and
//!   PostgreSQL's receiver state change log.
//! - `sql` and `rows`: the portable SQL text and the row types both engines use.
//!
//! Monomorphised per engine, the shared code runs the same statements as two copies would: the
//! store benchmark (`docs/BENCHMARKS.md`) measured no change.
//!
//! Times are epoch milliseconds from the injected [`ssf_types::Clock`]; JSON is stored as text.
//! See `docs/` of the workspace and the trait's method docs for the delivery semantics
//! ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1),
//! [RFC 8935](https://www.rfc-editor.org/rfc/rfc8935), [RFC 8936](https://www.rfc-editor.org/rfc/rfc8936)).

#![warn(missing_docs)]

mod backend;
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
    NewStream, OAuthClient, StatusChange, StreamRecord, StreamStatus, StreamUpdate, SubjectCounts,
    SubjectEntry, VerificationGate,
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
