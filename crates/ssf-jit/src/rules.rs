//! Rules: what a ticket in a given state means for access.
//!
//! The answer for one ticket is at most one grant: (assignee as a subject, the asset, the access
//! level), or the reason there is none. Pure functions of the configuration (with the
//! operator's identity mapping, [`crate::identity`]) and the ticket. Whether a ticket is open is
//! [`states`]'s business.

pub mod states;

use std::collections::BTreeMap;

use serde_json::Value;
use ssf_types::{
    SubjectId,
    subject::{LocalPartRule, canonicalize_email},
};

pub use self::states::{TicketStatus, UnknownState, state_of};
use crate::{
    adapter::{field, scalar},
    config::{ClaimNames, GroupRule, PersonField, SubjectFormatRule, SystemConfig},
    identity,
    lifecycle::TicketState,
    ticket::{Person, TicketEventKind},
};

/// The asset type of a group membership from a [`GroupRule`]; the
/// asset id is the group's name. `@` keeps it apart from configured asset types.
pub const GROUP: &str = "@group";
/// The one access level of a group membership.
pub const MEMBER: &str = "member";

/// The grant a ticket calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The subject of the events (`sub_id`).
    pub subject: SubjectId,
    /// A stable key of the subject (`email:jane@example.com`).
    pub subject_key: String,
    /// The asset type (`customer`).
    pub asset_type: String,
    /// The asset id (`C2148`).
    pub asset_id: String,
    /// The access level (`read_write`).
    pub access: String,
}

/// Why a ticket gets no grant (accepted, logged, audited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoGrant {
    /// The ticket is closed.
    Closed,
    /// Nobody is assigned.
    NoAssignee,
    /// The assignee lacks the attribute the subject needs (e.g. no id).
    AssigneeUnusable(String),
    /// The assignee has no e-mail and the identity mapping has no entry for them (the text
    /// names the person and the setting to fill).
    NoIdentity(String),
    /// The ticket's state is neither open nor closed ([`states`]).
    UnknownState(UnknownState),
    /// The assignee's e-mail domain is not allowed.
    DomainNotAllowed(String),
    /// The asset field is empty or missing.
    NoAsset(String),
    /// The access field's value maps to no level.
    NoAccessLevel(String),
    /// The group rule names no group for this ticket.
    NoGroup(String),
    /// Two events of the same time disagree and nothing orders them
    /// ([`TicketState::conflict`](crate::lifecycle::TicketState::conflict)).
    OrderConflict,
    /// The webhook is older than the system's `max_age`: it may take access away, not give it.
    TooOld,
}

impl NoGrant {
    /// A short machine-friendly reason (`no_assignee`, `no_asset`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::NoAssignee => "no_assignee",
            Self::AssigneeUnusable(_) => "assignee_unusable",
            Self::NoIdentity(_) => "no_identity",
            Self::UnknownState(_) => "unknown_state",
            Self::DomainNotAllowed(_) => "domain_not_allowed",
            Self::NoAsset(_) => "no_asset",
            Self::NoAccessLevel(_) => "no_access_level",
            Self::NoGroup(_) => "no_group",
            Self::OrderConflict => "ambiguous_order",
            Self::TooOld => "too_old",
        }
    }
}

impl std::fmt::Display for NoGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("the ticket is closed"),
            Self::NoAssignee => f.write_str("nobody is assigned"),
            Self::AssigneeUnusable(why) => write!(f, "the assignee cannot be a subject: {why}"),
            Self::NoIdentity(text) => f.write_str(text),
            Self::UnknownState(u) => write!(f, "{u}"),
            Self::DomainNotAllowed(d) => {
                write!(f, "the assignee's e-mail domain {d:?} is not allowed")
            }
            Self::NoAsset(field) => write!(f, "the asset field `{field}` is empty or missing"),
            Self::NoAccessLevel(v) => write!(f, "no access level for {v}"),
            Self::NoGroup(v) => write!(f, "no group for {v}"),
            Self::OrderConflict => f.write_str(
                "two events of the same time disagree on who holds the ticket and nothing orders \
                 them (no sequence); no grant until a newer event",
            ),
            Self::TooOld => f.write_str(
                "the webhook is older than the system's max_age: it may end access, not grant it",
            ),
        }
    }
}

/// Whether a ticket with these fields, after an event of `kind`, is not open: closed, or in
/// an unknown state (which fails closed, see [`states`]).
pub fn is_closed(
    system: &SystemConfig,
    kind: &TicketEventKind,
    fields: &BTreeMap<String, Value>,
) -> bool {
    !state_of(system, kind, fields).is_open()
}

/// A state as text: a scalar, or a named object's `key`/`name` (Jira status objects).
fn state_text(v: &Value) -> Option<String> {
    scalar(v).or_else(|| {
        let o = v.as_object()?;
        o.get("key").or_else(|| o.get("name")).and_then(scalar)
    })
}

/// The grant an open ticket with `assignee` and `fields` calls for, or why none.
pub fn desired(
    system: &SystemConfig,
    open: bool,
    assignee: Option<&Person>,
    fields: &BTreeMap<String, Value>,
) -> Result<Want, NoGrant> {
    if !open {
        return Err(NoGrant::Closed);
    }
    let rules = &system.rules;
    let person = assignee
        .filter(|p| !p.is_empty())
        .ok_or(NoGrant::NoAssignee)?;
    let from = rules.subject.from_field();
    let given_email = person
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    // The operator's mapping fills in what the ticket system hid, before any check.
    let mapped = match (from, given_email) {
        (PersonField::Email, Some(_)) => None,
        _ => identity::resolve(system, person),
    };
    let email = given_email.or(mapped
        .as_deref()
        .filter(|m| from == PersonField::Email || m.contains('@')));
    let email = email.map(|e| canonicalize_email(e, LocalPartRule::LowerCase));
    let needs_email = from == PersonField::Email || !rules.subject.allowed_email_domains.is_empty();
    if needs_email && email.is_none() {
        return Err(no_identity(system, person));
    }
    if !rules.subject.allowed_email_domains.is_empty() {
        let domain = email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        let allowed = rules.subject.allowed_email_domains.iter().any(|a| {
            canonicalize_email(&format!("@{}", a.trim()), LocalPartRule::LowerCase)
                == format!("@{domain}")
        });
        if !allowed {
            return Err(NoGrant::DomainNotAllowed(domain));
        }
    }
    let id = match from {
        PersonField::Id => mapped.as_deref().or(person.id.as_deref()),
        PersonField::Email => person.id.as_deref(),
    };
    let (subject, subject_key) = subject_of(
        rules.subject.format,
        from,
        rules.subject.issuer.as_deref(),
        person,
        email.as_deref(),
        id,
    )?;
    if let Some(group) = &rules.group {
        return Ok(Want {
            subject,
            subject_key,
            asset_type: GROUP.to_owned(),
            asset_id: group_of(group, fields)?,
            access: MEMBER.to_owned(),
        });
    }
    let asset_id = field(fields, &rules.asset.field)
        .and_then(scalar)
        .ok_or_else(|| NoGrant::NoAsset(rules.asset.field.clone()))?;
    let access = match (&rules.access.constant, &rules.access.field) {
        (Some(c), _) => c.clone(),
        (None, Some(path)) => {
            let value = field(fields, path).and_then(state_text);
            value
                .as_ref()
                .and_then(|v| rules.access.map.get(v))
                .or(rules.access.default.as_ref())
                .cloned()
                .ok_or_else(|| {
                    NoGrant::NoAccessLevel(format!(
                        "`{path}` = {}",
                        value.as_deref().unwrap_or("(missing)")
                    ))
                })?
        }
        (None, None) => return Err(NoGrant::NoAccessLevel("no access rule".to_owned())),
    };
    Ok(Want {
        subject,
        subject_key,
        asset_type: rules.asset.asset_type.clone(),
        asset_id,
        access,
    })
}

fn group_of(rule: &GroupRule, fields: &BTreeMap<String, Value>) -> Result<String, NoGrant> {
    let (Some(path), None) = (&rule.field, &rule.constant) else {
        return rule
            .constant
            .clone()
            .ok_or_else(|| NoGrant::NoGroup("no group rule".to_owned()));
    };
    let value = field(fields, path).and_then(state_text);
    let group = match (&value, rule.map.is_empty()) {
        (Some(v), true) => Some(v.clone()),
        (Some(v), false) => rule.map.get(v).or(rule.default.as_ref()).cloned(),
        (None, _) => rule.default.clone(),
    };
    group.ok_or_else(|| {
        NoGrant::NoGroup(format!(
            "`{path}` = {}",
            value.as_deref().unwrap_or("(missing)")
        ))
    })
}

/// The grant a ticket in `state` calls for: [`NoGrant::UnknownState`] when its state is
/// unknown, else [`desired`].
pub fn desired_for(system: &SystemConfig, state: &TicketState) -> Result<Want, NoGrant> {
    if let Some(unknown) = &state.unknown_state {
        return Err(NoGrant::UnknownState((**unknown).clone()));
    }
    desired(system, state.open, state.assignee.as_ref(), &state.fields)
}

/// The `no_identity` reason: who, and where a mapping would go.
fn no_identity(system: &SystemConfig, person: &Person) -> NoGrant {
    let who = match (person.id.as_deref(), person.name.as_deref()) {
        (Some(id), Some(name)) => format!("{id} ({name})"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => "(unnamed)".to_owned(),
    };
    NoGrant::NoIdentity(format!(
        "assignee {who} has no e-mail and no entry in {}",
        identity::settings_hint(system)
    ))
}

/// `email` is already canonical; `id` is the person's id, or what the mapping gave for it.
fn subject_of(
    format: SubjectFormatRule,
    from: PersonField,
    issuer: Option<&str>,
    person: &Person,
    email: Option<&str>,
    id: Option<&str>,
) -> Result<(SubjectId, String), NoGrant> {
    let value = match from {
        PersonField::Email => email.map(str::to_owned),
        PersonField::Id => id
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned),
    };
    let value = value.ok_or_else(|| {
        NoGrant::AssigneeUnusable(format!(
            "{} has no {}",
            person.label(),
            if from == PersonField::Email {
                "e-mail"
            } else {
                "id"
            }
        ))
    })?;
    Ok(match format {
        SubjectFormatRule::Email => {
            if !value.contains('@') {
                return Err(NoGrant::AssigneeUnusable(format!(
                    "{value:?} is not an e-mail address"
                )));
            }
            (SubjectId::email(value.clone()), format!("email:{value}"))
        }
        SubjectFormatRule::Opaque => (SubjectId::opaque(value.clone()), format!("opaque:{value}")),
        SubjectFormatRule::IssSub => {
            let iss = issuer.unwrap_or_default();
            (
                SubjectId::iss_sub(iss, value.clone()),
                format!("iss_sub:{iss}|{value}"),
            )
        }
    })
}

/// The claims of a grant event on an asset: `{asset: id, access: level, expires: secs}`; of a
/// revoke: `{asset: id, access: revoke_value}`. For a group membership ([`GROUP`]):
/// `{groups_add: [group]}` and `{groups_remove: [group]}`.
pub fn claims(
    names: &ClaimNames,
    asset_type: &str,
    asset_id: &str,
    access: Option<&str>,
    expires_at_secs: Option<i64>,
) -> serde_json::Map<String, Value> {
    let mut claims = serde_json::Map::new();
    if asset_type == GROUP {
        let claim = if access.is_some() {
            &names.groups_add
        } else {
            &names.groups_remove
        };
        claims.insert(claim.clone(), Value::from(vec![asset_id]));
        return claims;
    }
    claims.insert(names.asset.clone(), Value::from(asset_id));
    match access {
        Some(level) => {
            claims.insert(names.access.clone(), Value::from(level));
            if let (false, Some(secs)) = (names.expires.is_empty(), expires_at_secs) {
                claims.insert(names.expires.clone(), Value::from(secs));
            }
        }
        None => {
            claims.insert(
                names.access.clone(),
                Value::from(names.revoke_value.as_str()),
            );
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{AccessRule, SystemKind};

    fn fields(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    fn jane() -> Person {
        Person {
            email: Some("Jane.Doe@Example.com".into()),
            id: Some("acc-1".into()),
            name: None,
        }
    }

    #[test]
    fn seed_shape_by_default() {
        let s = SystemConfig::new(SystemKind::Generic, "0123456789abcdef");
        let w = desired(
            &s,
            true,
            Some(&jane()),
            &fields(json!({"customer_id": "C2148"})),
        )
        .unwrap();
        assert_eq!(w.subject_key, "email:jane.doe@example.com");
        assert_eq!(w.subject.to_json()["email"], "jane.doe@example.com");
        assert_eq!(
            (
                w.asset_type.as_str(),
                w.asset_id.as_str(),
                w.access.as_str()
            ),
            ("customer", "C2148", "read_write")
        );
        let c = claims(
            &ClaimNames::default(),
            "customer",
            "C2148",
            Some("read_write"),
            Some(1_767_225_600),
        );
        assert_eq!(
            Value::Object(c),
            json!({"customer_id": "C2148", "access_allowed": "read_write", "expires_at": 1_767_225_600})
        );
        let c = claims(&ClaimNames::default(), "customer", "C2148", None, Some(1));
        assert_eq!(
            Value::Object(c),
            json!({"customer_id": "C2148", "access_allowed": "none"})
        );
    }

    #[test]
    fn reasons_for_no_grant() {
        let mut s = SystemConfig::new(SystemKind::Generic, "0123456789abcdef");
        let f = fields(json!({"customer_id": "C2148", "priority": "low"}));
        assert_eq!(desired(&s, false, Some(&jane()), &f), Err(NoGrant::Closed));
        assert_eq!(desired(&s, true, None, &f), Err(NoGrant::NoAssignee));
        assert_eq!(
            desired(&s, true, Some(&jane()), &fields(json!({"customer_id": ""})))
                .unwrap_err()
                .code(),
            "no_asset"
        );
        let id_only = Person {
            id: Some("u1".into()),
            ..Person::default()
        };
        assert_eq!(
            desired(&s, true, Some(&id_only), &f).unwrap_err().code(),
            "no_identity"
        );
        s.rules.access = AccessRule {
            constant: None,
            field: Some("priority".into()),
            map: [("high".to_owned(), "read_write".to_owned())].into(),
            default: None,
        };
        assert_eq!(
            desired(&s, true, Some(&jane()), &f).unwrap_err().code(),
            "no_access_level"
        );
        s.rules.access.default = Some("read".into());
        assert_eq!(desired(&s, true, Some(&jane()), &f).unwrap().access, "read");
        s.rules.subject.allowed_email_domains = vec!["corp.example".into()];
        assert_eq!(
            desired(&s, true, Some(&jane()), &f).unwrap_err().code(),
            "domain_not_allowed"
        );
    }

    #[test]
    fn opaque_subjects_from_ids() {
        let mut s = SystemConfig::new(SystemKind::Jira, "0123456789abcdef");
        s.rules.subject.format = SubjectFormatRule::Opaque;
        let w = desired(&s, true, Some(&jane()), &fields(json!({"customer_id": 42}))).unwrap();
        assert_eq!(
            (w.subject_key.as_str(), w.asset_id.as_str()),
            ("opaque:acc-1", "42")
        );
    }

    #[test]
    fn states_per_kind() {
        let jira = SystemConfig::new(SystemKind::Jira, "0123456789abcdef");
        let done = fields(json!({"status": {"name": "Done", "statusCategory": {"key": "done"}}}));
        let doing = fields(
            json!({"status": {"name": "Doing", "statusCategory": {"key": "indeterminate"}}}),
        );
        assert!(is_closed(&jira, &TicketEventKind::Updated, &done));
        assert!(!is_closed(&jira, &TicketEventKind::Updated, &doing));
        assert!(is_closed(&jira, &TicketEventKind::Cancelled, &doing));
        let snow = SystemConfig::new(SystemKind::ServiceNow, "0123456789abcdef");
        assert!(is_closed(
            &snow,
            &TicketEventKind::Updated,
            &fields(json!({"state": 7}))
        ));
        assert!(is_closed(
            &snow,
            &TicketEventKind::Updated,
            &fields(json!({"state": "8"}))
        ));
        assert!(!is_closed(
            &snow,
            &TicketEventKind::Updated,
            &fields(json!({"state": "2"}))
        ));
        let mut generic = SystemConfig::new(SystemKind::Generic, "0123456789abcdef");
        generic.rules.open_states = Some(vec!["open".into(), "pending".into()]);
        assert!(is_closed(
            &generic,
            &TicketEventKind::Updated,
            &fields(json!({"state": "archived"}))
        ));
        assert!(!is_closed(
            &generic,
            &TicketEventKind::Updated,
            &fields(json!({"state": "open"}))
        ));
        assert!(!is_closed(
            &generic,
            &TicketEventKind::Updated,
            &fields(json!({}))
        ));
    }

    #[test]
    fn group_rules_make_memberships() {
        let mut s = SystemConfig::new(SystemKind::ServiceNow, "0123456789abcdef");
        s.rules.group = Some(GroupRule {
            field: Some("assignment_group.display_value".into()),
            map: [("Network L2".to_owned(), "net-oncall".to_owned())].into(),
            ..GroupRule::default()
        });
        let f =
            fields(json!({"assignment_group": {"value": "8a4d", "display_value": "Network L2"}}));
        let w = desired(&s, true, Some(&jane()), &f).unwrap();
        assert_eq!(
            (
                w.asset_type.as_str(),
                w.asset_id.as_str(),
                w.access.as_str()
            ),
            (GROUP, "net-oncall", MEMBER)
        );
        let other = fields(json!({"assignment_group": {"display_value": "Billing"}}));
        assert_eq!(
            desired(&s, true, Some(&jane()), &other).unwrap_err().code(),
            "no_group"
        );
        let names = ClaimNames::default();
        assert_eq!(
            Value::Object(claims(&names, GROUP, "net-oncall", Some(MEMBER), Some(9))),
            json!({"groups_add": ["net-oncall"]})
        );
        assert_eq!(
            Value::Object(claims(&names, GROUP, "net-oncall", None, None)),
            json!({"groups_remove": ["net-oncall"]})
        );
    }
}
