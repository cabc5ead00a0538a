//! Configuration: what each event does ([`EnforcementPolicy`], per transmitter), what a request
//! needs ([`AccessPolicy`]) and how token claims become handles ([`TokenClaimMapping`]).
//!
//! Every struct has serde defaults and rejects unknown keys, so a TOML section may name only what
//! it changes.

mod authority;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::authority::{
    CriticalGroups, DEFAULT_MAX_GRANT_DURATION, GrantAuthority, GrantSource,
};
use crate::handle::member;

/// Everything the engine is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Event rules for transmitters not listed in `transmitters`.
    pub policy: EnforcementPolicy,
    /// Event rules per transmitter, by SET `iss`.
    pub transmitters: BTreeMap<String, EnforcementPolicy>,
    /// What requests need.
    pub access: AccessPolicy,
    /// How token claims become handles.
    pub token: TokenClaimMapping,
    /// Who may grant with `token-claims-change`, and the longest a grant lasts (for every
    /// transmitter: a per-transmitter policy cannot widen it).
    pub grants: GrantAuthority,
}

impl EngineConfig {
    /// The event rules for SETs from `iss`.
    pub fn policy_for(&self, iss: &str) -> &EnforcementPolicy {
        self.transmitters.get(iss).unwrap_or(&self.policy)
    }
}

/// What the events of one transmitter do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnforcementPolicy {
    /// Which member a top-level `opaque` subject names.
    pub opaque_subject: OpaqueSubject,
    /// CAEP §3.3 `credential-change`: the changes that revoke the user's earlier sessions.
    /// Default: `password`, `pin`, `x509`, `fido2-*`, `fido-u2f` on `update`/`revoke`/`delete`.
    pub credential_change_revokes: Vec<CredentialRule>,
    /// RISC §2.1 `account-credential-change-required`: what it does.
    pub credential_change_required: RequiredAction,
    /// RISC §2.7 `credential-compromise` revokes the user's earlier sessions.
    pub credential_compromise_revokes: bool,
    /// RISC §2.3 `account-disabled` also revokes the sessions issued before it.
    pub disable_revokes_sessions: DisableRevokes,
    /// How `token-claims-change` claims become JIT grants.
    pub jit: JitClaims,
    /// How `token-claims-change` claims change dynamic groups.
    pub groups: GroupClaims,
    /// Store the other `token-claims-change` claims as the claims overlay.
    pub claims_overlay: bool,
}

impl Default for EnforcementPolicy {
    fn default() -> Self {
        Self {
            opaque_subject: OpaqueSubject::default(),
            credential_change_revokes: vec![CredentialRule {
                credential_types: [
                    "password",
                    "pin",
                    "x509",
                    "fido2-platform",
                    "fido2-roaming",
                    "fido-u2f",
                ]
                .map(str::to_owned)
                .to_vec(),
                change_types: ["update", "revoke", "delete"].map(str::to_owned).to_vec(),
            }],
            credential_change_required: RequiredAction::default(),
            credential_compromise_revokes: true,
            disable_revokes_sessions: DisableRevokes::default(),
            jit: JitClaims::default(),
            groups: GroupClaims::default(),
            claims_overlay: true,
        }
    }
}

impl EnforcementPolicy {
    /// Whether a credential change revokes earlier sessions.
    pub fn credential_change_revokes(&self, credential_type: &str, change_type: &str) -> bool {
        self.credential_change_revokes.iter().any(|r| {
            let m = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
            m(&r.credential_types, credential_type) && m(&r.change_types, change_type)
        })
    }
}

/// The member a top-level `opaque` subject names (checklist SSF-SUB-43: our rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpaqueSubject {
    /// For CAEP `session-revoked`, `session-established`, `session-presented` (TV-CAEP-01).
    pub session_events: String,
    /// For every other event.
    pub other_events: String,
}

impl Default for OpaqueSubject {
    fn default() -> Self {
        Self {
            session_events: member::SESSION.to_owned(),
            other_events: member::USER.to_owned(),
        }
    }
}

/// A set of credential changes; `*` matches any value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRule {
    /// `credential_type` values.
    pub credential_types: Vec<String>,
    /// `change_type` values.
    pub change_types: Vec<String>,
}

/// What RISC `account-credential-change-required` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredAction {
    /// Revoke the sessions issued before the event.
    #[default]
    RevokeSessions,
    /// Deny (401) every request until a later `credential-change` (`create`/`update`) or
    /// `account-enabled`.
    Deny,
    /// Allow, with the overlay claim `credential_change_required: true` until a later
    /// `credential-change` (`create`/`update`).
    Flag,
}

/// When RISC `account-disabled` also revokes the sessions issued before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableRevokes {
    /// Never: re-enabling the account restores its sessions.
    Never,
    /// When `reason` is `hijacking`: the hijacker's sessions must not come back.
    #[default]
    Hijacking,
    /// Always.
    Always,
}

/// `token-claims-change` claims read as JIT grants. Two shapes, both documented in the crate docs:
/// `{"customer_id": "C2148", "access_allowed": "read_write", "expires_at": 1767225600}` and
/// `{"grants": [{"asset": "customer:C2148", "access": "read", "expires_at": 1767225600}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JitClaims {
    /// Claim name → asset type, for the single-asset shape.
    pub asset_claims: BTreeMap<String, String>,
    /// The access claim of the single-asset shape.
    pub access_claim: String,
    /// The array claim of the general shape.
    pub grants_claim: String,
    /// Expiry in epoch seconds (top level, or per entry of the general shape).
    pub expires_claim: String,
    /// Also keep the JIT claims in the claims overlay.
    pub keep_in_overlay: bool,
}

impl Default for JitClaims {
    fn default() -> Self {
        Self {
            asset_claims: BTreeMap::from([("customer_id".to_owned(), "customer".to_owned())]),
            access_claim: "access_allowed".to_owned(),
            grants_claim: "grants".to_owned(),
            expires_claim: "expires_at".to_owned(),
            keep_in_overlay: false,
        }
    }
}

/// `token-claims-change` claims read as dynamic-group changes:
/// `{"groups_add": ["support-tier2"], "groups_remove": ["support-tier1"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupClaims {
    /// Array of groups the subject joins.
    pub add_claim: String,
    /// Array of groups the subject leaves.
    pub remove_claim: String,
}

impl Default for GroupClaims {
    fn default() -> Self {
        Self {
            add_claim: "groups_add".to_owned(),
            remove_claim: "groups_remove".to_owned(),
        }
    }
}

/// CAEP risk levels ([CAEP §3.8](https://openid.net/specs/openid-caep-1_0.html#section-3.8)), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RiskLevel {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
}

impl RiskLevel {
    /// Parses `LOW` / `MEDIUM` / `HIGH` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Medium, Self::High]
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
        }
    }
}

/// What a risk above the allowed maximum does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskAction {
    /// 403.
    #[default]
    Deny,
    /// RFC 9470 step-up to `risk_step_up_acr`; a token authenticated after the risk change at that
    /// level passes.
    StepUp,
}

/// What requests need: RBAC, critical assets, assurance and risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessPolicy {
    /// Access levels, lowest first; a level implies every level before it. The first is "none".
    pub access_levels: Vec<String>,
    /// The access a request wants when it names none.
    pub default_access: String,
    /// Role → permissions (roles come from the token's roles claim or the claims overlay).
    pub roles: BTreeMap<String, Vec<Permission>>,
    /// Group → permissions, for static groups (token claim) and dynamic groups (CAEP).
    pub groups: BTreeMap<String, Vec<Permission>>,
    /// Asset patterns that need a JIT grant whatever roles and groups say.
    pub critical: Vec<String>,
    /// The critical assets that *dynamic* groups (CAEP `groups_add` from a source allowed to
    /// grant) may open with their [`groups`](Self::groups) permissions: `false` (default), `true`
    /// (all) or asset patterns such as `["customer"]` (D-EN-04).
    pub critical_allows_groups: CriticalGroups,
    /// The critical assets that *static* groups (the caller's own token `groups` claim, or its
    /// claims overlay) may open: `false` (default), `true` (all) or asset patterns. A token's
    /// groups are whatever its issuer put there, so they open no critical asset unless named here.
    pub critical_allows_token_groups: CriticalGroups,
    /// Authentication context classes, weakest first (compared case-insensitively).
    pub acr_levels: Vec<String>,
    /// Assurance, freshness and risk needs, per asset pattern and access.
    pub requirements: Vec<Requirement>,
    /// The highest risk allowed where no requirement says otherwise.
    pub max_risk: RiskLevel,
    /// What a higher risk does.
    pub risk_action: RiskAction,
    /// The acr a risk step-up asks for; default: the strongest of `acr_levels`.
    pub risk_step_up_acr: Option<String>,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            access_levels: ["none", "read", "read_write"].map(str::to_owned).to_vec(),
            default_access: "read".to_owned(),
            roles: BTreeMap::new(),
            groups: BTreeMap::new(),
            critical: Vec::new(),
            critical_allows_groups: CriticalGroups::None,
            critical_allows_token_groups: CriticalGroups::None,
            acr_levels: ["nist-aal1", "nist-aal2", "nist-aal3"]
                .map(str::to_owned)
                .to_vec(),
            requirements: Vec::new(),
            max_risk: RiskLevel::Medium,
            risk_action: RiskAction::Deny,
            risk_step_up_acr: None,
        }
    }
}

/// An access right: an asset pattern (`*`, `type`, `type:*` or `type:id`) and an access level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The asset pattern.
    pub asset: String,
    /// The highest access granted.
    pub access: String,
}

/// What requests for matching assets need. A request with no resource meets the `*` ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Requirement {
    /// The asset pattern.
    pub asset: String,
    /// Applies when the wanted access is at least this (default: any access).
    pub access: Option<String>,
    /// The weakest acceptable acr.
    pub min_acr: Option<String>,
    /// The longest time since `auth_time`, in seconds (RFC 9470 `max_age`).
    pub max_age: Option<u64>,
    /// The highest acceptable risk.
    pub max_risk: Option<RiskLevel>,
}

impl Default for Requirement {
    fn default() -> Self {
        Self {
            asset: "*".to_owned(),
            access: None,
            min_acr: None,
            max_age: None,
            max_risk: None,
        }
    }
}

/// Which token claims name which handles. Session, device and tenant claims give two handles
/// each, `opaque` and `iss_sub` (with the token's `iss`), so either subject form matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenClaimMapping {
    /// The issuer claim; with `subject` gives the user `iss_sub` handle.
    pub issuer: String,
    /// The subject claim.
    pub subject: String,
    /// Also give a user `opaque` handle from the subject claim.
    pub opaque_user_from_subject: bool,
    /// The email claim (user `email` handle, canonicalised).
    pub email: Option<String>,
    /// The phone claim (user `phone_number` handle).
    pub phone: Option<String>,
    /// The session-id claim.
    pub session: Option<String>,
    /// The device-id claim.
    pub device: Option<String>,
    /// The tenant claim.
    pub tenant: Option<String>,
    /// The token-id claim (`token|jwt_id|iss|jti` handle, for `jwt_id` subjects).
    pub token_id: Option<String>,
    /// The roles claim (string or array).
    pub roles: Option<String>,
    /// The static groups claim (string or array).
    pub groups: Option<String>,
    /// The acr claim.
    pub acr: String,
    /// The auth_time claim.
    pub auth_time: String,
    /// The iat claim.
    pub iat: String,
}

impl Default for TokenClaimMapping {
    fn default() -> Self {
        Self {
            issuer: "iss".to_owned(),
            subject: "sub".to_owned(),
            opaque_user_from_subject: false,
            email: Some("email".to_owned()),
            phone: Some("phone_number".to_owned()),
            session: Some("sid".to_owned()),
            device: Some("device_id".to_owned()),
            tenant: Some("tid".to_owned()),
            token_id: Some("jti".to_owned()),
            roles: Some("roles".to_owned()),
            groups: Some("groups".to_owned()),
            acr: "acr".to_owned(),
            auth_time: "auth_time".to_owned(),
            iat: "iat".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_revoke_on_password_update_not_create() {
        let p = EnforcementPolicy::default();
        assert!(p.credential_change_revokes("password", "update"));
        assert!(p.credential_change_revokes("fido2-roaming", "delete"));
        assert!(!p.credential_change_revokes("fido2-roaming", "create"));
        assert!(!p.credential_change_revokes("phone-sms", "update"));
    }

    #[test]
    fn config_reads_partial_json_and_rejects_unknown_keys() {
        let c: EngineConfig = serde_json::from_value(serde_json::json!({
            "access": {"critical": ["customer"], "roles": {"support": [{"asset": "kb:*", "access": "read"}]}},
            "transmitters": {"https://idp/": {"credential_change_required": "deny"}}
        }))
        .unwrap();
        assert_eq!(
            c.policy_for("https://idp/").credential_change_required,
            RequiredAction::Deny
        );
        assert_eq!(
            c.policy_for("other").credential_change_required,
            RequiredAction::RevokeSessions
        );
        assert_eq!(c.access.access_levels.len(), 3);
        let bad = serde_json::from_value::<EngineConfig>(serde_json::json!({"acces": {}}));
        assert!(bad.is_err());
    }

    #[test]
    fn risk_levels_order_and_parse() {
        assert!(RiskLevel::High > RiskLevel::Medium);
        assert_eq!(RiskLevel::parse("high"), Some(RiskLevel::High));
        assert_eq!(RiskLevel::parse("SEVERE"), None);
    }
}
