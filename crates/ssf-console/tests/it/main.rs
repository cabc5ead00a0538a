//! The operator console over real HTTP: a transmitter on an SQLite store in a tempdir, real
//! signing keys, the console's router on 127.0.0.1 (browser flows: ssf-cli's `console` tests).

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns panic on purpose

mod security;
mod streams;

use std::{sync::Arc, time::Duration};

use reqwest::{StatusCode, header, redirect::Policy};
use ssf_console::{ConsoleConfig, Sources};
use ssf_jose::{Algorithm, KeyPair, MemoryKeyStore, SetSigner};
use ssf_store::{DeliveryError, DeliveryMethod, NewStream, SqliteStore, TransmitterStore};
use ssf_transmitter::{AppState, TransmitterConfig, auth::hash_secret};
use ssf_types::{Clock, KeyId, StreamId, SystemClock};
use tokio_util::sync::CancellationToken;

/// The admin token of every test console.
pub(crate) const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef-test-admin-token";

/// A console over a transmitter, served on loopback.
pub(crate) struct Harness {
    pub(crate) base: String,
    pub(crate) state: AppState,
    pub(crate) http: reqwest::Client,
    _dir: tempfile::TempDir,
    _shutdown: CancellationToken,
}

impl Harness {
    pub(crate) async fn start() -> Self {
        ssf_jose::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = SqliteStore::open_path(dir.path().join("tx.db"), Arc::clone(&clock))
            .await
            .unwrap();
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
        let signer = SetSigner::new(Arc::new(MemoryKeyStore::with_current(
            Arc::clone(&clock),
            key,
        )));
        let mut config = TransmitterConfig::default();
        config.issuer = "https://tx.example.com".to_owned();
        let shutdown = CancellationToken::new();
        let state = AppState::new(
            config,
            Arc::new(store),
            signer,
            Arc::clone(&clock),
            shutdown.clone(),
        );
        let sources = Sources {
            transmitter: Some(state.clone()),
            ..Sources::default()
        };
        let app = ssf_console::router(ConsoleConfig::new(hash_secret(ADMIN_TOKEN)), sources, clock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            base,
            state,
            http,
            _dir: dir,
            _shutdown: shutdown,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in; returns the `Cookie` header value of the session.
    pub(crate) async fn sign_in(&self) -> String {
        let response = self
            .http
            .post(self.url("/console/sign-in"))
            .form(&[("token", ADMIN_TOKEN), ("next", "/console/")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// `GET path` with the session; returns status and body.
    pub(crate) async fn get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(self.url(path))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// `POST path` with the session and `form`; returns status and `Location`.
    pub(crate) async fn post(
        &self,
        cookie: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let response = self
            .http
            .post(self.url(path))
            .header(header::COOKIE, cookie)
            .header(header::ORIGIN, &self.base)
            .form(form)
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status(), location)
    }

    /// A push stream of `client` with a bearer authorization header, and one SET on it parked
    /// as a dead letter (retries exhausted), as the push worker would leave it.
    pub(crate) async fn stream_with_dead_letter(&self, client: &str) -> (StreamId, String) {
        let id = StreamId::new(format!("st-{}", uuid_like()));
        let config = serde_json::json!({
            "stream_id": id.as_str(),
            "iss": "https://tx.example.com",
            "aud": "https://rx.example.com",
            "events_delivered": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"],
            "delivery": {
                "method": "urn:ietf:rfc:8935",
                "endpoint_url": "https://rx.example.com/ssf/push/tx",
                "authorization_header": "Bearer do-not-show-this-secret"
            }
        });
        let record = self
            .state
            .store
            .create_stream(NewStream::new(
                id.clone(),
                client,
                DeliveryMethod::Push,
                config,
            ))
            .await
            .unwrap();
        let jti = ssf_transmitter::control_events::enqueue_verification(&self.state, &record, None)
            .await
            .unwrap()
            .unwrap();
        let claimed = self
            .state
            .store
            .claim_push("test", 10, Duration::from_secs(60))
            .await
            .unwrap();
        let row = claimed.iter().find(|c| c.jti == jti).unwrap();
        self.state
            .store
            .dead_letter(
                "test",
                row.id,
                DeliveryError::new("http_503", "receiver down"),
            )
            .await
            .unwrap();
        (id, jti.as_str().to_owned())
    }
}

fn uuid_like() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

/// The value of `name="csrf"` in a page.
pub(crate) fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Whether the store still has `jti` parked.
pub(crate) async fn parked(store: &Arc<dyn TransmitterStore>, jti: &str) -> bool {
    store
        .list_parked(ssf_store::ParkedQuery {
            limit: 100,
            ..ssf_store::ParkedQuery::default()
        })
        .await
        .unwrap()
        .iter()
        .any(|e| e.jti.as_str() == jti)
}
