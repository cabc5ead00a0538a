//! The console assembled: the protected routes, an SSF receiver (push endpoint, verification
//! pipeline, durable de-duplication on the embedded store) feeding the enforcement engine, the
//! AuthZEN PDP, and the receiver's stream at the transmitter, created through its management
//! API.

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use secrecy::SecretString;
use serde_json::{Value, json};
use ssf_enforce::{
    EnforcementHandler, Engine, EngineConfig,
    layer::{EnforcementLayer, TokenVerifier},
};
use ssf_http::{ClientConfig, build_client};
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    config::{DeliveryMode, PeerAuth, PeerConfig, ReceiverConfig},
    handler::EventHandler,
    pipeline::{Pipeline, PipelineConfig},
    push::PushState,
    receive::{SetReceiver, StreamRegistry},
    setup::{SetupContext, StoreBook, run_peer},
};
use ssf_store::{receiver::ReceiverStore, sqlite::receiver::SqliteReceiverStore};
use ssf_types::{Clock, EventTypeUri};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{ConsoleError, default_engine_config, records::RecordStore, routes};

/// The event types the console asks its transmitter for (the ones the engine acts on).
pub const EVENTS: &[&str] = &[
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change",
    "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change",
    "https://schemas.openid.net/secevent/caep/event-type/risk-level-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
];

/// The name of the transmitter peer (the last segment of the push URL).
pub const PEER: &str = "idp";

/// Everything the console needs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The transmitter's issuer (discovery: `/.well-known/ssf-configuration`).
    pub transmitter_issuer: String,
    /// The console's OAuth client at the transmitter (`ssf.read ssf.manage`).
    pub client_id: String,
    /// Its secret.
    pub client_secret: SecretString,
    /// The SET audience agreed with the transmitter.
    pub audience: String,
    /// The issuer of the access tokens users present.
    pub token_issuer: String,
    /// The JWKS document of that issuer.
    pub token_jwks: Value,
    /// The `aud` access tokens must carry, if any.
    pub token_audience: Option<String>,
    /// Where the receiver's SQLite file lives.
    pub data_dir: PathBuf,
    /// The URL the transmitter pushes to; default `http://<listen address>`.
    pub public_base_url: Option<String>,
    /// Enforcement policy (default: [`default_engine_config`]).
    pub engine: EngineConfig,
    /// Allow plain http and loopback addresses in outbound calls (demo and tests only).
    pub dev_loopback: bool,
}

impl ConsoleConfig {
    /// A configuration with the example policy and the receiver file under `data_dir`.
    pub fn new(
        transmitter_issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        audience: impl Into<String>,
        token_jwks: Value,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        let issuer = transmitter_issuer.into();
        Self {
            token_issuer: issuer.clone(),
            transmitter_issuer: issuer,
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            audience: audience.into(),
            token_jwks,
            token_audience: None,
            data_dir: data_dir.into(),
            public_base_url: None,
            engine: default_engine_config(),
            dev_loopback: false,
        }
    }
}

/// A running console.
#[derive(Debug)]
pub struct Console {
    /// `http://<address>` of the console.
    pub base_url: String,
    /// The enforcement engine (shared by the layer, the receiver and the PDP).
    pub engine: Arc<Engine>,
    /// The records.
    pub records: Arc<RecordStore>,
    /// The receiver's store.
    pub store: Arc<dyn ReceiverStore>,
    /// The receiver (its recent SETs, for an operator console).
    pub receiver: Arc<SetReceiver>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn peer_config(config: &ConsoleConfig, push_secret: &str) -> Result<PeerConfig, ConsoleError> {
    let auth: PeerAuth = serde_json::from_value(json!({
        "type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": secrecy::ExposeSecret::expose_secret(&config.client_secret),
    }))
    .map_err(|e| ConsoleError::Config(format!("peer auth: {e}")))?;
    let mut peer = PeerConfig::new(PEER, config.transmitter_issuer.clone(), auth);
    peer.delivery = DeliveryMode::Push;
    peer.events = EVENTS.iter().map(|e| EventTypeUri::from(*e)).collect();
    peer.audience = Some(config.audience.clone());
    peer.description = Some("support console".to_owned());
    peer.push_authorization = Some(SecretString::from(format!("Bearer {push_secret}")));
    Ok(peer)
}

impl Console {
    /// Starts the console on `listener`: opens the receiver store, loads the enforcement state,
    /// serves the routes, and sets up the push stream at the transmitter in the background
    /// (retrying while it is unreachable). [`ready`](Self::ready) tells when the stream is
    /// verified.
    pub async fn start(
        config: ConsoleConfig,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConsoleError> {
        let addr = listener
            .local_addr()
            .map_err(|e| ConsoleError::Io(e.to_string()))?;
        let base_url = format!("http://{addr}");
        let engine = Arc::new(
            Engine::new(config.engine.clone(), Arc::clone(&clock))
                .map_err(|e| ConsoleError::Config(format!("enforcement policy: {e}")))?,
        );
        let mut verifier = TokenVerifier::new(
            config.token_issuer.clone(),
            &config.token_jwks,
            Arc::clone(&clock),
        )
        .map_err(|e| ConsoleError::Config(format!("token JWKS: {e}")))?;
        if let Some(aud) = &config.token_audience {
            verifier = verifier.audience(aud.clone());
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| ConsoleError::Io(e.to_string()))?;
        let store: Arc<dyn ReceiverStore> = Arc::new(
            SqliteReceiverStore::open_path(config.data_dir.join("receiver.db"), Arc::clone(&clock))
                .await
                .map_err(|e| ConsoleError::Store(e.to_string()))?,
        );
        let handler = Arc::new(EnforcementHandler::new(Arc::clone(&engine)));
        let applier = Applier::start(
            Arc::clone(&store),
            handler as Arc<dyn EventHandler>,
            Arc::clone(&clock),
            ApplyOptions::default(),
        )
        .await
        .map_err(|e| ConsoleError::Store(e.to_string()))?;
        let pipeline = Pipeline::new(
            PipelineConfig::default(),
            Arc::clone(&store),
            Arc::clone(&clock),
        );
        let receiver = Arc::new(SetReceiver::new(pipeline, Arc::new(applier)));
        let registry = Arc::new(StreamRegistry::new());
        let records = Arc::new(RecordStore::seeded());

        let layer = EnforcementLayer::new(Arc::clone(&engine), verifier).resolve(routes::target_of);
        let push = ssf_receiver::router::router(Arc::new(PushState::new(
            Arc::clone(&receiver),
            Arc::clone(&registry),
        )));
        let app: Router = routes::routes(Arc::clone(&records), layer)
            .merge(push)
            .merge(ssf_enforce::authzen::router(Arc::clone(&engine)));

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "support console server stopped");
            }
        }));

        let public = config.public_base_url.clone().unwrap_or(base_url.clone());
        let receiver_config: ReceiverConfig =
            serde_json::from_value(json!({ "public_base_url": public }))
                .map_err(|e| ConsoleError::Config(format!("receiver: {e}")))?;
        let http_config = if config.dev_loopback {
            ClientConfig::dev_loopback()
        } else {
            ClientConfig::default()
        };
        let http = build_client(&http_config).map_err(|e| ConsoleError::Config(e.to_string()))?;
        let ctx = Arc::new(SetupContext::new(
            http,
            Arc::clone(&clock),
            receiver_config,
            Arc::new(StoreBook(Arc::clone(&store))),
            EVENTS.iter().map(|e| EventTypeUri::from(*e)).collect(),
        ));
        let peer = peer_config(&config, &uuid::Uuid::new_v4().simple().to_string())?;
        let stop = shutdown.clone();
        let peer_receiver = Arc::clone(&receiver);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = run_peer(ctx, peer, peer_receiver, registry, stop).await {
                tracing::error!(error = %e, "support console: transmitter peer stopped");
            }
        }));
        Ok(Self {
            base_url,
            engine,
            records,
            store,
            receiver,
            shutdown,
            tasks,
        })
    }

    /// Whether the stream at the transmitter exists and has been verified.
    pub async fn ready(&self) -> bool {
        matches!(self.store.get_stream(PEER).await, Ok(Some(r)) if r.last_verified_at.is_some())
    }

    /// Waits until [`ready`](Self::ready), at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ConsoleError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.ready().await {
            if tokio::time::Instant::now() >= deadline {
                return Err(ConsoleError::NotReady);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the server and the receiver tasks and waits for them.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }

    /// [`stop`](Self::stop), consuming the console.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }
}
