//! The operator console of `ssf serve`: what an operator looks at and acts on, in the browser.
//!
//! Server-rendered HTML ([askama](https://docs.rs/askama) templates checked at compile time),
//! no JavaScript build and no CDN: the stylesheet and the one small script are embedded in the
//! binary ([`assets`]). Every page works without the script; with it, the sections marked
//! `data-live` refresh themselves every few seconds.
//!
//! - **Transmitter** ([`pages::streams`]): the streams per receiver with their status, delivery
//!   method, events, subject count, delivery figures and failures; each stream's outbox by
//!   state, its dead letters and permanent failures with a replay button; a verification SET
//!   as a test event; the signing keys' rotation state.
//! - **Receiver** ([`pages::receiver`]): the peers (the receiver's streams) with their health,
//!   the SETs recently received with their verification outcome, and the audit trail searchable
//!   by subject and `jti`.
//! - **Access** ([`pages::access`]): the JIT grants with their ticket and expiry, revoking one by
//!   hand (the bridge sends the revoke SET), and "why was this denied" for a subject and an
//!   asset (the engine's decision with the SET behind it).
//! - **Overview** ([`pages::overview`]): the roles and charts of throughput and latency from the
//!   server's own metrics ([`charts`]).
//!
//! Security ([`session`], [`headers`]): one admin credential (a high-entropy token stored as a
//! `sha256:` hash, like client secrets); sign-in gives an `HttpOnly`, `SameSite=Strict` session
//! cookie (`Secure` under TLS); every form carries the session's CSRF token and every `POST`
//! must come from the console's own origin; a strict Content-Security-Policy (no inline script
//! or style); no secret is ever rendered (SETs are shown by `jti`, never as tokens; push
//! authorization headers not at all). The console is off unless configured (decision D-SRV-02).

pub mod assets;
pub mod charts;
mod error;
pub mod headers;
pub mod pages;
pub mod session;
mod view;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    routing::{get, post},
};
use ssf_enforce::Engine;
use ssf_jit::Bridge;
use ssf_receiver::{peers::PeerStates, receive::SetReceiver};
use ssf_store::receiver::ReceiverStore;
use ssf_transmitter::AppState;
use ssf_types::Clock;

pub use error::ConsoleError;

/// Where the console lives: every page and asset is under this path.
pub const BASE_PATH: &str = "/console";

/// How the console authenticates its operator.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsoleConfig {
    /// The admin credential as `sha256:<hex>` (see `ssf_transmitter::auth::hash_secret`).
    pub admin_token_hash: String,
    /// Set the `Secure` attribute on the session cookie (the server runs TLS).
    pub secure_cookie: bool,
    /// A session unused this long must sign in again.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub max_session: Duration,
}

impl ConsoleConfig {
    /// A console whose admin token hashes to `admin_token_hash`, with 30 minutes of idle time
    /// and 12 hours per session.
    pub fn new(admin_token_hash: impl Into<String>) -> Self {
        Self {
            admin_token_hash: admin_token_hash.into(),
            secure_cookie: false,
            idle_timeout: Duration::from_secs(30 * 60),
            max_session: Duration::from_secs(12 * 3600),
        }
    }
}

/// The receiver side the console reads: its store (peers, audit trail) and the receiver (the
/// SETs it saw lately, rejected ones too).
#[derive(Debug, Clone)]
pub struct ReceiverSource {
    /// The receiver's store.
    pub store: Arc<dyn ReceiverStore>,
    /// The receiver running in this process.
    pub receiver: Arc<SetReceiver>,
    /// Each configured peer's set-up state (starting, up, retrying and why), when the receiver
    /// sets its peers up itself (`ssf serve`).
    pub peers: Option<Arc<PeerStates>>,
}

/// Renders the Prometheus text of the server's metrics (the charts' source).
#[derive(Clone)]
pub struct MetricsText(Arc<dyn Fn() -> String + Send + Sync>);

impl MetricsText {
    /// Metrics rendered by `render` (e.g. `move || prometheus_handle.render()`).
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(Arc::new(render))
    }

    /// The current Prometheus text.
    pub fn render(&self) -> String {
        (self.0)()
    }
}

impl std::fmt::Debug for MetricsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsText")
    }
}

/// The parts of the server the console shows; each is optional (a node may run one role).
#[derive(Clone, Default)]
pub struct Sources {
    /// The transmitter.
    pub transmitter: Option<AppState>,
    /// The receiver.
    pub receiver: Option<ReceiverSource>,
    /// The enforcement engine ("why was this denied"; needs `receiver` for the audit entry).
    pub engine: Option<Arc<Engine>>,
    /// The ticket bridge (grants, revoke by hand).
    pub bridge: Option<Bridge>,
    /// The server's metrics, for the charts.
    pub metrics: Option<MetricsText>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("transmitter", &self.transmitter.is_some())
            .field("receiver", &self.receiver.is_some())
            .field("engine", &self.engine.is_some())
            .field("bridge", &self.bridge.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

/// What every handler gets.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) sources: Sources,
    pub(crate) sessions: session::Sessions,
    pub(crate) charts: charts::Sampler,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The console's state, shared by its handlers.
pub(crate) type ConsoleState = Arc<Shared>;

/// The console's routes (under [`BASE_PATH`]), to merge into the server's application. Starts
/// the chart sampler on the current tokio runtime; it stops when the router is dropped.
pub fn router(config: ConsoleConfig, sources: Sources, clock: Arc<dyn Clock>) -> Router {
    let charts = charts::Sampler::start(sources.metrics.clone(), Arc::clone(&clock));
    let state: ConsoleState = Arc::new(Shared {
        sessions: session::Sessions::new(config, Arc::clone(&clock)),
        sources,
        charts,
        clock,
    });
    let protected = Router::new()
        .route("/console", get(pages::overview::page))
        .route("/console/", get(pages::overview::page))
        .route("/console/streams", get(pages::streams::list))
        .route("/console/streams/{stream_id}", get(pages::streams::detail))
        .route(
            "/console/streams/{stream_id}/replay",
            post(pages::streams::replay),
        )
        .route(
            "/console/streams/{stream_id}/verify",
            post(pages::streams::verify),
        )
        .route("/console/receiver", get(pages::receiver::page))
        .route("/console/access", get(pages::access::page))
        .route("/console/access/explain", get(pages::access::explain))
        .route("/console/access/revoke", post(pages::access::revoke))
        .route("/console/sign-out", post(session::sign_out))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            session::require_session,
        ));
    Router::new()
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/assets/{name}", get(assets::serve))
        .merge(protected)
        .layer(axum::middleware::from_fn(headers::same_origin_posts))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .with_state(state)
}
