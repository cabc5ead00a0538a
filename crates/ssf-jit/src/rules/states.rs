//! Ticket states: open, closed, or unknown.
//!
//! Every known state is listed, as open or as closed. A state in neither list is **unknown**:
//! the ticket counts as not open (no grant; an existing grant is revoked), the webhook is still
//! answered `200` (`no_grant.reason = "unknown_state"`, so the ticket system does not retry for
//! ever), and the state is audited (`unknown_state`), logged at WARN and counted in
//! `ssf_jit_unknown_states_total{system}`. A new workflow status therefore never grants access
//! by accident; add it to `open_states` or `closed_states`.
//!
//! Defaults (compared case-insensitively; ServiceNow codes and labels both work):
//!
//! | Kind | Open | Closed |
//! |---|---|---|
//! | Jira (`status.statusCategory.key`) | `new`, `indeterminate` | `done` |
//! | ServiceNow `incident` (also when `table` is absent) | `1` New, `2` In Progress, `3` On Hold | `6` Resolved, `7` Closed, `8` Canceled |
//! | ServiceNow `sn_customerservice_case` | `1` New, `10` Open, `18` Awaiting Info | `3` Closed, `6` Resolved, `7` Cancelled |
//! | ServiceNow, another table | none | none |
//! | generic | `new`, `open`, `assigned`, `in_progress`, `pending`, `on_hold` | `resolved`, `closed`, `cancelled`, `canceled` |
//!
//! ServiceNow's table is the payload's `table` member (or `sys_class_name`). The ServiceNow
//! values are the out-of-box choices of the `state` field (System Definition → Choice Lists);
//! an instance with its own choices sets both lists.
//!
//! Configured lists replace the defaults of their side: with only `closed_states` set, the open
//! states are the defaults minus any state listed as closed (and the other way round). With both
//! set, no state may be in both (a configuration error). A configured list applies to every
//! ServiceNow table.
//!
//! A state value is a string, a number, or an object whose `value`, `display_value`, `key` and
//! `name` members are all tried (ServiceNow `{"value": "2", "display_value": "In Progress"}`,
//! Jira status objects). If it matches both lists (a code open, its label closed), it is closed.
//! A ticket without a state field is decided by the event alone (resolved, closed and cancelled
//! events close it; everything else leaves it open).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    adapter::{field, scalar},
    config::{RulesConfig, SystemConfig, SystemKind},
    ticket::TicketEventKind,
};

/// The ServiceNow Customer Service case table.
pub const CASE_TABLE: &str = "sn_customerservice_case";

const JIRA_OPEN: &[&str] = &["new", "indeterminate"];
const JIRA_CLOSED: &[&str] = &["done"];
const INCIDENT_OPEN: &[&str] = &["1", "2", "3", "New", "In Progress", "On Hold"];
const INCIDENT_CLOSED: &[&str] = &["6", "7", "8", "Resolved", "Closed", "Canceled"];
const CASE_OPEN: &[&str] = &["1", "10", "18", "New", "Open", "Awaiting Info"];
const CASE_CLOSED: &[&str] = &["3", "6", "7", "Closed", "Resolved", "Cancelled"];
const GENERIC_OPEN: &[&str] = &[
    "new",
    "open",
    "assigned",
    "in_progress",
    "pending",
    "on_hold",
];
const GENERIC_CLOSED: &[&str] = &["resolved", "closed", "cancelled", "canceled"];

/// Whether a ticket is open, closed, or in a state the rules do not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStatus {
    /// Open: the assignee may get a grant.
    Open,
    /// Closed (by its state or by the event).
    Closed,
    /// A state in neither list: treated as not open.
    Unknown(UnknownState),
}

impl TicketStatus {
    /// Whether the ticket is open. Unknown is not.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// The unknown state, if that is what it is.
    pub fn unknown(&self) -> Option<&UnknownState> {
        match self {
            Self::Unknown(u) => Some(u),
            _ => None,
        }
    }
}

/// A state value the rules do not know, and the setting that would make it known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownState {
    /// The value as sent (`"9"`, or `"9" / "Paused"` for a reference object).
    pub value: String,
    /// The field it was read from (`state`, `status.statusCategory.key`).
    pub field: String,
    /// The ServiceNow table, when the payload names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The settings to change (`jit.systems.snow.rules.open_states / closed_states`).
    pub setting: String,
}

impl std::fmt::Display for UnknownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "state {} in `{}`", self.value, self.field)?;
        if let Some(t) = &self.table {
            write!(f, " (table {t})")?;
        }
        write!(
            f,
            " is neither open nor closed; add it to {} (the ticket counts as not open meanwhile)",
            self.setting
        )
    }
}

/// The open and closed states in force for a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownStates {
    /// States that mean open.
    pub open: Vec<String>,
    /// States that mean closed.
    pub closed: Vec<String>,
}

/// The default (open, closed) states of a system of `kind`; for ServiceNow, of `table`.
pub fn defaults(
    kind: &SystemKind,
    table: Option<&str>,
) -> (&'static [&'static str], &'static [&'static str]) {
    match (kind, table) {
        (SystemKind::Jira, _) => (JIRA_OPEN, JIRA_CLOSED),
        (SystemKind::ServiceNow, None | Some("incident")) => (INCIDENT_OPEN, INCIDENT_CLOSED),
        (SystemKind::ServiceNow, Some(CASE_TABLE)) => (CASE_OPEN, CASE_CLOSED),
        (SystemKind::ServiceNow, Some(_)) => (&[], &[]),
        _ => (GENERIC_OPEN, GENERIC_CLOSED),
    }
}

/// The states in force for `rules` of a system of `kind`, for a ticket of `table`.
pub fn known(rules: &RulesConfig, kind: &SystemKind, table: Option<&str>) -> KnownStates {
    let (open, closed) = defaults(kind, table);
    let owned = |list: &[&str], minus: Option<&Vec<String>>| -> Vec<String> {
        list.iter()
            .filter(|s| minus.is_none_or(|m| !contains(m, s)))
            .map(|s| (*s).to_owned())
            .collect()
    };
    KnownStates {
        open: rules
            .open_states
            .clone()
            .unwrap_or_else(|| owned(open, rules.closed_states.as_ref())),
        closed: rules
            .closed_states
            .clone()
            .unwrap_or_else(|| owned(closed, rules.open_states.as_ref())),
    }
}

fn contains(list: &[String], state: &str) -> bool {
    list.iter().any(|s| s.eq_ignore_ascii_case(state))
}

/// Refuses a state listed both open and closed, and empty names.
pub(crate) fn validate(rules: &RulesConfig) -> Result<(), String> {
    for (setting, list) in [
        ("open_states", &rules.open_states),
        ("closed_states", &rules.closed_states),
    ] {
        if list.iter().flatten().any(|s| s.trim().is_empty()) {
            return Err(format!("{setting}: states must not be empty"));
        }
    }
    if let (Some(open), Some(closed)) = (&rules.open_states, &rules.closed_states)
        && let Some(both) = open.iter().find(|s| contains(closed, s))
    {
        return Err(format!(
            "state {both:?} is in both open_states and closed_states"
        ));
    }
    Ok(())
}

/// Whether a ticket with these fields is open, closed or in an unknown state after an event of
/// `kind`.
pub fn state_of(
    system: &SystemConfig,
    kind: &TicketEventKind,
    fields: &BTreeMap<String, Value>,
) -> TicketStatus {
    if kind.is_closing() {
        return TicketStatus::Closed;
    }
    let state_field = system.rules.state_field_for(&system.kind);
    let Some(value) = field(fields, &state_field).filter(|v| !v.is_null()) else {
        return TicketStatus::Open;
    };
    let candidates = candidates(value);
    if candidates.is_empty() {
        return TicketStatus::Open;
    }
    let table = (system.kind == SystemKind::ServiceNow)
        .then(|| {
            fields
                .get("table")
                .or_else(|| fields.get("sys_class_name"))
                .and_then(scalar)
        })
        .flatten();
    let known = known(&system.rules, &system.kind, table.as_deref());
    let any_in = |list: &[String]| candidates.iter().any(|c| contains(list, c));
    if any_in(&known.closed) {
        TicketStatus::Closed
    } else if any_in(&known.open) {
        TicketStatus::Open
    } else {
        let name = if system.name.is_empty() {
            "<system>"
        } else {
            system.name.as_str()
        };
        TicketStatus::Unknown(UnknownState {
            value: candidates
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(" / "),
            field: state_field,
            table,
            setting: format!("jit.systems.{name}.rules.open_states or closed_states"),
        })
    }
}

/// The texts a state value can match: a scalar, or an object's `value`, `display_value`, `key`
/// and `name`.
fn candidates(v: &Value) -> Vec<String> {
    match v {
        Value::Object(o) => ["value", "display_value", "key", "name"]
            .iter()
            .filter_map(|k| o.get(*k).and_then(scalar))
            .fold(Vec::new(), |mut acc, c| {
                if !acc.contains(&c) {
                    acc.push(c);
                }
                acc
            }),
        other => scalar(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    fn snow() -> SystemConfig {
        SystemConfig::new(SystemKind::ServiceNow, "0123456789abcdef")
    }

    fn status(s: &SystemConfig, v: Value) -> TicketStatus {
        state_of(s, &TicketEventKind::Updated, &fields(v))
    }

    #[test]
    fn servicenow_codes_labels_and_reference_objects() {
        let s = snow();
        assert_eq!(status(&s, json!({"state": "2"})), TicketStatus::Open);
        assert_eq!(status(&s, json!({"state": 2})), TicketStatus::Open);
        assert_eq!(
            status(&s, json!({"state": "In Progress"})),
            TicketStatus::Open
        );
        assert_eq!(
            status(&s, json!({"state": "in progress"})),
            TicketStatus::Open
        );
        assert_eq!(
            status(
                &s,
                json!({"state": {"value": "2", "display_value": "In Progress"}})
            ),
            TicketStatus::Open
        );
        assert_eq!(status(&s, json!({"state": "7"})), TicketStatus::Closed);
        assert_eq!(
            status(&s, json!({"state": "Canceled"})),
            TicketStatus::Closed
        );
        let TicketStatus::Unknown(u) = status(&s, json!({"state": "9"})) else {
            panic!()
        };
        assert_eq!(u.value, "\"9\"");
        assert!(
            u.to_string().contains("open_states or closed_states"),
            "{u}"
        );
        assert_eq!(
            status(&s, json!({"number": "INC1"})),
            TicketStatus::Open,
            "no state"
        );
        assert_eq!(
            state_of(
                &s,
                &TicketEventKind::Cancelled,
                &fields(json!({"state": "9"}))
            ),
            TicketStatus::Closed
        );
    }

    #[test]
    fn the_case_table_has_its_own_states() {
        let s = snow();
        let case = |state: Value| json!({"table": CASE_TABLE, "state": state});
        assert_eq!(status(&s, case(json!("10"))), TicketStatus::Open);
        assert_eq!(status(&s, case(json!("18"))), TicketStatus::Open);
        assert_eq!(status(&s, case(json!("Awaiting Info"))), TicketStatus::Open);
        assert_eq!(
            status(&s, case(json!("3"))),
            TicketStatus::Closed,
            "3 is Closed"
        );
        assert_eq!(
            status(&s, json!({"table": "incident", "state": "3"})),
            TicketStatus::Open,
            "3 is On Hold for incidents"
        );
        assert!(status(&s, case(json!("8"))).unknown().is_some());
        assert!(
            status(&s, json!({"table": "problem", "state": "2"}))
                .unknown()
                .is_some(),
            "another table has no defaults"
        );
    }

    #[test]
    fn configured_lists_replace_their_side() {
        let mut s = snow();
        s.rules.closed_states = Some(vec!["3".into(), "6".into(), "7".into()]);
        let k = known(&s.rules, &s.kind, None);
        assert!(
            !k.open.contains(&"3".to_owned()),
            "closed wins over the default"
        );
        assert!(k.open.contains(&"2".to_owned()));
        assert_eq!(
            status(&s, json!({"state": "8"}))
                .unknown()
                .map(|u| u.value.as_str()),
            Some("\"8\"")
        );
        s.rules.open_states = Some(vec!["3".into()]);
        assert!(validate(&s.rules).unwrap_err().contains("\"3\""));
        s.rules.open_states = Some(vec![" ".into()]);
        assert!(validate(&s.rules).is_err());
    }

    #[test]
    fn jira_and_generic() {
        let jira = SystemConfig::new(SystemKind::Jira, "0123456789abcdef");
        let cat = |k: &str| json!({"status": {"name": "X", "statusCategory": {"key": k}}});
        assert_eq!(status(&jira, cat("indeterminate")), TicketStatus::Open);
        assert_eq!(status(&jira, cat("done")), TicketStatus::Closed);
        assert!(status(&jira, cat("undefined")).unknown().is_some());
        let generic = SystemConfig::new(SystemKind::Generic, "0123456789abcdef");
        assert_eq!(
            status(&generic, json!({"state": "in_progress"})),
            TicketStatus::Open
        );
        assert_eq!(
            status(&generic, json!({"state": "Closed"})),
            TicketStatus::Closed
        );
        assert!(
            status(&generic, json!({"state": "archived"}))
                .unknown()
                .is_some()
        );
    }
}
