//! The decision: one pass over the request's handles, reading only memory.
//!
//! Order of checks (first failure wins):
//! 1. account disabled / purged / credential change required, then revocations covering the
//!    token's `iat` → 401 `invalid_token` (CAEP §3.1, §3.3; RISC §2.1–§2.3, §2.7, §2.11);
//! 2. device not compliant (CAEP §3.5), risk above the allowed maximum with `risk_action = deny`
//!    (CAEP §3.8) → 403;
//! 3. RBAC / critical assets / JIT grants / dynamic groups → 403 (a critical asset opens only to
//!    a JIT grant, or to groups where `access.critical_allows_groups` /
//!    `access.critical_allows_token_groups` cover it; the decision names the rule,
//!    [`CriticalRule`]);
//! 4. risk step-up, minimum acr (CAEP §3.4), `max_age` → 401 step-up (RFC 9470);
//! 5. allow, with the claims overlay (CAEP §3.2).
//!
//! Rows that deny (account, revocation, device, risk) apply when the request cannot show it is
//! outside their subject ([`SubjectPattern::covers`](crate::SubjectPattern::covers)); rows that
//! allow or change what the token says (grants, groups, overlay, assurance) need every member of
//! their subject to match ([`SubjectPattern::matches`](crate::SubjectPattern::matches)).
//!
//! Claims overlay and assurance rows only apply to tokens issued (authenticated) before the
//! change: a newer token already carries the new claims or level. Grants, groups, device and
//! risk state apply whatever the token's age.

use std::sync::Arc;

use serde_json::Value;

use crate::{
    access::{CompiledAccess, best_rank},
    decision::{ClaimsOverlay, CriticalRule, Decision, DenyKind, ReasonCode},
    request::AccessRequest,
    row::Rule,
    state::{AccountStatus, Data, Entry, State},
};

fn deny(kind: DenyKind, reason: ReasonCode, e: Option<&Arc<Entry>>) -> Decision {
    Decision::Deny {
        kind,
        reason,
        cause: e.map(|e| Arc::clone(&e.cause)),
        critical: None,
    }
}

fn revocation_reason(rule: Rule) -> ReasonCode {
    match rule {
        Rule::CredentialChangeRevoke => ReasonCode::CredentialChanged,
        Rule::CredentialCompromise => ReasonCode::CredentialCompromised,
        Rule::AccountDisabledRevoke => ReasonCode::AccountDisabled,
        Rule::CredentialChangeRequired => ReasonCode::CredentialChangeRequired,
        Rule::AccountPurged => ReasonCode::AccountPurged,
        _ => ReasonCode::SessionRevoked,
    }
}

/// The best JIT grant seen for the asset.
#[derive(Default)]
struct GrantSeen<'a> {
    rank: u8,
    entry: Option<&'a Arc<Entry>>,
    expired_would_do: bool,
}

fn names_rank<'a>(
    names: impl Iterator<Item = &'a str>,
    map: &std::collections::HashMap<String, Vec<crate::access::Perm>>,
    asset: (&str, &str),
) -> u8 {
    names
        .filter_map(|n| map.get(n))
        .map(|perms| best_rank(perms, asset))
        .max()
        .unwrap_or(0)
}

/// Names from an overlay claim value (string or array of strings).
fn value_names(v: &Value) -> impl Iterator<Item = &str> {
    let (one, many) = match v {
        Value::String(s) => (Some(s.as_str()), None),
        Value::Array(a) => (None, Some(a.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

pub(crate) fn decide(
    state: &State,
    p: &CompiledAccess,
    req: &AccessRequest,
    now_ms: i64,
) -> Decision {
    let handles = req.handles.as_slice();
    let iat_ms = req.iat.map(|s| s.saturating_mul(1000));
    let auth_ms = req.auth_time.or(req.iat).map(|s| s.saturating_mul(1000));
    let asset = req
        .resource
        .as_ref()
        .map(|r| (r.asset_type.as_str(), r.asset_id.as_str()));
    let wanted = match req.access.as_deref() {
        None => p.default_access,
        Some(a) => match p.access.rank(a) {
            Some(r) => r,
            None => return deny(DenyKind::Forbidden, ReasonCode::UnknownAccess, None),
        },
    };

    let mut device: Option<&Arc<Entry>> = None;
    let mut risk: Option<(&Arc<Entry>, crate::policy::RiskLevel)> = None;
    let mut assurance: Option<(&Arc<Entry>, u8)> = None;
    let mut overlay: Vec<Arc<Entry>> = Vec::new();
    let mut grant = GrantSeen::default();
    let mut dyn_group: (u8, Option<&Arc<Entry>>) = (0, None);

    for h in handles {
        let Some(slot) = state.index.get(h) else {
            continue;
        };
        for e in &slot.account {
            let reason = match e.data {
                Data::Account(AccountStatus::Disabled) => ReasonCode::AccountDisabled,
                Data::Account(AccountStatus::Purged) => ReasonCode::AccountPurged,
                Data::CredentialRequired(true) => ReasonCode::CredentialChangeRequired,
                _ => continue,
            };
            if e.pattern.covers(handles) {
                return deny(DenyKind::Unauthenticated, reason, Some(e));
            }
        }
        for e in &slot.revocations {
            if let Data::Revocation { before } = e.data
                && iat_ms.is_none_or(|i| i <= before)
                && e.pattern.covers(handles)
            {
                return deny(
                    DenyKind::Unauthenticated,
                    revocation_reason(e.cause.rule),
                    Some(e),
                );
            }
        }
        if device.is_none() {
            device = slot.device.iter().find(|e| e.pattern.covers(handles));
        }
        for e in &slot.risk {
            if let Data::Risk(level) = e.data
                && risk.is_none_or(|(r, l)| level > l || (level == l && e.at() > r.at()))
                && e.pattern.covers(handles)
            {
                risk = Some((e, level));
            }
        }
        for e in &slot.assurance {
            if let Data::Assurance { level } = &e.data
                && auth_ms.is_none_or(|a| e.at() > a)
                && assurance.is_none_or(|(a, _)| e.at() > a.at())
                && let Some(rank) = p.acr.rank(level)
                && e.pattern.matches(handles)
            {
                assurance = Some((e, rank));
            }
        }
        for e in &slot.claims {
            if iat_ms.is_none_or(|i| e.at() > i)
                && e.pattern.matches(handles)
                && !overlay.iter().any(|o| Arc::ptr_eq(o, e))
            {
                overlay.push(Arc::clone(e));
            }
        }
        let Some((t, id)) = asset else { continue };
        for e in &slot.groups {
            if let Data::GroupMember {
                group,
                member: true,
            } = &e.data
                && let Some(perms) = p.groups.get(group)
                && e.pattern.matches(handles)
            {
                let r = best_rank(perms, (t, id));
                if r > dyn_group.0 {
                    dyn_group = (r, Some(e));
                }
            }
        }
        for e in slot
            .grants
            .get(t)
            .and_then(|m| m.get(id))
            .into_iter()
            .flatten()
        {
            if let Data::Grant { access, expires_at } = &e.data
                && e.pattern.matches(handles)
            {
                let r = p.access.rank(access).unwrap_or(0);
                if expires_at.is_some_and(|x| x <= now_ms) {
                    grant.expired_would_do |= r >= wanted;
                } else if r > grant.rank {
                    grant.rank = r;
                    grant.entry = Some(e);
                }
            }
        }
    }

    if let Some(e) = device {
        return deny(DenyKind::Forbidden, ReasonCode::DeviceNotCompliant, Some(e));
    }

    // What the matching requirements ask for (the strictest of each).
    let mut min_acr: Option<(u8, &Arc<[String]>)> = None;
    let mut max_age: Option<u64> = None;
    let mut max_risk = p.max_risk;
    for n in p.needs.iter().filter(|n| n.applies(asset, wanted)) {
        if let Some(a) = n.min_acr
            && min_acr.is_none_or(|(m, _)| a > m)
        {
            min_acr = Some((a, &n.acr_values));
        }
        if let Some(m) = n.max_age {
            max_age = Some(max_age.map_or(m, |x| x.min(m)));
        }
        if let Some(r) = n.max_risk {
            max_risk = max_risk.min(r);
        }
    }
    let risky = risk.filter(|(_, level)| *level > max_risk);
    if let Some((e, _)) = risky
        && p.risk_action == crate::policy::RiskAction::Deny
    {
        return deny(DenyKind::Forbidden, ReasonCode::RiskTooHigh, Some(e));
    }

    let overlay = ClaimsOverlay(overlay);
    let (allow_reason, allow_cause, critical) = match asset {
        None => (ReasonCode::Allowed, None, None),
        Some(_) if wanted == 0 => (ReasonCode::Allowed, None, None),
        Some(a) => match authorize(p, req, &overlay, a, wanted, &grant, dyn_group) {
            Ok(ok) => ok,
            Err((reason, e, critical)) => {
                return Decision::Deny {
                    kind: DenyKind::Forbidden,
                    reason,
                    cause: e.map(|e| Arc::clone(&e.cause)),
                    critical,
                };
            }
        },
    };

    let acr = match assurance {
        Some((_, rank)) => Some(rank),
        None => req.acr.as_deref().and_then(|a| p.acr.rank(a)),
    };
    if let Some((e, _)) = risky {
        let fresh =
            auth_ms.is_some_and(|a| a > e.at()) && acr.is_some_and(|r| r >= p.risk_step_up.0);
        if !fresh {
            let kind = DenyKind::StepUp {
                acr_values: Arc::clone(&p.risk_step_up.1),
                max_age,
            };
            return deny(kind, ReasonCode::RiskStepUp, Some(e));
        }
    }
    if let Some((need, values)) = min_acr
        && acr.is_none_or(|r| r < need)
    {
        let kind = DenyKind::StepUp {
            acr_values: Arc::clone(values),
            max_age,
        };
        return deny(
            kind,
            ReasonCode::InsufficientAssurance,
            assurance.map(|(e, _)| e),
        );
    }
    if let Some(max) = max_age {
        let limit = i64::try_from(max).unwrap_or(i64::MAX).saturating_mul(1000);
        let fresh = req
            .auth_time
            .is_some_and(|a| now_ms.saturating_sub(a.saturating_mul(1000)) <= limit);
        if !fresh {
            let kind = DenyKind::StepUp {
                acr_values: min_acr.map_or_else(|| Arc::from([]), |(_, v)| Arc::clone(v)),
                max_age: Some(max),
            };
            return deny(kind, ReasonCode::AuthenticationTooOld, None);
        }
    }
    Decision::Allow {
        reason: allow_reason,
        cause: allow_cause,
        overlay,
        critical,
    }
}

type Authorized = (
    ReasonCode,
    Option<Arc<crate::row::Cause>>,
    Option<CriticalRule>,
);
type Refused<'a> = (ReasonCode, Option<&'a Arc<Entry>>, Option<CriticalRule>);

/// RBAC, critical assets, JIT grants and dynamic groups. A critical asset opens to a grant, to
/// a dynamic group where `access.critical_allows_groups` covers it, and to a token group where
/// `access.critical_allows_token_groups` does (D-EN-04); roles never open one.
fn authorize<'a>(
    p: &CompiledAccess,
    req: &AccessRequest,
    overlay: &ClaimsOverlay,
    asset: (&str, &str),
    wanted: u8,
    grant: &GrantSeen<'a>,
    dyn_group: (u8, Option<&'a Arc<Entry>>),
) -> Result<Authorized, Refused<'a>> {
    let cause = |e: Option<&Arc<Entry>>| e.map(|e| Arc::clone(&e.cause));
    let grant_ok = grant.rank >= wanted;
    // The overlay's roles / groups claims, when present, replace the token's.
    let overlaid = |claim: &Option<String>| {
        claim.as_deref().and_then(|c| {
            if overlay.is_empty() {
                None
            } else {
                overlay.get(c)
            }
        })
    };
    let static_groups = match overlaid(&p.groups_claim) {
        Some(v) => names_rank(value_names(v), &p.groups, asset),
        None => names_rank(req.groups.iter().map(String::as_str), &p.groups, asset),
    };
    let token_groups_ok = static_groups >= wanted;
    let dyn_groups_ok = dyn_group.0 >= wanted;

    if p.is_critical(asset) {
        if grant_ok {
            let rule = Some(CriticalRule::Grant);
            return Ok((ReasonCode::AllowedByGrant, cause(grant.entry), rule));
        }
        if dyn_groups_ok && p.critical_allows_dynamic(asset) {
            let rule = Some(CriticalRule::DynamicGroup);
            return Ok((ReasonCode::AllowedByGroup, cause(dyn_group.1), rule));
        }
        if token_groups_ok && p.critical_allows_token(asset) {
            return Ok((
                ReasonCode::AllowedByGroup,
                None,
                Some(CriticalRule::TokenGroup),
            ));
        }
        let reason = if grant.entry.is_some() {
            ReasonCode::GrantInsufficient
        } else if grant.expired_would_do {
            ReasonCode::GrantExpired
        } else {
            ReasonCode::GrantRequired
        };
        let rule = if dyn_groups_ok {
            CriticalRule::DynamicGroupNotAllowed
        } else if token_groups_ok {
            CriticalRule::TokenGroupNotAllowed
        } else {
            CriticalRule::GrantRequired
        };
        return Err((reason, grant.entry, Some(rule)));
    }
    let roles = match overlaid(&p.roles_claim) {
        Some(v) => names_rank(value_names(v), &p.roles, asset),
        None => names_rank(req.roles.iter().map(String::as_str), &p.roles, asset),
    };
    if roles >= wanted {
        Ok((ReasonCode::AllowedByRole, None, None))
    } else if token_groups_ok {
        Ok((ReasonCode::AllowedByGroup, None, None))
    } else if dyn_groups_ok {
        Ok((ReasonCode::AllowedByGroup, cause(dyn_group.1), None))
    } else if grant_ok {
        Ok((ReasonCode::AllowedByGrant, cause(grant.entry), None))
    } else if grant.expired_would_do {
        Err((ReasonCode::GrantExpired, None, None))
    } else {
        Err((ReasonCode::NoPermission, None, None))
    }
}
