//! Bringing up one transmitter peer at start, and keeping its stream healthy.
//!
//! [`setup_peer`]: discover the transmitter (SSF-META-07), obtain a token, find this receiver's
//! stream — the one remembered from last time, or one the transmitter lists with our push URL
//! (push) or our events (poll) — and create it otherwise (SSF-STREAM-22), reusing the existing
//! one on `409` (SSF-STREAM-28, D-13). Then PATCH a reused stream's events or delivery if they
//! differ (a stream just created is not PATCHed), and request verification with a fresh `state`
//! (SSF-VERIFY-01).
//!
//! [`setup_peer_with_retry`]: [`setup_peer`] again after every failure, with back-off, recording
//! each peer's progress in [`PeerStates`] (for `/healthz`, the push endpoint and metrics).
//!
//! [`run_health_checks`]: every `verification_interval` (never faster than the stream's
//! `min_verification_interval`), read the stream's status, re-create the stream if the
//! transmitter lost it, and request verification again.

mod book;
mod health;
mod run;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use ssf_http::{GuardedClient, RetrySchedule, Url};
use ssf_jose::VerifyOptions;
use ssf_types::secret::ExposeSecret;
use ssf_types::{
    Clock, EventType, EventTypeUri, StreamConfiguration, StreamId, StreamStatus, UnixMillis,
    stream::{AuthorizationHeader, Delivery, PollDelivery, PushDelivery},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use self::{
    book::{
        MemoryStreamBook, STATES_KEPT, StoreBook, StreamBook, config_without_secret, new_state,
        sha256_hex,
    },
    health::run_health_checks,
    run::run_peer,
};
use crate::{
    config::{DeliveryMode, PeerConfig, ReceiverConfig},
    discovery::discover,
    error::ReceiverError,
    jwks::JwksCache,
    peers::{PeerStates, SetupFailure},
    receive::StreamRegistry,
    stream_client::{CreateOutcome, StreamClient, UpdateOutcome, is_legacy_stream},
    token::TokenSource,
};

/// What setting up peers needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SetupContext {
    /// The outbound client (its settings decide whether http and loopback are allowed).
    pub http: GuardedClient,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The receiver settings (public base URL, JWKS bounds).
    pub receiver: ReceiverConfig,
    /// Where streams, statuses and verification `state`s are recorded.
    pub book: Arc<dyn StreamBook>,
    /// The event types to request when a peer lists none: those the handlers act on.
    pub handled_events: Vec<EventTypeUri>,
    /// Where the push endpoint and the poller find each stream's [`StreamContext`](crate::pipeline::StreamContext): filled as
    /// soon as a stream is ready (before verification is requested) and after a re-creation.
    pub registry: Option<Arc<StreamRegistry>>,
    /// How each peer's set-up is doing (for `/healthz`, the push endpoint and metrics); updated
    /// by [`setup_peer_with_retry`].
    pub peers: Arc<PeerStates>,
}

impl SetupContext {
    /// A context; `handled_events` is what a peer without `events` requests.
    pub fn new(
        http: GuardedClient,
        clock: Arc<dyn Clock>,
        receiver: ReceiverConfig,
        book: Arc<dyn StreamBook>,
        handled_events: Vec<EventTypeUri>,
    ) -> Self {
        Self {
            http,
            clock,
            receiver,
            book,
            handled_events,
            registry: None,
            peers: Arc::default(),
        }
    }

    /// Records set-up progress in `peers` (share it with `/healthz` and the push endpoint).
    #[must_use]
    pub fn with_peer_states(mut self, peers: Arc<PeerStates>) -> Self {
        self.peers = peers;
        self
    }

    /// Registers every set-up stream's context in `registry` (see [`Self::registry`]).
    #[must_use]
    pub fn with_registry(mut self, registry: Arc<StreamRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    fn register(&self, handle: &PeerHandle) {
        if let Some(registry) = &self.registry
            && let Some(context) = handle.stream_context()
        {
            registry.insert(context);
        }
    }
}

/// How a peer's stream is doing, for `/healthz` and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerHealth {
    /// The status last read from the transmitter.
    pub status: Option<StreamStatus>,
    /// When verification was last requested successfully.
    pub verification_requested_at: Option<UnixMillis>,
    /// When the last health round ran.
    pub checked_at: Option<UnixMillis>,
    /// The last health round's error, if it failed.
    pub last_error: Option<String>,
}

/// A peer whose stream is set up: everything the push endpoint, the pipeline and the poller
/// need. Share it behind an `Arc`.
#[derive(Debug)]
pub struct PeerHandle {
    config: PeerConfig,
    client: StreamClient,
    jwks: Arc<JwksCache>,
    stream: watch::Sender<StreamConfiguration>,
    health: std::sync::Mutex<PeerHealth>,
    /// When set-up finished: the first health round is due one interval later.
    set_up_at: UnixMillis,
}

impl PeerHandle {
    /// The peer's settings.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// The peer's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The stream management client.
    pub fn client(&self) -> &StreamClient {
        &self.client
    }

    /// The peer's JWKS cache: the key source for its SETs.
    pub fn jwks(&self) -> &Arc<JwksCache> {
        &self.jwks
    }

    /// The stream configuration in force (checked: `iss`, `aud`, `stream_id`).
    pub fn stream(&self) -> StreamConfiguration {
        self.stream.borrow().clone()
    }

    /// The stream's id.
    pub fn stream_id(&self) -> Option<StreamId> {
        self.stream.borrow().stream_id.clone()
    }

    /// Follows changes of the stream configuration (a re-created stream has a new id and poll
    /// URL).
    pub fn subscribe(&self) -> watch::Receiver<StreamConfiguration> {
        self.stream.subscribe()
    }

    /// The RFC 8936 poll URL, for a poll stream.
    pub fn poll_endpoint(&self) -> Option<Url> {
        poll_url(&self.stream.borrow())
    }

    /// The audiences a SET must name: the agreed one when configured (D-12), else every value
    /// of the stream's `aud` (SSF-RXV-04).
    pub fn expected_audiences(&self) -> Vec<String> {
        match &self.config.audience {
            Some(aud) => vec![aud.clone()],
            None => self
                .stream
                .borrow()
                .aud
                .as_ref()
                .map(|a| a.iter().map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }

    /// The verifier options for this peer's SETs: the issuer, the expected audiences, the
    /// allowed algorithms and the `sub`/`exp` flags (D-07). `None` when no audience is known.
    /// (The freshness limit travels in [`StreamContext::max_age`](crate::pipeline::StreamContext).)
    pub fn verify_options(&self) -> Option<VerifyOptions> {
        let mut audiences = self.expected_audiences().into_iter();
        let mut options = VerifyOptions::new(self.client.issuer().clone(), audiences.next()?);
        for aud in audiences {
            options = options.audience(aud);
        }
        Some(
            options
                .algorithms(self.config.algorithms.iter().cloned())
                .allow_sub(self.config.allow_sub)
                .allow_exp(self.config.allow_exp)
                // A draft-era peer's SETs may lack `kid` (decision D-RX-10).
                .allow_missing_kid(self.config.legacy),
        )
    }

    /// The latest health information.
    pub fn health(&self) -> PeerHealth {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Requests a verification event with a fresh `state`, recorded in `book` first
    /// (SSF-VERIFY-01, SSF-VERIFY-10). Returns the state.
    pub async fn request_verification(
        &self,
        book: &dyn StreamBook,
        clock: &dyn Clock,
    ) -> Result<String, ReceiverError> {
        let stream_id = self.stream_id().ok_or_else(|| {
            ReceiverError::InvalidRequest("the stream has no stream_id".to_owned())
        })?;
        let state = new_state();
        book.expect_verification(self.name(), &state).await?;
        self.client.verify(&stream_id, Some(state.clone())).await?;
        self.update_health(|h| h.verification_requested_at = Some(clock.now()));
        Ok(state)
    }

    fn update_health(&self, f: impl FnOnce(&mut PeerHealth)) {
        f(&mut self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// Sets up one peer: discovery, token, stream (the one remembered in the book, or found, or
/// created; then reconciled, recorded and registered), JWKS cache, and a first verification
/// request. A
/// failed verification request is logged, not fatal (the transmitter may answer `429`,
/// SSF-VERIFY-12).
pub async fn setup_peer(
    ctx: &SetupContext,
    peer: &PeerConfig,
) -> Result<Arc<PeerHandle>, ReceiverError> {
    let found = discover(&ctx.http, &peer.issuer, peer.legacy).await?;
    let desired = desired_config(ctx, peer)?;
    if let Some(method) = desired.delivery.as_ref().map(Delivery::method)
        && !found.metadata.delivery_methods_supported.is_empty()
        && !found.metadata.supports(&method)
    {
        return Err(ReceiverError::config(
            format!("transmitters.{}.delivery", peer.name),
            format!("the transmitter does not support {method}"),
        ));
    }
    let jwks = JwksCache::from_metadata(
        ctx.http.clone(),
        &found.metadata,
        ctx.receiver.jwks.clone(),
        Arc::clone(&ctx.clock),
    )?;
    let tokens =
        TokenSource::from_config(&ctx.http, &peer.auth, &peer.issuer, Arc::clone(&ctx.clock))
            .await?;
    let client = StreamClient::new(
        ctx.http.clone(),
        found.metadata,
        tokens,
        peer.parse_mode(),
        Arc::clone(&ctx.clock),
    )
    .with_audience(peer.audience.clone());
    let known = ctx.book.known_stream(&peer.name).await?;
    let stream = ensure_stream(&client, &desired, known.as_ref()).await?;
    if peer.delivery == DeliveryMode::Poll && poll_url(&stream).is_none() {
        return Err(ReceiverError::InvalidResponse {
            operation: "set up stream",
            reason: "the poll stream has no delivery.endpoint_url".to_owned(),
        });
    }
    ctx.book.record_stream(peer, &stream).await?;
    tracing::info!(peer = %peer.name, stream_id = ?stream.stream_id, "stream ready");
    let handle = Arc::new(PeerHandle {
        config: peer.clone(),
        client,
        jwks: Arc::new(jwks),
        stream: watch::Sender::new(stream),
        health: std::sync::Mutex::default(),
        set_up_at: ctx.clock.now(),
    });
    ctx.register(&handle);
    if let Err(e) = handle
        .request_verification(ctx.book.as_ref(), ctx.clock.as_ref())
        .await
    {
        tracing::warn!(peer = %peer.name, error = %e, "verification request failed");
    }
    Ok(handle)
}

/// [`setup_peer`], retried with `schedule` (its last delay repeating, jittered) until it
/// succeeds or `cancel` fires. Every failure is retried: a transmitter that is down, a wrong
/// client secret or issuer, a refused stream can all be fixed on either side without a restart
/// of the receiver. Meanwhile the peer is [`PeerState::Retrying`](crate::peers::PeerState::Retrying) in [`SetupContext::peers`]
/// (unhealthy, with the reason and what to fix; `ssf_receiver_peer_setup_failures_total`
/// counts each attempt), and [`PeerState::Up`](crate::peers::PeerState::Up) once set up.
pub async fn setup_peer_with_retry(
    ctx: &SetupContext,
    peer: &PeerConfig,
    schedule: &RetrySchedule,
    cancel: &CancellationToken,
) -> Result<Arc<PeerHandle>, ReceiverError> {
    let mut attempts = 0u32;
    loop {
        let error = tokio::select! {
            () = cancel.cancelled() => return Err(ReceiverError::Cancelled),
            result = setup_peer(ctx, peer) => match result {
                Ok(handle) => {
                    ctx.peers.up(&peer.name);
                    return Ok(handle);
                }
                Err(ReceiverError::Cancelled) => return Err(ReceiverError::Cancelled),
                Err(e) => e,
            },
        };
        attempts = attempts.saturating_add(1);
        let failure = SetupFailure::new(peer, &error, attempts, ctx.clock.now());
        let delay = backoff(schedule, attempts, error.retry_after());
        tracing::warn!(peer = %peer.name, reason = failure.reason, error = %failure.detail, ?delay, "peer setup failed; retrying");
        ctx.peers.failed(&peer.name, failure);
        tokio::select! {
            () = cancel.cancelled() => return Err(ReceiverError::Cancelled),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The wait after `attempts` failures: the schedule's delay (its last one once it runs out),
/// at least `retry_after`.
pub(crate) fn backoff(
    schedule: &RetrySchedule,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let last = u32::try_from(schedule.delays().len()).unwrap_or(u32::MAX);
    schedule
        .next_delay_after(attempts.min(last).max(1), retry_after)
        .unwrap_or(Duration::from_secs(1))
}

/// The receiver-supplied configuration this receiver wants for `peer` (SSF-STREAM-23):
/// `events_requested` (never empty, SSF-STREAM-35), `delivery` and `description`.
pub fn desired_config(
    ctx: &SetupContext,
    peer: &PeerConfig,
) -> Result<StreamConfiguration, ReceiverError> {
    let events = if peer.events.is_empty() {
        ctx.handled_events.clone()
    } else {
        peer.events.clone()
    };
    if events.is_empty() {
        return Err(ReceiverError::config(
            format!("transmitters.{}.events", peer.name),
            "no event types to request",
        ));
    }
    let delivery = match peer.delivery {
        DeliveryMode::Push => {
            let mut push = PushDelivery::new(ctx.receiver.push_url(&peer.name)?);
            if let Some(auth) = &peer.push_authorization {
                push = push.with_authorization(AuthorizationHeader::new(auth.expose_secret()));
            }
            Delivery::Push(push)
        }
        DeliveryMode::Poll => Delivery::Poll(PollDelivery::new(None)),
    };
    let mut config = StreamConfiguration::new();
    config.events_requested = Some(events);
    config.delivery = Some(delivery);
    config.description = peer.description.clone();
    Ok(config)
}

/// Finds this receiver's stream, reconciling its events and delivery, or creates it (a stream
/// created from `desired` is not PATCHed with the same values).
pub async fn ensure_stream(
    client: &StreamClient,
    desired: &StreamConfiguration,
    known: Option<&StreamId>,
) -> Result<StreamConfiguration, ReceiverError> {
    let mut existing = None;
    if let Some(id) = known {
        match client.get(id).await {
            Ok(config) => existing = Some(config),
            Err(e) if e.status() == Some(404) => {
                tracing::info!(stream_id = %id, "remembered stream is gone");
            }
            Err(
                e @ (ReceiverError::ForeignStream { .. } | ReceiverError::AudienceMismatch { .. }),
            ) => {
                tracing::warn!(error = %e, "remembered stream refused");
            }
            Err(e) => return Err(e),
        }
    }
    if existing.is_none() {
        existing = find_ours(client, desired).await?;
    }
    let config = match existing {
        Some(config) => config,
        None => match client.create(desired).await? {
            // Created from `desired` just now: a PATCH would only repeat it (issue 12).
            CreateOutcome::Created(config) => {
                tracing::info!(stream_id = ?config.stream_id, "stream created");
                return Ok(*config);
            }
            CreateOutcome::Conflict => {
                // One stream per receiver and it exists (SSF-STREAM-27/28): take it over.
                let mut streams = client.list().await?;
                let ours = streams.iter().position(|s| matches(s, desired));
                match (ours, streams.len()) {
                    (Some(i), _) => streams.swap_remove(i),
                    (None, 1) => streams.swap_remove(0),
                    _ => {
                        return Err(ReceiverError::InvalidResponse {
                            operation: "create stream",
                            reason: "409 Conflict, and no single existing stream to reuse"
                                .to_owned(),
                        });
                    }
                }
            }
        },
    };
    reconcile(client, config, desired).await
}

/// A listed stream that is evidently ours: push to our URL, or poll with our events.
async fn find_ours(
    client: &StreamClient,
    desired: &StreamConfiguration,
) -> Result<Option<StreamConfiguration>, ReceiverError> {
    let streams = match client.list().await {
        Ok(streams) => streams,
        // Some transmitters cannot list; creating tells us (201 or 409).
        Err(e) if matches!(e.status(), Some(400 | 404 | 405)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(streams.into_iter().find(|s| matches(s, desired)))
}

fn matches(stream: &StreamConfiguration, desired: &StreamConfiguration) -> bool {
    match (&stream.delivery, &desired.delivery) {
        (Some(Delivery::Push(have)), Some(Delivery::Push(want))) => {
            have.endpoint_url == want.endpoint_url
        }
        (Some(Delivery::Poll(_)), Some(Delivery::Poll(_))) => same_events(
            stream.events_requested.as_deref(),
            desired.events_requested.as_deref(),
        ),
        _ => false,
    }
}

fn same_events(a: Option<&[EventTypeUri]>, b: Option<&[EventTypeUri]>) -> bool {
    let set = |v: Option<&[EventTypeUri]>| -> BTreeSet<String> {
        v.unwrap_or_default()
            .iter()
            .map(|e| EventType::from(e).canonical().as_str().to_owned())
            .collect()
    };
    set(a) == set(b)
}

/// PATCHes `events_requested` and `delivery` when they differ from `desired` (a push stream
/// always gets its delivery again, since the transmitter may not show `authorization_header`).
async fn reconcile(
    client: &StreamClient,
    current: StreamConfiguration,
    desired: &StreamConfiguration,
) -> Result<StreamConfiguration, ReceiverError> {
    let stream_id = current
        .stream_id
        .clone()
        .ok_or_else(|| ReceiverError::InvalidRequest("the stream has no stream_id".to_owned()))?;
    let events_differ = !same_events(
        current.events_requested.as_deref(),
        desired.events_requested.as_deref(),
    );
    let delivery_differs = match (&current.delivery, &desired.delivery) {
        (Some(Delivery::Poll(_)), Some(Delivery::Poll(_))) => false,
        (Some(Delivery::Push(have)), Some(Delivery::Push(want))) => {
            have.endpoint_url != want.endpoint_url || want.authorization_header.is_some()
        }
        (have, want) => have.as_ref().map(Delivery::method) != want.as_ref().map(Delivery::method),
    };
    let description_differs =
        desired.description.is_some() && desired.description != current.description;
    if !events_differ && !delivery_differs && !description_differs {
        return Ok(current);
    }
    let mut patch = StreamConfiguration::new();
    patch.stream_id = Some(stream_id.clone());
    if is_legacy_stream(&stream_id) {
        // A draft-era stream is replaced as a whole (a POST of the full configuration).
        patch = desired.clone();
        patch.stream_id = Some(stream_id.clone());
    }
    if events_differ {
        patch.events_requested.clone_from(&desired.events_requested);
    }
    if delivery_differs {
        patch.delivery.clone_from(&desired.delivery);
    }
    if description_differs {
        patch.description.clone_from(&desired.description);
    }
    tracing::info!(%stream_id, events_differ, delivery_differs, "updating the stream");
    match client.update(&patch).await? {
        UpdateOutcome::Updated(config) => Ok(*config),
        UpdateOutcome::Accepted => client.get(&stream_id).await,
    }
}

fn poll_url(stream: &StreamConfiguration) -> Option<Url> {
    match &stream.delivery {
        Some(Delivery::Poll(p)) => p.endpoint_url.as_deref().and_then(|u| Url::parse(u).ok()),
        _ => None,
    }
}
