//! The answer to "may this request go on?", and its one mapping to HTTP.
//!
//! A denial is [`DenyKind::Unauthenticated`] (the token no longer stands: 401 `invalid_token`,
//! [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)), [`DenyKind::Forbidden`]
//! (403 `insufficient_scope`) or [`DenyKind::StepUp`] (401 `insufficient_user_authentication` with
//! `acr_values` / `max_age`, [RFC 9470 §3](https://www.rfc-editor.org/rfc/rfc9470#section-3)).
//! [`Decision::http`] is the only place that turns a decision into a status and a
//! `WWW-Authenticate` value.

use std::{fmt::Write as _, sync::Arc};

use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::{Map, Value};

use crate::{
    row::{Cause, RowState},
    state::Entry,
};

/// Why a decision came out as it did; stable, machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Nothing stands against the request, and it names no resource.
    Allowed,
    /// A role of the token grants the access.
    AllowedByRole,
    /// A static or dynamic group grants the access.
    AllowedByGroup,
    /// A JIT grant gives the access.
    AllowedByGrant,
    /// CAEP `session-revoked` / RISC `sessions-revoked` covers the token.
    SessionRevoked,
    /// CAEP `credential-change` revoked sessions issued before it.
    CredentialChanged,
    /// RISC `credential-compromise` revoked sessions issued before it.
    CredentialCompromised,
    /// RISC `account-disabled`.
    AccountDisabled,
    /// RISC `account-purged`.
    AccountPurged,
    /// RISC `account-credential-change-required`.
    CredentialChangeRequired,
    /// CAEP `device-compliance-change` to `not-compliant`.
    DeviceNotCompliant,
    /// CAEP `risk-level-change` above what the resource allows.
    RiskTooHigh,
    /// The asset is critical and the user holds no JIT grant for it.
    GrantRequired,
    /// The JIT grant gives less access than wanted.
    GrantInsufficient,
    /// The JIT grant has expired.
    GrantExpired,
    /// No role, group or grant gives the access.
    NoPermission,
    /// The request wants an access level the policy does not know.
    UnknownAccess,
    /// The authentication context is weaker than the resource needs.
    InsufficientAssurance,
    /// The authentication is older than the resource's `max_age`.
    AuthenticationTooOld,
    /// The risk is above what the resource allows without a fresh, stronger authentication.
    RiskStepUp,
}

impl ReasonCode {
    /// The wire code, e.g. `session_revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::AllowedByRole => "allowed_by_role",
            Self::AllowedByGroup => "allowed_by_group",
            Self::AllowedByGrant => "allowed_by_grant",
            Self::SessionRevoked => "session_revoked",
            Self::CredentialChanged => "credential_changed",
            Self::CredentialCompromised => "credential_compromised",
            Self::AccountDisabled => "account_disabled",
            Self::AccountPurged => "account_purged",
            Self::CredentialChangeRequired => "credential_change_required",
            Self::DeviceNotCompliant => "device_not_compliant",
            Self::RiskTooHigh => "risk_too_high",
            Self::GrantRequired => "grant_required",
            Self::GrantInsufficient => "grant_insufficient",
            Self::GrantExpired => "grant_expired",
            Self::NoPermission => "no_permission",
            Self::UnknownAccess => "unknown_access",
            Self::InsufficientAssurance => "insufficient_assurance",
            Self::AuthenticationTooOld => "authentication_too_old",
            Self::RiskStepUp => "risk_step_up",
        }
    }

    /// A constant human message (safe for `error_description`: printable ASCII, no quotes).
    pub fn message(self) -> &'static str {
        match self {
            Self::Allowed => "Access allowed",
            Self::AllowedByRole => "Access allowed by role",
            Self::AllowedByGroup => "Access allowed by group membership",
            Self::AllowedByGrant => "Access allowed by a just-in-time grant",
            Self::SessionRevoked => "The session has been revoked",
            Self::CredentialChanged => "The session ended because a credential changed",
            Self::CredentialCompromised => "The session ended because a credential was compromised",
            Self::AccountDisabled => "The account is disabled",
            Self::AccountPurged => "The account no longer exists",
            Self::CredentialChangeRequired => "The account must change its credentials",
            Self::DeviceNotCompliant => "The device is not compliant",
            Self::RiskTooHigh => "The risk level is too high for this resource",
            Self::GrantRequired => "This resource needs a just-in-time grant",
            Self::GrantInsufficient => "The just-in-time grant does not allow this access",
            Self::GrantExpired => "The just-in-time grant has expired",
            Self::NoPermission => "No role, group or grant allows this access",
            Self::UnknownAccess => "The requested access level is unknown",
            Self::InsufficientAssurance => "A stronger authentication is required",
            Self::AuthenticationTooOld => "A more recent authentication is required",
            Self::RiskStepUp => "A fresh, stronger authentication is required",
        }
    }
}

/// Which rule opened or refused a critical asset ([`AccessPolicy::critical`]); part of the
/// decision, its JSON (`"critical"`) and [`explain`](crate::explain) (D-EN-04).
///
/// [`AccessPolicy::critical`]: crate::AccessPolicy::critical
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriticalRule {
    /// A JIT grant opened it.
    Grant,
    /// A dynamic group (CAEP `groups_add`) opened it: `access.critical_allows_groups` covers the
    /// asset.
    DynamicGroup,
    /// A group of the caller's token opened it: `access.critical_allows_token_groups` covers the
    /// asset.
    TokenGroup,
    /// Refused: no usable grant, and no group with the permission.
    GrantRequired,
    /// Refused: a dynamic group has the permission, but `access.critical_allows_groups` does not
    /// cover this asset.
    DynamicGroupNotAllowed,
    /// Refused: a group of the caller's token has the permission, but
    /// `access.critical_allows_token_groups` does not cover this asset.
    TokenGroupNotAllowed,
}

impl CriticalRule {
    /// The wire name, e.g. `dynamic_group`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::DynamicGroup => "dynamic_group",
            Self::TokenGroup => "token_group",
            Self::GrantRequired => "grant_required",
            Self::DynamicGroupNotAllowed => "dynamic_group_not_allowed",
            Self::TokenGroupNotAllowed => "token_group_not_allowed",
        }
    }

    /// The setting that decided, for the group rules.
    pub fn setting(self) -> Option<&'static str> {
        match self {
            Self::DynamicGroup | Self::DynamicGroupNotAllowed => {
                Some("access.critical_allows_groups")
            }
            Self::TokenGroup | Self::TokenGroupNotAllowed => {
                Some("access.critical_allows_token_groups")
            }
            Self::Grant | Self::GrantRequired => None,
        }
    }

    /// A constant human sentence.
    pub fn message(self) -> &'static str {
        match self {
            Self::Grant => "A just-in-time grant opened the critical asset",
            Self::DynamicGroup => {
                "A dynamic group opened the critical asset (access.critical_allows_groups)"
            }
            Self::TokenGroup => {
                "A group of the token opened the critical asset (access.critical_allows_token_groups)"
            }
            Self::GrantRequired => "The critical asset needs a just-in-time grant",
            Self::DynamicGroupNotAllowed => {
                "A dynamic group has the permission, but access.critical_allows_groups does not \
                 cover this critical asset"
            }
            Self::TokenGroupNotAllowed => {
                "A group of the token has the permission, but access.critical_allows_token_groups \
                 does not cover this critical asset"
            }
        }
    }
}

/// How a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyKind {
    /// The token no longer stands (revoked session, disabled account): 401 `invalid_token`.
    Unauthenticated,
    /// The token stands but this access is refused: 403 `insufficient_scope`.
    Forbidden,
    /// A stronger or fresher authentication would pass: 401 `insufficient_user_authentication`.
    StepUp {
        /// Acceptable `acr` values, weakest first (RFC 9470 `acr_values`).
        acr_values: Arc<[String]>,
        /// Longest acceptable age of the authentication in seconds (RFC 9470 `max_age`).
        max_age: Option<u64>,
    },
}

/// The claims overlay: what the app should now believe about the token's claims
/// (CAEP §3.2 `token-claims-change`, newest value per claim; `null` means "remove").
#[derive(Debug, Clone, Default)]
pub struct ClaimsOverlay(pub(crate) Vec<Arc<Entry>>);

impl ClaimsOverlay {
    fn name(e: &Entry) -> &str {
        match &e.state {
            RowState::Claim { claim, .. } => claim,
            _ => "",
        }
    }

    /// The claim's value; no value removes the claim, as `null` does.
    fn value(e: &Entry) -> &Value {
        const NULL: &Value = &Value::Null;
        match &e.state {
            RowState::Claim {
                value: Some(value), ..
            } => value,
            _ => NULL,
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The newest row for each claim, with the SET it came from.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value, &Cause)> {
        self.0.iter().enumerate().filter_map(|(i, e)| {
            let name = Self::name(e);
            let newer = self.0.iter().enumerate().any(|(j, o)| {
                j != i && Self::name(o) == name && (o.at() > e.at() || (o.at() == e.at() && j > i))
            });
            (!newer).then(|| (name, Self::value(e), &*e.cause))
        })
    }

    /// The overlay value of one claim (`Some(Null)`: the claim is removed).
    pub fn get(&self, claim: &str) -> Option<&Value> {
        self.iter().find(|(n, _, _)| *n == claim).map(|(_, v, _)| v)
    }

    /// Merges the overlay over the token's claims: sets each value, removes `null` ones.
    pub fn apply_to(&self, claims: &mut Map<String, Value>) {
        for (name, value, _) in self.iter() {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.to_owned(), value.clone());
            }
        }
    }
}

impl Serialize for ClaimsOverlay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (name, value, _) in self.iter() {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}

/// The engine's answer for one request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Go on.
    Allow {
        /// Why.
        reason: ReasonCode,
        /// The SET behind it (a JIT grant or dynamic group), if any.
        cause: Option<Arc<Cause>>,
        /// The claims overlay to merge over the token's claims.
        overlay: ClaimsOverlay,
        /// For a critical asset: the rule that opened it.
        critical: Option<CriticalRule>,
    },
    /// Stop.
    Deny {
        /// 401, 403 or step-up.
        kind: DenyKind,
        /// Why.
        reason: ReasonCode,
        /// The SET behind it, if one caused it.
        cause: Option<Arc<Cause>>,
        /// For a critical asset refused by RBAC / grants / groups: the rule that refused it.
        critical: Option<CriticalRule>,
    },
}

/// An HTTP status and `WWW-Authenticate` value for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpChallenge {
    /// 200, 401 or 403.
    pub status: u16,
    /// The `WWW-Authenticate` header value for a denial.
    pub www_authenticate: Option<String>,
}

/// Appends ` name="value"` (first parameter) or `, name="value"`, escaping per RFC 7230
/// quoted-string and dropping non-ASCII or control characters.
fn param(out: &mut String, name: &str, value: &str) {
    out.push_str(if out.contains('=') { ", " } else { " " });
    let _ = write!(out, "{name}=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        }
    }
    out.push('"');
}

impl Decision {
    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }

    /// The reason code.
    pub fn reason(&self) -> ReasonCode {
        match self {
            Self::Allow { reason, .. } | Self::Deny { reason, .. } => *reason,
        }
    }

    /// The human message.
    pub fn message(&self) -> &'static str {
        self.reason().message()
    }

    /// The SET (`iss`, `jti`, `txn`) and rule behind the decision, when a SET caused it.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Self::Allow { cause, .. } | Self::Deny { cause, .. } => cause.as_deref(),
        }
    }

    /// For a critical asset, the rule that opened or refused it (`None` for other assets, or
    /// when something else decided first, e.g. a revoked session).
    pub fn critical(&self) -> Option<CriticalRule> {
        match self {
            Self::Allow { critical, .. } | Self::Deny { critical, .. } => *critical,
        }
    }

    /// The status and `WWW-Authenticate` value (RFC 6750 §3, RFC 9470 §3). `realm` is optional.
    pub fn http(&self, realm: Option<&str>) -> HttpChallenge {
        let Self::Deny { kind, reason, .. } = self else {
            return HttpChallenge {
                status: 200,
                www_authenticate: None,
            };
        };
        let (status, error) = match kind {
            DenyKind::Unauthenticated => (401, "invalid_token"),
            DenyKind::Forbidden => (403, "insufficient_scope"),
            DenyKind::StepUp { .. } => (401, "insufficient_user_authentication"),
        };
        let mut h = String::from("Bearer");
        if let Some(realm) = realm {
            param(&mut h, "realm", realm);
        }
        param(&mut h, "error", error);
        param(&mut h, "error_description", reason.message());
        if let DenyKind::StepUp {
            acr_values,
            max_age,
        } = kind
        {
            if !acr_values.is_empty() {
                param(&mut h, "acr_values", &acr_values.join(" "));
            }
            if let Some(max_age) = max_age {
                param(&mut h, "max_age", &max_age.to_string());
            }
        }
        HttpChallenge {
            status,
            www_authenticate: Some(h),
        }
    }
}

/// JSON for logs and the AuthZEN `context`:
/// `{"decision": true|false, "reason": ..., "message": ..., "cause": {...}, ...}`.
impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("decision", &self.is_allowed())?;
        m.serialize_entry("reason", &self.reason())?;
        m.serialize_entry("message", self.message())?;
        if let Some(cause) = self.cause() {
            m.serialize_entry("cause", cause)?;
        }
        if let Some(critical) = self.critical() {
            m.serialize_entry("critical", &critical)?;
        }
        match self {
            Self::Allow { overlay, .. } => {
                if !overlay.is_empty() {
                    m.serialize_entry("claims", overlay)?;
                }
            }
            Self::Deny { kind, .. } => {
                let k = match kind {
                    DenyKind::Unauthenticated => "unauthenticated",
                    DenyKind::Forbidden => "forbidden",
                    DenyKind::StepUp { .. } => "step_up",
                };
                m.serialize_entry("deny", k)?;
                if let DenyKind::StepUp {
                    acr_values,
                    max_age,
                } = kind
                {
                    m.serialize_entry("acr_values", &**acr_values)?;
                    if let Some(a) = max_age {
                        m.serialize_entry("max_age", a)?;
                    }
                }
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(kind: DenyKind, reason: ReasonCode) -> Decision {
        Decision::Deny {
            kind,
            reason,
            cause: None,
            critical: None,
        }
    }

    #[test]
    fn challenges_follow_rfc6750_and_rfc9470() {
        let d = deny(DenyKind::Unauthenticated, ReasonCode::SessionRevoked);
        assert_eq!(
            d.http(None),
            HttpChallenge {
                status: 401,
                www_authenticate: Some(
                    "Bearer error=\"invalid_token\", error_description=\"The session has been revoked\""
                        .into()
                )
            }
        );
        let d = deny(DenyKind::Forbidden, ReasonCode::GrantRequired);
        let h = d.http(Some("api \"x\"")).www_authenticate.unwrap();
        assert_eq!(d.http(None).status, 403);
        assert!(
            h.starts_with("Bearer realm=\"api \\\"x\\\"\", error=\"insufficient_scope\""),
            "{h}"
        );
        let d = deny(
            DenyKind::StepUp {
                acr_values: vec!["nist-aal2".to_owned(), "nist-aal3".to_owned()].into(),
                max_age: Some(300),
            },
            ReasonCode::InsufficientAssurance,
        );
        let c = d.http(None);
        assert_eq!(c.status, 401);
        assert_eq!(
            c.www_authenticate.unwrap(),
            "Bearer error=\"insufficient_user_authentication\", error_description=\"A stronger \
             authentication is required\", acr_values=\"nist-aal2 nist-aal3\", max_age=\"300\""
        );
        let allow = Decision::Allow {
            reason: ReasonCode::Allowed,
            cause: None,
            overlay: ClaimsOverlay::default(),
            critical: None,
        };
        assert_eq!(allow.http(None).status, 200);
        assert!(allow.http(None).www_authenticate.is_none());
    }

    #[test]
    fn messages_are_safe_header_text() {
        use ReasonCode as R;
        for r in [
            R::Allowed,
            R::AllowedByRole,
            R::AllowedByGroup,
            R::AllowedByGrant,
            R::SessionRevoked,
            R::CredentialChanged,
            R::CredentialCompromised,
            R::AccountDisabled,
            R::AccountPurged,
            R::CredentialChangeRequired,
            R::DeviceNotCompliant,
            R::RiskTooHigh,
            R::GrantRequired,
            R::GrantInsufficient,
            R::GrantExpired,
            R::NoPermission,
            R::UnknownAccess,
            R::InsufficientAssurance,
            R::AuthenticationTooOld,
            R::RiskStepUp,
        ] {
            assert!(
                r.message()
                    .chars()
                    .all(|c| c.is_ascii_graphic() || c == ' ')
            );
            assert!(!r.message().contains(['"', '\\']));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn critical_rules_have_wire_names_and_safe_messages() {
        use CriticalRule as C;
        for r in [
            C::Grant,
            C::DynamicGroup,
            C::TokenGroup,
            C::GrantRequired,
            C::DynamicGroupNotAllowed,
            C::TokenGroupNotAllowed,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert!(
                r.message()
                    .chars()
                    .all(|c| c.is_ascii_graphic() || c == ' ')
            );
            assert!(r.setting().is_none_or(|s| r.message().contains(s)));
        }
    }

    #[test]
    fn decisions_serialize_for_authzen_context() {
        let d = deny(DenyKind::Forbidden, ReasonCode::NoPermission);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["decision"], false);
        assert_eq!(v["reason"], "no_permission");
        assert_eq!(v["deny"], "forbidden");
    }
}
