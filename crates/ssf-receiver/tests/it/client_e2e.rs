//! End to end against the real transmitter (`ssf-transmitter`) on loopback: discovery with
//! path insertion, client credentials from its RFC 8414 metadata, stream creation, verification,
//! and an event from `POST /events` arriving by push and by poll, judged by the real pipeline.

use std::sync::Arc;

use serde_json::json;
use ssf_http::ClientConfig;
use ssf_jose::{KeyPair, MemoryKeyStore, SetSigner};
use ssf_receiver::config::{DeliveryMode, PeerAuth};
use ssf_store::SqliteStore;
use ssf_transmitter::{
    AppState, TransmitterConfig, auth::hash_secret, config::ClientSettings, router,
};
use ssf_types::KeyId;
use tokio_util::sync::CancellationToken;

use crate::{
    client_run::{Receiver, context, receiver, serve_push},
    client_support::{system_clock, wait_until},
    fake_tx::SESSION_REVOKED,
};

const RX: &str = "receiver-app";
const PRODUCER: &str = "producer";
const AUD: &str = "https://rx.example.com";

fn secret(id: &str) -> String {
    format!("secret-of-{id}-0123456789abcdef")
}

struct Transmitter {
    issuer: String,
    base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Transmitter {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn transmitter() -> Transmitter {
    ssf_jose::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = TransmitterConfig::default();
    config.issuer = format!("{base}/tenant1");
    config.auth.clients = vec![
        ClientSettings::new(RX, hash_secret(&secret(RX)), ["ssf.read", "ssf.manage"])
            .with_audience(AUD),
        ClientSettings::new(
            PRODUCER,
            hash_secret(&secret(PRODUCER)),
            ["ssf.events.publish"],
        ),
    ];
    config.auth.http = ClientConfig::dev_loopback();
    config.push.http = ClientConfig::dev_loopback();
    let dir = tempfile::tempdir().unwrap();
    let clock = system_clock();
    let store = SqliteStore::open_path(dir.path().join("tx.db"), clock.clone())
        .await
        .unwrap();
    let key = KeyPair::generate(ssf_jose::Algorithm::Rs256, Some(KeyId::new("key-1"))).unwrap();
    let signer = SetSigner::new(Arc::new(MemoryKeyStore::with_current(clock.clone(), key)));
    let shutdown = CancellationToken::new();
    let issuer = config.issuer.clone();
    let state = AppState::new(config, Arc::new(store), signer, clock, shutdown.clone());
    let workers = ssf_transmitter::workers::Transmitter::start(&state).unwrap();
    tokio::spawn(async move {
        let _keep = workers;
        let _ = router::serve(listener, state).await;
    });
    Transmitter {
        issuer,
        base,
        shutdown,
        _dir: dir,
    }
}

fn peer(tx: &Transmitter, name: &str, delivery: DeliveryMode) -> ssf_receiver::config::PeerConfig {
    let auth: PeerAuth = toml::from_str(&format!(
        "type = \"client_credentials\"\nclient_id = \"{RX}\"\nclient_secret = \"{}\"",
        secret(RX)
    ))
    .unwrap();
    let mut p = ssf_receiver::config::PeerConfig::new(name, tx.issuer.clone(), auth);
    p.delivery = delivery;
    p.events = vec![SESSION_REVOKED.into()];
    p.audience = Some(AUD.to_owned());
    p.push_authorization = Some(ssf_types::secret::SecretString::from(
        "Bearer e2e-push-secret".to_owned(),
    ));
    p
}

async fn emit(tx: &Transmitter, email: &str) {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/oauth/token", tx.base))
        .basic_auth(PRODUCER, Some(secret(PRODUCER)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .post(format!("{}/events", tx.base))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({
            "event_type": SESSION_REVOKED,
            "sub_id": {"format": "email", "email": email},
            "event": {"event_timestamp": crate::fake_tx::now_secs()}
        }))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

async fn verified(rx: &Receiver, key: &str) -> bool {
    rx.store
        .get_stream(key)
        .await
        .unwrap()
        .is_some_and(|r| r.last_verified_at.is_some())
}

#[tokio::test]
async fn push_and_poll_against_the_real_transmitter() {
    let tx = transmitter().await;
    let rx = receiver().await;
    let (base, server) = serve_push(&rx).await;
    let ctx = context(&rx, &base);
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();
    for (name, delivery) in [
        ("tx-push", DeliveryMode::Push),
        ("tx-poll", DeliveryMode::Poll),
    ] {
        tasks.push(tokio::spawn(ssf_receiver::setup::run_peer(
            Arc::clone(&ctx),
            peer(&tx, name, delivery),
            Arc::clone(&rx.receiver),
            Arc::clone(&rx.registry),
            cancel.clone(),
        )));
    }
    // Both streams verified: the verification SETs carried the state we recorded.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(verified(&rx, "tx-push").await && verified(&rx, "tx-poll").await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "streams not verified"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = rx.recorder.applied_count();
    emit(&tx, "alice@example.com").await;
    // One SET per stream: one pushed, one polled.
    wait_until("event applied on both streams", || {
        rx.recorder.applied_count() == before + 2
    })
    .await;
    cancel.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    server.abort();
}
