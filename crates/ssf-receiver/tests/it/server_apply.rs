//! The apply task: crash safety, retention, batch planning, and the poller's processor.

use std::sync::Arc;

use serde_json::json;
use ssf_receiver::{
    apply::{Applier, ApplyOptions, ApplyOutcome},
    handler::{EventHandler, NoopHandler},
    pipeline::{Pipeline, PipelineConfig, UnavailableKeys, Verdict},
    receive::{PollSetProcessor, StreamRegistry},
    receive::{Receipt, SetProcessor},
};
use ssf_store::{receiver::ReceiverStore, sqlite::receiver::SqliteReceiverStore};
use ssf_types::{Clock as _, Jti, SetErrorCode};

use crate::server_support::{
    ISS, Rx, RxOptions, STREAM_KEY, StateHandler, claims, clock, context, jwks, sign,
};

#[tokio::test]
async fn crash_between_commit_and_answer_loses_nothing_and_never_applies_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("receiver.db");
    let token = sign(&claims("crash-1"));
    {
        // Receive and commit, then "crash": drop everything without answering anyone and
        // without closing the store.
        let handler = Arc::new(StateHandler::default());
        let rx = Rx::start_with(RxOptions {
            handler: Some(handler.clone()),
            dir: Some(tempfile::tempdir_in(dir.path()).unwrap()),
            store: Some(Arc::new(
                SqliteReceiverStore::open_path(&path, Arc::new(clock()))
                    .await
                    .unwrap(),
            )),
            ..RxOptions::default()
        })
        .await;
        let ctx = rx.streams.get(STREAM_KEY).unwrap();
        let Verdict::Accepted(set) = rx
            .receiver
            .pipeline()
            .validate(&ctx, token.as_bytes())
            .await
        else {
            panic!("valid SET refused");
        };
        let outcome = rx.receiver.applier().apply(*set).await.unwrap();
        assert_eq!(outcome, ApplyOutcome::Applied);
        rx.stop();
    }
    // Restart on the same file: the state is loaded, the redelivery is a duplicate (202).
    let handler = Arc::new(StateHandler::default());
    let rx = Rx::start_with(RxOptions {
        handler: Some(handler.clone()),
        store: Some(Arc::new(
            SqliteReceiverStore::open_path(&path, Arc::new(clock()))
                .await
                .unwrap(),
        )),
        ..RxOptions::default()
    })
    .await;
    assert_eq!(*handler.loads.lock().unwrap(), [1], "state loaded at start");
    assert_eq!(
        handler.rows.lock().unwrap()["jane@example.com"]["jti"],
        "crash-1"
    );
    rx.push_accepted(&token).await;
    assert!(handler.planned.lock().unwrap().is_empty(), "not re-applied");
    assert!(handler.applied.lock().unwrap().is_empty());
}

#[tokio::test]
async fn ssf_rxv_20_retention_purges_old_ids_only() {
    let rx = Rx::start().await;
    rx.push_accepted(&sign(&claims("old"))).await;
    rx.clock.advance(3 * 86_400_000);
    let mut later = claims("recent");
    later["iat"] = json!(rx.clock.now().as_secs());
    rx.push_accepted(&sign(&later)).await;
    rx.clock.advance(5 * 86_400_000);
    let purged = rx.receiver.applier().purge_now().await.unwrap();
    assert_eq!(purged, 1, "older than 7 days");
    assert!(!rx.store.is_seen(ISS, "old").await.unwrap());
    assert!(rx.store.is_seen(ISS, "recent").await.unwrap());
}

#[tokio::test]
async fn sets_of_one_batch_are_planned_on_top_of_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store: Arc<dyn ReceiverStore> = Arc::new(
        SqliteReceiverStore::open_path(dir.path().join("r.db"), Arc::new(clock.clone()))
            .await
            .unwrap(),
    );
    let handler = Arc::new(StateHandler::default());
    let applier = Arc::new(
        Applier::start(
            Arc::clone(&store),
            handler.clone(),
            Arc::new(clock.clone()),
            ApplyOptions::default(),
        )
        .await
        .unwrap(),
    );
    let pipeline = Pipeline::new(
        PipelineConfig::default(),
        Arc::clone(&store),
        Arc::new(clock),
    );
    let ctx = context(Arc::new(ssf_jose::JwksSnapshot::new(&jwks())));
    let mut sets = Vec::new();
    for i in 0..50 {
        let mut c = claims(&format!("b-{i}"));
        c["sub_id"] = json!({"format": "email", "email": format!("u{i}@example.com")});
        match pipeline.validate(&ctx, sign(&c).as_bytes()).await {
            Verdict::Accepted(set) => sets.push(*set),
            other => panic!("{other:?}"),
        }
    }
    let tasks: Vec<_> = sets
        .into_iter()
        .map(|set| {
            let applier = Arc::clone(&applier);
            tokio::spawn(async move { applier.apply(set).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), ApplyOutcome::Applied);
    }
    // Each plan saw every earlier SET's row, batch or not: `rows_before` takes all 50 values.
    let mut before: Vec<i64> = store
        .state_rows("revoked")
        .await
        .unwrap()
        .iter()
        .map(|r| r.value["rows_before"].as_i64().unwrap())
        .collect();
    before.sort_unstable();
    assert_eq!(before, (0..50).collect::<Vec<i64>>());
    applier.close().await;
    assert!(matches!(
        applier.apply(dummy(&pipeline, &ctx).await).await,
        Err(ssf_receiver::ReceiverError::Cancelled)
    ));
}

async fn dummy(
    pipeline: &Pipeline,
    ctx: &ssf_receiver::pipeline::StreamContext,
) -> ssf_receiver::handler::ReceivedSet {
    match pipeline
        .validate(ctx, sign(&claims("late")).as_bytes())
        .await
    {
        Verdict::Accepted(set) => *set,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn poll_processor_acknowledges_refuses_or_retries() {
    let rx = Rx::start().await;
    let processor = PollSetProcessor::new(
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.streams),
        STREAM_KEY,
    );
    let jti = Jti::new("p-1");
    let token = sign(&claims("p-1"));
    assert_eq!(processor.process(&jti, &token).await, Receipt::Applied);
    assert_eq!(
        processor.process(&jti, &token).await,
        Receipt::Duplicate,
        "POLL-13: acknowledged again, told apart so the poller can back off"
    );
    let mut bad = claims("p-2");
    bad["aud"] = json!("someone-else");
    match processor.process(&Jti::new("p-2"), &sign(&bad)).await {
        Receipt::Rejected { err, description } => {
            assert_eq!(err, SetErrorCode::InvalidAudience);
            assert!(!description.contains("someone-else"));
        }
        other => panic!("{other:?}"),
    }
    let unknown = PollSetProcessor::new(
        Arc::clone(&rx.receiver),
        Arc::new(StreamRegistry::new()),
        STREAM_KEY,
    );
    assert!(matches!(
        unknown.process(&jti, &token).await,
        Receipt::Unavailable(_)
    ));
    // Keys unavailable: neither ack nor setErrs.
    let down = Rx::start_with(RxOptions {
        keys: Arc::new(UnavailableKeys),
        ..RxOptions::default()
    })
    .await;
    let processor = PollSetProcessor::new(
        Arc::clone(&down.receiver),
        Arc::clone(&down.streams),
        STREAM_KEY,
    );
    assert!(matches!(
        processor.process(&jti, &token).await,
        Receipt::Unavailable(_)
    ));
    assert_eq!(rx.recorder.applied_count(), 1);
}

#[tokio::test]
async fn noop_handler_receivers_still_record_and_deduplicate() {
    let rx = Rx::start_with(RxOptions {
        handler: Some(Arc::new(NoopHandler) as Arc<dyn EventHandler>),
        ..RxOptions::default()
    })
    .await;
    let token = sign(&claims("noop"));
    rx.push_accepted(&token).await;
    rx.push_accepted(&token).await;
    assert_eq!(rx.recorded().await, 1);
}

/// Waits (bounded) until `cond` holds.
async fn eventually(mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn a_batch_prepared_behind_a_failing_commit_fails_too_and_memory_is_reloaded() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::server_push::FlakyStore::open(dir.path(), true).await);
    let gate = Arc::clone(store.gate.as_ref().unwrap());
    let handler = Arc::new(StateHandler::default());
    let rx = Arc::new(
        Rx::start_with(RxOptions {
            store: Some(store.clone()),
            handler: Some(handler.clone()),
            dir: Some(dir),
            ..RxOptions::default()
        })
        .await,
    );
    let first = sign(&claims("first"));
    let mut c = claims("second");
    c["sub_id"] = json!({"format": "email", "email": "bob@example.com"});
    let second = sign(&c);

    // `first` commits (held at the gate); `second` is prepared meanwhile, on top of it.
    store.fail.store(true, Ordering::SeqCst);
    let a = tokio::spawn({
        let (rx, t) = (Arc::clone(&rx), first.clone());
        async move { rx.push(&t).await.status }
    });
    eventually(|| store.commits.load(Ordering::SeqCst) == 1).await;
    let b = tokio::spawn({
        let (rx, t) = (Arc::clone(&rx), second.clone());
        async move { rx.push(&t).await.status }
    });
    // Both are planned into memory while the first commit waits.
    eventually(|| handler.rows.lock().unwrap().len() == 2).await;
    assert_eq!(store.prepared.load(Ordering::SeqCst), 2);
    gate.add_permits(1);
    assert_eq!(a.await.unwrap(), 503);
    assert_eq!(
        b.await.unwrap(),
        503,
        "never stored on top of a failed batch"
    );
    assert_eq!(
        store.commits.load(Ordering::SeqCst),
        1,
        "the second batch was not submitted"
    );
    assert!(
        handler.rows.lock().unwrap().is_empty(),
        "memory reloaded from the store"
    );
    assert!(handler.applied.lock().unwrap().is_empty());

    // The transmitter retries: both are applied, once.
    store.fail.store(false, Ordering::SeqCst);
    gate.add_permits(100);
    rx.push_accepted(&first).await;
    rx.push_accepted(&second).await;
    rx.push_accepted(&first).await;
    assert_eq!(*handler.applied.lock().unwrap(), ["first", "second"]);
    assert_eq!(store.state_rows("revoked").await.unwrap().len(), 2);
}
