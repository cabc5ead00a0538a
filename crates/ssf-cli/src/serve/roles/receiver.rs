//! The receiver role: its store (SQLite, or PostgreSQL shared with other nodes), the verification pipeline and the group-committing
//! apply task, the RFC 8935 push endpoint `/ssf/push/{peer}`, and one task per configured
//! transmitter (`[[receiver.transmitters]]`) that sets up its stream and, for poll delivery,
//! polls it ([`run_peer`]).
//!
//! What the receiver does with an applied event is the [`EventHandler`] made by
//! [`event_handler`]: it logs and counts each event and, with `[enforce]`, hands it to the
//! enforcement engine ([`super::enforce`]), whose AuthZEN routes join the receiver's.

use std::sync::Arc;

use async_trait::async_trait;
use axum::{Router, routing::post};
use ssf_enforce::EnforcementHandler;
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    config::{DeliveryMode, PUSH_PATH_PREFIX},
    handler::{EventHandler, Plan, ReceivedSet, StateRow, StateWrite},
    peers::PeerStates,
    pipeline::{Pipeline, PipelineConfig},
    push::{PushState, push_set},
    receive::{SetReceiver, StreamRegistry},
    router::PUSH_ROUTE,
    setup::{SetupContext, StoreBook, run_peer},
};
use ssf_store::receiver::ReceiverStore;
use ssf_types::{EventType, EventTypeUri};

use super::{Probe, Role, RoleContext, enforce::Enforcement};
use crate::{
    input::{Context, Failure},
    serve::{config::ReceiverSection, stores},
};

/// Counter of events handed to the handler, label `event_type`.
pub(crate) const EVENTS_HANDLED: &str = "ssf_serve_events_handled_total";

/// Counter of JIT grants and `groups_add` entries the engine refused because their source is
/// not in `enforce.grants.sources` (D-EN-02), counted when planned.
pub(crate) const GRANTS_REFUSED: &str = "ssf_serve_enforce_grants_refused_total";

/// Assembles the receiver role of `section` (its public base URL already final), with the
/// enforcement engine when `[enforce]` is on.
pub(crate) async fn start(
    ctx: &RoleContext,
    section: ReceiverSection,
    enforcement: Option<Enforcement>,
) -> Result<Role, Failure> {
    let config = section.config;
    let (engine, enforce_routes, enforce_banner, console_engine) = match enforcement {
        Some(e) => (Some(e.handler), Some(e.routes), e.banner, Some(e.engine)),
        None => (None, None, Vec::new(), None),
    };
    let store = stores::open_receiver(&section.database, Arc::clone(&ctx.clock)).await?;
    let mut options = ApplyOptions::default();
    options.retention = config.dedupe_retention;
    let applier = Arc::new(
        Applier::start(
            Arc::clone(&store),
            event_handler(engine),
            Arc::clone(&ctx.clock),
            options,
        )
        .await
        .or_runtime("starting the receiver's apply task")?,
    );
    let pipeline = Pipeline::new(
        PipelineConfig::default(),
        Arc::clone(&store),
        Arc::clone(&ctx.clock),
    );
    let receiver = Arc::new(SetReceiver::new(pipeline, Arc::clone(&applier)));
    let registry = Arc::new(StreamRegistry::new());
    // Every peer's set-up progress: per-peer /healthz checks, metrics, and push answers.
    let peer_states = Arc::new(PeerStates::new());
    peer_states.starting(config.transmitters.iter().map(|p| p.name.clone()));
    // A configured push peer may push before its set-up here has registered the stream: the
    // library answers those 503 + Retry-After (while set-up runs or retries) instead of a
    // final 400.
    let push = Arc::new(
        PushState::new(Arc::clone(&receiver), Arc::clone(&registry))
            .with_expected_streams(
                config
                    .transmitters
                    .iter()
                    .filter(|p| p.delivery == DeliveryMode::Push)
                    .map(|p| p.name.clone()),
            )
            .with_peer_states(Arc::clone(&peer_states)),
    );
    let mut routes = Router::new()
        .route(PUSH_ROUTE, post(push_set))
        .with_state(push);
    if let Some(pdp) = enforce_routes {
        routes = routes.merge(pdp);
    }
    let http = ssf_http::build_client(&section.http)
        .map_err(|e| crate::input::usage(format!("invalid setting `receiver.http`: {e}")))?;
    let setup = Arc::new(
        SetupContext::new(
            http,
            Arc::clone(&ctx.clock),
            config.clone(),
            Arc::new(StoreBook(Arc::clone(&store))),
            handled_events(),
        )
        .with_peer_states(Arc::clone(&peer_states)),
    );
    let mut peers = Vec::new();
    let mut tasks = Vec::new();
    for peer in config.transmitters.iter().cloned() {
        let method = match peer.delivery {
            DeliveryMode::Push => "push",
            DeliveryMode::Poll => "poll",
            _ => "other",
        };
        peers.push(format!("{} ({method}, {})", peer.name, peer.issuer));
        let name = peer.name.clone();
        let run = run_peer(
            Arc::clone(&setup),
            peer,
            Arc::clone(&receiver),
            Arc::clone(&registry),
            ctx.shutdown.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Set-up retries until it works (see /healthz for why it does not yet); an error
            // here is a shutdown during set-up, or a poll stream without a poll URL.
            match run.await {
                Ok(()) | Err(ssf_receiver::ReceiverError::Cancelled) => {}
                Err(e) => tracing::error!(peer = %name, error = %e, "this transmitter's stream cannot be used"),
            }
        }));
    }
    let base = config.public_base_url.clone().unwrap_or_default();
    let mut banner = vec![
        (
            "push",
            format!("{}{PUSH_PATH_PREFIX}{{peer}}", base.trim_end_matches('/')),
        ),
        (
            "peers",
            if peers.is_empty() {
                "none (add [[receiver.transmitters]], see docs/receiver.md)".to_owned()
            } else {
                peers.join(", ")
            },
        ),
    ];
    banner.push(("database", database_banner(&section.database)));
    banner.extend(enforce_banner);
    let stop_store = Arc::clone(&store);
    let console = ssf_console::Sources {
        receiver: Some(ssf_console::ReceiverSource {
            store: Arc::clone(&store),
            receiver: Arc::clone(&receiver),
            peers: Some(Arc::clone(&peer_states)),
        }),
        engine: console_engine,
        ..ssf_console::Sources::default()
    };
    Ok(Role {
        name: "receiver",
        routes,
        fallback: None,
        probe: Arc::new(ReceiverProbe {
            store,
            peers: peer_states,
        }),
        stop: Box::pin(async move {
            for task in tasks {
                let _ = task.await;
            }
            applier.close().await;
            stop_store.close().await;
        }),
        banner,
        console,
    })
}

/// The banner's `database` line: on PostgreSQL, what the receiver nodes on it share.
fn database_banner(location: &stores::StoreLocation) -> String {
    match location.url {
        ssf_store::StoreUrl::Postgres(_) => format!(
            "{location} (shared with every receiver node on it: dedupe, state, audit; this node \
             follows the others' writes)"
        ),
        ssf_store::StoreUrl::Sqlite(_) => location.to_string(),
    }
}

/// The event types streams request when a peer lists none: every CAEP 1.0 and RISC 1.0 type.
fn handled_events() -> Vec<EventTypeUri> {
    EventType::standard()
        .filter(|t| t.is_caep() || t.is_risc())
        .map(EventTypeUri::from)
        .collect()
}

/// What acts on applied events: the enforcement engine's handler when there is one, always
/// wrapped in the log line and counter.
fn event_handler(engine: Option<EnforcementHandler>) -> Arc<dyn EventHandler> {
    Arc::new(LoggingHandler { engine })
}

/// Delegates to the enforcement engine (if any) and logs every durably applied event (peer,
/// stream key, jti, event type, txn) and counts it.
#[derive(Debug, Clone, Default)]
struct LoggingHandler {
    engine: Option<EnforcementHandler>,
}

impl EventHandler for LoggingHandler {
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite> {
        self.engine
            .as_ref()
            .map(|e| e.plan(set))
            .unwrap_or_default()
    }

    // The engine's audit record is stored with its writes: forward it, or it is lost.
    fn plan_audited(&self, set: &ReceivedSet) -> Plan {
        let plan = self
            .engine
            .as_ref()
            .map_or_else(|| Plan::writes(Vec::new()), |e| e.plan_audited(set));
        let refused = plan
            .audit
            .as_ref()
            .and_then(|a| a.detail.get("refused"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if refused > 0 {
            metrics::counter!(GRANTS_REFUSED, "iss" => set.issuer.as_str().to_owned())
                .increment(refused);
        }
        plan
    }

    fn commit(&self, writes: &[StateWrite]) {
        if let Some(engine) = &self.engine {
            engine.commit(writes);
        }
    }

    fn load(&self, rows: Vec<StateRow>) {
        if let Some(engine) = &self.engine {
            engine.load(rows);
        }
    }

    fn applied(&self, set: &ReceivedSet) {
        if let Some(engine) = &self.engine {
            engine.applied(set);
        }
        let event_type = set.event.event_type();
        tracing::info!(
            peer = %set.peer,
            stream_key = %set.stream_key,
            jti = %set.jti(),
            event_type = %event_type.as_str(),
            txn = ?set.claims.txn,
            "event applied"
        );
        metrics::counter!(EVENTS_HANDLED, "event_type" => event_type.as_str().to_owned())
            .increment(1);
    }
}

/// Healthy when the de-duplication table answers a lookup: one indexed point query, so a health
/// check costs the same with ten rows or ten million (`seen_count` scans the whole table). Each
/// configured transmitter is a check of its own, `peer:<name>`: unhealthy while its set-up
/// keeps failing, with the reason and what to fix.
struct ReceiverProbe {
    store: Arc<dyn ReceiverStore>,
    peers: Arc<PeerStates>,
}

#[async_trait]
impl Probe for ReceiverProbe {
    async fn check(&self) -> Result<(), String> {
        self.store
            .is_seen("", "")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn peers(&self) -> Vec<(String, Result<(), String>)> {
        self.peers
            .all()
            .into_iter()
            .map(|(name, state)| (format!("peer:{name}"), state.check()))
            .collect()
    }
}
