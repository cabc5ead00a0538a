//! The engine as the receiver's [`EventHandler`] (feature `receiver`, on by default).
//!
//! The receiver's apply task calls [`plan`](EventHandler::plan) per verified SET, stores the
//! writes with the SET's (`iss`, `jti`) in one transaction, [`commit`](EventHandler::commit)s
//! them to memory, and [`load`](EventHandler::load)s the stored rows at start and after a failed
//! transaction. Store rows are `(kind, key) → (value, event_time)`; the engine's
//! [`Cause`](crate::Cause) rides inside the value ([`StateRow::stored_value`]).

use std::sync::Arc;

use ssf_receiver::handler::{
    EventHandler, Plan as HandlerPlan, PlanAudit, ReceivedSet, StateRow as StoredRow, StateWrite,
};

use crate::{
    engine::Engine,
    event::{EnforcementEvent, EventContext},
    row::{AuditEntry, Effect, Rule, StateRow},
};

/// Hands received SETs to an [`Engine`]. Share the same `Arc<Engine>` with the request path
/// (tower layer, AuthZEN endpoint).
#[derive(Debug, Clone)]
pub struct EnforcementHandler {
    engine: Arc<Engine>,
}

/// An effect as the receiver's store writes it.
pub fn to_write(effect: &Effect) -> StateWrite {
    match effect {
        Effect::Put(row) => StateWrite::Put {
            kind: row.kind().as_str().to_owned(),
            key: row.key.clone(),
            value: row.stored_value(),
            event_time: row.at(),
        },
        Effect::Delete { kind, key, cause } => StateWrite::Delete {
            kind: kind.as_str().to_owned(),
            key: key.clone(),
            event_time: cause.at,
        },
    }
}

/// A store write read back as an effect (`None` for rows of other handlers' kinds or damaged
/// values).
pub fn from_write(write: &StateWrite) -> Option<Effect> {
    match write {
        StateWrite::Put {
            kind,
            key,
            value,
            event_time,
        } => Effect::from_stored(kind, key.clone(), Some(value.clone()), *event_time).ok(),
        StateWrite::Delete {
            kind,
            key,
            event_time,
        } => Effect::from_stored(kind, key.clone(), None, *event_time).ok(),
    }
}

impl EnforcementHandler {
    /// A handler feeding `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The audit entry and writes of one received SET (what [`EventHandler::plan`] returns,
    /// plus the audit the receiver may store beside it). `None` when the SET has no subject
    /// (it was verified, so this is rare; nothing is acted on).
    pub fn plan_with_audit(&self, set: &ReceivedSet) -> Option<(Vec<StateWrite>, AuditEntry)> {
        let subject = set.claims.subject()?.into_owned();
        let event = EnforcementEvent::new(set.event.clone(), subject);
        let ctx = EventContext::from_set(&set.claims)
            .with_stream_id(set.stream_id.as_ref().map(|s| s.as_str().to_owned()));
        let plan = self.engine.plan(&event, &ctx);
        if plan.audit.refused > 0 {
            tracing::warn!(
                iss = %ctx.iss,
                stream_id = ctx.stream_id.as_deref().unwrap_or("-"),
                jti = %ctx.jti,
                refused = plan.audit.refused,
                "token-claims-change: grants or group additions refused, the source is not in \
                 enforce.grants.sources (revokes and group removals were applied)"
            );
        }
        Some((plan.effects.iter().map(to_write).collect(), plan.audit))
    }
}

/// The receiver's audit record of an engine plan: the engine's [`AuditEntry`] (event type,
/// subject, outcome, rules, effect count, note, `jti`, `iss`, `txn`), filed under the canonical
/// subject pattern and each of its handle keys.
pub fn plan_audit(audit: &AuditEntry) -> PlanAudit {
    let detail = match serde_json::to_value(audit) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    PlanAudit {
        detail,
        subjects: audit
            .subject
            .as_deref()
            .map(subject_keys)
            .unwrap_or_default(),
    }
}

/// A canonical subject pattern and every handle key in it (clauses split on `&`, keys on `,`;
/// keys escape both, see [`crate::handle`]), de-duplicated.
pub fn subject_keys(canonical: &str) -> Vec<String> {
    let mut keys = vec![canonical.to_owned()];
    for key in canonical.split(['&', ',']) {
        if !key.is_empty() && !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }
    keys
}

impl EventHandler for EnforcementHandler {
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite> {
        self.plan_with_audit(set)
            .map(|(writes, _)| writes)
            .unwrap_or_default()
    }

    /// The writes with the engine's audit entry. A SET without a usable subject or event body
    /// is audited as `ignored` (nothing acted on).
    fn plan_audited(&self, set: &ReceivedSet) -> HandlerPlan {
        match self.plan_with_audit(set) {
            Some((writes, audit)) => HandlerPlan {
                writes,
                audit: Some(plan_audit(&audit)),
            },
            None => {
                let mut detail = serde_json::Map::new();
                detail.insert("outcome".into(), "ignored".into());
                detail.insert("rules".into(), serde_json::json!([Rule::Ignored]));
                detail.insert(
                    "note".into(),
                    "the subject or event body could not be read".into(),
                );
                HandlerPlan {
                    writes: Vec::new(),
                    audit: Some(PlanAudit {
                        detail,
                        subjects: Vec::new(),
                    }),
                }
            }
        }
    }

    fn commit(&self, writes: &[StateWrite]) {
        let effects: Vec<Effect> = writes.iter().filter_map(from_write).collect();
        self.engine.commit(&effects);
    }

    fn load(&self, rows: Vec<StoredRow>) {
        self.engine.load(
            rows.into_iter()
                .filter_map(|r| StateRow::from_stored(&r.kind, r.key, r.value, r.event_time).ok()),
        );
    }
}
