//! `[jit.systems.<name>.rules]`: how a ticket maps to a grant.
//!
//! ```toml
//! [jit.systems.jira.rules]
//! subject = { format = "email", from = "email", allowed_email_domains = ["example.com"] }
//! asset = { type = "customer", field = "customfield_10050" }
//! access = { field = "priority.name", map = { Highest = "read_write", High = "read_write" }, default = "read" }
//! claims = { asset = "customer_id", access = "access_allowed", expires = "expires_at", revoke_value = "none" }
//! max_duration = "8h"
//! state_field = "status.statusCategory.key"
//! open_states = ["new", "indeterminate"]
//! closed_states = ["done"]
//! ```
//!
//! Field paths are dot-separated into the ticket's fields (`priority.name`,
//! `customfield_10060.value`, `account.number`).
//!
//! Dynamic groups instead of an asset grant (the assignee joins a group while the ticket is
//! theirs and open; `asset` and `access` are then not used):
//!
//! ```toml
//! [jit.systems.snow.rules]
//! group = { field = "assignment_group.display_value", map = { "Network L2" = "net-oncall" } }
//! ```

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::SystemKind;

/// Rules of one ticket system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RulesConfig {
    /// Who gets the grant: the assignee, as which subject identifier.
    pub subject: SubjectRule,
    /// What the grant is for: the asset type and the field holding its id.
    pub asset: AssetRule,
    /// Which access level.
    pub access: AccessRule,
    /// Instead of an asset grant: the dynamic group the assignee joins (CAEP
    /// `token-claims-change` with `groups_add`, and `groups_remove` when the grant ends).
    pub group: Option<GroupRule>,
    /// The claim names of the emitted `token-claims-change`.
    pub claims: ClaimNames,
    /// The longest a grant lasts even if the ticket stays open. Default 8 h.
    #[serde(with = "ssf_http::duration_serde")]
    pub max_duration: Duration,
    /// The field holding the ticket's state. Default per kind: Jira
    /// `status.statusCategory.key`, ServiceNow `state`, generic `state`.
    pub state_field: Option<String>,
    /// States that mean closed (no access). Default per kind (and ServiceNow table): see
    /// [`crate::rules::states`]. Compared case-insensitively.
    pub closed_states: Option<Vec<String>>,
    /// States that mean open. Default per kind (and ServiceNow table): see
    /// [`crate::rules::states`]. A state in neither list is unknown: the ticket counts as not
    /// open (no grant; a grant is revoked) and the state is audited as `unknown_state`.
    pub open_states: Option<Vec<String>>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            subject: SubjectRule::default(),
            asset: AssetRule::default(),
            access: AccessRule::default(),
            group: None,
            claims: ClaimNames::default(),
            max_duration: Duration::from_secs(8 * 3600),
            state_field: None,
            closed_states: None,
            open_states: None,
        }
    }
}

impl RulesConfig {
    /// The state field in force for a system of `kind`.
    pub fn state_field_for(&self, kind: &SystemKind) -> String {
        self.state_field.clone().unwrap_or_else(|| {
            match kind {
                SystemKind::Jira => "status.statusCategory.key",
                _ => "state",
            }
            .to_owned()
        })
    }

    /// Checks values against `levels`; the error starts with the setting's name.
    pub(crate) fn validate(&self, levels: &[String]) -> Result<(), String> {
        let level = |setting: &str, v: &str| {
            if levels.iter().any(|l| l == v) {
                Ok(())
            } else {
                Err(format!(
                    "{setting}: {v:?} is not one of access_levels {levels:?}"
                ))
            }
        };
        match (&self.access.constant, &self.access.field) {
            (Some(c), None) => level("access.constant", c)?,
            (None, Some(_)) => {
                for v in self.access.map.values() {
                    level("access.map", v)?;
                }
                if let Some(d) = &self.access.default {
                    level("access.default", d)?;
                }
            }
            _ => return Err("access: set either `constant` or `field` (with `map`)".to_owned()),
        }
        if levels.contains(&self.claims.revoke_value) {
            return Err("claims.revoke_value must not be an access level".to_owned());
        }
        for (setting, name) in [
            ("claims.asset", &self.claims.asset),
            ("claims.access", &self.claims.access),
        ] {
            if name.is_empty() {
                return Err(format!("{setting} must not be empty"));
            }
        }
        if let Some(group) = &self.group {
            group.validate()?;
            for (setting, name) in [
                ("claims.groups_add", &self.claims.groups_add),
                ("claims.groups_remove", &self.claims.groups_remove),
            ] {
                if name.is_empty() {
                    return Err(format!("{setting} must not be empty"));
                }
            }
        }
        if self.asset.asset_type.starts_with('@') {
            return Err("asset.type must not start with '@' (reserved for groups)".to_owned());
        }
        if self.asset.asset_type.is_empty() || self.asset.field.is_empty() {
            return Err("asset: `type` and `field` must not be empty".to_owned());
        }
        if self.max_duration.is_zero() {
            return Err("max_duration must be above 0".to_owned());
        }
        if self.subject.format == SubjectFormatRule::IssSub && self.subject.issuer.is_none() {
            return Err("subject.issuer is needed for format iss_sub".to_owned());
        }
        Ok(())
    }
}

/// The subject identifier format of the grant
/// ([SSF 1.0 §3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectFormatRule {
    /// `{"format": "email", "email": ...}` (the seed shape).
    #[default]
    Email,
    /// `{"format": "opaque", "id": ...}`.
    Opaque,
    /// `{"format": "iss_sub", "iss": <issuer>, "sub": ...}`.
    IssSub,
}

/// Which attribute of the assignee goes into the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonField {
    /// The e-mail address.
    #[default]
    Email,
    /// The ticket system's user id.
    Id,
}

/// `rules.subject`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SubjectRule {
    /// The subject format. Default `email`.
    pub format: SubjectFormatRule,
    /// The assignee attribute used. Default: `email` for the email format, `id` otherwise.
    pub from: Option<PersonField>,
    /// The `iss` of `iss_sub` subjects.
    pub issuer: Option<String>,
    /// If not empty, only assignees with an e-mail in these domains get grants (checked
    /// whatever the format).
    pub allowed_email_domains: Vec<String>,
}

impl SubjectRule {
    /// The assignee attribute in force.
    pub fn from_field(&self) -> PersonField {
        self.from.unwrap_or(match self.format {
            SubjectFormatRule::Email => PersonField::Email,
            _ => PersonField::Id,
        })
    }
}

/// `rules.asset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AssetRule {
    /// The asset type (as the app's enforcement knows it). Default `customer`.
    #[serde(rename = "type")]
    pub asset_type: String,
    /// The field path of the asset id. Default `customer_id`.
    pub field: String,
}

impl Default for AssetRule {
    fn default() -> Self {
        Self {
            asset_type: "customer".to_owned(),
            field: "customer_id".to_owned(),
        }
    }
}

/// `rules.access`: a constant, or a field mapped through a table. Without an `access` table
/// every grant is `read_write`; a table sets exactly one of `constant` and `field`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AccessRule {
    /// Every grant gets this level.
    #[serde(default)]
    pub constant: Option<String>,
    /// Or: the field path whose value picks the level through `map`.
    #[serde(default)]
    pub field: Option<String>,
    /// Field value -> access level.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// The level when the field's value is not in `map`; without it such tickets get no grant.
    #[serde(default)]
    pub default: Option<String>,
}

impl Default for AccessRule {
    fn default() -> Self {
        Self {
            constant: Some("read_write".to_owned()),
            field: None,
            map: BTreeMap::new(),
            default: None,
        }
    }
}

/// `rules.claims`: the claim names of the emitted event. The defaults make the seed shape
/// `{"customer_id": "C2148", "access_allowed": "read_write", "expires_at": 1767225600}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ClaimNames {
    /// The claim holding the asset id. Default `customer_id`.
    pub asset: String,
    /// The claim holding the access level. Default `access_allowed`.
    pub access: String,
    /// The claim holding the grant's expiry (epoch seconds); empty to leave it out. Default
    /// `expires_at`.
    pub expires: String,
    /// The access value that removes a grant. Default `none`.
    pub revoke_value: String,
    /// The array claim naming the groups joined, for [`GroupRule`] grants. Default `groups_add`.
    pub groups_add: String,
    /// The array claim naming the groups left. Default `groups_remove`.
    pub groups_remove: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            asset: "customer_id".to_owned(),
            access: "access_allowed".to_owned(),
            expires: "expires_at".to_owned(),
            revoke_value: "none".to_owned(),
            groups_add: "groups_add".to_owned(),
            groups_remove: "groups_remove".to_owned(),
        }
    }
}

/// `rules.group`: the dynamic group a ticket's assignee joins, a constant or a field's value
/// (mapped through `map` when given). Exactly one of `constant` and `field`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GroupRule {
    /// Every assignee joins this group.
    #[serde(default)]
    pub constant: Option<String>,
    /// Or: the field path whose value names the group.
    #[serde(default)]
    pub field: Option<String>,
    /// Field value -> group name; when not empty, values not in it give no group unless
    /// `default` is set.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// The group when the field's value is not in a non-empty `map`.
    #[serde(default)]
    pub default: Option<String>,
}

impl GroupRule {
    fn validate(&self) -> Result<(), String> {
        match (&self.constant, &self.field) {
            (Some(c), None) if !c.trim().is_empty() => Ok(()),
            (None, Some(f)) if !f.trim().is_empty() => {
                let names = self.map.values().chain(self.default.iter());
                match names.into_iter().find(|g| g.trim().is_empty()) {
                    Some(_) => Err("group: group names must not be empty".to_owned()),
                    None => Ok(()),
                }
            }
            _ => Err("group: set either `constant` or `field` (with an optional `map`)".to_owned()),
        }
    }
}
