//! The ticket model every adapter produces: one [`TicketEvent`] per accepted webhook, and
//! [`TicketSnapshot`] for reconcile.
//!
//! Adapters (generic, Jira, ServiceNow) only translate payloads into this model; what a ticket
//! means for access is decided by the rules ([`crate::rules`]) and the lifecycle
//! ([`crate::lifecycle`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssf_types::UnixMillis;

ssf_types::open_enum! {
    /// What happened to the ticket, as the ticket system says it (generic `event_type`).
    pub enum TicketEventKind {
        /// Assigned to someone (also: assigned again to the same person, a new assignment).
        Assigned = "assigned",
        /// Moved from one assignee to another.
        Reassigned = "reassigned",
        /// Resolved: the work is done; access ends.
        Resolved = "resolved",
        /// Closed; access ends.
        Closed = "closed",
        /// Cancelled (or deleted); access ends.
        Cancelled = "cancelled",
        /// Anything else: fields, state or assignee changed.
        Updated = "updated",
    }
}

impl TicketEventKind {
    /// Whether this kind ends the ticket (resolved, closed, cancelled).
    pub fn is_closing(&self) -> bool {
        matches!(self, Self::Resolved | Self::Closed | Self::Cancelled)
    }

    /// Whether this kind is an explicit (re)assignment, which starts a new assignment even for
    /// the same person (a grant that expired may be granted again).
    pub fn is_assignment(&self) -> bool {
        matches!(self, Self::Assigned | Self::Reassigned)
    }
}

/// A person in a ticket system: the assignee or the previous assignee.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// E-mail address, when the system shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The system's user id (Jira `accountId`, ServiceNow `sys_id`, or a user name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name, for logs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Person {
    /// Whether nothing identifies this person.
    pub fn is_empty(&self) -> bool {
        self.email.as_deref().is_none_or(str::is_empty)
            && self.id.as_deref().is_none_or(str::is_empty)
    }

    /// A short label for logs: the e-mail, else the id, else the name.
    pub fn label(&self) -> &str {
        self.email
            .as_deref()
            .or(self.id.as_deref())
            .or(self.name.as_deref())
            .unwrap_or("(unknown)")
    }
}

/// What an event says about the assignee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AssigneeUpdate {
    /// The event does not say; keep what is known.
    #[default]
    Keep,
    /// Nobody is assigned.
    Unassigned,
    /// This person is assigned.
    Person(Person),
}

/// One ticket event, normalized from a webhook (or made up by reconcile and expiry).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEvent {
    /// The configured system name (the `{system}` of the webhook URL).
    pub system: String,
    /// The ticket's id in that system (Jira key, ServiceNow number, ...).
    pub ticket_id: String,
    /// The ticket system's id of this event; part of the emitted `txn`
    /// (`system:ticket:event_id`).
    pub event_id: String,
    /// The replay key of this delivery: recorded durably, a second delivery with the same key
    /// changes nothing.
    pub delivery_id: String,
    /// What happened.
    pub kind: TicketEventKind,
    /// The assignee after the event.
    pub assignee: AssigneeUpdate,
    /// The assignee before the event, when the system says (logs and audit only: the bridge's own
    /// record of who holds the grant is what gets revoked).
    pub previous_assignee: Option<Person>,
    /// Ticket fields after the event (rules read the asset, access level and state from them).
    pub fields: BTreeMap<String, Value>,
    /// Whether `fields` is the whole ticket (Jira, ServiceNow send snapshots) or only what
    /// changed (merged into the known fields).
    pub fields_complete: bool,
    /// When it happened in the ticket system: orders events of one ticket.
    pub occurred_at: UnixMillis,
    /// The ticket system's own order of events of one ticket that share an `occurred_at`
    /// (ServiceNow `sys_mod_count`, Jira `changelog.id`, generic `sequence`); `None` when the
    /// system gives none. See [`crate::lifecycle::transition`] for how ties are broken.
    pub sequence: Option<i64>,
    /// A human label of the ticket when `ticket_id` is not one (Jira: the issue key `SUP-42`,
    /// while `ticket_id` is the stable issue id), for audit rows and logs.
    pub label: Option<String>,
    /// Other ids the same ticket had or has (Jira: its issue key, and the key before a move to
    /// another project). State and grants stored under one of them by an earlier version of the
    /// bridge move to `ticket_id` when the ticket is first seen under it.
    pub aliases: Vec<String>,
}

impl TicketEvent {
    /// `system:ticket:event_id`, the `txn` of every SET this event causes
    /// ([SSF 1.0 §4.1.9](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1.9)).
    pub fn txn(&self) -> String {
        format!("{}:{}:{}", self.system, self.ticket_id, self.event_id)
    }
}

/// An open ticket as a ticket system lists it, for [`reconcile`](crate::Bridge::reconcile).
/// The generic format of one entry:
///
/// ```json
/// {"ticket_id": "SUP-42", "assignee": {"email": "jane@example.com"},
///  "state": "open", "fields": {"customer_id": "C2148"}, "updated_at": "2025-01-01T09:00:00Z"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSnapshot {
    /// The ticket's id.
    pub ticket_id: String,
    /// Its assignee; absent or `null` when nobody is assigned.
    #[serde(default)]
    pub assignee: Option<Person>,
    /// Its state, when the rules map states (else every listed ticket is open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// Its fields.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// When it last changed (RFC 3339 or epoch seconds); a ticket event the bridge saw after
    /// this time wins over the snapshot. Absent: the snapshot is taken as current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Value>,
}
