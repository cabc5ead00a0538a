//! The test harness: a real transmitter on `127.0.0.1:0` with a SQLite store in a temp dir (or
//! the store a test gives, [`Builder::store`]), a generated signing key, OAuth clients with known
//! secrets, and a `reqwest` client.
//!
//! ```ignore
//! let server = TestServer::start().await;                       // defaults
//! let server = TestServer::builder().manual_clock().with_workers().start().await;
//! let token = server.token(RECEIVER).await;                     // via POST /oauth/token
//! let stream = server.create_stream(&token, json!({})).await;   // 201, returns the config
//! let resp = server.post(paths::STATUS).bearer_auth(&token).json(&body).send().await?;
//! ```
#![allow(dead_code, unreachable_pub)]

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, routing::get};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use ssf_http::ClientConfig;
use ssf_jose::{Algorithm, KeyPair, KeyStore, MemoryKeyStore, SetSigner, SigningKey};
use ssf_store::{SqliteStore, TransmitterStore};
use ssf_transmitter::{
    AppState, TransmitterConfig,
    auth::{Scope, hash_secret, issue_access_token, jwt},
    config::{ClientSettings, ExternalIssuerSettings},
    metadata::paths,
    router,
    secrets::SecretsCipher,
};
use ssf_types::{Clock, KeyId, ManualClock, SystemClock, UnixMillis};
use tempfile::TempDir;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// A receiver with `ssf.read` and `ssf.manage`.
pub const RECEIVER: &str = "receiver-1";
/// A second receiver with `ssf.read` and `ssf.manage` (isolation tests).
pub const RECEIVER_2: &str = "receiver-2";
/// A receiver with `ssf.read` only.
pub const READER: &str = "reader";
/// An event producer with `ssf.events.publish` only.
pub const PRODUCER: &str = "producer";
/// A client with every scope.
pub const ADMIN: &str = "admin";

/// The client secret of a test client.
pub fn secret_of(client_id: &str) -> String {
    format!("secret-of-{client_id}-0123456789abcdef")
}

/// The SET audience of a test client's streams.
pub fn audience_of(client_id: &str) -> String {
    format!("https://{client_id}.example.com")
}

/// The clients every test server knows.
pub fn test_clients() -> Vec<ClientSettings> {
    let c = |id: &str, scopes: &[&str]| {
        ClientSettings::new(id, hash_secret(&secret_of(id)), scopes.iter().copied())
            .with_audience(audience_of(id))
    };
    vec![
        c(RECEIVER, &["ssf.read", "ssf.manage"]),
        c(RECEIVER_2, &["ssf.read", "ssf.manage"]),
        c(READER, &["ssf.read"]),
        c(PRODUCER, &["ssf.events.publish"]),
        c(ADMIN, &["ssf.read", "ssf.manage", "ssf.events.publish"]),
    ]
}

type Configure = Box<dyn FnOnce(&mut TransmitterConfig) + Send>;

/// Options of a [`TestServer`].
pub struct Builder {
    issuer: Option<String>,
    issuer_path: String,
    manual_clock: Option<UnixMillis>,
    alg: Algorithm,
    workers: bool,
    configure: Vec<Configure>,
    store: Option<Arc<dyn TransmitterStore>>,
    postgres: Option<Arc<crate::postgres::Schema>>,
    secrets: Option<SecretsCipher>,
}

impl Builder {
    /// A fixed issuer instead of `http://127.0.0.1:<port>` (e.g. `https://tx.example.com/t1`);
    /// endpoints are still reached on loopback through [`TestServer::url`].
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The issuer `http://127.0.0.1:<port><path>` (path insertion tests).
    pub fn issuer_path(mut self, path: impl Into<String>) -> Self {
        self.issuer_path = path.into();
        self
    }

    /// Use a [`ManualClock`] starting at 2025-01-01T00:00:00Z instead of the system clock.
    pub fn manual_clock(mut self) -> Self {
        self.manual_clock = Some(UnixMillis::from_secs(1_735_689_600));
        self
    }

    /// The signing algorithm of the generated key (default RS256).
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    /// Also start the background tasks (push workers, reaper, inactivity sweep).
    pub fn with_workers(mut self) -> Self {
        self.workers = true;
        self
    }

    /// Use `store` (e.g. a `PgStore` shared with other nodes) instead of a fresh SQLite file.
    pub fn store(mut self, store: Arc<dyn TransmitterStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Keep the state in `schema` on PostgreSQL (a `PgStore` on the server's clock) instead of a
    /// fresh SQLite file; [`crate::postgres::Db::builder`] picks this or SQLite.
    pub fn postgres(mut self, schema: Arc<crate::postgres::Schema>) -> Self {
        self.postgres = Some(schema);
        self
    }

    /// Encrypt stored secrets with `cipher` (default: a key for this server only).
    pub fn secrets(mut self, cipher: SecretsCipher) -> Self {
        self.secrets = Some(cipher);
        self
    }

    /// Changes the configuration before the server starts.
    pub fn configure(mut self, f: impl FnOnce(&mut TransmitterConfig) + Send + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Starts the server.
    pub async fn start(self) -> TestServer {
        ssf_jose::install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let base = format!("http://{addr}");
        let manual = self.manual_clock.map(ManualClock::new);
        let clock: Arc<dyn Clock> = match &manual {
            Some(m) => Arc::new(m.clone()),
            None => Arc::new(SystemClock),
        };
        let mut config = TransmitterConfig::default();
        config.issuer = self
            .issuer
            .unwrap_or_else(|| format!("{base}{}", self.issuer_path));
        config.auth.clients = test_clients();
        config.auth.http = ClientConfig::dev_loopback();
        config.push.http = ClientConfig::dev_loopback();
        for f in self.configure {
            f(&mut config);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn TransmitterStore> = match (self.store, &self.postgres) {
            (Some(store), _) => store,
            (None, Some(schema)) => schema.node_with(clock.clone()).await,
            (None, None) => Arc::new(
                SqliteStore::open_path(dir.path().join("transmitter.db"), clock.clone())
                    .await
                    .expect("open store"),
            ),
        };
        let key = KeyPair::generate(self.alg, Some(KeyId::new("key-1"))).expect("key");
        let keys = Arc::new(MemoryKeyStore::with_current(clock.clone(), key));
        let signer = SetSigner::new(keys.clone());
        let shutdown = CancellationToken::new();
        let secrets = self.secrets.unwrap_or_else(SecretsCipher::ephemeral);
        let state = AppState::with_secrets(config, store, signer, clock, shutdown.clone(), secrets);
        let workers = self
            .workers
            .then(|| ssf_transmitter::workers::Transmitter::start(&state).expect("start workers"));
        let task = tokio::spawn(router::serve(listener, state.clone()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client");
        TestServer {
            base,
            state,
            keys,
            manual,
            http,
            shutdown,
            task,
            workers,
            _dir: dir,
            _postgres: self.postgres,
        }
    }
}

/// A running transmitter.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's state (store, config, clock, signer).
    pub state: AppState,
    /// The key store (stage/promote/retire for rotation tests).
    pub keys: Arc<MemoryKeyStore>,
    /// The clock, when the server was built with [`Builder::manual_clock`].
    pub manual: Option<ManualClock>,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    workers: Option<ssf_transmitter::workers::Workers>,
    _dir: TempDir,
    _postgres: Option<Arc<crate::postgres::Schema>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestServer {
    /// Options.
    pub fn builder() -> Builder {
        Builder {
            issuer: None,
            issuer_path: String::new(),
            manual_clock: None,
            alg: Algorithm::Rs256,
            workers: false,
            configure: Vec::new(),
            store: None,
            postgres: None,
            secrets: None,
        }
    }

    /// A server with the defaults: system clock, RS256, no background tasks.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.state.config.issuer
    }

    /// The loopback URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Moves the manual clock forward (panics without [`Builder::manual_clock`]).
    pub fn advance(&self, secs: i64) {
        self.manual
            .as_ref()
            .expect("built with manual_clock()")
            .advance(secs * 1000);
    }

    /// A request to `path` on this server.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A token for a test client with all its scopes, from `POST /oauth/token`
    /// (client_secret_basic).
    pub async fn token(&self, client_id: &str) -> String {
        self.token_with_scope(client_id, None).await
    }

    /// A token for a test client narrowed to `scope` (space-separated), from the token endpoint.
    pub async fn token_with_scope(&self, client_id: &str, scope: Option<&str>) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = scope {
            form.append_pair("scope", scope);
        }
        let response = self
            .post(paths::TOKEN)
            .basic_auth(client_id, Some(secret_of(client_id)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::OK, "token for {client_id}");
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A token minted in process (no HTTP) for `client_id` with `scopes`.
    pub fn mint_token(&self, client_id: &str, scopes: &[Scope]) -> String {
        let scopes = scopes.iter().copied().collect();
        issue_access_token(&self.state, client_id, &scopes)
            .expect("mint token")
            .0
    }

    /// `POST` the configuration endpoint; asserts `201` and returns the configuration.
    pub async fn create_stream(&self, token: &str, body: Value) -> Value {
        let response = self
            .post(paths::STREAMS)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("create stream");
        let status = response.status();
        let config: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::CREATED, "create stream: {config}");
        config
    }

    /// A poll stream requesting CAEP session-revoked; returns its `stream_id`.
    pub async fn create_poll_stream(&self, token: &str) -> String {
        let body = json!({ "events_requested": [SESSION_REVOKED] });
        let config = self.create_stream(token, body).await;
        config["stream_id"].as_str().expect("stream_id").to_owned()
    }

    /// Stops the server and the background tasks and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(workers) = self.workers.take() {
            workers.join().await;
        }
    }
}

/// The CAEP session-revoked event type.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// The CAEP credential-change event type.
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";

/// The JSON body of a response (`Null` when it is empty or not JSON).
pub async fn body_json(response: Response) -> Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// An external OAuth authorization server on loopback: serves its JWKS and mints tokens.
pub struct ExternalIdp {
    /// Its issuer (`http://127.0.0.1:<port>`).
    pub issuer: String,
    /// Its JWKS URL.
    pub jwks_uri: String,
    key: KeyPair,
    task: JoinHandle<()>,
}

impl Drop for ExternalIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ExternalIdp {
    /// Starts the JWKS server with a fresh ES256 key.
    pub async fn start() -> Self {
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("idp-key"))).expect("key");
        let jwks = json!({ "keys": [key.public_jwk()] });
        let app = Router::new().route("/jwks", get(move || async move { Json(jwks) }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            jwks_uri: format!("{issuer}/jwks"),
            issuer,
            key,
            task,
        }
    }

    /// The settings that make a transmitter accept this issuer's tokens for `audience`.
    pub fn settings(&self, audience: &str) -> ExternalIssuerSettings {
        ExternalIssuerSettings::new(&self.issuer, &self.jwks_uri, audience)
    }

    /// A token with `claims` (which should hold `iss`, `aud`, `exp`), typ `at+jwt`.
    pub fn token(&self, claims: &Value) -> String {
        jwt::encode_jwt(&self.key, "at+jwt", claims).expect("sign")
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        self.key.kid().as_str()
    }
}

/// Seconds since the epoch on `server`'s clock.
pub fn now_secs(server: &TestServer) -> i64 {
    server.state.clock.now().as_secs()
}

/// Keeps `KeyStore` in scope for rotation tests.
pub fn current_kid(server: &TestServer) -> String {
    server
        .keys
        .current()
        .expect("current key")
        .kid()
        .to_string()
}
