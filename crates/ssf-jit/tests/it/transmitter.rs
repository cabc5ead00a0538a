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

/// What a lossy proxy between the bridge and the transmitter saw: the idempotency keys of the
/// requests it forwarded.
#[derive(Default)]
struct Lossy {
    keys: std::sync::Mutex<Vec<String>>,
}

/// A proxy in front of `tx` that forwards every `POST /events` but loses the first answer, as a
/// reset connection or a gateway's `502` would: the event is queued, the bridge hears `503`.
async fn lossy_proxy(tx: &Transmitter) -> (String, Arc<Lossy>) {
    use axum::{
        extract::State,
        http::{HeaderMap, StatusCode as Status},
        routing::post,
    };
    let seen = Arc::new(Lossy::default());
    let upstream = format!("{}/events", tx.base);
    let forward = move |State(seen): State<Arc<Lossy>>, headers: HeaderMap, body: String| {
        let upstream = upstream.clone();
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let first = {
                let mut keys = seen.keys.lock().unwrap();
                keys.push(key.clone());
                keys.len() == 1
            };
            let mut request = reqwest::Client::new()
                .post(upstream)
                .header("content-type", "application/json")
                .body(body);
            if let Some(auth) = headers.get("authorization") {
                request = request.header("authorization", auth.as_bytes());
            }
            if !key.is_empty() {
                request = request.header("idempotency-key", key);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            if first {
                return (Status::SERVICE_UNAVAILABLE, String::new());
            }
            (Status::from_u16(status).unwrap(), text)
        }
    };
    let app = axum::Router::new()
        .route("/events", post(forward))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

/// D-JIT-17: the transmitter queued the grant but the bridge never heard its `202`. The retry
/// carries the same `Idempotency-Key`, so the transmitter answers it from its record (D-TX-16):
/// the app gets one SET, not two, and the audit names that SET.
#[tokio::test]
async fn a_lost_answer_is_retried_without_a_second_set() {
    let tx = start_transmitter().await;
    let (proxy, seen) = lossy_proxy(&tx).await;
    let base = tx.base.clone();
    let h = Harness::with(move |c| {
        c.emitter.events_url = Some(format!("{proxy}/events"));
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
    let first = h.flush().await;
    assert_eq!((first.sent, first.retried), (0, 1), "the answer was lost");
    h.advance_secs(2); // past the first backoff step
    assert_eq!(h.flush().await.sent, 1, "the retry is answered");

    let keys = seen.keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys[0].starts_with("jit-") && keys[0].len() == 68,
        "{keys:?}"
    );
    assert_eq!(keys[0], keys[1], "the retry reuses the key");

    let row = &h.bridge.store().outbox(None).await.unwrap()[0];
    let jtis = row.response.as_ref().unwrap()["jtis"].clone();
    let polled = poll(
        &h.http,
        &tx,
        &token,
        &stream_id,
        &json!({"returnImmediately": true, "maxEvents": 10}),
    )
    .await;
    let sets = polled["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "one SET for one grant: {polled}");
    assert_eq!(
        json!([sets.keys().next().unwrap()]),
        jtis,
        "the first answer's jti"
    );
}
