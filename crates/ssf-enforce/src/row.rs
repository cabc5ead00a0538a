//! State rows, effects, plans and audit entries: the durable face of the engine.
//!
//! Effects are typed ([`Row`], [`RowState`]) from planning until the receiver's store writes
//! them; [`StateRow`] is a row as the store keeps it (its value JSON), read back with
//! [`Row::try_from`].
//!
//! The receiver stores rows as `(kind, key)` → `(value, cause)`. A put wins over the stored row
//! when its `cause.at` is newer or equal ([`StateRow::supersedes`]); a delete removes a row only if
//! that row is not newer than the delete. With that one rule effects are idempotent and
//! commute with every older effect, so a store can apply them in any order (SQL:
//! `INSERT … ON CONFLICT (kind, key) DO UPDATE … WHERE excluded.at >= rows.at`).

mod value;

use std::{borrow::Cow, fmt};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssf_types::EventType;

pub use self::value::{AccountStatus, Row, RowState, SessionState};
use crate::error::EnforceError;

/// What a row holds. Row keys are listed per kind; `<pattern>` is a
/// [`SubjectPattern::canonical`](crate::SubjectPattern::canonical) string and `<user>` one
/// [`HandleKey`](crate::HandleKey).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// `<pattern>`: tokens matching the pattern with `iat` ≤ `before` are revoked.
    Revocation,
    /// `<user>`: `enabled`, `disabled` or `purged` (RISC §2.2–§2.4).
    Account,
    /// `<user>`: the account must change a credential first (RISC §2.1, `deny` mode).
    CredentialRequired,
    /// `<pattern>`: device compliance (CAEP §3.5).
    Device,
    /// `<pattern>#<claim name>`: one claim of the overlay; `null` removes the claim (CAEP §3.2).
    Claims,
    /// `<pattern>#<namespace>`: current assurance level (CAEP §3.4).
    Assurance,
    /// `<pattern>`: current risk level (CAEP §3.8).
    Risk,
    /// `<pattern>`: session inventory, no access effect (CAEP §3.6, §3.7).
    Session,
    /// `<pattern>#<asset type>:<asset id>`: a JIT grant; access `none` is a tombstone.
    Grant,
    /// `<pattern>#<group>`: dynamic group membership; `member: false` is a tombstone.
    GroupMember,
    /// `<user>`: RISC opt-in / opt-out state (RISC §2.8), no access effect.
    OptState,
}

impl RowKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::Revocation,
        Self::Account,
        Self::CredentialRequired,
        Self::Device,
        Self::Claims,
        Self::Assurance,
        Self::Risk,
        Self::Session,
        Self::Grant,
        Self::GroupMember,
        Self::OptState,
    ];

    /// The wire name, e.g. `group_member`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revocation => "revocation",
            Self::Account => "account",
            Self::CredentialRequired => "credential_required",
            Self::Device => "device",
            Self::Claims => "claims",
            Self::Assurance => "assurance",
            Self::Risk => "risk",
            Self::Session => "session",
            Self::Grant => "grant",
            Self::GroupMember => "group_member",
            Self::OptState => "opt_state",
        }
    }
}

impl std::str::FromStr for RowKind {
    type Err = EnforceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(EnforceError::InvalidEvent("unknown row kind"))
    }
}

impl fmt::Display for RowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule that produced an effect, a row or a decision. Names say which spec section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// CAEP §3.1 `session-revoked`.
    #[serde(rename = "caep.session-revoked")]
    SessionRevoked,
    /// RISC §2.11 `sessions-revoked` (deprecated, still honoured).
    #[serde(rename = "risc.sessions-revoked")]
    SessionsRevoked,
    /// CAEP §3.3 `credential-change` that revokes earlier sessions (policy).
    #[serde(rename = "caep.credential-change.revoke")]
    CredentialChangeRevoke,
    /// CAEP §3.3 `credential-change` that satisfies a pending RISC §2.1 requirement.
    #[serde(rename = "caep.credential-change.satisfies-required")]
    CredentialChangeSatisfies,
    /// RISC §2.7 `credential-compromise`.
    #[serde(rename = "risc.credential-compromise")]
    CredentialCompromise,
    /// RISC §2.3 `account-disabled`.
    #[serde(rename = "risc.account-disabled")]
    AccountDisabled,
    /// RISC §2.3 `account-disabled` revoking the sessions too (policy).
    #[serde(rename = "risc.account-disabled.revoke-sessions")]
    AccountDisabledRevoke,
    /// RISC §2.4 `account-enabled`.
    #[serde(rename = "risc.account-enabled")]
    AccountEnabled,
    /// RISC §2.2 `account-purged`.
    #[serde(rename = "risc.account-purged")]
    AccountPurged,
    /// RISC §2.2: the purged account's other state is forgotten.
    #[serde(rename = "risc.account-purged.forget")]
    AccountPurgedForget,
    /// RISC §2.1 `account-credential-change-required`.
    #[serde(rename = "risc.account-credential-change-required")]
    CredentialChangeRequired,
    /// RISC §2.5 `identifier-changed`: state moves to the new identifier.
    #[serde(rename = "risc.identifier-changed")]
    IdentifierChanged,
    /// CAEP §3.2 `token-claims-change`: the claims overlay.
    #[serde(rename = "caep.token-claims-change.claims")]
    ClaimsOverlay,
    /// CAEP §3.2 `token-claims-change` read as a JIT grant.
    #[serde(rename = "caep.token-claims-change.grant")]
    JitGrant,
    /// CAEP §3.2 `token-claims-change` read as a dynamic-group change.
    #[serde(rename = "caep.token-claims-change.group")]
    DynamicGroup,
    /// CAEP §3.2 `token-claims-change` grants or `groups_add` not applied: the SET's source is
    /// not in [`GrantAuthority::sources`](crate::GrantAuthority::sources) (D-EN-02).
    #[serde(rename = "caep.token-claims-change.refused-source")]
    GrantRefused,
    /// CAEP §3.4 `assurance-level-change`.
    #[serde(rename = "caep.assurance-level-change")]
    AssuranceLevel,
    /// CAEP §3.8 `risk-level-change`.
    #[serde(rename = "caep.risk-level-change")]
    RiskLevel,
    /// CAEP §3.5 `device-compliance-change`.
    #[serde(rename = "caep.device-compliance-change")]
    DeviceCompliance,
    /// CAEP §3.6 `session-established`.
    #[serde(rename = "caep.session-established")]
    SessionEstablished,
    /// CAEP §3.7 `session-presented`.
    #[serde(rename = "caep.session-presented")]
    SessionPresented,
    /// RISC §2.8 opt-in / opt-out state.
    #[serde(rename = "risc.opt-state")]
    OptState,
    /// Recorded in the audit only: the event has no access effect.
    #[serde(rename = "recorded")]
    Recorded,
    /// Not acted on: unknown event type, unusable subject, or a policy that says so.
    #[serde(rename = "ignored")]
    Ignored,
}

impl Rule {
    /// The wire name, e.g. `caep.session-revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionRevoked => "caep.session-revoked",
            Self::SessionsRevoked => "risc.sessions-revoked",
            Self::CredentialChangeRevoke => "caep.credential-change.revoke",
            Self::CredentialChangeSatisfies => "caep.credential-change.satisfies-required",
            Self::CredentialCompromise => "risc.credential-compromise",
            Self::AccountDisabled => "risc.account-disabled",
            Self::AccountDisabledRevoke => "risc.account-disabled.revoke-sessions",
            Self::AccountEnabled => "risc.account-enabled",
            Self::AccountPurged => "risc.account-purged",
            Self::AccountPurgedForget => "risc.account-purged.forget",
            Self::CredentialChangeRequired => "risc.account-credential-change-required",
            Self::IdentifierChanged => "risc.identifier-changed",
            Self::ClaimsOverlay => "caep.token-claims-change.claims",
            Self::JitGrant => "caep.token-claims-change.grant",
            Self::DynamicGroup => "caep.token-claims-change.group",
            Self::GrantRefused => "caep.token-claims-change.refused-source",
            Self::AssuranceLevel => "caep.assurance-level-change",
            Self::RiskLevel => "caep.risk-level-change",
            Self::DeviceCompliance => "caep.device-compliance-change",
            Self::SessionEstablished => "caep.session-established",
            Self::SessionPresented => "caep.session-presented",
            Self::OptState => "risc.opt-state",
            Self::Recorded => "recorded",
            Self::Ignored => "ignored",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a row or effect comes from: the SET and the rule. Every decision a SET caused carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The SET's `iss`.
    pub iss: String,
    /// The SET's `jti`.
    pub jti: String,
    /// The SET's `txn`, if any (RFC 8417 §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// The event type (serialized as its URI).
    pub event_type: EventType,
    /// The rule that turned the event into this effect.
    pub rule: Rule,
    /// The event time in epoch milliseconds: `event_timestamp` (CAEP §2), else the SET `iat`.
    /// Orders rows: an older event never overwrites a newer state.
    pub at: i64,
}

/// One row of the materialised enforcement state as a store keeps it: its value is JSON
/// (`subject` plus the members of its kind, [`Row::value`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRow {
    /// The kind; with `key` the primary key.
    pub kind: RowKind,
    /// The key, formatted per [`RowKind`].
    pub key: String,
    /// The state itself; always has `subject` (the pattern's clauses) plus kind-specific members.
    pub value: Value,
    /// The SET and rule it came from, and its event time.
    pub cause: Cause,
}

impl StateRow {
    /// The event time this row's state is from (epoch ms); stores order rows by it.
    pub fn at(&self) -> i64 {
        self.cause.at
    }

    /// Whether this row replaces `existing` (same kind and key): it is not older.
    pub fn supersedes(&self, existing: &Self) -> bool {
        self.cause.at >= existing.cause.at
    }

    /// The value as a `(kind, key) → (value, event_time)` store keeps it: `value` with the cause
    /// under `"cause"`, so provenance survives a store without a cause column. The event time to
    /// store beside it is [`at`](Self::at).
    pub fn stored_value(&self) -> Value {
        let mut v = self.value.clone();
        if let (Value::Object(m), Ok(cause)) = (&mut v, serde_json::to_value(&self.cause)) {
            m.insert("cause".to_owned(), cause);
        }
        v
    }

    /// Reads back a row stored with [`stored_value`](Self::stored_value).
    pub fn from_stored(
        kind: &str,
        key: String,
        mut value: Value,
        event_time: i64,
    ) -> Result<Self, EnforceError> {
        let kind: RowKind = kind.parse()?;
        let bad = |reason| EnforceError::InvalidRow {
            kind,
            key: key.clone(),
            reason,
        };
        let cause = value
            .as_object_mut()
            .and_then(|m| m.remove("cause"))
            .ok_or_else(|| bad("the stored value has no cause"))?;
        let mut cause: Cause =
            serde_json::from_value(cause).map_err(|_| bad("the stored cause is unreadable"))?;
        cause.at = event_time;
        Ok(Self {
            kind,
            key,
            value,
            cause,
        })
    }
}

/// A change to the state, computed by [`Engine::plan`](crate::Engine::plan) and applied by
/// [`Engine::commit`](crate::Engine::commit) after the receiver stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Effect {
    /// Insert or replace the row, unless the stored one is newer.
    Put(Row),
    /// Remove the row, unless the stored one is newer than `cause.at`.
    Delete {
        /// The row's kind.
        kind: RowKind,
        /// The row's key.
        key: String,
        /// Why it goes.
        cause: Cause,
    },
}

impl Effect {
    /// The kind of the row it touches.
    pub fn kind(&self) -> RowKind {
        match self {
            Self::Put(r) => r.kind(),
            Self::Delete { kind, .. } => *kind,
        }
    }

    /// The key of the row it touches.
    pub fn key(&self) -> &str {
        match self {
            Self::Put(r) => &r.key,
            Self::Delete { key, .. } => key,
        }
    }

    /// The SET and rule behind it.
    pub fn cause(&self) -> &Cause {
        match self {
            Self::Put(r) => &r.cause,
            Self::Delete { cause, .. } => cause,
        }
    }

    /// The event time that orders it (epoch ms).
    pub fn event_time(&self) -> i64 {
        self.cause().at
    }

    /// Rebuilds an effect from a store's write: a put's value as
    /// [`StateRow::stored_value`] wrote it (a value its kind cannot read is
    /// [`EnforceError::InvalidRow`]), or (`value` `None`) a delete, which a store keeps with
    /// its time only; its cause then holds that time and no SET.
    pub fn from_stored(
        kind: &str,
        key: String,
        value: Option<Value>,
        event_time: i64,
    ) -> Result<Self, EnforceError> {
        match value {
            Some(value) => StateRow::from_stored(kind, key, value, event_time)
                .and_then(Row::try_from)
                .map(Self::Put),
            None => Ok(Self::Delete {
                kind: kind.parse()?,
                key,
                cause: Cause {
                    iss: String::new(),
                    jti: String::new(),
                    txn: None,
                    event_type: EventType::from(""),
                    rule: Rule::Recorded,
                    at: event_time,
                },
            }),
        }
    }
}

/// What planning concluded for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The plan changes the state.
    Applied,
    /// The state already holds newer information; nothing to change.
    Stale,
    /// Recorded for audit only: this event has no access effect (e.g. RISC `recovery-activated`).
    Recorded,
    /// Not acted on: unknown event type, unusable subject or unusable body (checklist D-05, D-21).
    Ignored,
    /// Not acted on: every change it asked for would open access, and its source may not grant
    /// ([`GrantAuthority::sources`](crate::GrantAuthority::sources), D-EN-02).
    Refused,
}

/// The audit record of one planned event; store it beside the effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The SET's `iss`.
    pub iss: String,
    /// The SET's `jti`.
    pub jti: String,
    /// The SET's `txn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// The event type (serialized as its URI).
    pub event_type: EventType,
    /// The event time (epoch ms).
    pub at: i64,
    /// The subject as a canonical pattern, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The rules that produced effects (or `ignored` / `recorded`), and
    /// `caep.token-claims-change.refused-source` when something was refused.
    pub rules: Vec<Rule>,
    /// How many effects the plan holds.
    pub effects: usize,
    /// JIT grants and `groups_add` entries not applied because the source may not grant
    /// (D-EN-02).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: usize,
    /// JIT grants whose expiry was shortened to `grants.max_duration` (D-EN-03).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capped: usize,
    /// A constant human note (never echoes SET content).
    pub note: Cow<'static, str>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The result of [`Engine::plan`](crate::Engine::plan): effects to persist, then commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The changes, in order.
    pub effects: Vec<Effect>,
    /// Why.
    pub audit: AuditEntry,
}
