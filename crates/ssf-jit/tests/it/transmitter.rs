//! End to end with the real transmitter: ticket webhook -> bridge -> `POST /oauth/token` and
//! `POST /events` -> one signed SET on the app's poll stream, carrying the ticket event as `txn`.

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_jose::{Algorithm, KeyPair, MemoryKeyStore, SetSigner};
use ssf_store::SqliteStore;
use ssf_transmitter::{AppState, TransmitterConfig, auth::hash_secret, config::ClientSettings};
use ssf_types::{Clock, KeyId, ManualClock, UnixMillis};
use tokio_util::sync::CancellationToken;

use crate::support::{CLIENT_ID, CLIENT_SECRET, Harness, T0, TOKEN_CLAIMS_CHANGE, generic_event};

pub(crate) const APP: &str = "customer-app";
const APP_SECRET: &str = "customer-app-secret-0123456789abcdef";

pub(crate) struct Transmitter {
    pub(crate) base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Transmitter {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub(crate) async fn start_transmitter() -> Transmitter {
    ssf_jose::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(UnixMillis::from_secs(T0)));
    let mut config = TransmitterConfig::default();
    config.issuer = base.clone();
    config.auth.clients = vec![
        ClientSettings::new(
            CLIENT_ID,
            hash_secret(CLIENT_SECRET),
            ["ssf.events.publish"],
        ),
        ClientSettings::new(APP, hash_secret(APP_SECRET), ["ssf.read", "ssf.manage"])
            .with_audience("https://app.example.com"),
    ];
    config.auth.http = ssf_http::ClientConfig::dev_loopback();
    config.push.http = ssf_http::ClientConfig::dev_loopback();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_path(dir.path().join("transmitter.db"), clock.clone())
        .await
        .unwrap();
    let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("tx-key"))).unwrap();
    let signer = SetSigner::new(Arc::new(MemoryKeyStore::with_current(clock.clone(), key)));
    let shutdown = CancellationToken::new();
    let state = AppState::new(config, Arc::new(store), signer, clock, shutdown.clone());
    tokio::spawn(ssf_transmitter::router::serve(listener, state));
    Transmitter {
        base,
        shutdown,
        _dir: dir,
    }
}

async fn app_token(http: &reqwest::Client, tx: &Transmitter) -> String {
    let response = http
        .post(format!("{}/oauth/token", tx.base))
        .basic_auth(APP, Some(APP_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A poll stream of `token-claims-change` for the app: its token and the stream id.
pub(crate) async fn app_stream(http: &reqwest::Client, tx: &Transmitter) -> (String, String) {
    let token = app_token(http, tx).await;
    let created = http
        .post(format!("{}/ssf/streams", tx.base))
        .bearer_auth(&token)
        .json(&json!({"events_requested": [TOKEN_CLAIMS_CHANGE]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let stream = created.json::<Value>().await.unwrap()["stream_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, stream)
}

/// One poll request on the app's stream.
pub(crate) async fn poll(
    http: &reqwest::Client,
    tx: &Transmitter,
    token: &str,
    stream: &str,
    body: &Value,
) -> Value {
    http.post(format!("{}/ssf/poll/{stream}", tx.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn payload(jwt: &str) -> Value {
    let middle = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).unwrap()).unwrap()
}

#[tokio::test]
async fn a_ticket_assignment_reaches_the_app_as_one_signed_set() {
    let tx = start_transmitter().await;
    let base = tx.base.clone();
    let h = Harness::with(move |c| {
        c.emitter.events_url = Some(format!("{base}/events"));
        c.emitter.token_url = Some(format!("{base}/oauth/token"));
    })
    .await;
    let (token, stream_id) = app_stream(&h.http, &tx).await;

    h.generic(&generic_event(
        "evt-1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    assert_eq!(h.flush().await.sent, 1);
    let answer = &h.bridge.store().outbox(None).await.unwrap()[0];
    let jti = answer.response.as_ref().unwrap()["jtis"][0]
        .as_str()
        .unwrap()
        .to_owned();

    let polled = poll(
        &h.http,
        &tx,
        &token,
        &stream_id,
        &json!({"returnImmediately": true}),
    )
    .await;
    let sets = polled["sets"].as_object().unwrap();
    let set = sets
        .get(&jti)
        .unwrap_or_else(|| panic!("the SET {jti} is on the stream: {polled}"));
    let claims = payload(set.as_str().unwrap());
    assert_eq!(claims["txn"], "generic:SUP-42:evt-1", "ticket -> SET");
    assert_eq!(claims["aud"], "https://app.example.com");
    assert_eq!(
        claims["sub_id"],
        json!({"format": "email", "email": "jane@example.com"})
    );
    assert_eq!(
        claims["events"][TOKEN_CLAIMS_CHANGE]["claims"],
        json!({"customer_id": "C2148", "access_allowed": "read_write", "expires_at": T0 + 8 * 3600})
    );
    // The audit trail names the SET: ticket event -> grant -> queued -> sent (jti).
    let audit = h
        .bridge
        .store()
        .audit(Some(("generic", "SUP-42")))
        .await
        .unwrap();
    let sent = audit.iter().find(|a| a.action == "sent").unwrap();
    assert_eq!(sent.detail["jtis"], json!([jti]));
    assert_eq!(sent.txn.as_deref(), Some("generic:SUP-42:evt-1"));
}
