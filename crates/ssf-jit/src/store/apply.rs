//! The transactional core: a ticket event (or an expiry) -> ticket state, grant rows, the
//! effective access per (user, asset), queued events and audit rows, on one connection inside
//! one transaction opened by the caller.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::AnyConnection;
use ssf_types::UnixMillis;

use super::{
    settle::settle,
    sql::{
        active_of_ticket, audit, end_grant, load_ticket, no_renewal, record_delivery, save_ticket,
    },
};
use crate::{
    config::{JitConfig, SystemConfig},
    error::JitError,
    lifecycle::{self, ActiveGrant, EndReason, GrantChange, Transition},
    rules::{self, NoGrant},
    ticket::TicketEvent,
};

/// What became of a ticket event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Applied (possibly with no grant change).
    Applied,
    /// Its delivery id was seen before: nothing changed.
    Duplicate,
    /// Older than the newest event applied to the ticket: nothing changed.
    Stale,
}

/// How much a ticket event may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intake {
    /// Within the system's `max_age`: grants and revokes.
    #[default]
    Fresh,
    /// Older than the system's `max_age` (yet authenticated): it is applied where it takes
    /// access away (close, unassign, reassign, a lower level) and grants nothing, so a late
    /// revoke is never dropped and a replayed assignment never opens access.
    Late,
}

/// One grant change and the event it queued, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `grant`, `access_change`, `revoke` or `expire`.
    pub action: &'static str,
    /// The grant.
    pub grant_id: String,
    /// The user.
    pub subject_key: String,
    /// The asset, `type:id`.
    pub asset: String,
    /// The level (grants and access changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// Why it ended (revokes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The result of applying one ticket event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Applied, duplicate or stale.
    pub outcome: ApplyOutcome,
    /// The `txn` of the events it caused (`system:ticket:event`).
    pub txn: String,
    /// Why the ticket calls for no grant (code and text), when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_grant: Option<(String, String)>,
    /// Grant changes.
    pub changes: Vec<Change>,
    /// Events queued for the transmitter.
    pub events_queued: usize,
}

/// A (user, asset) pair.
pub(super) type Key = (String, String, String);

/// Why events are queued: the ticket, the `txn` and a text for `reason_admin`.
pub(super) struct Cause<'a> {
    pub(super) system: &'a str,
    pub(super) ticket: &'a str,
    pub(super) txn: &'a str,
    pub(super) text: String,
}

pub(super) async fn apply_event(
    conn: &mut AnyConnection,
    config: &JitConfig,
    system: &SystemConfig,
    event: &TicketEvent,
    record: bool,
    intake: Intake,
    now: UnixMillis,
) -> Result<ApplyReport, JitError> {
    let txn = event.txn();
    let (sys, ticket) = (event.system.as_str(), event.ticket_id.as_str());
    let mut report = ApplyReport {
        outcome: ApplyOutcome::Applied,
        txn: txn.clone(),
        no_grant: None,
        changes: Vec::new(),
        events_queued: 0,
    };
    if record
        && !record_delivery(conn, sys, &event.delivery_id, Some(ticket), "applied", now).await?
    {
        let detail = json!({"delivery_id": event.delivery_id});
        audit(
            conn,
            now,
            Some(sys),
            Some(ticket),
            Some(&txn),
            "duplicate",
            None,
            None,
            &detail,
        )
        .await?;
        report.outcome = ApplyOutcome::Duplicate;
        return Ok(report);
    }
    let mut prev = load_ticket(conn, sys, ticket).await?;
    if prev.is_none() && adopt_alias(conn, event, &txn, now).await? {
        prev = load_ticket(conn, sys, ticket).await?;
    }
    let state = match lifecycle::transition(system, prev.as_ref(), event) {
        Transition::Stale { known_at } => {
            sqlx::query("UPDATE jit_deliveries SET outcome = 'stale' WHERE system = $1 AND delivery_id = $2")
                .bind(sys)
                .bind(&event.delivery_id)
                .execute(&mut *conn)
                .await?;
            let detail = json!({"kind": event.kind, "occurred_at": event.occurred_at.0, "newest_known": known_at.0});
            audit(
                conn,
                now,
                Some(sys),
                Some(ticket),
                Some(&txn),
                "stale",
                None,
                None,
                &detail,
            )
            .await?;
            tracing::info!(
                system = sys,
                ticket,
                txn,
                "ticket event older than what is known; ignored"
            );
            report.outcome = ApplyOutcome::Stale;
            return Ok(report);
        }
        Transition::Apply(state) => state,
    };
    save_ticket(conn, sys, ticket, &state, now).await?;
    let detail = json!({
        "kind": event.kind, "event_id": event.event_id, "delivery_id": event.delivery_id,
        "occurred_at": event.occurred_at.0, "open": state.open,
        "assignee": state.assignee.as_ref().map(|p| p.label().to_owned()),
        "previous_assignee": event.previous_assignee.as_ref().map(|p| p.label().to_owned()),
    });
    audit(
        conn,
        now,
        Some(sys),
        Some(ticket),
        Some(&txn),
        "ticket_event",
        None,
        None,
        &detail,
    )
    .await?;

    if let Some(unknown) = &state.unknown_state {
        tracing::warn!(
            system = sys,
            ticket,
            txn,
            state = unknown.value,
            field = unknown.field,
            table = unknown.table,
            "ticket state is neither open nor closed; it counts as not open: add it to {}",
            unknown.setting
        );
        metrics::counter!("ssf_jit_unknown_states_total", "system" => sys.to_owned()).increment(1);
        let detail = json!({"value": unknown.value, "field": unknown.field, "table": unknown.table, "setting": unknown.setting});
        audit(
            conn,
            now,
            Some(sys),
            Some(ticket),
            Some(&txn),
            "unknown_state",
            None,
            None,
            &detail,
        )
        .await?;
    }
    let desired = if state.conflict {
        tracing::warn!(
            system = sys,
            ticket,
            txn,
            "two ticket events of the same time disagree and carry no sequence; access withheld until a newer event"
        );
        Err(NoGrant::OrderConflict)
    } else {
        rules::desired_for(system, &state)
    };
    if let Err(why) = &desired {
        if *why != NoGrant::Closed {
            tracing::info!(system = sys, ticket, reason = %why, "ticket accepted without a grant");
        }
        report.no_grant = Some((why.code().to_owned(), why.to_string()));
        let detail = json!({"reason": why.code(), "text": why.to_string()});
        audit(
            conn,
            now,
            Some(sys),
            Some(ticket),
            Some(&txn),
            "no_grant",
            None,
            None,
            &detail,
        )
        .await?;
    }
    let active = active_of_ticket(conn, sys, ticket).await?;
    let cause = Cause {
        system: sys,
        ticket,
        txn: &txn,
        text: format!("{sys} ticket {ticket}: {}", event.kind),
    };
    let mut touched: Vec<Key> = Vec::new();
    let mut changes = lifecycle::diff(&active, &desired);
    if intake == Intake::Late {
        let refused = withhold_increases(&mut changes, &active, config);
        if refused > 0 {
            let why = NoGrant::TooOld;
            tracing::warn!(
                system = sys,
                ticket,
                txn,
                refused,
                "late ticket webhook: grants refused, revokes applied"
            );
            report.no_grant = Some((why.code().to_owned(), why.to_string()));
            let detail =
                json!({"reason": why.code(), "text": why.to_string(), "refused_changes": refused});
            audit(
                conn,
                now,
                Some(sys),
                Some(ticket),
                Some(&txn),
                "no_grant",
                None,
                None,
                &detail,
            )
            .await?;
        }
    }
    for change in changes {
        match change {
            GrantChange::Create(want) => {
                let assigned_at = state.assigned_at.unwrap_or(event.occurred_at);
                let key = (
                    want.subject_key.clone(),
                    want.asset_type.clone(),
                    want.asset_id.clone(),
                );
                if let Some(stop) = no_renewal(conn, sys, ticket, &key, assigned_at).await? {
                    report.no_grant = Some((stop.code().to_owned(), stop.text().to_owned()));
                    let detail = json!({"reason": stop.code(), "assigned_at": assigned_at.0});
                    audit(
                        conn,
                        now,
                        Some(sys),
                        Some(ticket),
                        Some(&txn),
                        "no_grant",
                        Some(&key.0),
                        Some(&asset(&key)),
                        &detail,
                    )
                    .await?;
                    continue;
                }
                let grant_id = uuid::Uuid::new_v4().simple().to_string();
                let max = i64::try_from(system.rules.max_duration.as_millis()).unwrap_or(i64::MAX);
                let expires_at = now.plus_millis(max);
                let subject = serde_json::to_string(&Value::Object(want.subject.to_json()))
                    .map_err(|e| JitError::Internal(e.into()))?;
                let claim_names = serde_json::to_string(&system.rules.claims)
                    .map_err(|e| JitError::Internal(e.into()))?;
                sqlx::query(
                    "INSERT INTO jit_grants (grant_id, system, ticket_id, subject_key, subject, asset_type, asset_id, \
                     access, claim_names, assigned_at, granted_at, expires_at, status, grant_txn) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', $13)",
                )
                .bind(&grant_id)
                .bind(sys)
                .bind(ticket)
                .bind(&want.subject_key)
                .bind(&subject)
                .bind(&want.asset_type)
                .bind(&want.asset_id)
                .bind(&want.access)
                .bind(&claim_names)
                .bind(assigned_at.0)
                .bind(now.0)
                .bind(expires_at.0)
                .bind(&txn)
                .execute(&mut *conn)
                .await?;
                let detail = json!({"grant_id": grant_id, "access": want.access, "expires_at": expires_at.0});
                audit(
                    conn,
                    now,
                    Some(sys),
                    Some(ticket),
                    Some(&txn),
                    "grant",
                    Some(&key.0),
                    Some(&asset(&key)),
                    &detail,
                )
                .await?;
                report.changes.push(Change {
                    action: "grant",
                    grant_id,
                    subject_key: key.0.clone(),
                    asset: asset(&key),
                    access: Some(want.access),
                    reason: None,
                });
                touched.push(key);
            }
            GrantChange::ChangeAccess { grant_id, access } => {
                sqlx::query("UPDATE jit_grants SET access = $1 WHERE grant_id = $2")
                    .bind(&access)
                    .bind(&grant_id)
                    .execute(&mut *conn)
                    .await?;
                let key = key_of(&active, &grant_id)?;
                let detail = json!({"grant_id": grant_id, "access": access});
                audit(
                    conn,
                    now,
                    Some(sys),
                    Some(ticket),
                    Some(&txn),
                    "access_change",
                    Some(&key.0),
                    Some(&asset(&key)),
                    &detail,
                )
                .await?;
                report.changes.push(Change {
                    action: "access_change",
                    grant_id,
                    subject_key: key.0.clone(),
                    asset: asset(&key),
                    access: Some(access),
                    reason: None,
                });
                touched.push(key);
            }
            GrantChange::End { grant_id, reason } => {
                let key = key_of(&active, &grant_id)?;
                end_grant(conn, &grant_id, "revoked", &reason, &txn, now).await?;
                let detail = json!({"grant_id": grant_id, "reason": reason.code()});
                audit(
                    conn,
                    now,
                    Some(sys),
                    Some(ticket),
                    Some(&txn),
                    "revoke",
                    Some(&key.0),
                    Some(&asset(&key)),
                    &detail,
                )
                .await?;
                report.changes.push(Change {
                    action: "revoke",
                    grant_id,
                    subject_key: key.0.clone(),
                    asset: asset(&key),
                    access: None,
                    reason: Some(reason.code().to_owned()),
                });
                touched.push(key);
            }
        }
    }
    for key in dedup(touched) {
        if settle(conn, config, &key, &cause, now).await? {
            report.events_queued += 1;
        }
    }
    Ok(report)
}

/// Ends every active grant due at `now` and settles what follows.
pub(super) async fn expire_due(
    conn: &mut AnyConnection,
    config: &JitConfig,
    now: UnixMillis,
) -> Result<Vec<Change>, JitError> {
    let due: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT grant_id, system, ticket_id, subject_key, asset_type, asset_id FROM jit_grants \
         WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at, grant_id",
    )
    .bind(now.0)
    .fetch_all(&mut *conn)
    .await?;
    let mut changes = Vec::new();
    for (grant_id, sys, ticket, subject_key, asset_type, asset_id) in due {
        let txn = format!("{sys}:{ticket}:expired-{grant_id}");
        let key = (subject_key, asset_type, asset_id);
        end_grant(conn, &grant_id, "expired", &EndReason::Expired, &txn, now).await?;
        let detail = json!({"grant_id": grant_id});
        audit(
            conn,
            now,
            Some(&sys),
            Some(&ticket),
            Some(&txn),
            "expire",
            Some(&key.0),
            Some(&asset(&key)),
            &detail,
        )
        .await?;
        tracing::info!(
            system = sys,
            ticket,
            subject = key.0,
            asset = asset(&key),
            "grant reached its maximum duration"
        );
        let cause = Cause {
            system: &sys,
            ticket: &ticket,
            txn: &txn,
            text: format!("{sys} ticket {ticket}: maximum grant duration reached"),
        };
        settle(conn, config, &key, &cause, now).await?;
        changes.push(Change {
            action: "expire",
            grant_id,
            subject_key: key.0.clone(),
            asset: asset(&key),
            access: None,
            reason: Some("expired".to_owned()),
        });
    }
    Ok(changes)
}

/// Drops the changes of a late event that would give access (a new grant, a higher level);
/// returns how many.
fn withhold_increases(
    changes: &mut Vec<GrantChange>,
    active: &[ActiveGrant],
    config: &JitConfig,
) -> usize {
    let before = changes.len();
    changes.retain(|c| match c {
        GrantChange::Create(_) => false,
        GrantChange::ChangeAccess { grant_id, access } => {
            let current = active.iter().find(|g| &g.grant_id == grant_id);
            current.is_some_and(|g| {
                config.rank_for(&g.asset_type, access) < config.rank_for(&g.asset_type, &g.access)
            })
        }
        GrantChange::End { .. } => true,
    });
    before - changes.len()
}

/// Moves a ticket known under one of `event.aliases` (e.g. a Jira issue key, stored by an
/// earlier version of the bridge or before the issue moved) to `event.ticket_id`, so that its
/// grants follow it. Called only when nothing is stored under `ticket_id`; `true` when a
/// ticket moved.
async fn adopt_alias(
    conn: &mut AnyConnection,
    event: &TicketEvent,
    txn: &str,
    now: UnixMillis,
) -> Result<bool, JitError> {
    let (sys, ticket) = (event.system.as_str(), event.ticket_id.as_str());
    for alias in event.aliases.iter().filter(|a| a.as_str() != ticket) {
        let moved = sqlx::query(
            "UPDATE jit_tickets SET ticket_id = $1 WHERE system = $2 AND ticket_id = $3",
        )
        .bind(ticket)
        .bind(sys)
        .bind(alias)
        .execute(&mut *conn)
        .await?;
        if moved.rows_affected() == 0 {
            continue;
        }
        sqlx::query("UPDATE jit_grants SET ticket_id = $1 WHERE system = $2 AND ticket_id = $3")
            .bind(ticket)
            .bind(sys)
            .bind(alias)
            .execute(&mut *conn)
            .await?;
        let detail = json!({"from": alias, "to": ticket, "label": event.label});
        audit(
            conn,
            now,
            Some(sys),
            Some(ticket),
            Some(txn),
            "ticket_renamed",
            None,
            None,
            &detail,
        )
        .await?;
        tracing::info!(
            system = sys,
            from = alias,
            to = ticket,
            "ticket known under another id: its state and grants follow it"
        );
        return Ok(true);
    }
    Ok(false)
}

pub(super) fn asset(key: &Key) -> String {
    format!("{}:{}", key.1, key.2)
}

fn dedup(keys: Vec<Key>) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::with_capacity(keys.len());
    for k in keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

fn key_of(active: &[ActiveGrant], grant_id: &str) -> Result<Key, JitError> {
    active
        .iter()
        .find(|g| g.grant_id == grant_id)
        .map(|g| {
            (
                g.subject_key.clone(),
                g.asset_type.clone(),
                g.asset_id.clone(),
            )
        })
        .ok_or_else(|| {
            JitError::Internal(format!("grant {grant_id} vanished inside its transaction").into())
        })
}
