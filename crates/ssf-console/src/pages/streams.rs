//! The transmitter's streams: `GET /console/streams` (every stream, per receiver, and the
//! signing keys), `GET /console/streams/{id}` (one stream: its outbox by state, its dead letters
//! and failures), `POST .../replay` (deliver parked SETs again) and `POST .../verify` (a
//! verification SET as a test event,
//! [SSF 1.0 §8.1.4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.4)).

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::Value;
use ssf_store::{OutboxCounts, OutboxId, ParkedQuery, ReplaySelector, StreamRecord, SubjectCounts};
use ssf_transmitter::AppState;
use ssf_types::StreamId;

use super::{Done, done_query};
use crate::{
    ConsoleError, ConsoleState,
    session::Session,
    view::{Frame, ago, at, maybe_at, status_class},
};

/// Streams listed at most.
const MAX_STREAMS: u32 = 1000;
/// Parked SETs shown per stream.
const MAX_PARKED: u32 = 100;

/// One stream's row.
#[derive(Debug)]
struct StreamRow {
    id: String,
    client: String,
    status: &'static str,
    status_class: &'static str,
    delivery: &'static str,
    endpoint: String,
    events: usize,
    subjects: String,
    queued: u64,
    parked: u64,
    delivered: u64,
    last_delivered: String,
    failing: Option<String>,
    last_activity: String,
}

/// A signing key's row.
#[derive(Debug)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    since: String,
}

#[derive(Template)]
#[template(path = "streams.html")]
struct StreamsPage {
    frame: Frame,
    streams: Vec<StreamRow>,
    keys: Vec<KeyRow>,
}

fn transmitter(state: &ConsoleState) -> Result<&AppState, ConsoleError> {
    state
        .sources
        .transmitter
        .as_ref()
        .ok_or(ConsoleError::RoleMissing("this server runs no transmitter"))
}

/// The configuration members worth showing (never the push authorization header).
fn delivery_endpoint(config: &Value) -> String {
    config
        .pointer("/delivery/endpoint_url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn events_delivered(config: &Value) -> Vec<String> {
    config
        .get("events_delivered")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|e| e.rsplit('/').next().unwrap_or(e).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A stream's row from its outbox and subject counts, read by the caller: one grouped query for
/// the whole list, not two per stream.
fn row(
    state: &ConsoleState,
    tx: &AppState,
    stream: &StreamRecord,
    counts: OutboxCounts,
    subjects: SubjectCounts,
) -> StreamRow {
    let now = state.clock.now();
    let delivery = tx.delivery_stats().stream(&stream.stream_id);
    let failing = delivery
        .last_error
        .as_ref()
        .filter(|_| delivery.consecutive_failures > 0)
        .map(|e| {
            let detail = e
                .description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            format!(
                "{} failure(s) in a row, last {} {}{detail}",
                delivery.consecutive_failures,
                e.code,
                ago(now, e.at)
            )
        });
    let default = stream.default_subjects.as_str();
    StreamRow {
        id: stream.stream_id.as_str().to_owned(),
        client: stream.client_id.clone(),
        status: stream.status.as_str(),
        status_class: status_class(stream.status.as_str()),
        delivery: stream.delivery.as_str(),
        endpoint: delivery_endpoint(&stream.config),
        events: events_delivered(&stream.config).len(),
        subjects: format!(
            "{default} by default; {} added, {} removed",
            subjects.included, subjects.excluded
        ),
        queued: counts.queued(),
        parked: counts.failed + counts.dead,
        delivered: delivery.delivered,
        last_delivered: delivery
            .last_delivered_at
            .map_or_else(|| "never".to_owned(), |t| ago(now, t)),
        failing,
        last_activity: ago(now, stream.last_activity_at),
    }
}

/// `GET /console/streams`.
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let tx = transmitter(&state)?;
    let (mut counts, mut subjects) = (
        tx.store.outbox_counts_by_stream().await?,
        tx.store.subject_counts_by_stream().await?,
    );
    let mut streams = Vec::new();
    for stream in tx.store.list_all_streams(None, MAX_STREAMS).await? {
        let counts = counts.remove(&stream.stream_id).unwrap_or_default();
        let subjects = subjects.remove(&stream.stream_id).unwrap_or_default();
        streams.push(row(&state, tx, &stream, counts, subjects));
    }
    streams.sort_by(|a, b| a.client.cmp(&b.client).then(a.id.cmp(&b.id)));
    let keys = tx
        .signer()
        .store()
        .keys()?
        .into_iter()
        .map(|k| KeyRow {
            kid: k.kid.as_str().to_owned(),
            alg: k.alg.to_string(),
            state: format!("{:?}", k.state).to_lowercase(),
            since: at(k.state_since),
        })
        .collect();
    let page = StreamsPage {
        frame: Frame::new(&state, &session, "streams").with_flash(done.message()),
        streams,
        keys,
    };
    Ok(Html(page.render()?).into_response())
}

/// A parked SET's row.
#[derive(Debug)]
struct ParkedRow {
    id: i64,
    jti: String,
    state: &'static str,
    attempts: u32,
    error: String,
    created: String,
    parked: String,
}

#[derive(Template)]
#[template(path = "stream.html")]
struct StreamPage {
    frame: Frame,
    stream: StreamRow,
    events: Vec<String>,
    counts: OutboxCounts,
    parked: Vec<ParkedRow>,
    created: String,
    last_verification: String,
    status_reason: String,
}

async fn find(tx: &AppState, raw: &str) -> Result<StreamRecord, ConsoleError> {
    let id = StreamId::new(raw);
    tx.store
        .find_stream(&id)
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("no stream {raw}")))
}

/// `GET /console/streams/{stream_id}`.
pub(crate) async fn detail(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(raw): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let tx = transmitter(&state)?;
    let record = find(tx, &raw).await?;
    let counts = tx.store.outbox_counts(Some(&record.stream_id)).await?;
    let subjects = tx.store.count_subjects(&record.stream_id).await?;
    let parked = tx
        .store
        .list_parked(ParkedQuery {
            stream_id: Some(record.stream_id.clone()),
            state: None,
            after: None,
            limit: MAX_PARKED,
        })
        .await?
        .into_iter()
        .map(|e| ParkedRow {
            id: e.id.0,
            jti: e.jti.as_str().to_owned(),
            state: e.state.as_str(),
            attempts: e.attempts,
            error: e
                .error
                .map(|e| match e.description {
                    Some(d) => format!("{}: {d}", e.code),
                    None => e.code,
                })
                .unwrap_or_default(),
            created: at(e.created_at),
            parked: maybe_at(e.finished_at),
        })
        .collect();
    let page = StreamPage {
        frame: Frame::new(&state, &session, "streams").with_flash(done.message()),
        events: events_delivered(&record.config),
        stream: row(&state, tx, &record, counts, subjects),
        counts,
        parked,
        created: at(record.created_at),
        last_verification: maybe_at(record.last_verification_at),
        status_reason: record.status_reason.clone().unwrap_or_default(),
    };
    Ok(Html(page.render()?).into_response())
}

/// The replay form: one parked SET (`id`), or all of the stream's.
#[derive(Debug, Deserialize)]
pub(crate) struct ReplayForm {
    csrf: String,
    id: Option<i64>,
}

/// `POST /console/streams/{stream_id}/replay`.
pub(crate) async fn replay(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(raw): Path<String>,
    Form(form): Form<ReplayForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    let tx = transmitter(&state)?;
    let record = find(tx, &raw).await?;
    let selector = match form.id {
        Some(id) => {
            // Only a row of this stream: the id comes from the page, but check it.
            let parked = tx
                .store
                .list_parked(ParkedQuery {
                    stream_id: Some(record.stream_id.clone()),
                    state: None,
                    after: Some(OutboxId(id - 1)),
                    limit: 1,
                })
                .await?;
            if parked.first().map(|e| e.id.0) != Some(id) {
                return Err(ConsoleError::NotFound(format!(
                    "SET {id} is not parked on this stream (already replayed?)"
                )));
            }
            ReplaySelector::Ids(vec![OutboxId(id)])
        }
        None => ReplaySelector::Stream(record.stream_id.clone()),
    };
    let replayed = tx.store.replay(selector).await?;
    tracing::info!(stream_id = %record.stream_id, replayed, "console: parked SETs replayed");
    let message = format!("{replayed} SET(s) queued again for delivery.");
    Ok(Redirect::to(&format!(
        "/console/streams/{}?{}",
        record.stream_id.as_str(),
        done_query(&message)
    ))
    .into_response())
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct PlainForm {
    csrf: String,
}

/// `POST /console/streams/{stream_id}/verify`: queues a verification SET (no `state`, as a
/// transmitter-initiated verification, SSF-VERIFY-05).
pub(crate) async fn verify(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(raw): Path<String>,
    Form(form): Form<PlainForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    let tx = transmitter(&state)?;
    let record = find(tx, &raw).await?;
    let jti = ssf_transmitter::control_events::enqueue_verification(tx, &record, None).await?;
    let message = match jti {
        Some(jti) => format!("Verification SET {} queued.", jti.as_str()),
        None => "The stream is disabled: no verification SET was sent.".to_owned(),
    };
    Ok(Redirect::to(&format!(
        "/console/streams/{}?{}",
        record.stream_id.as_str(),
        done_query(&message)
    ))
    .into_response())
}
