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

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Note, Planner, row_key, row_value};
use crate::{event::timestamp_ms, handle::SubjectPattern, row::RowKind, row::Rule};

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Puts one grant row; `false` when the access level is unknown.
fn grant(
    p: &mut Planner<'_>,
    pattern: &SubjectPattern,
    asset_type: &str,
    asset_id: &str,
    access: &str,
    expires_at: Option<i64>,
) -> bool {
    if !p.config.access.access_levels.iter().any(|l| l == access) {
        return false;
    }
    let suffix = format!("{asset_type}:{asset_id}");
    let value = row_value(
        pattern,
        [
            ("asset_type", Value::from(asset_type)),
            ("asset_id", Value::from(asset_id)),
            ("access", Value::from(access)),
            ("expires_at", expires_at.map_or(Value::Null, Value::from)),
        ],
    );
    p.put(
        RowKind::Grant,
        row_key(pattern, Some(&suffix)),
        value,
        Rule::JitGrant,
    );
    true
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
                if !grant(p, pattern, asset_type, &id, access, top_expiry) {
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
                    if !grant(p, pattern, t, id, access, expiry) {
                        unusable += 1;
                    }
                }
                _ => unusable += 1,
            }
        }
        jit_claims.insert(&jit.grants_claim);
        jit_claims.insert(&jit.expires_claim);
    }

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
            let value = row_value(
                pattern,
                [
                    ("group", Value::from(group)),
                    ("member", Value::Bool(member)),
                ],
            );
            p.put(
                RowKind::GroupMember,
                row_key(pattern, Some(group)),
                value,
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
            let fields = [
                ("claim", Value::from(name.as_str())),
                ("value", value.clone()),
            ];
            let mut v = row_value(pattern, fields);
            // row_value leaves null members out; an overlay null is meaningful (remove the claim).
            if value.is_null()
                && let Value::Object(m) = &mut v
            {
                m.insert("value".to_owned(), Value::Null);
            }
            p.put(
                RowKind::Claims,
                row_key(pattern, Some(name)),
                v,
                Rule::ClaimsOverlay,
            );
        }
    }
    if unusable > 0 {
        Note::Done("some grant or group entries were unusable and skipped")
    } else {
        Note::Done("claims applied")
    }
}
