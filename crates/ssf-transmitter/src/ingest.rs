//! `POST /events`: event producers publish, the transmitter fans out (DESIGN §3, "one event's
//! way through the system"; SETs per [SSF 1.0 §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4)).
//!
//! One request carries one event or a batch (`ingest/request.rs`). Each event is checked against its
//! definition (strict [`ssf_types::Event::parse`]), routed to the streams whose status,
//! `events_delivered` and subjects fit ([`crate::matching`]), and turned into one SET per stream
//! with that stream's `aud` (`mint.rs`). All SETs of the request are written with one
//! [`enqueue`](ssf_store::TransmitterStore::enqueue), one transaction, before the producer is
//! answered `202`: only then is the event safe. A bad event fails the whole request with `400`
//! and queues nothing. The caller needs the `ssf.events.publish` scope, and every event must be
//! one its allow lists permit (`PublishRights`, decision
//! D-TX-15): one that is not fails the whole request with `403` and queues nothing.
//!
//! A producer that may retry sends an `Idempotency-Key` (or asks for its events' `txn` to act
//! as one): a retry of a request that was accepted gets the first answer again and queues
//! nothing ([`idempotency`], decision D-TX-16).
//!
//! [`Ingest`] does the work with only what it needs (the store, the matcher, the minter, the
//! clock and `[transmitter.ingest]`) and answers an [`IngestError`]; the axum handler
//! (`ingest/http.rs`) reads the request (scope, media type, body limit, idempotency headers),
//! calls it, and turns the answer into a response, errors through `error.rs`.

mod http;
pub mod idempotency;
mod request;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ssf_store::{NewSet, StoreError, TransmitterStore};
use ssf_types::{Clock, Jti, StreamId};

pub(crate) use self::http::routes;
pub use self::request::ValidEvent;
use self::{
    idempotency::{KeySource, KeyedRequest, Remembered},
    request::Parsed,
};
use crate::{
    auth::Principal,
    config::IngestSettings,
    matching::{Matcher, Routable, Target},
    metrics,
    mint::{self, MintError, Minter, SetParts},
};

/// Why an ingest request failed. Mapped to HTTP answers in `error.rs`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The request or one of its events is malformed or invalid (the producer's mistake); the
    /// text says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The producer may not publish one of the events (D-TX-15); the text says which.
    #[error("{0}")]
    Refused(String),
    /// The `Idempotency-Key` was already used by this client, within its window, for a request
    /// with another body (D-TX-16).
    #[error("this Idempotency-Key was already used for a different request")]
    KeyReused,
    /// A SET could not be minted.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// Routing or queueing failed in the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking signing task ended without an answer.
    #[error("signing task failed: {0}")]
    SigningTask(#[source] tokio::task::JoinError),
    /// An inconsistency on the transmitter's side.
    #[error("{0}")]
    Internal(String),
}

/// What ingest needs of the transmitter, and nothing of its HTTP layer: the store, the matcher,
/// the minter, the clock and the `[transmitter.ingest]` settings. Built once with the
/// transmitter's state ([`AppState`](crate::AppState)); cheap to clone.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: Arc<dyn TransmitterStore>,
    matcher: Arc<Matcher>,
    minter: Minter,
    clock: Arc<dyn Clock>,
    settings: IngestSettings,
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

/// One `POST /events` request, as the HTTP layer read it.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// The authenticated producer.
    pub(crate) principal: &'a Principal,
    /// The body as received.
    pub(crate) body: &'a [u8],
    /// Where its idempotency key comes from.
    pub(crate) key: KeySource,
}

/// The answer to an accepted request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// `202` with this body (no idempotency key).
    Accepted(Value),
    /// The answer remembered under the request's idempotency key.
    Remembered(Remembered),
}

impl Ingest {
    /// Ingest over `store`, routing with `matcher`, minting with `minter`.
    pub(crate) fn new(
        store: Arc<dyn TransmitterStore>,
        matcher: Arc<Matcher>,
        minter: Minter,
        clock: Arc<dyn Clock>,
        settings: IngestSettings,
    ) -> Self {
        Self {
            store,
            matcher,
            minter,
            clock,
            settings,
        }
    }

    /// Handles one `POST /events` body: parses and checks its events, checks the producer's
    /// allow lists, and publishes them (under the idempotency key, if the request has one).
    pub(crate) async fn accept(&self, request: Request<'_>) -> Result<Answer, IngestError> {
        let parsed = request::parse_body(request.body, self.settings.max_batch)?;
        let (events, single) = match parsed {
            Parsed::Single(e) => (vec![*e], true),
            Parsed::Batch(v) => (v, false),
        };
        let principal = request.principal;
        authorize(principal, &events, single)?;
        if let Some(key) = request.key.key(&events)? {
            let keyed = KeyedRequest {
                client_id: &principal.client_id,
                key,
                body: request.body,
                single,
            };
            return Ok(Answer::Remembered(self.publish_keyed(keyed, events).await?));
        }
        let results = self.publish(events).await?;
        tracing::debug!(client_id = %principal.client_id, events = results.len(), "events published");
        Ok(Answer::Accepted(answer(results, single)))
    }

    /// Routes, signs and durably queues `events`; the library entry point behind `POST /events`
    /// (also for producers embedded in the same process). Returns one [`Published`] per event,
    /// in order, once every SET is durable. It does not check producers' allow lists: the HTTP
    /// handler does that for the authenticated client; an in-process caller is trusted.
    pub async fn publish(&self, events: Vec<ValidEvent>) -> Result<Vec<Published>, IngestError> {
        let prepared = Prepared::new(self, events).await?;
        let sets = prepared.sets();
        let report = if sets.is_empty() {
            ssf_store::EnqueueReport::default()
        } else {
            self.store.enqueue(sets).await?
        };
        prepared.count(&report);
        Ok(prepared.results(&report))
    }
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
fn authorize(
    principal: &Principal,
    events: &[ValidEvent],
    single: bool,
) -> Result<(), IngestError> {
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
            return Err(IngestError::Refused(description));
        }
    }
    Ok(())
}

/// A request's events, routed and signed, ready to queue.
pub(crate) struct Prepared {
    events: Arc<Vec<(ValidEvent, String)>>,
    signed: Vec<Signed>,
}

impl Prepared {
    /// Routes `events` to their streams and signs one SET per (event, stream); a missing `txn`
    /// is generated.
    pub(crate) async fn new(ingest: &Ingest, events: Vec<ValidEvent>) -> Result<Self, IngestError> {
        let types: Vec<_> = events.iter().map(ValidEvent::event_type).collect();
        let routable: Vec<Routable<'_>> = events
            .iter()
            .zip(&types)
            .map(|(e, t)| Routable {
                event_type: t,
                subject: &e.sub_id,
            })
            .collect();
        let routes = ingest
            .matcher
            .route(ingest.store.as_ref(), &routable)
            .await?;
        let now = ingest.clock.now();
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
        let signed = sign_jobs(&ingest.minter, &events, jobs, now).await?;
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
    minter: &Minter,
    events: &Arc<Vec<(ValidEvent, String)>>,
    jobs: Vec<(usize, Arc<Target>)>,
    now: ssf_types::UnixMillis,
) -> Result<Vec<Signed>, IngestError> {
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
        let part = task.await.map_err(IngestError::SigningTask)?;
        out.extend(part?);
    }
    Ok(out)
}

fn sign_chunk(
    minter: &Minter,
    events: &[(ValidEvent, String)],
    jobs: &[(usize, Arc<Target>)],
    now: ssf_types::UnixMillis,
) -> Result<Vec<Signed>, IngestError> {
    jobs.iter()
        .map(|(i, target)| {
            let (event, txn) = events.get(*i).ok_or_else(|| {
                IngestError::Internal("routed event index out of range".to_owned())
            })?;
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
