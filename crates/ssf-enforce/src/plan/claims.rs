//! CAEP §3.2 `token-claims-change`: JIT grants, dynamic groups and the claims overlay
//! ([CAEP §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2)).
//!
//! Claim shapes (names configurable in [`JitClaims`](crate::JitClaims) and
//! [`GroupClaims`](crate::GroupClaims)):
//! - single asset: `{"customer_id": "C2148", "access_allowed": "read_write", "expires_at": 1767225600}`
//!   → grant (subject, `customer`, `C2148`, `read_write`), optional expiry in epoch seconds;
//!   `"access_allowed": "none"` removes it;
//! - several assets: `{"grants": [{"asset": "customer:C2148", "access": "read", "expires_at": ...}]}`;
//! - dynamic groups: `{"groups_add": ["support-tier2"], "groups_remove": ["support-tier1"]}`;
//! - every other claim goes to the overlay as is; `null` removes the claim.
//!
//! Who may grant ([`GrantAuthority`](crate::GrantAuthority), D-EN-02): a grant above the lowest
//! access level and a `groups_add` entry are applied only when the SET's `iss` (and stream) is
//! listed in `grants.sources`; otherwise they are counted as refused and left out of the overlay
//! too. Revokes (access `none`) and `groups_remove` are applied from any verified source. A grant
//! never lasts longer than `grants.max_duration` from its event time, or from the receiver's
//! clock when that is earlier (D-EN-03).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Note, Planner, row_key};
use crate::{
    event::timestamp_ms,
    handle::SubjectPattern,
    row::{RowState, Rule},
};

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Planner<'_> {
    /// Whether this SET's source may open access (JIT grants, `groups_add`; D-EN-02).
    fn may_grant(&self) -> bool {
        self.config
            .grants
            .may_grant(&self.ctx.iss, self.ctx.stream_id.as_deref())
    }

    /// Counts a grant or group addition refused for its source.
    fn refuse(&mut self) {
        self.refused += 1;
        self.note_rule(Rule::GrantRefused);
    }
}

/// What became of one grant entry.
enum Granted {
    /// Put (or stale).
    Done,
    /// Unknown access level.
    Unusable,
    /// Opens access and the source may not grant.
    Refused,
}

/// Puts one grant row, unless the access level is unknown or it would open access from a source
/// that may not grant. Expiry is capped at `grants.max_duration` (D-EN-03).
fn grant(
    p: &mut Planner<'_>,
    pattern: &SubjectPattern,
    asset_type: &str,
    asset_id: &str,
    access: &str,
    expires_at: Option<i64>,
) -> Granted {
    let Some(rank) = p
        .config
        .access
        .access_levels
        .iter()
        .position(|l| l == access)
    else {
        return Granted::Unusable;
    };
    // Rank 0 (`none`) only removes access: safe from any verified source.
    let opens = rank > 0;
    if opens && !p.may_grant() {
        p.refuse();
        return Granted::Refused;
    }
    let expires_at = if opens {
        let cap =
            p.at.min(p.now)
                .saturating_add(p.config.grants.max_duration_ms());
        if expires_at.is_none_or(|x| x > cap) {
            p.capped += 1;
        }
        Some(expires_at.map_or(cap, |x| x.min(cap)))
    } else {
        expires_at
    };
    let suffix = format!("{asset_type}:{asset_id}");
    let state = RowState::Grant {
        asset_type: asset_type.to_owned(),
        asset_id: asset_id.to_owned(),
        access: access.to_owned(),
        expires_at,
    };
    p.put(
        row_key(pattern, Some(&suffix)),
        pattern,
        state,
        Rule::JitGrant,
    );
    Granted::Done
}

pub(super) fn plan(
    p: &mut Planner<'_>,
    pattern: &SubjectPattern,
    claims: &Map<String, Value>,
) -> Note {
    let jit = p.policy.jit.clone();
    let groups = p.policy.groups.clone();
    let mut jit_claims: BTreeSet<&str> = BTreeSet::new();
    let mut unusable = 0usize;
    let top_expiry = claims.get(&jit.expires_claim).and_then(timestamp_ms);

    if let Some(Value::String(access)) = claims.get(&jit.access_claim) {
        for (claim, asset_type) in &jit.asset_claims {
            if let Some(id) = claims.get(claim).and_then(id_string) {
                if let Granted::Unusable = grant(p, pattern, asset_type, &id, access, top_expiry) {
                    unusable += 1;
                }
                jit_claims.insert(claim);
            }
        }
        if !jit_claims.is_empty() {
            jit_claims.insert(&jit.access_claim);
            jit_claims.insert(&jit.expires_claim);
        }
    }
    if let Some(Value::Array(list)) = claims.get(&jit.grants_claim) {
        for item in list {
            let asset = item
                .get("asset")
                .and_then(Value::as_str)
                .and_then(|a| a.split_once(':'));
            let access = item.get("access").and_then(Value::as_str);
            let expiry = item
                .get(&jit.expires_claim)
                .and_then(timestamp_ms)
                .or(top_expiry);
            match (asset, access) {
                (Some((t, id)), Some(access)) if !t.is_empty() && !id.is_empty() => {
                    if let Granted::Unusable = grant(p, pattern, t, id, access, expiry) {
                        unusable += 1;
                    }
                }
                _ => unusable += 1,
            }
        }
        jit_claims.insert(&jit.grants_claim);
        jit_claims.insert(&jit.expires_claim);
    }

    let may_grant = p.may_grant();
    let mut group_claims: BTreeSet<&str> = BTreeSet::new();
    for (claim, member) in [(&groups.add_claim, true), (&groups.remove_claim, false)] {
        let Some(Value::Array(list)) = claims.get(claim) else {
            continue;
        };
        for group in list {
            let Some(group) = group.as_str().filter(|g| !g.is_empty()) else {
                unusable += 1;
                continue;
            };
            // Joining a group opens its permissions; leaving one is safe from any source.
            if member && !may_grant {
                p.refuse();
                continue;
            }
            let state = RowState::GroupMember {
                group: group.to_owned(),
                member,
            };
            p.put(
                row_key(pattern, Some(group)),
                pattern,
                state,
                Rule::DynamicGroup,
            );
        }
        group_claims.insert(claim);
    }

    if p.policy.claims_overlay {
        for (name, value) in claims {
            let consumed = group_claims.contains(name.as_str())
                || (!jit.keep_in_overlay && jit_claims.contains(name.as_str()));
            if consumed {
                continue;
            }
            // An overlay null is kept: it removes the claim.
            let state = RowState::Claim {
                claim: name.clone(),
                value: Some(value.clone()),
            };
            p.put(
                row_key(pattern, Some(name)),
                pattern,
                state,
                Rule::ClaimsOverlay,
            );
        }
    }
    if p.refused > 0 {
        Note::Done(
            "grants or group additions from a source not in grants.sources were refused; \
             revokes, removals and other claims follow the usual rules",
        )
    } else if unusable > 0 {
        Note::Done("some grant or group entries were unusable and skipped")
    } else {
        Note::Done("claims applied")
    }
}
