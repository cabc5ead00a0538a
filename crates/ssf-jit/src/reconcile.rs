//! Reconcile: compare the open tickets a ticket system lists with the bridge's grants and fix
//! the drift (lost or never-delivered webhooks, a database restored from backup).
//!
//! - an open, assigned ticket about an asset without its grant -> grant;
//! - a ticket the bridge knows differently (other assignee, asset, level, or closed) -> the
//!   same changes a webhook would make;
//! - a grant whose ticket is not in the list -> revoke (the list must be complete for the
//!   system).
//!
//! Idempotent: a second run with the same list changes nothing. A snapshot whose `updated_at`
//! is older than a ticket event already applied is skipped (the event is newer). A grant that
//! reached its maximum duration is not renewed for the same assignment.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::{
    bridge::Bridge,
    error::JitError,
    store::{ApplyOutcome, Change},
    ticket::{AssigneeUpdate, TicketEvent, TicketEventKind, TicketSnapshot},
};

/// What a reconcile run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// The system.
    pub system: String,
    /// Open tickets listed.
    pub listed: usize,
    /// Grants made (open assigned tickets without one).
    pub granted: Vec<Change>,
    /// Grants ended (no open ticket any more, or the ticket changed).
    pub revoked: Vec<Change>,
    /// Access levels changed.
    pub access_changed: Vec<Change>,
    /// Tickets left as they were, with the reason when it is not "already right".
    pub skipped: Vec<(String, String)>,
    /// Events queued for the transmitter.
    pub events_queued: usize,
}

impl ReconcileReport {
    /// Whether the run changed nothing.
    pub fn is_clean(&self) -> bool {
        self.granted.is_empty() && self.revoked.is_empty() && self.access_changed.is_empty()
    }
}

impl Bridge {
    /// Reconciles `system`'s grants with its complete list of open tickets (the generic
    /// [`TicketSnapshot`] format).
    pub async fn reconcile(
        &self,
        system: &str,
        open_tickets: Vec<TicketSnapshot>,
    ) -> Result<ReconcileReport, JitError> {
        let config = self.system(system)?;
        let now = self.clock().now();
        let run = format!("reconcile-{}", now.0);
        let mut report = ReconcileReport {
            system: system.to_owned(),
            listed: open_tickets.len(),
            ..ReconcileReport::default()
        };
        let mut listed = BTreeSet::new();
        for snap in open_tickets {
            let ticket_id = snap.ticket_id.trim().to_owned();
            if ticket_id.is_empty() || !listed.insert(ticket_id.clone()) {
                report
                    .skipped
                    .push((ticket_id, "empty or repeated ticket id".to_owned()));
                continue;
            }
            let known = self.store().ticket(system, &ticket_id).await?;
            let occurred_at = match &snap.updated_at {
                Some(v) => crate::time::parse_json(v).map_err(|why| {
                    JitError::BadPayload(format!("{ticket_id}: updated_at: {why}"))
                })?,
                None => known.as_ref().map_or(now, |k| k.last_event_at.max(now)),
            };
            let mut fields = snap.fields;
            if let Some(state) = snap.state {
                fields.insert(config.rules.state_field_for(&config.kind), state);
            }
            let assignee = match snap.assignee {
                Some(p) if !p.is_empty() => AssigneeUpdate::Person(p),
                _ => AssigneeUpdate::Unassigned,
            };
            let event = TicketEvent {
                system: system.to_owned(),
                ticket_id: ticket_id.clone(),
                event_id: run.clone(),
                delivery_id: run.clone(),
                kind: TicketEventKind::Updated,
                assignee,
                previous_assignee: None,
                fields,
                fields_complete: true,
                occurred_at,
                sequence: None,
                label: None,
                aliases: Vec::new(),
            };
            self.absorb(&event, &mut report).await?;
        }
        for ticket_id in self.store().tickets_with_active_grants(system).await? {
            if listed.contains(&ticket_id) {
                continue;
            }
            let known = self.store().ticket(system, &ticket_id).await?;
            let event = TicketEvent {
                system: system.to_owned(),
                ticket_id: ticket_id.clone(),
                event_id: run.clone(),
                delivery_id: run.clone(),
                kind: TicketEventKind::Closed,
                assignee: AssigneeUpdate::Keep,
                previous_assignee: None,
                fields: Default::default(),
                fields_complete: false,
                occurred_at: known.as_ref().map_or(now, |k| k.last_event_at.max(now)),
                sequence: None,
                label: None,
                aliases: Vec::new(),
            };
            self.absorb(&event, &mut report).await?;
        }
        tracing::info!(
            system,
            listed = report.listed,
            granted = report.granted.len(),
            revoked = report.revoked.len(),
            access_changed = report.access_changed.len(),
            skipped = report.skipped.len(),
            "jit reconcile"
        );
        Ok(report)
    }

    async fn absorb(
        &self,
        event: &TicketEvent,
        report: &mut ReconcileReport,
    ) -> Result<(), JitError> {
        let applied = self.apply(event, false).await?;
        report.events_queued += applied.events_queued;
        if applied.outcome == ApplyOutcome::Stale {
            report.skipped.push((
                event.ticket_id.clone(),
                "a newer ticket event is already applied".to_owned(),
            ));
            return Ok(());
        }
        if applied.changes.is_empty() {
            if let Some((code, _)) = applied.no_grant.filter(|(code, _)| code != "closed") {
                report.skipped.push((event.ticket_id.clone(), code));
            }
            return Ok(());
        }
        for change in applied.changes {
            match change.action {
                "grant" => report.granted.push(change),
                "access_change" => report.access_changed.push(change),
                _ => report.revoked.push(change),
            }
        }
        Ok(())
    }
}

/// Reads a list of open tickets: a JSON array of [`TicketSnapshot`]s, or `{"tickets": [...]}`.
pub fn parse_snapshots(json: &[u8]) -> Result<Vec<TicketSnapshot>, JitError> {
    let value: Value = serde_json::from_slice(json).map_err(|source| JitError::BadJson {
        what: "ticket list",
        source,
    })?;
    let list = match value {
        Value::Object(mut map) => map.remove("tickets").unwrap_or(Value::Null),
        other => other,
    };
    serde_json::from_value(list).map_err(|source| JitError::BadJson {
        what: "ticket list",
        source,
    })
}
