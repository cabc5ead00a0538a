//! `POST /events`: event producers publish, the transmitter fans out (DESIGN §3, "one event's
//! way through the system"; SETs per [SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)).
//!
//! One request carries one event or a batch ([`request`]). Each event is checked against its
//! definition (strict [`ssf_types::Event::parse`]), routed to the streams whose status,
//! `events_delivered` and subjects fit ([`crate::matching`]), and turned into one SET per stream
//! with that stream's `aud` ([`crate::mint`]). All SETs of the request are written with one
//! [`enqueue`](ssf_store::TransmitterStore::enqueue), one transaction, before the producer is
//! answered `202`: only then is the event safe. A bad event fails the whole request with `400`
//! and queues nothing. The caller needs the `ssf.events.publish` scope, and every event must be
//! one its allow lists permit ([`PublishRights`](crate::auth::PublishRights), decision
//! D-TX-15): one that is not fails the whole request with `403` and queues nothing.
//!
//! A producer that may retry sends an `Idempotency-Key` (or asks for its events' `txn` to act
//! as one): a retry of a request that was accepted gets the first answer again and queues
//! nothing ([`idempotency`], decision D-TX-16).

pub mod idempotency;
pub mod request;

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ssf_store::NewSet;
use ssf_types::{Jti, StreamId};

pub use self::request::{Parsed, ValidEvent};
use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    matching::{Routable, Target},
    metrics,
    mint::{self, SetParts},
    state::AppState,
};

/// The path of the ingest endpoint.
pub const EVENTS_PATH: &str = "/events";

/// The ingest route, to merge into the transmitter's router.
pub fn routes() -> Router<AppState> {
    Router::new().route(EVENTS_PATH, post(publish))
}

/// What happened to one published event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The `txn` of its SETs: the producer's, or a generated one.
    pub txn: String,
    /// How many streams it was queued for.
    pub streams: usize,
    /// The `jti` of each queued SET.
    pub jtis: Vec<Jti>,
}

async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    principal.require(Scope::Publish)?;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let json = ct.to_str().is_ok_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v.starts_with("application/json") || v.contains("+json")
        });
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send application/json".to_owned(),
            ));
        }
    }
    let source = idempotency::KeySource::from_headers(&headers)?;
    let bytes = axum::body::to_bytes(body, state.config.ingest.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let parsed = request::parse_body(&bytes, state.config.ingest.max_batch)?;
    let (events, single) = match parsed {
        Parsed::Single(e) => (vec![*e], true),
        Parsed::Batch(v) => (v, false),
    };
    authorize(&principal, &events, single)?;
    if let Some(key) = source.key(&events)? {
        let request = idempotency::KeyedRequest {
            client_id: &principal.client_id,
            key,
            body: &bytes,
            single,
        };
        return idempotency::publish(&state, request, events).await;
    }
    let results = publish_events(&state, events).await?;
    tracing::debug!(client_id = %principal.client_id, events = results.len(), "events published");
    Ok((StatusCode::ACCEPTED, Json(answer(results, single))).into_response())
}

/// The `202` body: the one [`Published`] of a single event, or `{"events": [...]}` for a batch.
fn answer(results: Vec<Published>, single: bool) -> Value {
    if single {
        results
            .into_iter()
            .next()
            .map(|r| json!(r))
            .unwrap_or(Value::Null)
    } else {
        json!({ "events": results })
    }
}

/// D-TX-15: every event of the request must be one the producer may publish; the first that is
/// not refuses the whole request (`403`, nothing queued), counted and logged at WARN.
fn authorize(principal: &Principal, events: &[ValidEvent], single: bool) -> Result<(), ApiError> {
    for (i, event) in events.iter().enumerate() {
        if let Err(refusal) = principal.publish.check(&principal.client_id, &event.event) {
            metrics::event_refused(refusal.reason);
            tracing::warn!(
                client_id = %principal.client_id,
                event_type = %event.event_type(),
                reason = refusal.reason.as_str(),
                "event refused: the producer may not publish it"
            );
            let description = if single {
                refusal.description
            } else {
                format!("events[{i}]: {}", refusal.description)
            };
            return Err(ApiError::Forbidden(description));
        }
    }
    Ok(())
}

/// Routes, signs and durably queues `events`; the library entry point behind `POST /events`
/// (also for producers embedded in the same process). Returns one [`Published`] per event, in
/// order, once every SET is durable. It does not check producers' allow lists: the HTTP
/// handler does that for the authenticated client; an in-process caller is trusted.
pub async fn publish_events(
    state: &AppState,
    events: Vec<ValidEvent>,
) -> Result<Vec<Published>, ApiError> {
    let prepared = Prepared::new(state, events).await?;
    let sets = prepared.sets();
    let report = if sets.is_empty() {
        ssf_store::EnqueueReport::default()
    } else {
        state.store.enqueue(sets).await?
    };
    prepared.count(&report);
    Ok(prepared.results(&report))
}

/// A request's events, routed and signed, ready to queue.
pub(crate) struct Prepared {
    events: Arc<Vec<(ValidEvent, String)>>,
    signed: Vec<Signed>,
}

impl Prepared {
    /// Routes `events` to their streams and signs one SET per (event, stream); a missing `txn`
    /// is generated.
    pub(crate) async fn new(state: &AppState, events: Vec<ValidEvent>) -> Result<Self, ApiError> {
        let types: Vec<_> = events.iter().map(ValidEvent::event_type).collect();
        let routable: Vec<Routable<'_>> = events
            .iter()
            .zip(&types)
            .map(|(e, t)| Routable {
                event_type: t,
                subject: &e.sub_id,
            })
            .collect();
        let routes = state.matcher.route(state.store.as_ref(), &routable).await?;
        let now = state.clock.now();
        let events: Arc<Vec<(ValidEvent, String)>> = Arc::new(
            events
                .into_iter()
                .map(|e| {
                    let txn = e.txn.clone().unwrap_or_else(|| mint::new_txn(now));
                    (e, txn)
                })
                .collect(),
        );
        let jobs: Vec<(usize, Arc<Target>)> = routes
            .into_iter()
            .enumerate()
            .flat_map(|(i, targets)| targets.into_iter().map(move |t| (i, t)))
            .collect();
        let signed = sign_jobs(&state.minter, &events, jobs, now).await?;
        Ok(Self { events, signed })
    }

    /// The SETs to queue.
    pub(crate) fn sets(&self) -> Vec<NewSet> {
        self.signed
            .iter()
            .map(|s| NewSet {
                stream_id: s.stream_id.clone(),
                jti: s.jti.clone(),
                subject_key: s.subject_key.clone(),
                set_jwt: s.jwt.clone(),
            })
            .collect()
    }

    /// Counts the events and the queued SETs in the metrics.
    pub(crate) fn count(&self, report: &ssf_store::EnqueueReport) {
        metrics::events_ingested(self.events.len());
        metrics::sets_enqueued(report.queued);
    }

    /// One [`Published`] per event, leaving out SETs of streams the store dropped.
    pub(crate) fn results(&self, report: &ssf_store::EnqueueReport) -> Vec<Published> {
        let mut results: Vec<Published> = self
            .events
            .iter()
            .map(|(_, txn)| Published {
                txn: txn.clone(),
                streams: 0,
                jtis: Vec::new(),
            })
            .collect();
        for s in &self.signed {
            if report.dropped_streams.contains(&s.stream_id) {
                continue;
            }
            if let Some(r) = results.get_mut(s.event) {
                r.streams += 1;
                r.jtis.push(s.jti.clone());
            }
        }
        results
    }
}

/// One signed SET and where it goes.
struct Signed {
    event: usize,
    stream_id: StreamId,
    subject_key: String,
    jti: Jti,
    jwt: String,
}

/// SETs per blocking signing task.
const SIGN_CHUNK: usize = 32;

/// Signs every (event, stream) pair. RSA signing is CPU-bound (about 0.3 ms), so anything beyond
/// one SET is signed on the blocking pool, in chunks that run in parallel on every core.
async fn sign_jobs(
    minter: &mint::Minter,
    events: &Arc<Vec<(ValidEvent, String)>>,
    jobs: Vec<(usize, Arc<Target>)>,
    now: ssf_types::UnixMillis,
) -> Result<Vec<Signed>, ApiError> {
    if jobs.len() <= 1 {
        return sign_chunk(minter, events, &jobs, now);
    }
    let mut tasks = Vec::new();
    for chunk in jobs.chunks(SIGN_CHUNK) {
        let (minter, events, chunk) = (minter.clone(), Arc::clone(events), chunk.to_vec());
        tasks.push(tokio::task::spawn_blocking(move || {
            sign_chunk(&minter, &events, &chunk, now)
        }));
    }
    let mut out = Vec::with_capacity(jobs.len());
    for task in tasks {
        let part = task
            .await
            .map_err(|e| ApiError::Internal(format!("signing task failed: {e}")))?;
        out.extend(part?);
    }
    Ok(out)
}

fn sign_chunk(
    minter: &mint::Minter,
    events: &[(ValidEvent, String)],
    jobs: &[(usize, Arc<Target>)],
    now: ssf_types::UnixMillis,
) -> Result<Vec<Signed>, ApiError> {
    jobs.iter()
        .map(|(i, target)| {
            let (event, txn) = events
                .get(*i)
                .ok_or_else(|| ApiError::Internal("routed event index out of range".to_owned()))?;
            let parts = SetParts {
                aud: &target.aud,
                sub_id: &event.sub_id,
                event: &event.event,
                txn,
                now,
            };
            let (jti, jwt) = minter.sign(parts)?;
            Ok(Signed {
                event: *i,
                stream_id: target.stream_id.clone(),
                // SSF-STATUS-14: push delivers SETs of one subject in the order they were made.
                subject_key: crate::subject_key::subject_key(&event.sub_id),
                jti,
                jwt,
            })
        })
        .collect()
}
