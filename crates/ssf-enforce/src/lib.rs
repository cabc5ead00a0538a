//! Continuous access evaluation for Shared Signals receivers: the state that CAEP 1.0 and RISC 1.0
//! events build, and the answer to "may this request go on?".
//!
//! # Flow
//! The receiver verifies a SET, builds an [`EventContext`] and one [`EnforcementEvent`] (the
//! typed [`ssf_types::Event`] and the SET's subject) per event,
//! calls [`Engine::plan`] (pure: state + event → [`Effect`]s and an [`AuditEntry`]), persists the
//! effects in the transaction that records the SET's (`iss`, `jti`), then calls
//! [`Engine::commit`]. At start-up (or when another node changed the store) it calls
//! [`Engine::load`] with the stored rows. Requests are judged by [`Engine::decide`], which reads
//! memory only; [`Decision::http`] turns the answer into a status and `WWW-Authenticate` value.
//!
//! # State rows
//! Every row is `(kind, key) → (value, cause)`; see [`RowKind`] for kinds and key formats and
//! [`HandleKey`] for handle keys. A row with a newer-or-equal `cause.at` (event time) replaces an
//! older one and never the reverse, which makes effects idempotent and order-independent.
//!
//! # What each event does
//! | Event | Effect |
//! |---|---|
//! | CAEP `session-revoked`, RISC `sessions-revoked` | revoke tokens matching the subject with `iat` ≤ event time |
//! | CAEP `credential-change` | revoke the subject's earlier tokens per policy (default: password, pin, x509, fido* on update/revoke/delete) |
//! | CAEP `token-claims-change` | JIT grants, dynamic groups, claims overlay (see below) |
//! | CAEP `assurance-level-change` | current level; requests needing more get an RFC 9470 step-up |
//! | CAEP `risk-level-change` | current risk; above the maximum → 403 or step-up |
//! | CAEP `device-compliance-change` | `not-compliant` → 403 until `compliant` |
//! | CAEP `session-established` / `session-presented` | session inventory only |
//! | RISC `account-disabled` / `account-enabled` | deny (401) until enabled; optionally revoke sessions |
//! | RISC `account-purged` | deny, forget the user's other rows |
//! | RISC `credential-compromise` | revoke earlier tokens |
//! | RISC `account-credential-change-required` | revoke (default), deny, or flag in the overlay |
//! | RISC `identifier-changed` | move rows from the old email / phone to `new-value` |
//! | RISC opt-in / opt-out | recorded (`opt_state`), no access effect |
//! | others | audit only |
//!
//! # JIT grants and dynamic groups (`token-claims-change` claims)
//! - `{"customer_id": "C2148", "access_allowed": "read_write"}` → grant on `customer:C2148`;
//!   `"access_allowed": "none"` removes it; optional `"expires_at": <epoch seconds>`.
//! - `{"grants": [{"asset": "customer:C2148", "access": "read", "expires_at": 1767225600}, ...]}`.
//! - `{"groups_add": ["support-tier2"], "groups_remove": ["support-tier1"]}`; group permissions
//!   come from [`AccessPolicy::groups`].
//!
//! Access levels are ordered ([`AccessPolicy::access_levels`], default `none < read <
//! read_write`). Assets matching [`AccessPolicy::critical`] need a grant whatever roles say;
//! others are allowed by role, group or grant.
//!
//! # Who may grant, and for how long ([`GrantAuthority`], `[enforce.grants]`)
//! - `grants.sources = [{ iss = "https://bridge.example.com/", stream_ids = ["…"] }]`: only
//!   these sources' grants (access above the lowest level) and `groups_add` entries are applied;
//!   from any other source they are refused: counted in the audit entry
//!   ([`AuditEntry::refused`], rule [`Rule::GrantRefused`], outcome [`Outcome::Refused`] when
//!   nothing else changed) and logged as a warning by the receiver handler. Revokes
//!   (`access_allowed: "none"`), `groups_remove` and the other claims of the same SET follow the
//!   usual rules: taking access away is safe from every verified transmitter (D-EN-02).
//!   Unset (the default) every verified transmitter may grant. Engine-wide: a per-transmitter
//!   policy cannot widen it.
//! - `grants.max_duration` (default 7 days): a grant lasts at most this long from its event time
//!   (or the receiver's clock, if earlier), with or without `expires_at` (D-EN-03).
//!
//! # Groups and critical assets (D-EN-04)
//! A critical asset opens to a JIT grant; to a *dynamic* group (CAEP `groups_add` from a source
//! allowed to grant) only where [`AccessPolicy::critical_allows_groups`] covers it (`true`, or
//! asset patterns such as `["customer"]`); to a group of the caller's *own token* only where
//! [`AccessPolicy::critical_allows_token_groups`] does (default: never). Roles never open one.
//! [`Decision::critical`] names the [`CriticalRule`] that opened or refused it.

mod access;
#[cfg(feature = "http")]
pub mod authzen;
mod decide;
pub mod decision;
mod engine;
pub mod error;
pub mod event;
#[cfg(feature = "receiver")]
pub mod explain;
pub mod handle;
#[cfg(feature = "http")]
pub mod layer;
mod plan;
pub mod policy;
#[cfg(feature = "receiver")]
pub mod receiver;
pub mod request;
pub mod row;
mod state;

pub use decision::{ClaimsOverlay, CriticalRule, Decision, DenyKind, HttpChallenge, ReasonCode};
pub use engine::{CommitReport, Engine, EngineStats};
pub use error::EnforceError;
pub use event::{EnforcementEvent, EventContext, events_from_claims, events_from_set, pattern_of};
pub use handle::{HandleKey, SubjectPattern, subject_pattern};
pub use plan::FLAG_CLAIM;
pub use policy::{
    AccessPolicy, CredentialRule, CriticalGroups, DEFAULT_MAX_GRANT_DURATION, DisableRevokes,
    EnforcementPolicy, EngineConfig, GrantAuthority, GrantSource, GroupClaims, JitClaims,
    OpaqueSubject, Permission, RequiredAction, Requirement, RiskAction, RiskLevel,
    TokenClaimMapping,
};
#[cfg(feature = "receiver")]
pub use receiver::EnforcementHandler;
pub use request::{AccessRequest, Resource};
pub use row::{AuditEntry, Cause, Effect, Outcome, Plan, Row, RowKind, RowState, Rule, StateRow};
