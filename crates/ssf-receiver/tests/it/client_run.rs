//! The client side wired to the server side: [`run_peer`] with the real pipeline, apply task
//! and store, against the fake transmitter — poll end to end, and push through the receiver's
//! own push endpoint.

use std::sync::Arc;

use ssf_jose::{Algorithm, KeyPair, sign_with};
use ssf_receiver::{
    apply::{Applier, ApplyOptions},
    config::{DeliveryMode, ReceiverConfig},
    handler::{EventHandler, ReceivedSet, RecordingHandler},
    peers::{PeerState, PeerStates},
    pipeline::{Pipeline, PipelineConfig},
    push::PushState,
    receive::{SetReceiver, StreamRegistry},
    router::router,
    setup::{SetupContext, StoreBook, run_peer},
};
use ssf_store::{receiver::ReceiverStore, sqlite::receiver::SqliteReceiverStore};
use ssf_types::KeyId;
use tokio_util::sync::CancellationToken;

use crate::{
    client_support::{bearer, client_credentials, http, peer, system_clock, wait_until},
    fake_tx::{self, FakeTransmitter},
};

pub(crate) struct Receiver {
    pub(crate) store: Arc<dyn ReceiverStore>,
    pub(crate) recorder: Arc<RecordingHandler>,
    /// Every SET the handler applied, in order.
    pub(crate) events: std::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<ReceivedSet>>,
    pub(crate) receiver: Arc<SetReceiver>,
    pub(crate) registry: Arc<StreamRegistry>,
    _dir: tempfile::TempDir,
}

/// Serves the receiver's push routes on loopback; returns the base URL and the server task.
pub(crate) async fn serve_push(rx: &Receiver) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(PushState::new(
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
    ));
    let server = tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    (base, server)
}

pub(crate) async fn receiver() -> Receiver {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ReceiverStore> = Arc::new(
        SqliteReceiverStore::open_path(dir.path().join("rx.db"), system_clock())
            .await
            .unwrap(),
    );
    let (recorder, events) = RecordingHandler::new();
    let applier = Applier::start(
        Arc::clone(&store),
        Arc::clone(&recorder) as Arc<dyn EventHandler>,
        system_clock(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    let pipeline = Pipeline::new(
        PipelineConfig::default(),
        Arc::clone(&store),
        system_clock(),
    );
    Receiver {
        receiver: Arc::new(SetReceiver::new(pipeline, Arc::new(applier))),
        registry: Arc::new(StreamRegistry::new()),
        store,
        recorder,
        events: std::sync::Mutex::new(events),
        _dir: dir,
    }
}

pub(crate) fn context(rx: &Receiver, public_base_url: &str) -> Arc<SetupContext> {
    let config: ReceiverConfig =
        toml::from_str(&format!("public_base_url = \"{public_base_url}\"")).unwrap();
    Arc::new(SetupContext::new(
        http(),
        system_clock(),
        config,
        Arc::new(StoreBook(Arc::clone(&rx.store))),
        vec![fake_tx::SESSION_REVOKED.into()],
    ))
}

#[tokio::test]
async fn poll_peer_end_to_end_with_the_pipeline() {
    let tx = FakeTransmitter::start().await;
    let rx = receiver().await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_peer(
        context(&rx, "https://rx.example.com"),
        peer(&tx, DeliveryMode::Poll, bearer()),
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
        cancel.clone(),
    ));
    // The verification SET the transmitter sent after our request carries the recorded state.
    wait_until("verification acknowledged", || {
        tx.shared
            .knobs()
            .acks
            .iter()
            .any(|a| a.starts_with("verify-"))
    })
    .await;
    let stream_id = rx.registry.get("idp").unwrap().stream_id.clone().unwrap();
    let record = rx.store.get_stream("idp").await.unwrap().unwrap();
    assert!(record.last_verified_at.is_some());

    let good = tx.shared.enqueue_valid();
    let stranger = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
    let forged = sign_with(&stranger, &tx.shared.claims("forged")).unwrap();
    tx.shared.enqueue("forged", forged);
    let wrong = tx
        .shared
        .enqueue_verification(stream_id.as_str(), Some("not-our-state"));
    wait_until("good acknowledged", || {
        tx.shared.knobs().acks.contains(&good)
    })
    .await;
    wait_until("two errors reported", || {
        tx.shared.knobs().set_errs.len() == 2
    })
    .await;
    {
        let k = tx.shared.knobs();
        assert_eq!(k.set_errs["forged"]["err"], "invalid_key");
        assert_eq!(k.set_errs[&wrong]["err"], "invalid_state");
    }
    // Redelivered: acknowledged again, applied once.
    let applied = rx.recorder.applied_count();
    let set = tx.shared.sign(&tx.shared.claims(&good));
    tx.shared.enqueue(&good, set);
    wait_until("acknowledged again", || {
        tx.shared
            .knobs()
            .acks
            .iter()
            .filter(|a| **a == good)
            .count()
            == 2
    })
    .await;
    assert_eq!(rx.recorder.applied_count(), applied);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// D-RX-08 over poll: the peer's `max_age` reaches the pipeline; a SET older than it is
/// reported in `setErrs` as `invalid_request`, never acknowledged nor applied.
#[tokio::test]
async fn d_rx_08_a_stale_polled_set_goes_to_set_errs() {
    let tx = FakeTransmitter::start().await;
    let rx = receiver().await;
    let mut peer = peer(&tx, DeliveryMode::Poll, bearer());
    peer.max_age = std::time::Duration::from_secs(3600);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_peer(
        context(&rx, "https://rx.example.com"),
        peer,
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
        cancel.clone(),
    ));
    wait_until("verification acknowledged", || {
        tx.shared
            .knobs()
            .acks
            .iter()
            .any(|a| a.starts_with("verify-"))
    })
    .await;
    let applied = rx.recorder.applied_count();
    let mut stale = tx.shared.claims("stale");
    stale["iat"] = serde_json::json!(fake_tx::now_secs() - 7200);
    tx.shared.enqueue("stale", tx.shared.sign(&stale));
    let good = tx.shared.enqueue_valid();
    wait_until("good acknowledged", || {
        tx.shared.knobs().acks.contains(&good)
    })
    .await;
    wait_until("the stale one reported", || {
        tx.shared.knobs().set_errs.contains_key("stale")
    })
    .await;
    {
        let k = tx.shared.knobs();
        assert_eq!(k.set_errs["stale"]["err"], "invalid_request");
        assert!(!k.acks.iter().any(|a| a == "stale"));
    }
    assert_eq!(rx.recorder.applied_count(), applied + 1);
    assert!(!rx.store.is_seen(&tx.issuer(), "stale").await.unwrap());
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn push_peer_is_registered_for_the_push_endpoint() {
    let tx = FakeTransmitter::start().await;
    let rx = receiver().await;
    let (base, server) = serve_push(&rx).await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_peer(
        context(&rx, &base),
        peer(&tx, DeliveryMode::Push, bearer()),
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
        cancel.clone(),
    ));
    wait_until("verification requested", || {
        !tx.shared.knobs().verifications.is_empty()
    })
    .await;
    let (stream_id, state) = tx.shared.knobs().verifications[0].clone();
    let endpoint = tx.shared.knobs().streams[&stream_id]["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(endpoint, format!("{base}/ssf/push/idp"));
    // Play the transmitter: push the verification SET and an event to our endpoint.
    let client = reqwest::Client::new();
    let push = |set: String| {
        client
            .post(&endpoint)
            .header("content-type", "application/secevent+jwt")
            .header("authorization", "Bearer push-secret")
            .body(set)
            .send()
    };
    let verification = {
        let claims = serde_json::json!({
            "iss": tx.issuer(), "jti": "v1", "iat": fake_tx::now_secs(), "aud": fake_tx::AUD,
            "sub_id": {"format": "opaque", "id": stream_id},
            "events": {fake_tx::VERIFICATION: {"state": state}},
        });
        tx.shared.sign(&claims)
    };
    assert_eq!(push(verification).await.unwrap().status(), 202);
    let event = tx.shared.sign(&tx.shared.claims("e1"));
    assert_eq!(push(event).await.unwrap().status(), 202);
    assert_eq!(rx.recorder.applied_count(), 2);
    cancel.cancel();
    task.await.unwrap().unwrap();
    server.abort();
}

/// Issue 12, item 3 (decisions D-RX-05, D-RX-09): a push peer whose transmitter refuses our
/// client secret keeps being set up with back-off; meanwhile its state says why and what to fix
/// (for `/healthz`), and pushes for its stream get `503` + `Retry-After` with a JSON reason.
/// Once the secret is right at the transmitter, the peer comes up without a restart: its stream
/// is registered and pushes are judged (`202`).
#[tokio::test]
async fn a_peer_whose_setup_fails_is_visible_and_recovers_without_a_restart() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().client_secret = "rotated-at-the-transmitter".to_owned();
    let rx = receiver().await;
    let peers = Arc::new(PeerStates::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(
        PushState::new(Arc::clone(&rx.receiver), Arc::clone(&rx.registry))
            .with_expected_streams(["idp"])
            .with_peer_states(Arc::clone(&peers)),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    let ctx =
        Arc::new(SetupContext::clone(&context(&rx, &base)).with_peer_states(Arc::clone(&peers)));
    let mut p = peer(&tx, DeliveryMode::Push, client_credentials(None));
    p.setup_retry = toml::from_str("delays = [\"10ms\", \"20ms\"]\njitter_percent = 0").unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_peer(
        ctx,
        p,
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
        cancel.clone(),
    ));
    wait_until(
        "several failed attempts",
        || matches!(peers.get("idp"), Some(PeerState::Retrying(f)) if f.attempts >= 3),
    )
    .await;
    let Some(PeerState::Retrying(failure)) = peers.get("idp") else {
        unreachable!()
    };
    assert_eq!(failure.reason, "auth");
    let why = peers.get("idp").unwrap().check().unwrap_err();
    assert!(why.contains("receiver.transmitters.idp.auth"), "{why}");
    assert!(!why.contains("rx-secret"), "no secret in the reason: {why}");
    assert!(rx.registry.get("idp").is_none());
    let push = |set: String| {
        reqwest::Client::new()
            .post(format!("{base}/ssf/push/idp"))
            .header("content-type", "application/secevent+jwt")
            .header("authorization", "Bearer push-secret")
            .body(set)
            .send()
    };
    let early = push(tx.shared.sign(&tx.shared.claims("early")))
        .await
        .unwrap();
    assert_eq!(early.status(), 503);
    assert!(early.headers().contains_key("retry-after"));
    let body: serde_json::Value = early.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    // The operator fixes the secret at the transmitter: the next attempt succeeds.
    tx.shared.knobs().client_secret = fake_tx::CLIENT_SECRET.to_owned();
    wait_until("the peer is up", || peers.get("idp") == Some(PeerState::Up)).await;
    assert!(peers.get("idp").unwrap().check().is_ok());
    assert!(rx.registry.get("idp").is_some());
    let late = push(tx.shared.sign(&tx.shared.claims("late")))
        .await
        .unwrap();
    assert_eq!(late.status(), 202);
    cancel.cancel();
    task.await.unwrap().unwrap();
    server.abort();
}
