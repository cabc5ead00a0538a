//! Idempotency keys of the ingest endpoint (D-TX-16): one transaction with the SETs, scoped by
//! client, a window, a purge, and exactly one winner of a concurrent pair.

use std::time::Duration;

use ssf_types::Clock;

use super::{Ctx, Harness, set};
use crate::{
    EnqueueReport, IdempotencyClaim, IdempotentEnqueue, NewSet, Respond, StoreError, StoredResponse,
};

const WINDOW: Duration = Duration::from_secs(3600);

fn claim(client: &str, key: &str, hash: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        client_id: client.to_owned(),
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        window: WINDOW,
    }
}

/// A response naming how many SETs were queued, so a test can tell which call wrote it.
fn respond(tag: &'static str) -> Respond {
    Respond::new(move |report: &EnqueueReport| StoredResponse {
        status: 202,
        body: format!("{{\"tag\":\"{tag}\",\"queued\":{}}}", report.queued),
    })
}

async fn run<H: Harness>(
    cx: &Ctx<'_, H>,
    sets: Vec<NewSet>,
    claim: IdempotencyClaim,
    tag: &'static str,
) -> IdempotentEnqueue {
    cx.store
        .enqueue_idempotent(sets, claim, respond(tag))
        .await
        .unwrap()
}

async fn queued<H: Harness>(cx: &Ctx<'_, H>) -> u64 {
    cx.store.outbox_counts(None).await.unwrap().queued()
}

/// D-TX-16: the first request with a key queues its SETs and remembers the response; a second
/// one within the window queues nothing and gets the first's record; the key survives a crash.
pub async fn idempotent_enqueue_queues_once<H: Harness>(h: &H) {
    let mut cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    let first = run(
        &cx,
        vec![set("s1", "a", "k"), set("s1", "b", "k")],
        claim("producer", "key-1", "h1"),
        "first",
    )
    .await;
    let IdempotentEnqueue::Enqueued { report, response } = first else {
        panic!("the first request queues: {first:?}");
    };
    assert_eq!(report.queued, 2);
    assert_eq!(response.body, r#"{"tag":"first","queued":2}"#);
    cx.crash_and_reopen().await;

    let again = run(
        &cx,
        vec![set("s1", "c", "k")],
        claim("producer", "key-1", "h2"),
        "second",
    )
    .await;
    let IdempotentEnqueue::Existing(record) = again else {
        panic!("the key is held: {again:?}");
    };
    assert_eq!(record.request_hash, "h1", "the first request's fingerprint");
    assert_eq!(record.response, response);
    assert_eq!(record.client_id, "producer");
    assert_eq!(record.created_at, cx.clock.now());
    assert_eq!(record.expires_at, record.created_at.plus_millis(3_600_000));
    assert_eq!(queued(&cx).await, 2, "nothing more was queued");
    let stored = cx
        .store
        .idempotency_record("producer", "key-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, record);
    assert!(
        cx.store
            .idempotency_record("producer", "key-2")
            .await
            .unwrap()
            .is_none()
    );
}

/// D-TX-16: keys are scoped to the client; a request without SETs still holds its key.
pub async fn idempotency_keys_are_scoped_by_client<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    let a = run(&cx, vec![], claim("producer-a", "same", "h"), "a").await;
    assert!(matches!(a, IdempotentEnqueue::Enqueued { .. }), "{a:?}");
    let b = run(
        &cx,
        vec![set("s1", "b", "k")],
        claim("producer-b", "same", "h"),
        "b",
    )
    .await;
    assert!(
        matches!(&b, IdempotentEnqueue::Enqueued { report, .. } if report.queued == 1),
        "{b:?}"
    );
    let a2 = run(
        &cx,
        vec![set("s1", "a2", "k")],
        claim("producer-a", "same", "h"),
        "a2",
    )
    .await;
    assert!(
        matches!(&a2, IdempotentEnqueue::Existing(r) if r.response.body.contains("\"a\"")),
        "{a2:?}"
    );
    assert_eq!(queued(&cx).await, 1);
}

/// D-TX-16: after its window a key is free again (taken over as new), and the purge deletes
/// expired keys only.
pub async fn idempotency_window_expires_and_purges<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    run(&cx, vec![set("s1", "a", "k")], claim("p", "old", "h1"), "1").await;
    cx.clock.advance(1000);
    run(
        &cx,
        vec![set("s1", "b", "k")],
        claim("p", "young", "h"),
        "2",
    )
    .await;
    assert_eq!(cx.store.purge_idempotency_keys().await.unwrap(), 0);

    cx.clock.advance(3_600_000 - 1000);
    let old = cx
        .store
        .idempotency_record("p", "old")
        .await
        .unwrap()
        .unwrap();
    assert!(!old.is_live(cx.clock.now()), "expired at its window's end");
    let taken = run(&cx, vec![set("s1", "c", "k")], claim("p", "old", "h2"), "3").await;
    assert!(
        matches!(&taken, IdempotentEnqueue::Enqueued { report, .. } if report.queued == 1),
        "an expired key is free: {taken:?}"
    );
    let renewed = cx
        .store
        .idempotency_record("p", "old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.request_hash, "h2");
    assert!(renewed.is_live(cx.clock.now()));
    assert_eq!(queued(&cx).await, 3);

    cx.clock.advance(1000);
    assert_eq!(
        cx.store.purge_idempotency_keys().await.unwrap(),
        1,
        "`young` expired"
    );
    assert!(
        cx.store
            .idempotency_record("p", "young")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        cx.store
            .idempotency_record("p", "old")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(cx.store.purge_idempotency_keys().await.unwrap(), 0);
}

/// D-TX-16: the key and the SETs commit together; a failing enqueue leaves no key behind.
pub async fn idempotent_enqueue_is_atomic<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "dup", "k")]).await;
    let err = cx
        .store
        .enqueue_idempotent(
            vec![set("s1", "fresh", "k"), set("s1", "dup", "k")],
            claim("p", "key", "h"),
            respond("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        cx.store
            .idempotency_record("p", "key")
            .await
            .unwrap()
            .is_none(),
        "no key without its SETs"
    );
    assert_eq!(queued(&cx).await, 1);
    let retry = run(
        &cx,
        vec![set("s1", "fresh", "k")],
        claim("p", "key", "h"),
        "y",
    )
    .await;
    assert!(
        matches!(retry, IdempotentEnqueue::Enqueued { .. }),
        "{retry:?}"
    );
}

/// D-TX-16: two concurrent requests with one key: exactly one queues, the other gets its record.
pub async fn concurrent_idempotent_enqueues_queue_once<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = cx.store.clone();
        let sets = vec![
            set("s1", &format!("j{i}-a"), "k"),
            set("s1", &format!("j{i}-b"), "k"),
        ];
        tasks.push(tokio::spawn(async move {
            store
                .enqueue_idempotent(sets, claim("p", "race", "h"), respond("race"))
                .await
                .unwrap()
        }));
    }
    let mut enqueued = 0;
    for task in tasks {
        match task.await.unwrap() {
            IdempotentEnqueue::Enqueued { .. } => enqueued += 1,
            IdempotentEnqueue::Existing(record) => {
                assert_eq!(record.response.body, r#"{"tag":"race","queued":2}"#);
            }
        }
    }
    assert_eq!(enqueued, 1, "exactly one request queued");
    assert_eq!(queued(&cx).await, 2);
}
