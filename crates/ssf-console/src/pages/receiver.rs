//! `GET /console/receiver`: the receiver's peers (its streams at each transmitter) with their
//! health, the SETs it saw lately with their verification outcome (rejected and duplicate ones
//! too, from memory), and the audit trail of the SETs it applied (durable), newest first; both
//! searchable by subject (an e-mail address or a subject key) and `jti`.

use askama::Template;
use axum::{
    Extension,
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;
use ssf_enforce::{HandleKey, handle::member};
use ssf_receiver::{
    peers::PeerState,
    recent::{RecentFilter, RecentOutcome, RecentSet},
};
use ssf_store::{AuditEntry, receiver::ReceiverAuditQuery};

use crate::{
    ConsoleError, ConsoleState,
    session::Session,
    view::{Frame, ago, at, maybe_at, status_class},
};

/// Entries shown at most.
const MAX_ENTRIES: u32 = 100;

/// One configured peer's set-up.
#[derive(Debug)]
struct SetupRow {
    peer: String,
    state: &'static str,
    state_class: &'static str,
    problem: String,
}

/// One peer stream.
#[derive(Debug)]
struct PeerRow {
    key: String,
    peer: String,
    issuer: String,
    stream_id: String,
    delivery: &'static str,
    status: &'static str,
    status_class: &'static str,
    reason: String,
    last_verified: String,
    updated: String,
}

/// One audit entry: a SET the receiver applied (or discarded), with its outcome.
#[derive(Debug)]
pub(crate) struct SetRow {
    pub(crate) at: String,
    pub(crate) peer: String,
    pub(crate) outcome: String,
    pub(crate) outcome_class: &'static str,
    pub(crate) event: String,
    pub(crate) jti: String,
    pub(crate) txn: String,
    pub(crate) detail: String,
}

impl SetRow {
    pub(crate) fn of(entry: &AuditEntry) -> Self {
        let text = |name: &str| {
            entry
                .detail
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let mut rest = entry.detail.clone();
        if let Value::Object(map) = &mut rest {
            for k in ["iss", "jti", "event_type", "txn"] {
                map.remove(k);
            }
        }
        let mut detail = rest.to_string();
        if detail.len() > 300 {
            let mut cut = 300;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
            detail.push('…');
        }
        let event = text("event_type");
        let outcome = entry.action.trim_start_matches("set.").replace('_', " ");
        Self {
            at: at(entry.at),
            peer: entry.actor.clone(),
            outcome_class: match entry.action.as_str() {
                "set.applied" => "ok",
                "set.no_change" => "muted",
                _ => "warn",
            },
            outcome,
            event: event.rsplit('/').next().unwrap_or(&event).to_owned(),
            jti: text("jti"),
            txn: text("txn"),
            detail,
        }
    }
}

/// One SET the receiver saw lately.
#[derive(Debug)]
struct RecentRow {
    at: String,
    peer: String,
    outcome: &'static str,
    outcome_class: &'static str,
    verified: bool,
    event: String,
    jti: String,
    txn: String,
    subject: String,
    why: String,
}

impl RecentRow {
    fn of(set: RecentSet) -> Self {
        let event = set.event_type.unwrap_or_default();
        let why = match (set.err, set.description) {
            (Some(err), Some(d)) => format!("{err}: {d}"),
            (Some(err), None) => err,
            (None, Some(d)) => d,
            (None, None) => String::new(),
        };
        Self {
            at: at(set.at),
            peer: set.peer,
            outcome: set.outcome.as_str(),
            outcome_class: match set.outcome {
                RecentOutcome::Applied => "ok",
                RecentOutcome::NoChange | RecentOutcome::Duplicate => "muted",
                RecentOutcome::Rejected => "bad",
                _ => "warn",
            },
            verified: set.verified,
            event: event.rsplit('/').next().unwrap_or(&event).to_owned(),
            jti: set.jti.unwrap_or_default(),
            txn: set.txn.unwrap_or_default(),
            subject: set.subject.map(|s| s.to_string()).unwrap_or_default(),
            why,
        }
    }
}

#[derive(Template)]
#[template(path = "receiver.html")]
struct ReceiverPage {
    frame: Frame,
    setups: Vec<SetupRow>,
    peers: Vec<PeerRow>,
    recent: Vec<RecentRow>,
    sets: Vec<SetRow>,
    subject: String,
    jti: String,
    searched: bool,
}

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    subject: Option<String>,
    jti: Option<String>,
}

/// The subject key an operator means: an e-mail address becomes the user's e-mail key; anything
/// else is taken as a key (`user|email|...`, `session|opaque|...`).
pub(crate) fn subject_key(input: &str) -> String {
    let input = input.trim();
    if input.contains('@') && !input.contains('|') {
        HandleKey::email(member::USER, input).as_str().to_owned()
    } else {
        input.to_owned()
    }
}

/// `GET /console/receiver`.
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(search): Query<Search>,
) -> Result<Response, ConsoleError> {
    let rx = state
        .sources
        .receiver
        .as_ref()
        .ok_or(ConsoleError::RoleMissing("this server runs no receiver"))?;
    let now = state.clock.now();
    let peers = rx
        .store
        .list_streams()
        .await?
        .into_iter()
        .map(|r| {
            let status = r.stream.status.as_str();
            PeerRow {
                key: r.stream.stream_key,
                peer: r.stream.peer,
                issuer: r.stream.issuer,
                stream_id: r
                    .stream
                    .stream_id
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                delivery: r.stream.delivery.as_str(),
                status,
                status_class: status_class(status),
                reason: r.stream.status_reason.unwrap_or_default(),
                last_verified: maybe_at(r.last_verified_at),
                updated: ago(now, r.updated_at),
            }
        })
        .collect();
    let subject = search.subject.unwrap_or_default().trim().to_owned();
    let jti = search.jti.unwrap_or_default().trim().to_owned();
    let query = ReceiverAuditQuery {
        subject: (!subject.is_empty()).then(|| subject_key(&subject)),
        jti: (!jti.is_empty()).then(|| jti.clone()),
        newest_first: true,
        limit: MAX_ENTRIES,
        ..ReceiverAuditQuery::default()
    };
    let sets = rx
        .store
        .query_audit(query)
        .await?
        .iter()
        .map(SetRow::of)
        .collect();
    let setups = rx
        .peers
        .as_ref()
        .map(|p| p.all())
        .unwrap_or_default()
        .into_iter()
        .map(|(peer, state)| {
            let (label, class) = match &state {
                PeerState::Up => ("up", "ok"),
                PeerState::Starting => ("starting", "warn"),
                _ => ("retrying", "bad"),
            };
            SetupRow {
                peer,
                state: label,
                state_class: class,
                problem: state.check().err().unwrap_or_default(),
            }
        })
        .collect();
    let mut filter = RecentFilter::all().limit(MAX_ENTRIES as usize);
    if !subject.is_empty() {
        filter = filter.subject(subject.clone());
    }
    if !jti.is_empty() {
        filter = filter.jti(jti.clone());
    }
    let recent = rx
        .receiver
        .recent_matching(&filter)
        .into_iter()
        .map(RecentRow::of)
        .collect();
    let page = ReceiverPage {
        frame: Frame::new(&state, &session, "receiver"),
        setups,
        peers,
        recent,
        sets,
        searched: !subject.is_empty() || !jti.is_empty(),
        subject,
        jti,
    };
    Ok(Html(page.render()?).into_response())
}
