//! Access: `GET /console/access` (the JIT grants with their ticket and expiry; a ticket's audit
//! trail with `?ticket=system:id`), `POST /console/access/revoke` (revoke a grant by hand: the
//! bridge records it and sends the revoke SET) and `GET /console/access/explain` ("why was this
//! denied" for a subject and an asset: the engine's decision now, the SET and rule behind it,
//! and the receiver's audit entry of that SET).

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use ssf_jit::store::GrantStatus;

use super::{done_query, receiver::SetRow};
use crate::{
    ConsoleError, ConsoleState,
    session::Session,
    view::{Frame, ago, at, maybe_at},
};

/// One grant.
#[derive(Debug)]
struct GrantRowView {
    id: String,
    ticket: String,
    ticket_query: String,
    user: String,
    asset: String,
    access: String,
    granted: String,
    expires: String,
    expires_in: String,
    status: String,
    active: bool,
    ended: String,
}

/// One audit row of the bridge.
#[derive(Debug)]
struct TicketAuditRow {
    at: String,
    action: String,
    txn: String,
    user: String,
    asset: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    frame: Frame,
    bridge: bool,
    engine: bool,
    grants: Vec<GrantRowView>,
    show_all: bool,
    ticket: String,
    trail: Vec<TicketAuditRow>,
    levels: Vec<String>,
}

/// `?all=1`, `?ticket=system:id`, `?done=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccessQuery {
    all: Option<String>,
    ticket: Option<String>,
    done: Option<String>,
}

fn levels(state: &ConsoleState) -> Vec<String> {
    state
        .sources
        .engine
        .as_ref()
        .map(|e| e.config().access.access_levels.clone())
        .unwrap_or_default()
}

/// `GET /console/access`.
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(q): Query<AccessQuery>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let show_all = q.all.is_some();
    let ticket = q.ticket.unwrap_or_default().trim().to_owned();
    let (mut grants, mut trail) = (Vec::new(), Vec::new());
    if let Some(bridge) = &state.sources.bridge {
        for g in bridge.store().grants(!show_all).await? {
            let ticket = format!("{}:{}", g.system, g.ticket_id);
            grants.push(GrantRowView {
                ticket_query: super::encode(&ticket),
                ticket,
                id: g.grant_id,
                user: subject_text(&g.subject, &g.subject_key),
                asset: format!("{}:{}", g.asset_type, g.asset_id),
                access: g.access,
                granted: at(g.granted_at),
                expires: at(g.expires_at),
                expires_in: ago(now, g.expires_at),
                active: g.status == GrantStatus::Active,
                status: status_text(g.status).to_owned(),
                ended: match (g.ended_at, g.end_reason) {
                    (Some(t), Some(r)) => format!("{} ({r})", at(t)),
                    (t, _) => maybe_at(t),
                },
            });
        }
        if let Some((system, id)) = ticket.split_once(':') {
            trail = bridge
                .store()
                .audit(Some((system, id)))
                .await?
                .into_iter()
                .map(|r| TicketAuditRow {
                    at: at(r.at),
                    action: r.action,
                    txn: r.txn.unwrap_or_default(),
                    user: r.subject_key.unwrap_or_default(),
                    asset: r.asset.unwrap_or_default(),
                    detail: r.detail.to_string(),
                })
                .collect();
        }
    }
    let page = AccessPage {
        frame: Frame::new(&state, &session, "access").with_flash(q.done),
        bridge: state.sources.bridge.is_some(),
        engine: state.sources.engine.is_some(),
        grants,
        show_all,
        ticket,
        trail,
        levels: levels(&state),
    };
    Ok(Html(page.render()?).into_response())
}

fn status_text(status: GrantStatus) -> &'static str {
    match status {
        GrantStatus::Active => "active",
        GrantStatus::Revoked => "revoked",
        GrantStatus::Expired => "expired",
    }
}

/// The user of a grant: its e-mail when the subject has one, else its key.
fn subject_text(subject: &Value, key: &str) -> String {
    ["email", "sub", "id"]
        .iter()
        .find_map(|m| subject.get(m).and_then(Value::as_str))
        .map_or_else(|| key.to_owned(), str::to_owned)
}

/// The revoke form.
#[derive(Debug, Deserialize)]
pub(crate) struct RevokeForm {
    csrf: String,
    grant_id: String,
    reason: String,
}

/// `POST /console/access/revoke`.
pub(crate) async fn revoke(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    let bridge = state
        .sources
        .bridge
        .as_ref()
        .ok_or(ConsoleError::RoleMissing(
            "this server runs no ticket bridge",
        ))?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(ConsoleError::BadRequest(
            "say why the grant is revoked: the reason goes into the audit trail".to_owned(),
        ));
    }
    let revoked = bridge
        .revoke_by_hand(form.grant_id.trim(), "console", reason)
        .await?;
    let grant = &revoked.grant;
    tracing::info!(grant_id = %grant.grant_id, ticket = %grant.ticket_id, txn = %revoked.txn, "console: grant revoked by hand");
    let mut message = format!(
        "Grant {} ({}:{}) revoked (txn {}); ",
        grant.grant_id, grant.system, grant.ticket_id, revoked.txn
    );
    if revoked.events_queued > 0 {
        message.push_str("the revoke SET is on its way to the transmitter.");
    } else {
        message.push_str("no event was needed.");
    }
    if !revoked.still_granted_by.is_empty() {
        let others: Vec<String> = revoked
            .still_granted_by
            .iter()
            .map(|g| format!("{}:{}", g.system, g.ticket_id))
            .collect();
        message.push_str(&format!(
            " The user keeps access through {}: revoke those too to end it.",
            others.join(", ")
        ));
    }
    Ok(Redirect::to(&format!("/console/access?{}", done_query(&message))).into_response())
}

/// The "why" form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExplainQuery {
    subject: Option<String>,
    roles: Option<String>,
    asset_type: Option<String>,
    asset_id: Option<String>,
    access: Option<String>,
}

/// The answer to "why".
#[derive(Debug)]
struct Verdict {
    allowed: bool,
    reason: String,
    message: String,
    rule: String,
    jti: String,
    iss: String,
    txn: String,
    critical: String,
    audit: Option<SetRow>,
}

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    frame: Frame,
    subject: String,
    roles: String,
    asset_type: String,
    asset_id: String,
    access: String,
    levels: Vec<String>,
    verdict: Option<Verdict>,
}

/// `GET /console/access/explain`.
pub(crate) async fn explain(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(q): Query<ExplainQuery>,
) -> Result<Response, ConsoleError> {
    let engine = state
        .sources
        .engine
        .as_ref()
        .ok_or(ConsoleError::RoleMissing(
            "this server runs no enforcement engine ([enforce])",
        ))?;
    let text = |v: Option<String>| v.unwrap_or_default().trim().to_owned();
    let (subject, roles) = (text(q.subject), text(q.roles));
    let (asset_type, asset_id, access) = (text(q.asset_type), text(q.asset_id), text(q.access));
    let verdict = if subject.is_empty() {
        None
    } else {
        let mut claims = Map::new();
        let member = if subject.contains('@') {
            "email"
        } else {
            "sub"
        };
        claims.insert(member.to_owned(), json!(subject));
        let role_list: Vec<&str> = roles
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect();
        claims.insert("roles".to_owned(), json!(role_list));
        let mut request = engine.request_from_claims(&claims);
        if !asset_type.is_empty() && !asset_id.is_empty() {
            request = request.with_resource(asset_type.clone(), asset_id.clone());
        }
        if !access.is_empty() {
            request = request.with_access(access.clone());
        }
        let decision = engine.decide(&request);
        let audit = match (&state.sources.receiver, decision.cause()) {
            (Some(rx), Some(cause)) => {
                ssf_enforce::explain::audit_for_cause(rx.store.as_ref(), cause).await?
            }
            _ => None,
        };
        let cause = decision.cause();
        Some(Verdict {
            allowed: decision.is_allowed(),
            reason: decision.reason().as_str().to_owned(),
            message: decision.message().to_owned(),
            rule: cause
                .map(|c| c.rule.as_str().to_owned())
                .unwrap_or_default(),
            jti: cause.map(|c| c.jti.clone()).unwrap_or_default(),
            iss: cause.map(|c| c.iss.clone()).unwrap_or_default(),
            txn: cause.and_then(|c| c.txn.clone()).unwrap_or_default(),
            critical: decision
                .critical()
                .map(|c| match c.setting() {
                    Some(s) => format!("{} (setting {s})", c.message()),
                    None => c.message().to_owned(),
                })
                .unwrap_or_default(),
            audit: audit.as_ref().map(SetRow::of),
        })
    };
    let page = ExplainPage {
        frame: Frame::new(&state, &session, "access"),
        subject,
        roles,
        asset_type,
        asset_id,
        access,
        levels: levels(&state),
        verdict,
    };
    Ok(Html(page.render()?).into_response())
}
