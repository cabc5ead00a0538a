//! The parties of the scenario, each on its own loopback port with its own embedded store in a
//! temporary directory:
//! - the IdP / transmitter (`ssf-transmitter`, a generated RS256 key; the IdP signs Jane's
//!   access token with a key of its own);
//! - the ticket bridge (`ssf-jit`: webhooks in, `token-claims-change` out through the
//!   transmitter's `POST /events` with its own OAuth client);
//! - the support console (`support-console`: routes behind the enforcement layer, a receiver
//!   whose push stream it creates through the transmitter's management API, an AuthZEN PDP);
//! - the risk engine: an OAuth client of the transmitter that publishes `session-revoked` (and,
//!   by its allow list, nothing else; only the bridge's client may publish claims changes).

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use ssf_http::ClientConfig;
use ssf_jit::{Bridge, JitConfig, SystemConfig, SystemKind, WebhookAuth, config::GroupRule};
use ssf_jose::{Algorithm, KeyPair, MemoryKeyStore, SetSigner, SigningKey};
use ssf_store::SqliteStore;
use ssf_transmitter::{
    AppState, TransmitterConfig,
    auth::{hash_secret, jwt::encode_jwt},
    config::ClientSettings,
    metadata::paths,
};
use ssf_types::{Clock, KeyId};
use support_console::{Console, ConsoleConfig, INCIDENT_RESPONDERS, SUPPORT_AGENT};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::DemoError;

/// Jane's e-mail address.
pub const JANE: &str = "jane@example.com";
/// Jane's subject at the IdP.
pub const JANE_SUB: &str = "u-jane";
/// The ticket system's name (`/jit/webhooks/helpdesk`).
pub const HELPDESK: &str = "helpdesk";
/// The incident system's name (`/jit/webhooks/incidents`): its tickets put the assignee in a
/// dynamic group instead of granting an asset.
pub const INCIDENTS: &str = "incidents";
/// The incident tickets' assignment group that makes their assignee an incident responder.
pub const MAJOR_INCIDENT_TEAM: &str = "Major Incident Response";
/// The console's client id at the transmitter.
pub const CONSOLE_CLIENT: &str = "support-console";
/// The ticket bridge's client id at the transmitter.
pub const BRIDGE_CLIENT: &str = "ticket-bridge";
/// The risk engine's client id at the transmitter.
pub const RISK_CLIENT: &str = "risk-engine";
/// The SET audience of the console's stream.
pub const CONSOLE_AUDIENCE: &str = "https://console.demo.example";
/// The `aud` of Jane's access token.
pub const TOKEN_AUDIENCE: &str = "support-console";

async fn bind() -> Result<(TcpListener, String), DemoError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| DemoError::start("bind 127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| DemoError::start("local address", e))?;
    Ok((listener, format!("http://{addr}")))
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The operator console of the demo: where it is and how to sign in.
#[derive(Debug, Clone)]
pub struct OperatorConsole {
    /// Its URL (`http://127.0.0.1:<port>/console/`).
    pub url: String,
    /// The admin token to sign in with.
    pub token: String,
}

/// Everything running. Dropping it stops every task.
#[derive(Debug)]
pub struct World {
    /// The transmitter's base URL (also its issuer and the IdP's).
    pub transmitter_url: String,
    /// The ticket bridge's base URL.
    pub bridge_url: String,
    /// The console.
    pub console: Console,
    /// The webhook secret of the helpdesk system (`Authorization: Bearer <secret>`).
    pub webhook_secret: String,
    /// The operator console (`ssf-console`) once [`World::start_operator_console`] ran.
    pub operator_console: Option<OperatorConsole>,
    /// The risk engine's client secret.
    pub(crate) risk_secret: String,
    idp_key: KeyPair,
    transmitter: AppState,
    bridge: Bridge,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _dir: TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl World {
    /// Starts every party and waits (at most `ready_timeout`) until the console's stream is
    /// verified.
    pub async fn start(clock: Arc<dyn Clock>, ready_timeout: Duration) -> Result<Self, DemoError> {
        ssf_jose::install_crypto_provider();
        let dir = tempfile::tempdir().map_err(|e| DemoError::start("tempdir", e))?;
        let shutdown = CancellationToken::new();
        let console_secret = random_secret();
        let bridge_secret = random_secret();
        let risk_secret = random_secret();
        let webhook_secret = random_secret();

        // The IdP / transmitter.
        let (tx_listener, transmitter_url) = bind().await?;
        let mut config = TransmitterConfig::default();
        config.issuer.clone_from(&transmitter_url);
        config.auth.clients = vec![
            ClientSettings::new(
                CONSOLE_CLIENT,
                hash_secret(&console_secret),
                ["ssf.read", "ssf.manage"],
            )
            .with_audience(CONSOLE_AUDIENCE),
            // Least privilege (D-TX-15): only the bridge grants, with its claims only; the
            // risk engine only revokes sessions.
            ClientSettings::new(
                BRIDGE_CLIENT,
                hash_secret(&bridge_secret),
                ["ssf.events.publish"],
            )
            .with_events(["token-claims-change"])
            .with_claims({
                let names = ssf_jit::config::ClaimNames::default();
                [
                    names.asset,
                    names.access,
                    names.expires,
                    names.groups_add,
                    names.groups_remove,
                ]
            }),
            ClientSettings::new(
                RISK_CLIENT,
                hash_secret(&risk_secret),
                ["ssf.events.publish"],
            )
            .with_events(["session-revoked"]),
        ];
        config.auth.http = ClientConfig::dev_loopback();
        config.push.http = ClientConfig::dev_loopback();
        let store = SqliteStore::open_path(dir.path().join("transmitter.db"), Arc::clone(&clock))
            .await
            .map_err(|e| DemoError::start("transmitter store", e))?;
        let tx_key = KeyPair::generate(Algorithm::Rs256, Some(KeyId::new("tx-1")))
            .map_err(|e| DemoError::start("transmitter key", e))?;
        let signer = SetSigner::new(Arc::new(MemoryKeyStore::with_current(
            Arc::clone(&clock),
            tx_key,
        )));
        let state = AppState::new(
            config,
            Arc::new(store),
            signer,
            Arc::clone(&clock),
            shutdown.clone(),
        );
        let transmitter = state.clone();
        let workers = ssf_transmitter::workers::Transmitter::start(&state)
            .map_err(|e| DemoError::start("transmitter workers", e))?;
        tokio::spawn(async move {
            if let Err(e) = ssf_transmitter::router::serve(tx_listener, state).await {
                tracing::error!(error = %e, "demo transmitter stopped");
            }
            workers.join().await;
        });

        // The ticket bridge.
        let (jit_listener, bridge_url) = bind().await?;
        let mut jit = JitConfig::default();
        jit.database = Some(dir.path().join("jit.db").display().to_string());
        let mut system = SystemConfig::new(SystemKind::Generic, webhook_secret.clone());
        system.auth = Some(WebhookAuth::Token);
        jit.systems.insert(HELPDESK.to_owned(), system);
        // The second coexistence model: an incident's assignee joins a dynamic group.
        let mut incidents = SystemConfig::new(SystemKind::Generic, webhook_secret.clone());
        incidents.auth = Some(WebhookAuth::Token);
        let mut group = GroupRule::default();
        group.field = Some("assignment_group".to_owned());
        group.map.insert(
            MAJOR_INCIDENT_TEAM.to_owned(),
            INCIDENT_RESPONDERS.to_owned(),
        );
        incidents.rules.group = Some(group);
        jit.systems.insert(INCIDENTS.to_owned(), incidents);
        jit.emitter.events_url = Some(format!("{transmitter_url}{}", paths::EVENTS));
        jit.emitter.token_url = Some(format!("{transmitter_url}{}", paths::TOKEN));
        jit.emitter.client_id = Some(BRIDGE_CLIENT.to_owned());
        jit.emitter.client_secret = Some(bridge_secret.into());
        jit.emitter.http = ClientConfig::dev_loopback();
        let bridge = Bridge::open(jit, Arc::clone(&clock))
            .await
            .map_err(|e| DemoError::start("ticket bridge", e))?;
        let bridge_workers = bridge
            .start(shutdown.clone())
            .map_err(|e| DemoError::start("ticket bridge workers", e))?;
        let app = ssf_jit::router(bridge.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _keep = bridge_workers;
            let serve =
                axum::serve(jit_listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "demo ticket bridge stopped");
            }
        });

        // The support console, trusting the IdP's token key.
        let idp_key = KeyPair::generate(Algorithm::Rs256, Some(KeyId::new("idp-1")))
            .map_err(|e| DemoError::start("IdP key", e))?;
        let jwks = json!({ "keys": [idp_key.public_jwk()] });
        let (console_listener, _) = bind().await?;
        let mut console_config = ConsoleConfig::new(
            transmitter_url.clone(),
            CONSOLE_CLIENT,
            console_secret,
            CONSOLE_AUDIENCE,
            jwks,
            dir.path().join("console"),
        );
        console_config.token_audience = Some(TOKEN_AUDIENCE.to_owned());
        console_config.dev_loopback = true;
        let console = Console::start(console_config, console_listener, Arc::clone(&clock))
            .await
            .map_err(|e| DemoError::start("support console", e))?;
        console
            .wait_ready(ready_timeout)
            .await
            .map_err(|e| DemoError::start("support console", e))?;

        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DemoError::start("HTTP client", e))?;
        Ok(Self {
            transmitter_url,
            bridge_url,
            console,
            webhook_secret,
            operator_console: None,
            risk_secret,
            idp_key,
            transmitter,
            bridge,
            clock,
            http,
            shutdown,
            _dir: dir,
        })
    }

    /// The HTTP client of the demo's callers (Jane's browser, the helpdesk, the risk engine).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The IdP signs Jane in: an RS256 access token (RFC 9068 `at+jwt`) for the console with
    /// `sub`, `email`, `sid`, `iat`, `auth_time`, `acr`, `exp` (1 h) and role `support-agent`.
    pub fn sign_in_jane(&self, session_id: &str) -> Result<String, DemoError> {
        let now = self.clock.now().as_secs();
        let claims = json!({
            "iss": self.transmitter_url,
            "sub": JANE_SUB,
            "aud": TOKEN_AUDIENCE,
            "email": JANE,
            "sid": session_id,
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
            "acr": "nist-aal2",
            "roles": [SUPPORT_AGENT],
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        encode_jwt(&self.idp_key, "at+jwt", &claims)
            .map_err(|e| DemoError::start("signing Jane's token", e))
    }

    /// The URL of the helpdesk webhook at the bridge.
    pub fn webhook_url(&self) -> String {
        self.webhook_url_of(HELPDESK)
    }

    /// The URL of the webhook of ticket system `system` at the bridge.
    pub fn webhook_url_of(&self, system: &str) -> String {
        format!("{}/jit/webhooks/{system}", self.bridge_url)
    }

    /// A generic incident webhook body: incident `ticket` of the major-incident team.
    pub fn incident_event(&self, ticket: &str, event_type: &str) -> Value {
        let mut body = self.ticket_event(ticket, event_type, "-");
        body["fields"] = json!({"assignment_group": MAJOR_INCIDENT_TEAM});
        body
    }

    /// A generic ticket webhook body for case `ticket` about `customer`.
    pub fn ticket_event(&self, ticket: &str, event_type: &str, customer: &str) -> Value {
        let mut body = json!({
            "ticket_id": ticket,
            "event_id": uuid::Uuid::new_v4().to_string(),
            "event_type": event_type,
            "occurred_at": self.clock.now().0,
            "state": if matches!(event_type, "closed" | "resolved" | "cancelled") { "closed" } else { "open" },
            "fields": {"customer_id": customer},
        });
        if event_type == "assigned"
            && let Some(map) = body.as_object_mut()
        {
            map.insert("assignee".into(), json!({"email": JANE}));
        }
        body
    }

    /// A token of the risk engine's client from the transmitter's token endpoint.
    pub async fn risk_engine_token(&self) -> Result<String, DemoError> {
        let response = self
            .http
            .post(format!("{}{}", self.transmitter_url, paths::TOKEN))
            .basic_auth(RISK_CLIENT, Some(&self.risk_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=ssf.events.publish")
            .send()
            .await
            .map_err(|e| DemoError::Http {
                what: "token endpoint",
                source: e.into(),
            })?;
        let body: Value = response.json().await.map_err(|e| DemoError::Http {
            what: "token endpoint",
            source: e.into(),
        })?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DemoError::Http {
                what: "token endpoint",
                source: format!("answered {body}").into(),
            })
    }

    /// Starts the operator console on its own loopback port, over the transmitter, the support
    /// console's receiver and engine, and the ticket bridge, with a fresh admin token
    /// ([`World::operator_console`]). `metrics` feeds its charts.
    pub async fn start_operator_console(
        &mut self,
        metrics: Option<ssf_console::MetricsText>,
    ) -> Result<&OperatorConsole, DemoError> {
        let (listener, url) = bind().await?;
        let token = random_secret();
        let sources = ssf_console::Sources {
            transmitter: Some(self.transmitter.clone()),
            receiver: Some(ssf_console::ReceiverSource {
                store: Arc::clone(&self.console.store),
                receiver: Arc::clone(&self.console.receiver),
                peers: None,
            }),
            engine: Some(Arc::clone(&self.console.engine)),
            bridge: Some(self.bridge.clone()),
            metrics,
        };
        let config = ssf_console::ConsoleConfig::new(hash_secret(&token));
        let app = ssf_console::router(config, sources, Arc::clone(&self.clock));
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "demo operator console stopped");
            }
        });
        Ok(self.operator_console.insert(OperatorConsole {
            url: format!("{url}/console/"),
            token,
        }))
    }

    /// The transmitter's ingest URL.
    pub fn events_url(&self) -> String {
        format!("{}{}", self.transmitter_url, paths::EVENTS)
    }

    /// Stops everything and waits for the console's tasks.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.console.stop().await;
    }
}
