//! The grant lifecycle, as pure functions: how a ticket event moves the ticket's known state
//! ([`transition`]), which grant changes that calls for ([`diff`]), and what access a user ends
//! up with on an asset when several tickets grant it ([`effective`]).
//!
//! - assigned -> grant; reassigned -> revoke the old assignee, grant the new; resolved, closed,
//!   cancelled -> revoke; the asset or the access level changing moves the grant.
//! - Events are ordered by the ticket system's own event time, then by its own sequence
//!   (ServiceNow `sys_mod_count`, Jira `changelog.id`) when two share a time. An event older
//!   than the newest one applied is stale and changes nothing: a late "assigned" for a ticket
//!   already closed grants nothing. At equal times without a sequence a close wins, and two
//!   events that disagree on who holds which access grant neither (the ticket is held
//!   [`TicketState::conflict`] until a strictly newer event), so an older assignment never wins
//!   a tie.
//! - A grant that reached its maximum duration is not renewed by later updates of the same
//!   assignment; a new assignment (an explicit assigned/reassigned event, another assignee, or a
//!   reopened ticket) may grant again.
//! - Several open tickets can grant the same user the same asset: the effective grant is the
//!   highest level, and a revoke is only sent when the last of them ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ssf_types::UnixMillis;

use crate::{
    config::SystemConfig,
    rules::{self, NoGrant, Want},
    ticket::{AssigneeUpdate, Person, TicketEvent},
};

/// What the bridge knows of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketState {
    /// Open or closed.
    pub open: bool,
    /// The current assignee.
    pub assignee: Option<Person>,
    /// The known fields.
    pub fields: BTreeMap<String, Value>,
    /// The newest event time applied.
    #[serde(with = "crate::time::millis")]
    pub last_event_at: UnixMillis,
    /// The ticket system's sequence of that newest event, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sequence: Option<i64>,
    /// Two events of the same time, without a sequence to order them, disagreed on the grant:
    /// no grant until a strictly newer event says who holds the ticket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conflict: bool,
    /// When the current assignment began (event time); `None` while unassigned.
    #[serde(with = "crate::time::millis::option")]
    pub assigned_at: Option<UnixMillis>,
    /// The state value when the rules know it as neither open nor closed (then `open` is
    /// false); see [`rules::states`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_state: Option<Box<rules::UnknownState>>,
}

/// The outcome of [`transition`].
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The event is older than what is known; nothing changes.
    Stale {
        /// The newest event time already applied.
        known_at: UnixMillis,
    },
    /// The ticket's new state.
    Apply(TicketState),
}

/// Whether two people are the same (canonical e-mail, see
/// [`canonicalize_email`](ssf_types::subject::canonicalize_email); else id).
pub fn same_person(a: Option<&Person>, b: Option<&Person>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let lower = |p: &Person| {
                p.email.as_deref().map(|e| {
                    ssf_types::subject::canonicalize_email(
                        e.trim(),
                        ssf_types::subject::LocalPartRule::LowerCase,
                    )
                })
            };
            match (lower(a), lower(b)) {
                (Some(x), Some(y)) => x == y,
                _ => a.id.is_some() && a.id == b.id,
            }
        }
        _ => false,
    }
}

/// Where an event stands against the newest one applied to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Strictly older (by time, or by sequence at the same time), or the same version again.
    Older,
    /// Strictly newer.
    Newer,
    /// The same time and no sequence on both sides to tell them apart.
    Tie,
}

fn order(prev: &TicketState, event: &TicketEvent) -> Order {
    match event.occurred_at.cmp(&prev.last_event_at) {
        std::cmp::Ordering::Less => Order::Older,
        std::cmp::Ordering::Greater => Order::Newer,
        std::cmp::Ordering::Equal => match (event.sequence, prev.last_sequence) {
            (Some(e), Some(p)) if e > p => Order::Newer,
            (Some(_), Some(_)) => Order::Older,
            _ => Order::Tie,
        },
    }
}

/// Applies `event` to the known state `prev` of its ticket.
pub fn transition(
    system: &SystemConfig,
    prev: Option<&TicketState>,
    event: &TicketEvent,
) -> Transition {
    let closing = rules::is_closed(system, &event.kind, &event.fields);
    let order = prev.map_or(Order::Newer, |p| order(p, event));
    if let Some(p) = prev {
        let tie_after_close = order == Order::Tie && !p.open && !closing;
        if order == Order::Older || tie_after_close {
            return Transition::Stale {
                known_at: p.last_event_at,
            };
        }
    }
    let fields = match (prev, event.fields_complete) {
        (Some(p), false) => {
            let mut merged = p.fields.clone();
            merged.extend(event.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged
        }
        _ => event.fields.clone(),
    };
    let prev_assignee = prev.and_then(|p| p.assignee.clone());
    let mut assignee = match &event.assignee {
        AssigneeUpdate::Keep => prev_assignee.clone(),
        AssigneeUpdate::Unassigned => None,
        AssigneeUpdate::Person(p) => Some(p.clone()),
    };
    let status = rules::state_of(system, &event.kind, &fields);
    let open = status.is_open();
    // A tie that changes who holds what: which of the two came last is unknown, so neither
    // grants, and the assignee is forgotten so that a later partial update cannot bring back
    // the one that may be older.
    let conflict = match prev {
        Some(p) if order == Order::Tie && open => {
            let before = rules::desired(system, p.open, p.assignee.as_ref(), &p.fields);
            let after = rules::desired(system, open, assignee.as_ref(), &fields);
            p.conflict || (before != after && (before.is_ok() || after.is_ok()))
        }
        _ => false,
    };
    if conflict {
        assignee = None;
    }
    let reopened = open && prev.is_some_and(|p| !p.open);
    let new_assignment = !same_person(prev_assignee.as_ref(), assignee.as_ref())
        || event.kind.is_assignment()
        || reopened
        || prev.is_none();
    let assigned_at = match (&assignee, new_assignment) {
        (None, _) => None,
        (Some(_), true) => Some(event.occurred_at),
        (Some(_), false) => prev.and_then(|p| p.assigned_at).or(Some(event.occurred_at)),
    };
    let last_sequence = match order {
        Order::Tie => event.sequence.or(prev.and_then(|p| p.last_sequence)),
        _ => event.sequence,
    };
    Transition::Apply(TicketState {
        open,
        assignee,
        fields,
        last_event_at: prev.map_or(event.occurred_at, |p| {
            p.last_event_at.max(event.occurred_at)
        }),
        last_sequence,
        conflict,
        assigned_at,
        unknown_state: status.unknown().cloned().map(Box::new),
    })
}

/// An active grant of a ticket, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveGrant {
    /// Its id.
    pub grant_id: String,
    /// The subject key (`email:jane@example.com`).
    pub subject_key: String,
    /// Asset type.
    pub asset_type: String,
    /// Asset id.
    pub asset_id: String,
    /// Access level.
    pub access: String,
    /// When it ends at the latest (epoch ms).
    #[serde(with = "crate::time::millis")]
    pub expires_at: UnixMillis,
}

/// Why a grant ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The ticket closed (resolved, closed, cancelled, or a closed state).
    Closed,
    /// Another person is assigned now.
    Reassigned,
    /// Nobody is assigned now.
    Unassigned,
    /// The ticket is about another asset now.
    AssetChanged,
    /// The ticket no longer qualifies (no asset, no access level, domain not allowed, ...).
    NoLongerQualifies(String),
    /// The maximum grant duration passed.
    Expired,
    /// An operator revoked it by hand (D-JIT-16): who, and why.
    ByHand {
        /// Who revoked it (the console's signed-in operator, the CLI's `--actor`).
        actor: String,
        /// Why, in their words.
        reason: String,
    },
}

impl EndReason {
    /// A short code for audit rows (`closed`, `reassigned`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Reassigned => "reassigned",
            Self::Unassigned => "unassigned",
            Self::AssetChanged => "asset_changed",
            Self::NoLongerQualifies(_) => "no_longer_qualifies",
            Self::Expired => "expired",
            Self::ByHand { .. } => "by_hand",
        }
    }
}

/// One change to a ticket's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantChange {
    /// Start a grant (subject to the expired-assignment check of the store).
    Create(Want),
    /// The same user and asset at another level.
    ChangeAccess {
        /// The grant.
        grant_id: String,
        /// The new level.
        access: String,
    },
    /// End a grant.
    End {
        /// The grant.
        grant_id: String,
        /// Why.
        reason: EndReason,
    },
}

/// The changes that take a ticket's `active` grants to what `desired` calls for.
pub fn diff(active: &[ActiveGrant], desired: &Result<Want, NoGrant>) -> Vec<GrantChange> {
    let mut changes = Vec::new();
    let mut kept = false;
    for g in active {
        let end = |reason| GrantChange::End {
            grant_id: g.grant_id.clone(),
            reason,
        };
        match desired {
            Ok(w)
                if w.subject_key == g.subject_key
                    && w.asset_type == g.asset_type
                    && w.asset_id == g.asset_id
                    && !kept =>
            {
                kept = true;
                if w.access != g.access {
                    changes.push(GrantChange::ChangeAccess {
                        grant_id: g.grant_id.clone(),
                        access: w.access.clone(),
                    });
                }
            }
            Ok(w) if w.subject_key != g.subject_key => changes.push(end(EndReason::Reassigned)),
            Ok(_) => changes.push(end(EndReason::AssetChanged)),
            Err(NoGrant::Closed) => changes.push(end(EndReason::Closed)),
            Err(NoGrant::NoAssignee) => changes.push(end(EndReason::Unassigned)),
            Err(other) => changes.push(end(EndReason::NoLongerQualifies(other.to_string()))),
        }
    }
    if let (Ok(w), false) = (desired, kept) {
        changes.push(GrantChange::Create(w.clone()));
    }
    changes
}

/// The access a user has on an asset from several active grants: the highest level by `rank`
/// (position in `access_levels`), and among those the latest expiry. `None`: no access.
pub fn effective<'a>(
    grants: impl IntoIterator<Item = &'a ActiveGrant>,
    rank: impl Fn(&str) -> Option<usize>,
) -> Option<(&'a ActiveGrant, String, UnixMillis)> {
    grants
        .into_iter()
        .filter_map(|g| rank(&g.access).map(|r| (r, g)))
        .max_by_key(|(r, g)| (*r, g.expires_at))
        .map(|(_, g)| (g, g.access.clone(), g.expires_at))
}

#[cfg(test)]
mod tests;
