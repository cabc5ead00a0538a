//! The [`AccessPolicy`] compiled once into what decisions read: ranked ladders, parsed asset
//! patterns, permissions by role and group.

use std::{collections::HashMap, sync::Arc};

use crate::{
    error::EnforceError,
    policy::{AccessPolicy, CriticalGroups, Permission, RiskAction, RiskLevel, TokenClaimMapping},
};

/// An ordered list of levels; a level implies every level before it.
#[derive(Debug, Clone)]
pub(crate) struct Ladder {
    levels: Vec<String>,
    ignore_case: bool,
}

impl Ladder {
    fn new(levels: &[String], ignore_case: bool, what: &str) -> Result<Self, EnforceError> {
        if levels.is_empty() || levels.len() > usize::from(u8::MAX) {
            return Err(EnforceError::InvalidConfig(format!(
                "{what} must list between 1 and 255 levels"
            )));
        }
        Ok(Self {
            levels: levels.to_vec(),
            ignore_case,
        })
    }

    /// The position of `value`, if it is on the ladder.
    pub(crate) fn rank(&self, value: &str) -> Option<u8> {
        let pos = if self.ignore_case {
            self.levels
                .iter()
                .position(|l| l.eq_ignore_ascii_case(value))
        } else {
            self.levels.iter().position(|l| l == value)
        };
        pos.and_then(|p| u8::try_from(p).ok())
    }

    fn need(&self, value: &str, what: &str) -> Result<u8, EnforceError> {
        self.rank(value).ok_or_else(|| {
            EnforceError::InvalidConfig(format!("{what} `{value}` is not a known level"))
        })
    }

    /// Every level from `rank` up: the acceptable `acr_values` of a step-up (RFC 9470 §3).
    fn at_least(&self, rank: u8) -> Arc<[String]> {
        self.levels
            .iter()
            .skip(usize::from(rank))
            .cloned()
            .collect()
    }

    fn top(&self) -> u8 {
        u8::try_from(self.levels.len().saturating_sub(1)).unwrap_or(u8::MAX)
    }
}

/// `*`, `type`, `type:*` or `type:id` (the id may itself contain `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetPattern {
    asset_type: Option<Box<str>>,
    asset_id: Option<Box<str>>,
}

impl AssetPattern {
    pub(crate) fn parse(s: &str) -> Self {
        if s == "*" {
            return Self {
                asset_type: None,
                asset_id: None,
            };
        }
        match s.split_once(':') {
            Some((t, "*")) | Some((t, "")) => Self {
                asset_type: Some(t.into()),
                asset_id: None,
            },
            Some((t, id)) => Self {
                asset_type: Some(t.into()),
                asset_id: Some(id.into()),
            },
            None => Self {
                asset_type: Some(s.into()),
                asset_id: None,
            },
        }
    }

    /// Whether some asset falls under both patterns.
    fn overlaps(&self, other: &Self) -> bool {
        let same = |a: &Option<Box<str>>, b: &Option<Box<str>>| match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        same(&self.asset_type, &other.asset_type) && same(&self.asset_id, &other.asset_id)
    }

    /// Whether the asset falls under the pattern; `None` (no resource) only under `*`.
    pub(crate) fn matches(&self, asset: Option<(&str, &str)>) -> bool {
        match (asset, &self.asset_type, &self.asset_id) {
            (_, None, _) => true,
            (None, Some(_), _) => false,
            (Some((t, _)), Some(pt), None) => **pt == *t,
            (Some((t, id)), Some(pt), Some(pid)) => **pt == *t && **pid == *id,
        }
    }
}

/// One permission: pattern and the access rank it grants.
#[derive(Debug, Clone)]
pub(crate) struct Perm {
    pattern: AssetPattern,
    rank: u8,
}

/// The highest rank the permissions grant on the asset (0 = none).
pub(crate) fn best_rank(perms: &[Perm], asset: (&str, &str)) -> u8 {
    perms
        .iter()
        .filter(|p| p.pattern.matches(Some(asset)))
        .map(|p| p.rank)
        .max()
        .unwrap_or(0)
}

/// One compiled [`Requirement`](crate::Requirement).
#[derive(Debug, Clone)]
pub(crate) struct Need {
    pattern: AssetPattern,
    min_access: u8,
    pub(crate) min_acr: Option<u8>,
    pub(crate) acr_values: Arc<[String]>,
    pub(crate) max_age: Option<u64>,
    pub(crate) max_risk: Option<RiskLevel>,
}

impl Need {
    pub(crate) fn applies(&self, asset: Option<(&str, &str)>, wanted: u8) -> bool {
        wanted >= self.min_access && self.pattern.matches(asset)
    }
}

/// The compiled access policy.
#[derive(Debug, Clone)]
pub(crate) struct CompiledAccess {
    pub(crate) access: Ladder,
    pub(crate) default_access: u8,
    pub(crate) roles: HashMap<String, Vec<Perm>>,
    pub(crate) groups: HashMap<String, Vec<Perm>>,
    pub(crate) critical: Vec<AssetPattern>,
    /// Critical assets dynamic groups may open (`access.critical_allows_groups`).
    pub(crate) critical_dynamic_groups: Vec<AssetPattern>,
    /// Critical assets token groups may open (`access.critical_allows_token_groups`).
    pub(crate) critical_token_groups: Vec<AssetPattern>,
    pub(crate) acr: Ladder,
    pub(crate) needs: Vec<Need>,
    pub(crate) max_risk: RiskLevel,
    pub(crate) risk_action: RiskAction,
    pub(crate) risk_step_up: (u8, Arc<[String]>),
    pub(crate) roles_claim: Option<String>,
    pub(crate) groups_claim: Option<String>,
}

/// The patterns of a [`CriticalGroups`] setting; each must overlap a critical pattern, else it
/// could never apply (a typo such as `customers`).
fn critical_scope(
    scope: &CriticalGroups,
    critical: &[AssetPattern],
    setting: &str,
) -> Result<Vec<AssetPattern>, EnforceError> {
    scope
        .patterns()
        .iter()
        .map(|s| {
            let p = AssetPattern::parse(s);
            if s.trim().is_empty() {
                return Err(EnforceError::InvalidConfig(format!(
                    "access.{setting} must not contain an empty asset pattern"
                )));
            }
            if !matches!(scope, CriticalGroups::All) && !critical.iter().any(|c| c.overlaps(&p)) {
                return Err(EnforceError::InvalidConfig(format!(
                    "access.{setting} lists `{s}`, which matches no pattern of access.critical"
                )));
            }
            Ok(p)
        })
        .collect()
}

fn perms(
    ladder: &Ladder,
    map: &std::collections::BTreeMap<String, Vec<Permission>>,
) -> Result<HashMap<String, Vec<Perm>>, EnforceError> {
    map.iter()
        .map(|(name, list)| {
            let list = list
                .iter()
                .map(|p| {
                    Ok(Perm {
                        pattern: AssetPattern::parse(&p.asset),
                        rank: ladder.need(&p.access, "a permission's access")?,
                    })
                })
                .collect::<Result<_, EnforceError>>()?;
            Ok((name.clone(), list))
        })
        .collect()
}

impl CompiledAccess {
    pub(crate) fn compile(
        p: &AccessPolicy,
        token: &TokenClaimMapping,
    ) -> Result<Self, EnforceError> {
        let access = Ladder::new(&p.access_levels, false, "access_levels")?;
        let acr = Ladder::new(&p.acr_levels, true, "acr_levels")?;
        let needs = p
            .requirements
            .iter()
            .map(|r| {
                let min_acr = r
                    .min_acr
                    .as_deref()
                    .map(|a| acr.need(a, "a requirement's min_acr"))
                    .transpose()?;
                Ok(Need {
                    pattern: AssetPattern::parse(&r.asset),
                    min_access: r
                        .access
                        .as_deref()
                        .map(|a| access.need(a, "a requirement's access"))
                        .transpose()?
                        .unwrap_or(0),
                    min_acr,
                    acr_values: acr.at_least(min_acr.unwrap_or(0)),
                    max_age: r.max_age,
                    max_risk: r.max_risk,
                })
            })
            .collect::<Result<_, EnforceError>>()?;
        let step_up = match &p.risk_step_up_acr {
            Some(a) => acr.need(a, "risk_step_up_acr")?,
            None => acr.top(),
        };
        let critical: Vec<AssetPattern> =
            p.critical.iter().map(|c| AssetPattern::parse(c)).collect();
        Ok(Self {
            default_access: access.need(&p.default_access, "default_access")?,
            roles: perms(&access, &p.roles)?,
            groups: perms(&access, &p.groups)?,
            critical_dynamic_groups: critical_scope(
                &p.critical_allows_groups,
                &critical,
                "critical_allows_groups",
            )?,
            critical_token_groups: critical_scope(
                &p.critical_allows_token_groups,
                &critical,
                "critical_allows_token_groups",
            )?,
            critical,
            needs,
            max_risk: p.max_risk,
            risk_action: p.risk_action,
            risk_step_up: (step_up, acr.at_least(step_up)),
            roles_claim: token.roles.clone(),
            groups_claim: token.groups.clone(),
            access,
            acr,
        })
    }

    /// Whether the asset is marked critical (needs a JIT grant).
    pub(crate) fn is_critical(&self, asset: (&str, &str)) -> bool {
        self.critical.iter().any(|c| c.matches(Some(asset)))
    }

    /// Whether dynamic groups may open this critical asset.
    pub(crate) fn critical_allows_dynamic(&self, asset: (&str, &str)) -> bool {
        self.critical_dynamic_groups
            .iter()
            .any(|c| c.matches(Some(asset)))
    }

    /// Whether the token's own groups may open this critical asset.
    pub(crate) fn critical_allows_token(&self, asset: (&str, &str)) -> bool {
        self.critical_token_groups
            .iter()
            .any(|c| c.matches(Some(asset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Requirement;

    #[test]
    fn asset_patterns() {
        let c = Some(("customer", "C2148"));
        assert!(AssetPattern::parse("*").matches(c));
        assert!(AssetPattern::parse("*").matches(None));
        assert!(AssetPattern::parse("customer").matches(c));
        assert!(AssetPattern::parse("customer:*").matches(c));
        assert!(AssetPattern::parse("customer:C2148").matches(c));
        assert!(!AssetPattern::parse("customer:C9999").matches(c));
        assert!(!AssetPattern::parse("customer").matches(None));
        assert!(AssetPattern::parse("doc:a:b").matches(Some(("doc", "a:b"))));
        let overlap = |a: &str, b: &str| AssetPattern::parse(a).overlaps(&AssetPattern::parse(b));
        assert!(overlap("customer", "customer:C1"));
        assert!(overlap("*", "ticket"));
        assert!(!overlap("customer", "customers"));
        assert!(!overlap("customer:C1", "customer:C2"));
    }

    #[test]
    fn critical_group_scopes_must_name_critical_assets() {
        let p = AccessPolicy {
            critical: vec!["customer".into()],
            critical_allows_groups: CriticalGroups::Assets(vec!["customers".into()]),
            ..AccessPolicy::default()
        };
        let err = CompiledAccess::compile(&p, &TokenClaimMapping::default()).unwrap_err();
        assert!(
            err.to_string().contains("access.critical_allows_groups"),
            "{err}"
        );
        let p = AccessPolicy {
            critical: vec!["customer".into()],
            critical_allows_groups: CriticalGroups::Assets(vec!["customer:*".into()]),
            critical_allows_token_groups: CriticalGroups::All,
            ..AccessPolicy::default()
        };
        let c = CompiledAccess::compile(&p, &TokenClaimMapping::default()).unwrap();
        assert!(c.critical_allows_dynamic(("customer", "C1")));
        assert!(c.critical_allows_token(("customer", "C1")));
        assert!(
            !CompiledAccess::compile(&AccessPolicy::default(), &TokenClaimMapping::default())
                .unwrap()
                .critical_allows_token(("customer", "C1"))
        );
    }

    #[test]
    fn ladders_rank_and_config_errors_are_reported() {
        let mut p = AccessPolicy::default();
        let c = CompiledAccess::compile(&p, &TokenClaimMapping::default()).unwrap();
        assert_eq!(c.access.rank("read_write"), Some(2));
        assert_eq!(c.acr.rank("NIST-AAL2"), Some(1));
        assert_eq!(&*c.risk_step_up.1, ["nist-aal3".to_owned()]);
        p.requirements.push(Requirement {
            min_acr: Some("aal9".into()),
            ..Requirement::default()
        });
        assert!(CompiledAccess::compile(&p, &TokenClaimMapping::default()).is_err());
        let p = AccessPolicy {
            access_levels: vec![],
            ..AccessPolicy::default()
        };
        assert!(CompiledAccess::compile(&p, &TokenClaimMapping::default()).is_err());
    }
}
