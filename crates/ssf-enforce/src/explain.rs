//! "Why was this denied?": from a [`Decision`]'s cause (the SET's `iss` and `jti`) to the audit
//! entry the receiver stored when it applied that SET (feature `receiver`).
//!
//! The receiver's apply task stores the engine's [`AuditEntry`](crate::AuditEntry) of every new
//! SET in the transaction that records it ([`EnforcementHandler`](crate::EnforcementHandler)'s
//! [`plan_audited`](ssf_receiver::handler::EventHandler::plan_audited)); these functions read it
//! back from the same [`ReceiverStore`], so an app, an HTTP view or a CLI can show the event type,
//! subject, rule, outcome and `txn` behind a 401 or 403, and for a critical asset which rule
//! opened or refused it ([`Explanation::critical`]).
//!
//! ```no_run
//! # async fn demo(engine: &ssf_enforce::Engine, store: &dyn ssf_store::receiver::ReceiverStore,
//! #               request: &ssf_enforce::AccessRequest) -> Result<(), ssf_enforce::EnforceError> {
//! let decision = engine.decide(request);
//! let why = ssf_enforce::explain::explain(store, &decision).await?;
//! if let Some(entry) = &why.audit {
//!     println!("{} because of SET {} ({})", why.reason.as_str(), entry.detail["jti"], entry.detail["rules"]);
//! }
//! # Ok(()) }
//! ```

use ssf_store::{
    AuditEntry,
    receiver::{ReceiverAuditQuery, ReceiverStore},
};

use crate::{
    decision::{CriticalRule, Decision, ReasonCode},
    error::EnforceError,
    row::Cause,
};

/// A decision with the stored audit entry of the SET behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The decision's reason code.
    pub reason: ReasonCode,
    /// The SET and rule behind the decision; `None` when no SET caused it (e.g. a role allows).
    pub cause: Option<Cause>,
    /// For a critical asset: the rule that opened or refused it (a grant, a dynamic or token
    /// group and the setting that let it, or the setting that did not); see
    /// [`CriticalRule::message`] and [`CriticalRule::setting`].
    pub critical: Option<CriticalRule>,
    /// The audit entry stored with that SET; `None` without a cause, or when it was purged
    /// (audit retention) or written by another store.
    pub audit: Option<AuditEntry>,
}

/// The audit entry stored when the receiver applied the SET of `cause` (`iss` and `jti`).
pub async fn audit_for_cause(
    store: &dyn ReceiverStore,
    cause: &Cause,
) -> Result<Option<AuditEntry>, EnforceError> {
    if cause.jti.is_empty() {
        return Ok(None);
    }
    let entries = store
        .query_audit(ReceiverAuditQuery {
            jti: Some(cause.jti.clone()),
            iss: Some(cause.iss.clone()),
            limit: 1,
            ..ReceiverAuditQuery::default()
        })
        .await
        .map_err(EnforceError::Store)?;
    Ok(entries.into_iter().next())
}

/// Explains `decision`: its reason, its cause, and the audit entry of the causing SET.
pub async fn explain(
    store: &dyn ReceiverStore,
    decision: &Decision,
) -> Result<Explanation, EnforceError> {
    let cause = decision.cause().cloned();
    let audit = match &cause {
        Some(cause) => audit_for_cause(store, cause).await?,
        None => None,
    };
    Ok(Explanation {
        reason: decision.reason(),
        cause,
        critical: decision.critical(),
        audit,
    })
}
