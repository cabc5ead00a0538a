//! Push delivery (RFC 8935; checklist section 6, 4.9): headers, outcomes, retries, durability.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use ssf_http::{ClientConfig, RetryConfig};
use ssf_jose::{Algorithm, KeyPair, SetSigner};
use ssf_store::{
    DeliveryMethod, NewStream, OutboxCounts, OutboxState, ParkedQuery, SqliteStore,
    TransmitterStore,
};
use ssf_transmitter::{
    AppState, TransmitterConfig, ingest::ValidEvent, metadata::paths, workers::Transmitter,
};
use ssf_types::{Clock, Event, EventType, ParseMode, StreamId, SubjectId, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::{
    fake_receiver::{
        FakeReceiver, PUSH, Reply, check_set, claims, eventually, publish, push_stream, revoked,
        set_status, verifier,
    },
    support::{RECEIVER, SESSION_REVOKED, TestServer, audience_of},
};

/// Fast settings for tests: short schedule without jitter, short lease. The request timeout is
/// generous so a loaded test machine does not turn answers into timeouts.
fn fast_push(c: &mut TransmitterConfig) {
    c.push.retry = RetryConfig::default();
    c.push.retry.delays = vec![Duration::from_millis(50), Duration::from_millis(50)];
    c.push.retry.jitter_percent = 0;
    c.push.retry.max_retry_after = Duration::from_secs(2);
    c.push.http.request_timeout = Duration::from_secs(5);
    c.push.lease = Duration::from_secs(10);
    c.push.idle_poll_interval = Duration::from_millis(50);
}

async fn server() -> TestServer {
    TestServer::builder()
        .with_workers()
        .configure(fast_push)
        .start()
        .await
}

async fn counts(server: &TestServer) -> OutboxCounts {
    server.state.store.outbox_counts(None).await.unwrap()
}

async fn parked(store: &dyn TransmitterStore, state: OutboxState) -> Vec<ssf_store::OutboxEntry> {
    let query = ParkedQuery {
        state: Some(state),
        limit: 100,
        ..ParkedQuery::default()
    };
    store.list_parked(query).await.unwrap()
}

async fn drained(server: &TestServer) {
    eventually("an empty queue", || async {
        counts(server).await.queued() == 0
    })
    .await;
}

/// PUSH-01..04, SSF-STREAM-17/18: one POST per SET with the RFC 8935 headers and the
/// configured `Authorization` verbatim, or none.
#[tokio::test]
async fn push_sends_the_set_with_rfc_8935_headers_and_the_authorization_header() {
    let server = server().await;
    let (with_auth, without) = (FakeReceiver::start().await, FakeReceiver::start().await);
    let token = server.token(RECEIVER).await;
    push_stream(
        &server,
        &token,
        &with_auth.url,
        Some("Bearer rx-secret 1"),
        &[SESSION_REVOKED],
    )
    .await;
    push_stream(&server, &token, &without.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;

    let got = with_auth.wait_for(1).await;
    let h = &got[0].headers;
    assert_eq!(h["content-type"], "application/secevent+jwt", "PUSH-02");
    assert_eq!(h["accept"], "application/json", "PUSH-03");
    assert_eq!(h["authorization"], "Bearer rx-secret 1", "SSF-STREAM-17");
    let verified = check_set(
        &verifier(&server, &audience_of(RECEIVER)).await,
        &got[0].body,
    );
    assert_eq!(verified.issuer(), server.issuer());

    let got = without.wait_for(1).await;
    assert!(
        got[0].headers.get("authorization").is_none(),
        "SSF-STREAM-18"
    );
    drained(&server).await;
}

/// PUSH-16, SSF-SET-06: a 500 is retried with the identical SET; 202 ends it.
#[tokio::test]
async fn a_500_is_retried_and_the_set_delivered_once() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    rx.then(Reply::Status(500));
    let token = server.token(RECEIVER).await;
    push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[0].body, got[1].body, "SSF-SET-06: the same token again");
    drained(&server).await;
    assert_eq!(rx.received().len(), 2, "nothing after the 202");
}

/// Issue 12 item 4, D-TX-20: a stream whose pushes keep failing is tracked (for `/healthz`,
/// the `ssf_push_failing_streams` gauge and the rate-limited WARN log) with its last answer,
/// until a push to it succeeds again.
#[tokio::test]
async fn a_failing_stream_is_reported_until_a_push_to_it_succeeds() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    rx.always(Reply::Status(503));
    let token = server.token(RECEIVER).await;
    let stream_id = push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;
    // Three attempts (the fast schedule has two retries), then the SET is dead-lettered.
    eventually("the stream to be failing with its SET given up", || async {
        server.state.push_health.failing().iter().any(|(id, f)| {
            id.as_str() == stream_id
                && f.consecutive_failures == 3
                && f.last_error == "http_503"
                && f.next_attempt_at.is_none()
        })
    })
    .await;
    let (_, failing) = server.state.push_health.failing().remove(0);
    let summary = failing.summary(server.state.clock.now());
    assert!(
        summary.contains("3 push attempt(s) failed") && summary.contains("given up"),
        "{summary}"
    );

    rx.always(Reply::Status(202));
    publish(&server, &revoked("jdoe@example.com")).await;
    eventually("the stream to recover", || async {
        server.state.push_health.failing().is_empty()
    })
    .await;
}

/// PUSH-17: 400 with `err` is permanent: parked as failed with the reason, not retried.
#[tokio::test]
async fn a_400_with_err_is_failed_and_not_retried() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    rx.always(Reply::Json(
        400,
        json!({"err": "invalid_key", "description": "unknown kid"}),
    ));
    let token = server.token(RECEIVER).await;
    push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;
    eventually("a failed SET", || async {
        counts(&server).await.failed == 1
    })
    .await;
    let failed = parked(server.state.store.as_ref(), OutboxState::Failed).await;
    let error = failed[0].error.clone().unwrap();
    assert_eq!(error.code, "invalid_key");
    assert_eq!(error.description.as_deref(), Some("unknown kid"));
    assert_eq!(counts(&server).await.queued(), 0, "nothing left to retry");
    assert_eq!(rx.received().len(), 1);
}

/// PUSH-16: a receiver that does not answer times out and the SET is retried.
#[tokio::test]
async fn a_hanging_receiver_times_out_and_is_retried() {
    let server = TestServer::builder()
        .with_workers()
        .configure(|c| {
            fast_push(c);
            c.push.http.request_timeout = Duration::from_secs(1);
        })
        .start()
        .await;
    let rx = FakeReceiver::start().await;
    rx.then(Reply::Hang);
    let token = server.token(RECEIVER).await;
    push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[0].jti(), got[1].jti());
    drained(&server).await;
}

/// PUSH-18: a redirect is not followed; the SET is failed.
#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = server().await;
    let (rx, elsewhere) = (FakeReceiver::start().await, FakeReceiver::start().await);
    rx.always(Reply::WithHeader(302, "location", elsewhere.url.clone()));
    let token = server.token(RECEIVER).await;
    push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;
    eventually("a failed SET", || async {
        counts(&server).await.failed == 1
    })
    .await;
    let failed = parked(server.state.store.as_ref(), OutboxState::Failed).await;
    assert_eq!(failed[0].error.as_ref().unwrap().code, "redirect_302");
    assert!(
        elsewhere.received().is_empty(),
        "the redirect target was never called"
    );
}

/// PUSH-20: without an allow-list, a loopback endpoint is refused and nothing is sent.
#[tokio::test]
async fn loopback_is_refused_without_an_allow_list() {
    let server = TestServer::builder()
        .with_workers()
        .configure(|c| {
            c.push.http = ClientConfig::default();
            c.push.http.allow_http = true;
            fast_push(c);
        })
        .start()
        .await;
    let rx = FakeReceiver::start().await;
    // Stored directly: stream management would refuse this endpoint at create time.
    let config = json!({"stream_id": "s-loop", "iss": server.issuer(), "aud": "rx",
        "events_delivered": [SESSION_REVOKED], "delivery": {"method": PUSH, "endpoint_url": rx.url}});
    let new = NewStream::new(
        StreamId::new("s-loop"),
        RECEIVER,
        DeliveryMethod::Push,
        config,
    );
    server.state.store.create_stream(new).await.unwrap();
    server.state.matcher.invalidate();
    let (_, body) = publish(&server, &revoked("jdoe@example.com")).await;
    assert_eq!(body["streams"], 1);
    eventually("a failed SET", || async {
        counts(&server).await.failed == 1
    })
    .await;
    let failed = parked(server.state.store.as_ref(), OutboxState::Failed).await;
    assert_eq!(
        failed[0].error.as_ref().unwrap().code,
        "destination_refused"
    );
    assert!(rx.received().is_empty());
}

/// PUSH-16: `Retry-After` is honoured, and capped at `retry.max_retry_after` (2 s here).
#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let server = TestServer::builder()
        .with_workers()
        .manual_clock()
        .configure(|c| {
            fast_push(c);
            c.push.retry.delays = vec![Duration::from_millis(100); 3];
        })
        .start()
        .await;
    let rx = FakeReceiver::start().await;
    rx.then(Reply::WithHeader(429, "retry-after", "3600".into()));
    rx.then(Reply::WithHeader(503, "retry-after", "1".into()));
    let token = server.token(RECEIVER).await;
    push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    let t0 = server.state.clock.now();
    publish(&server, &revoked("jdoe@example.com")).await;
    rx.wait_for(1).await;
    let store = &server.state.store;
    eventually("the capped retry", || async {
        store.next_push_due().await.unwrap() == Some(t0.plus_millis(2000))
    })
    .await;
    server.advance(2);
    rx.wait_for(2).await;
    eventually("the honoured retry", || async {
        store.next_push_due().await.unwrap() == Some(t0.plus_millis(3000))
    })
    .await;
    server.advance(1);
    rx.wait_for(3).await;
    drained(&server).await;
}

/// The retry schedule runs out (3 attempts with 2 delays): the SET is dead-lettered.
#[tokio::test]
async fn sets_are_dead_lettered_when_the_schedule_is_exhausted() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    rx.always(Reply::Status(503));
    let token = server.token(RECEIVER).await;
    push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("jdoe@example.com")).await;
    eventually("a dead letter", || async {
        counts(&server).await.dead == 1
    })
    .await;
    assert_eq!(rx.received().len(), 3);
    let dead = parked(server.state.store.as_ref(), OutboxState::Dead).await;
    assert_eq!(dead[0].error.as_ref().unwrap().code, "http_503");
}

/// D-08: 401/403 is a configuration failure: bounded retries, then failed.
#[tokio::test]
async fn unauthorized_is_retried_a_bounded_number_of_times_then_failed() {
    let server = TestServer::builder()
        .with_workers()
        .configure(|c| {
            fast_push(c);
            c.push.retry.delays = vec![Duration::from_millis(20); 5];
            c.push.auth_failure_attempts = 2;
        })
        .start()
        .await;
    let rx = FakeReceiver::start().await;
    rx.always(Reply::Status(401));
    let token = server.token(RECEIVER).await;
    push_stream(
        &server,
        &token,
        &rx.url,
        Some("Bearer wrong"),
        &[SESSION_REVOKED],
    )
    .await;
    publish(&server, &revoked("jdoe@example.com")).await;
    eventually("a failed SET", || async {
        counts(&server).await.failed == 1
    })
    .await;
    assert_eq!(rx.received().len(), 2);
}

/// SSF-STATUS-11/12/14: a paused stream receives nothing and holds its SETs; once enabled they
/// arrive, those of one subject in the order they were made.
#[tokio::test]
async fn paused_holds_then_delivers_in_order_after_enable() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    let token = server.token(RECEIVER).await;
    let s = push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    set_status(&server, &token, &s, "paused").await;
    for txn in ["t1", "t2", "t3"] {
        let mut e = revoked("jdoe@example.com");
        e["txn"] = json!(txn);
        let (_, body) = publish(&server, &e).await;
        assert_eq!(
            body["streams"], 1,
            "a paused stream still gets events, held"
        );
    }
    let c = counts(&server).await;
    assert_eq!(c.held + c.waiting, 3, "held, not claimable: {c:?}");
    assert!(rx.received().is_empty());
    set_status(&server, &token, &s, "enabled").await;
    let got = rx.wait_for(3).await;
    let order: Vec<String> = got
        .iter()
        .map(|r| claims(&r.body)["txn"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, ["t1", "t2", "t3"], "SSF-STATUS-14");
}

/// SSF-STATUS-15: a disabled stream transmits nothing and holds nothing.
#[tokio::test]
async fn disabled_drops_queued_and_new_sets() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    let token = server.token(RECEIVER).await;
    let s = push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    set_status(&server, &token, &s, "paused").await;
    publish(&server, &revoked("held@example.com")).await;
    assert_eq!(counts(&server).await.queued(), 1);
    set_status(&server, &token, &s, "disabled").await;
    assert_eq!(counts(&server).await.queued(), 0, "queued SETs dropped");
    let (_, body) = publish(&server, &revoked("new@example.com")).await;
    assert_eq!(body["streams"], 0);
    set_status(&server, &token, &s, "enabled").await;
    assert_eq!(counts(&server).await.queued(), 0);
    assert!(rx.received().is_empty());
}

/// SSF-STREAM-49: deleting a stream discards its queued SETs.
#[tokio::test]
async fn delete_discards_queued_sets() {
    let server = server().await;
    let rx = FakeReceiver::start().await;
    let token = server.token(RECEIVER).await;
    let s = push_stream(&server, &token, &rx.url, None, &[SESSION_REVOKED]).await;
    set_status(&server, &token, &s, "paused").await;
    publish(&server, &revoked("jdoe@example.com")).await;
    let response = server
        .request(
            reqwest::Method::DELETE,
            &format!("{}?stream_id={s}", paths::STREAMS),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(counts(&server).await.queued(), 0);
}

/// A transmitter process on an existing database file, without an HTTP server.
async fn node(path: &std::path::Path) -> (AppState, ssf_transmitter::workers::Workers) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = TransmitterConfig::default();
    config.push.http = ClientConfig::dev_loopback();
    fast_push(&mut config);
    config.push.http.request_timeout = Duration::from_millis(900);
    config.push.lease = Duration::from_secs(1);
    config.push.retry.delays = vec![Duration::from_millis(50); 20];
    config.push.workers = 4;
    config.push.batch_size = 16;
    let store = SqliteStore::open_path(path, clock.clone()).await.unwrap();
    let key = KeyPair::generate(Algorithm::Rs256, None).unwrap();
    let signer = SetSigner::with_key(key, clock.clone());
    let state = AppState::new(
        config,
        Arc::new(store),
        signer,
        clock,
        CancellationToken::new(),
    );
    let workers = Transmitter::start(&state).unwrap();
    (state, workers)
}

/// DESIGN §3: a crash mid-delivery loses nothing. Workers are killed without recording their
/// outcomes; a new process on the same file delivers every SET (the receiver dedupes by jti).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_delivery_loses_no_set() {
    ssf_jose::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tx.db");
    let rx = FakeReceiver::start().await;
    rx.always(Reply::Slow(Duration::from_millis(20)));

    let (state, workers) = node(&path).await;
    let config = json!({"stream_id": "crash", "iss": state.config.issuer, "aud": "rx",
        "events_delivered": [SESSION_REVOKED], "delivery": {"method": PUSH, "endpoint_url": rx.url}});
    let new = NewStream::new(StreamId::new("crash"), "rx", DeliveryMethod::Push, config);
    state.store.create_stream(new).await.unwrap();
    state.matcher.invalidate();
    const N: usize = 200;
    let uri = EventType::SessionRevoked.uri();
    let events: Vec<ValidEvent> = (0..N)
        .map(|i| ValidEvent {
            event: Event::parse(&uri, &json!({}), ParseMode::Strict).unwrap(),
            sub_id: SubjectId::email(format!("u{i}@example.com")),
            txn: None,
        })
        .collect();
    let published = state.ingest.publish(events).await.unwrap();
    assert!(published.iter().all(|p| p.streams == 1));

    rx.wait_for(20).await;
    workers.abort();
    state.store.close().await;
    drop(state);
    let before = rx.distinct_jtis().len();
    assert!(
        before < N,
        "the crash happened mid-delivery ({before} of {N} delivered)"
    );

    let (state, workers) = node(&path).await;
    rx.wait_until(
        |r| {
            r.iter()
                .map(|x| x.jti())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                == N
        },
        "every SET",
    )
    .await;
    let store = Arc::clone(&state.store);
    eventually("an empty outbox", || async {
        store.outbox_counts(None).await.unwrap().queued() == 0
    })
    .await;
    assert_eq!(rx.distinct_jtis().len(), N);
    state.shutdown.cancel();
    workers.join().await;
}
