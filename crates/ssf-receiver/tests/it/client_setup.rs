//! Peer setup (discover, token, find/create/reuse/reconcile the stream, verify) and the
//! scheduled health checks, against the fake transmitter.

use std::{sync::Arc, time::Duration};

use ssf_http::{RetryConfig, RetrySchedule};
use ssf_receiver::{
    ReceiverError,
    config::{DeliveryMode, ReceiverConfig},
    poller::Poller,
    push::authorization_digest,
    setup::{
        MemoryStreamBook, SetupContext, StoreBook, StreamBook, run_health_checks, setup_peer,
        setup_peer_with_retry,
    },
};
use ssf_store::{receiver::ReceiverStore, sqlite::receiver::SqliteReceiverStore};
use ssf_types::{Clock as _, StreamStatus, stream::Delivery};
use tokio_util::sync::CancellationToken;

use crate::{
    client_support::{
        TestProcessor, bearer, client_credentials, http, manual_clock, peer, system_clock,
        wait_until,
    },
    fake_tx::{self, FakeTransmitter},
};

fn receiver() -> ReceiverConfig {
    toml::from_str("public_base_url = \"https://rx.example.com\"").unwrap()
}

fn context(book: Arc<dyn StreamBook>) -> SetupContext {
    SetupContext::new(
        http(),
        system_clock(),
        receiver(),
        book,
        vec![fake_tx::SESSION_REVOKED.into()],
    )
}

#[tokio::test]
async fn push_peer_creates_its_stream_and_requests_verification_ssf_stream_22() {
    let tx = FakeTransmitter::start().await;
    let book = Arc::new(MemoryStreamBook::new());
    let ctx = context(book.clone());
    let handle = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap();
    let k = tx.shared.knobs();
    let body = &k.create_bodies[0];
    assert_eq!(body["delivery"]["method"], "urn:ietf:rfc:8935");
    assert_eq!(
        body["delivery"]["endpoint_url"],
        "https://rx.example.com/ssf/push/idp"
    );
    assert_eq!(
        body["delivery"]["authorization_header"],
        "Bearer push-secret"
    );
    assert_eq!(
        body["events_requested"],
        serde_json::json!([fake_tx::SESSION_REVOKED])
    );
    let (stream_id, state) = k.verifications[0].clone();
    assert_eq!(
        Some(stream_id.as_str()),
        handle.stream_id().as_ref().map(|s| s.as_str())
    );
    assert!(
        book.is_expected("idp", &state.unwrap()),
        "state recorded before the request"
    );
    assert_eq!(book.stream("idp").unwrap().stream_id, handle.stream_id());
    assert_eq!(handle.expected_audiences(), vec![fake_tx::AUD.to_owned()]);
    let options = handle.verify_options().unwrap();
    assert_eq!(options.issuer().as_str(), tx.issuer());
}

#[tokio::test]
async fn restart_reuses_the_remembered_stream() {
    let tx = FakeTransmitter::start().await;
    let ctx = context(Arc::new(MemoryStreamBook::new()));
    let first = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap();
    let second = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap();
    assert_eq!(first.stream_id(), second.stream_id());
    assert_eq!(tx.shared.knobs().create_bodies.len(), 1, "no second create");
    assert_eq!(tx.shared.knobs().verifications.len(), 2);
}

#[tokio::test]
async fn conflict_on_create_reuses_and_updates_the_existing_stream_ssf_stream_28() {
    let tx = FakeTransmitter::start().await;
    let existing = tx.shared.insert_stream(serde_json::json!({
        "delivery": {"method": "urn:ietf:rfc:8936"},
        "events_requested": [fake_tx::CREDENTIAL_CHANGE],
    }));
    let ctx = context(Arc::new(MemoryStreamBook::new()));
    let handle = setup_peer(
        &ctx,
        &peer(&tx, DeliveryMode::Poll, client_credentials(None)),
    )
    .await
    .unwrap();
    assert_eq!(handle.stream_id().unwrap().as_str(), existing);
    let k = tx.shared.knobs();
    assert_eq!(k.create_bodies.len(), 1, "create answered 409");
    assert_eq!(k.patch_bodies.len(), 1);
    assert_eq!(k.patch_bodies[0]["stream_id"], existing.as_str());
    assert_eq!(
        k.patch_bodies[0]["events_requested"],
        serde_json::json!([fake_tx::SESSION_REVOKED])
    );
    assert!(
        k.patch_bodies[0].get("delivery").is_none(),
        "poll stays poll"
    );
    assert_eq!(
        k.tokens_issued, 1,
        "token from the discovered RFC 8414 token endpoint"
    );
    drop(k);
    assert!(handle.poll_endpoint().unwrap().path().ends_with(&existing));
}

#[tokio::test]
async fn a_foreign_stream_is_never_used_conformance_issuer_mismatch() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().foreign_iss = true;
    let ctx = context(Arc::new(MemoryStreamBook::new()));
    let err = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiverError::ForeignStream { .. }), "{err}");
    assert!(tx.shared.knobs().verifications.is_empty());
}

#[tokio::test]
async fn unsupported_delivery_method_is_refused() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().delivery_methods = vec!["urn:ietf:rfc:8935"];
    let ctx = context(Arc::new(MemoryStreamBook::new()));
    let err = setup_peer(&ctx, &peer(&tx, DeliveryMode::Poll, bearer()))
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiverError::InvalidConfig { .. }), "{err}");
    assert!(tx.shared.knobs().create_bodies.is_empty());
}

#[tokio::test]
async fn verification_state_round_trip_ssf_verify_10() {
    let tx = FakeTransmitter::start().await;
    let book = Arc::new(MemoryStreamBook::new());
    let ctx = context(book.clone());
    let handle = setup_peer(&ctx, &peer(&tx, DeliveryMode::Poll, bearer()))
        .await
        .unwrap();
    // The fake queued the verification SET with our state; the pipeline stand-in checks it.
    let processor = TestProcessor::with_book(&tx, handle.jwks().clone(), book);
    let poller = Poller::for_peer(&handle, http(), processor.clone(), system_clock()).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(poller.run(cancel.clone()));
    wait_until("verification acknowledged", || {
        tx.shared.knobs().acks.len() == 1
    })
    .await;
    let stream_id = handle.stream_id().unwrap();
    let wrong = tx
        .shared
        .enqueue_verification(stream_id.as_str(), Some("not-our-state"));
    let unsolicited = tx.shared.enqueue_verification(stream_id.as_str(), None);
    wait_until("wrong state reported", || {
        tx.shared.knobs().set_errs.contains_key(&wrong)
    })
    .await;
    wait_until("unsolicited acknowledged", || {
        tx.shared.knobs().acks.contains(&unsolicited)
    })
    .await;
    assert_eq!(tx.shared.knobs().set_errs[&wrong]["err"], "invalid_state");
    // A later request gets a new state; the earlier one still matches a late event.
    handle
        .request_verification(ctx.book.as_ref(), ctx.clock.as_ref())
        .await
        .unwrap();
    wait_until("second verification acknowledged", || {
        tx.shared.knobs().acks.len() == 3
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn health_check_records_status_and_recreates_a_lost_stream() {
    let tx = FakeTransmitter::start().await;
    let book = Arc::new(MemoryStreamBook::new());
    let ctx = context(book.clone());
    let handle = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap();
    let first = handle.stream_id().unwrap();
    tx.shared
        .knobs()
        .statuses
        .insert(first.as_str().to_owned(), "paused".into());
    handle.check_health(&ctx).await.unwrap();
    assert_eq!(handle.health().status, Some(StreamStatus::Paused));
    assert_eq!(book.status("idp").unwrap().0, StreamStatus::Paused);
    assert_eq!(tx.shared.knobs().verifications.len(), 2);
    // The transmitter loses the stream: the next round sets it up again.
    tx.shared.knobs().streams.clear();
    let changes = handle.subscribe();
    handle.check_health(&ctx).await.unwrap();
    let second = handle.stream_id().unwrap();
    assert_ne!(first, second);
    assert!(changes.has_changed().unwrap());
    assert_eq!(book.stream("idp").unwrap().stream_id, Some(second.clone()));
    assert_eq!(
        tx.shared.knobs().verifications.last().unwrap().0,
        second.as_str()
    );
    assert!(handle.health().last_error.is_none());
}

#[tokio::test]
async fn setup_waits_for_a_transmitter_that_is_down() {
    let mut tx = FakeTransmitter::start().await;
    tx.stop().await;
    let ctx = Arc::new(context(Arc::new(MemoryStreamBook::new())));
    let peer = peer(&tx, DeliveryMode::Push, bearer());
    let mut retry = RetryConfig::default();
    retry.delays = vec![Duration::from_millis(10), Duration::from_millis(20)];
    retry.jitter_percent = 0;
    let schedule = RetrySchedule::new(&retry).unwrap();
    let cancel = CancellationToken::new();
    let task = {
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        tokio::spawn(async move { setup_peer_with_retry(&ctx, &peer, &schedule, &cancel).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!task.is_finished());
    tx.restart().await;
    let handle = task.await.unwrap().unwrap();
    assert!(handle.stream_id().is_some());
    // Cancelled while the transmitter is down: returns Cancelled.
    tx.stop().await;
    cancel.cancel();
    let err = setup_peer_with_retry(&ctx, &peer_again(&tx), &RetrySchedule::default(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, ReceiverError::Cancelled));
}

fn peer_again(tx: &FakeTransmitter) -> ssf_receiver::config::PeerConfig {
    peer(tx, DeliveryMode::Push, bearer())
}

#[tokio::test]
async fn stream_bookkeeping_in_the_receiver_store() {
    let tx = FakeTransmitter::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ReceiverStore> = Arc::new(
        SqliteReceiverStore::open_path(dir.path().join("rx.db"), system_clock())
            .await
            .unwrap(),
    );
    let ctx = context(Arc::new(StoreBook(store.clone())));
    let handle = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap();
    let record = store.get_stream("idp").await.unwrap().unwrap();
    assert_eq!(record.stream.stream_id, handle.stream_id());
    assert_eq!(record.stream.issuer, tx.issuer());
    assert_eq!(
        record.stream.push_auth_sha256.as_deref(),
        Some(authorization_digest("Bearer push-secret").as_str())
    );
    assert!(!record.stream.config.to_string().contains("push-secret"));
    let sent_state = tx.shared.knobs().verifications[0].1.clone();
    assert_eq!(record.expected_verification_state, sent_state);
    assert!(matches!(handle.stream().delivery, Some(Delivery::Push(_))));
    // After a restart the stored stream id is reused.
    let again = setup_peer(&ctx, &peer(&tx, DeliveryMode::Push, bearer()))
        .await
        .unwrap();
    assert_eq!(again.stream_id(), handle.stream_id());
    assert_eq!(tx.shared.knobs().create_bodies.len(), 1);
    store.close().await;
}

/// Issue 12, item 7 (SSF-STREAM-22/23): a stream created from the desired configuration is
/// not PATCHed with the same values afterwards: one create, no PATCH, for push (with its
/// `authorization_header`) and poll alike. A reused stream is still reconciled (see
/// `conflict_on_create_reuses_and_updates_the_existing_stream_ssf_stream_28`).
#[tokio::test]
async fn a_freshly_created_stream_is_not_patched_with_the_same_values() {
    for delivery in [DeliveryMode::Push, DeliveryMode::Poll] {
        let tx = FakeTransmitter::start().await;
        let ctx = context(Arc::new(MemoryStreamBook::new()));
        setup_peer(&ctx, &peer(&tx, delivery, bearer()))
            .await
            .unwrap();
        let k = tx.shared.knobs();
        assert_eq!(k.create_bodies.len(), 1, "{delivery:?}");
        assert!(
            k.patch_bodies.is_empty(),
            "{delivery:?}: {:?}",
            k.patch_bodies
        );
        assert_eq!(k.verifications.len(), 1);
    }
}

/// Issue 12, item 7 (SSF-STREAM-08, SSF-VERIFY-12, SSF 1.0 §8.1.4): verification is requested
/// no faster than the stream's `min_verification_interval` (120 s here) even when the peer's
/// `verification_interval` is shorter (30 s), so the transmitter has no reason to answer `429`.
/// The schedule follows the injected clock.
#[tokio::test]
async fn verification_waits_for_the_streams_min_verification_interval() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().min_verification_interval = Some(120);
    let clock = manual_clock();
    let ctx = Arc::new(SetupContext::new(
        http(),
        Arc::new(clock.clone()),
        receiver(),
        Arc::new(MemoryStreamBook::new()),
        vec![fake_tx::SESSION_REVOKED.into()],
    ));
    let mut p = peer(&tx, DeliveryMode::Push, bearer());
    p.verification_interval = Duration::from_secs(30);
    let handle = Arc::new(setup_peer(&ctx, &p).await.unwrap());
    let t0 = clock.now();
    assert_eq!(
        handle.verification_interval(),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        handle.next_health_round_at(),
        Some(t0.plus_millis(120_000)),
        "not at t0 + 30 s"
    );
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_health_checks(
        Arc::clone(&handle),
        Arc::clone(&ctx),
        cancel.clone(),
    ));
    clock.advance(120_000);
    wait_until("the second health round", || {
        handle.health().checked_at.is_some()
    })
    .await;
    assert_eq!(tx.shared.knobs().verifications.len(), 2);
    // The next one is again 120 s after this round.
    let round = handle.health().checked_at.unwrap();
    assert_eq!(
        handle.next_health_round_at(),
        Some(round.plus_millis(120_000))
    );
    cancel.cancel();
    task.await.unwrap();

    // Without a minimum on the stream, the peer's own interval rules.
    let plain = FakeTransmitter::start().await;
    let mut p = peer(&plain, DeliveryMode::Push, bearer());
    p.verification_interval = Duration::from_secs(30);
    let handle = setup_peer(&ctx, &p).await.unwrap();
    assert_eq!(
        handle.verification_interval(),
        Some(Duration::from_secs(30))
    );
}
