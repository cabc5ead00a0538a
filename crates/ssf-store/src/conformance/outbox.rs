//! Enqueue, push claim, outcomes, leases, retries, dead letters, ordering, durability.

use std::{collections::HashSet, sync::Arc, time::Duration};

use serde_json::json;
use ssf_types::{Clock, StreamId};

use super::{Ctx, Harness, T0, jtis, set};
use crate::{
    ClaimedSet, DeliveryError, DeliveryMethod, DeliveryOutcome, OutboxCounts, OutboxId,
    OutboxState, ParkedQuery, ReplaySelector, StoreError, StreamStatus, StreamUpdate,
    TransmitterStore,
};

pub(super) const LEASE: Duration = Duration::from_secs(30);

fn sid(id: &str) -> StreamId {
    StreamId::new(id)
}

pub(super) async fn claim(
    store: &Arc<dyn TransmitterStore>,
    owner: &str,
    max: u32,
) -> Vec<ClaimedSet> {
    store.claim_push(owner, max, LEASE).await.unwrap()
}

pub(super) fn claimed_jtis(claimed: &[ClaimedSet]) -> Vec<&str> {
    jtis(claimed.iter().map(|c| &c.jti))
}

pub(super) fn ids(claimed: &[ClaimedSet]) -> Vec<OutboxId> {
    claimed.iter().map(|c| c.id).collect()
}

pub(super) fn http_503() -> DeliveryError {
    DeliveryError::new("http_503", "service unavailable")
}

/// DESIGN §3: a batch is written in one transaction; a failing batch leaves nothing.
pub async fn enqueue_batch_is_atomic<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.push_stream("rp", "s2").await;
    cx.enqueue(&[("s1", "dup", "k")]).await;
    let batch = vec![
        set("s2", "a", "k"),
        set("s2", "b", "k"),
        set("s1", "dup", "k2"),
    ];
    let err = cx.store.enqueue(batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let counts = cx.store.outbox_counts(None).await.unwrap();
    assert_eq!(
        counts.queued(),
        1,
        "nothing of the failed batch: {counts:?}"
    );
    let within = vec![set("s2", "x", "k"), set("s2", "x", "other")];
    assert!(
        cx.store.enqueue(within).await.is_err(),
        "duplicate jti inside one batch"
    );
    assert_eq!(
        cx.store
            .outbox_counts(Some(&sid("s2")))
            .await
            .unwrap()
            .queued(),
        0
    );
    // The store still works after failed batches.
    cx.enqueue(&[("s2", "c", "k")]).await;
}

/// SSF-STATUS-15: SETs for disabled or unknown streams are not kept.
pub async fn enqueue_drops_unknown_and_disabled_streams<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "on").await;
    cx.push_stream("rp", "off").await;
    cx.store
        .set_stream_status("rp", &sid("off"), StreamStatus::Disabled, None)
        .await
        .unwrap();
    let batch = vec![
        set("on", "1", "k"),
        set("off", "2", "k"),
        set("gone", "3", "k"),
    ];
    let report = cx.store.enqueue(batch).await.unwrap();
    assert_eq!(report.queued, 1);
    assert_eq!(report.dropped_streams, vec![sid("gone"), sid("off")]);
    assert_eq!(cx.store.outbox_counts(None).await.unwrap().queued(), 1);
}

/// PUSH-06, SSF-STATUS-10/11/12/15: only enabled streams deliver; paused holds; poll streams are
/// never pushed.
pub async fn claim_respects_stream_status<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    for id in ["on", "paused", "off"] {
        cx.push_stream("rp", id).await;
    }
    cx.poll_stream("rp", "polled").await;
    cx.store
        .set_stream_status("rp", &sid("paused"), StreamStatus::Paused, None)
        .await
        .unwrap();
    let report = cx
        .store
        .enqueue(vec![
            set("on", "1", "k"),
            set("paused", "2", "k"),
            set("polled", "3", "k"),
        ])
        .await
        .unwrap();
    assert_eq!((report.queued, report.held), (3, 1));
    cx.store
        .set_stream_status("rp", &sid("off"), StreamStatus::Disabled, None)
        .await
        .unwrap();
    assert_eq!(
        cx.store
            .enqueue(vec![set("off", "4", "k")])
            .await
            .unwrap()
            .queued,
        0
    );
    let claimed = claim(&cx.store, "w1", 10).await;
    assert_eq!(claimed_jtis(&claimed), vec!["1"]);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].set_jwt, "jwt-on-1");
    assert_eq!(claimed[0].lease_until, T0.plus_millis(30_000));
    assert!(claim(&cx.store, "w1", 10).await.is_empty(), "paused holds");
    cx.store
        .set_stream_status("rp", &sid("paused"), StreamStatus::Enabled, None)
        .await
        .unwrap();
    assert_eq!(
        claimed_jtis(&claim(&cx.store, "w1", 10).await),
        vec!["2"],
        "released on enable"
    );
}

/// SSF-STATUS-15: disabling drops everything queued, and nothing returns when re-enabled.
pub async fn disabling_drops_queued_sets<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "1", "a"), ("s1", "2", "a"), ("s1", "3", "b")])
        .await;
    let leased = claim(&cx.store, "w1", 1).await;
    let s1 = sid("s1");
    let change = cx
        .store
        .set_stream_status("rp", &s1, StreamStatus::Disabled, None)
        .await;
    assert_eq!(change.unwrap().unwrap().dropped, 3);
    // The in-flight delivery finishing later changes nothing.
    let late = cx.store.mark_delivered("w1", &ids(&leased)).await.unwrap();
    assert_eq!(late.stale, ids(&leased));
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Enabled, None)
        .await
        .unwrap();
    assert!(claim(&cx.store, "w1", 10).await.is_empty());
    assert_eq!(
        cx.store.drop_queued("rp", &sid("s1")).await.unwrap(),
        Some(0)
    );
}

/// SSF-STATUS-14: held SETs about one subject are delivered in generation order, one at a time.
pub async fn per_subject_order_under_pause_and_resume<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "a1", "alice")]).await;
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Paused, None)
        .await
        .unwrap();
    cx.enqueue(&[
        ("s1", "a2", "alice"),
        ("s1", "b1", "bob"),
        ("s1", "a3", "alice"),
    ])
    .await;
    cx.enqueue(&[("s1", "b2", "bob")]).await;
    let counts = cx.store.outbox_counts(Some(&sid("s1"))).await.unwrap();
    assert_eq!((counts.held, counts.waiting), (2, 3), "{counts:?}");
    assert!(claim(&cx.store, "w", 10).await.is_empty());
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Enabled, None)
        .await
        .unwrap();
    let mut delivered = Vec::new();
    for _ in 0..4 {
        let batch = claim(&cx.store, "w", 10).await;
        let mut subjects = HashSet::new();
        assert!(
            batch.iter().all(|c| subjects.insert(c.subject_key.clone())),
            "one per subject"
        );
        delivered.extend(batch.iter().map(|c| c.jti.as_str().to_owned()));
        cx.store.mark_delivered("w", &ids(&batch)).await.unwrap();
    }
    let order = |prefix: char| -> Vec<&str> {
        delivered
            .iter()
            .map(String::as_str)
            .filter(|j| j.starts_with(prefix))
            .collect()
    };
    assert_eq!(order('a'), vec!["a1", "a2", "a3"]);
    assert_eq!(order('b'), vec!["b1", "b2"]);
    assert_eq!(
        cx.store.outbox_counts(None).await.unwrap(),
        OutboxCounts::default()
    );
}

/// SSF-STATUS-14, PUSH-16: a SET in retry keeps later SETs of its subject back, not others.
pub async fn per_subject_order_with_retries<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[
        ("s1", "a1", "alice"),
        ("s1", "a2", "alice"),
        ("s1", "b1", "bob"),
    ])
    .await;
    let first = claim(&cx.store, "w", 10).await;
    assert_eq!(claimed_jtis(&first), vec!["a1", "b1"]);
    let retry_at = T0.plus_millis(5_000);
    cx.store
        .schedule_retry("w", first[0].id, retry_at, http_503())
        .await
        .unwrap();
    cx.store.mark_delivered("w", &[first[1].id]).await.unwrap();
    assert!(
        claim(&cx.store, "w", 10).await.is_empty(),
        "a2 waits behind a1's retry"
    );
    assert_eq!(cx.store.next_push_due().await.unwrap(), Some(retry_at));
    cx.clock.advance(5_000);
    let again = claim(&cx.store, "w", 10).await;
    assert_eq!(claimed_jtis(&again), vec!["a1"]);
    assert_eq!(again[0].attempts, 2);
    cx.store.mark_delivered("w", &ids(&again)).await.unwrap();
    assert_eq!(claimed_jtis(&claim(&cx.store, "w", 10).await), vec!["a2"]);
}

/// PUSH-16: retries at a durable time, attempts counted; exhausted -> dead letter; replay.
pub async fn retries_dead_letter_and_replay<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "k"), ("s1", "j2", "k")]).await;
    for attempt in 1..=3u32 {
        let c = claim(&cx.store, "w", 1).await;
        assert_eq!((c[0].jti.as_str(), c[0].attempts), ("j1", attempt));
        if attempt < 3 {
            let at = cx.clock.now().plus_millis(1_000);
            cx.store
                .schedule_retry("w", c[0].id, at, http_503())
                .await
                .unwrap();
            assert!(claim(&cx.store, "w", 1).await.is_empty(), "not yet due");
            cx.clock.advance(1_000);
        } else {
            let report = cx
                .store
                .dead_letter("w", c[0].id, http_503())
                .await
                .unwrap();
            assert_eq!(report.applied, 1);
        }
    }
    let next = claim(&cx.store, "w", 10).await;
    assert_eq!(
        claimed_jtis(&next),
        vec!["j2"],
        "a dead letter releases its subject"
    );
    cx.store.mark_delivered("w", &ids(&next)).await.unwrap();
    let dead = cx
        .store
        .list_parked(ParkedQuery {
            limit: 10,
            ..ParkedQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].state, dead[0].attempts), (OutboxState::Dead, 3));
    assert_eq!(dead[0].error, Some(http_503()));
    assert_eq!(dead[0].finished_at, Some(cx.clock.now().plus_millis(0)));
    let replayed = cx
        .store
        .replay(ReplaySelector::Ids(vec![dead[0].id, OutboxId(999_999)]))
        .await;
    assert_eq!(replayed.unwrap(), 1);
    let again = claim(&cx.store, "w", 10).await;
    assert_eq!((claimed_jtis(&again), again[0].attempts), (vec!["j1"], 1));
    cx.store.mark_delivered("w", &ids(&again)).await.unwrap();
    assert_eq!(
        cx.store.outbox_counts(None).await.unwrap(),
        OutboxCounts::default()
    );
}

/// PUSH-17: a 400 with `err` is recorded as a permanent failure, never retried; replayable.
pub async fn permanent_failure_is_recorded<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.push_stream("rp", "s2").await;
    cx.enqueue(&[("s1", "j1", "k"), ("s2", "j2", "k")]).await;
    let c = claim(&cx.store, "w", 10).await;
    let err = DeliveryError::new("invalid_audience", "aud mismatch");
    let outcomes = c
        .iter()
        .map(|c| DeliveryOutcome::Failed {
            id: c.id,
            error: err.clone(),
        })
        .collect();
    assert_eq!(
        cx.store
            .record_outcomes("w", outcomes)
            .await
            .unwrap()
            .applied,
        2
    );
    cx.clock.advance(3_600_000);
    assert!(claim(&cx.store, "w", 10).await.is_empty());
    let query = ParkedQuery {
        stream_id: Some(sid("s1")),
        state: Some(OutboxState::Failed),
        after: None,
        limit: 10,
    };
    let failed = cx.store.list_parked(query.clone()).await.unwrap();
    assert_eq!((failed.len(), &failed[0].error), (1, &Some(err)));
    let dead_only = ParkedQuery {
        state: Some(OutboxState::Dead),
        ..query
    };
    assert!(cx.store.list_parked(dead_only).await.unwrap().is_empty());
    assert_eq!(
        cx.store
            .replay(ReplaySelector::Stream(sid("s1")))
            .await
            .unwrap(),
        1
    );
    assert_eq!(claimed_jtis(&claim(&cx.store, "w", 10).await), vec!["j1"]);
}

/// Metrics and the console: queued SETs by state, of one stream, all, or every stream at once.
pub async fn counts_by_state<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.push_stream("rp", "s2").await;
    cx.enqueue(&[
        ("s1", "1", "a"),
        ("s1", "2", "a"),
        ("s1", "3", "b"),
        ("s1", "4", "c"),
    ])
    .await;
    cx.store
        .set_stream_status("rp", &sid("s2"), StreamStatus::Paused, None)
        .await
        .unwrap();
    cx.enqueue(&[("s2", "5", "a")]).await;
    let c = claim(&cx.store, "w", 2).await;
    cx.store
        .fail_permanently("w", c[1].id, DeliveryError::new("invalid_request", "x"))
        .await
        .unwrap();
    let counts = cx.store.outbox_counts(None).await.unwrap();
    let expected = OutboxCounts {
        waiting: 1,
        pending: 1,
        held: 1,
        leased: 1,
        failed: 1,
        dead: 0,
    };
    assert_eq!(counts, expected);
    assert_eq!(
        cx.store.outbox_counts(Some(&sid("s2"))).await.unwrap().held,
        1
    );
    assert_eq!(
        cx.store.outbox_counts(Some(&sid("none"))).await.unwrap(),
        OutboxCounts::default()
    );
    // All streams in one query: the same counts as one stream at a time, nothing else.
    let by_stream = cx.store.outbox_counts_by_stream().await.unwrap();
    assert_eq!(by_stream.len(), 2, "{by_stream:?}");
    for stream in ["s1", "s2"] {
        assert_eq!(
            by_stream[&sid(stream)],
            cx.store.outbox_counts(Some(&sid(stream))).await.unwrap()
        );
    }
}

/// Durable schedule (`next_attempt_at`) and retention of parked rows.
pub async fn next_push_due_and_purge<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    assert_eq!(cx.store.next_push_due().await.unwrap(), None);
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "1", "a"), ("s1", "2", "b")]).await;
    assert_eq!(cx.store.next_push_due().await.unwrap(), Some(T0));
    let c = claim(&cx.store, "w", 10).await;
    cx.store
        .dead_letter("w", c[0].id, http_503())
        .await
        .unwrap();
    cx.clock.advance(10);
    cx.store
        .dead_letter("w", c[1].id, http_503())
        .await
        .unwrap();
    assert_eq!(cx.store.purge_parked(T0.plus_millis(10)).await.unwrap(), 1);
    assert_eq!(cx.store.outbox_counts(None).await.unwrap().dead, 1);
}

/// Changing the delivery method moves the queue: push rows become pollable and back.
pub async fn delivery_method_change_moves_queue<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "1", "a"), ("s1", "2", "a"), ("s1", "3", "b")])
        .await;
    let update = |delivery| StreamUpdate {
        config: json!({"delivery": {"method": delivery}}),
        delivery,
        inactivity_timeout_secs: None,
        min_verification_interval_secs: None,
        expected_revision: None,
    };
    cx.store
        .update_stream("rp", &sid("s1"), update(DeliveryMethod::Poll))
        .await
        .unwrap();
    assert!(
        claim(&cx.store, "w", 10).await.is_empty(),
        "poll streams are not pushed"
    );
    assert_eq!(cx.store.outbox_counts(None).await.unwrap().pending, 3);
    cx.store
        .update_stream("rp", &sid("s1"), update(DeliveryMethod::Push))
        .await
        .unwrap();
    assert_eq!(
        claimed_jtis(&claim(&cx.store, "w", 10).await),
        vec!["1", "3"]
    );
}

/// Wake-ups: enqueue signals the stream's subscribers and push workers, not other streams'.
pub async fn enqueue_wakes_subscribers<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.poll_stream("rp", "s2").await;
    let mut mine = cx.store.subscribe(Some(&sid("s1")));
    let other = cx.store.subscribe(Some(&sid("s2")));
    let mut workers = cx.store.subscribe(None);
    assert!(!mine.is_signalled());
    cx.enqueue(&[("s1", "1", "a")]).await;
    assert!(mine.is_signalled());
    assert!(!other.is_signalled());
    assert_eq!(
        mine.wait(Duration::from_secs(60)).await,
        crate::Wake::Signalled
    );
    assert_eq!(
        workers.wait(Duration::from_secs(60)).await,
        crate::Wake::Signalled
    );
    assert!(!mine.is_signalled(), "the signal was consumed");
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Paused, None)
        .await
        .unwrap();
    cx.enqueue(&[("s1", "2", "a")]).await;
    assert!(!mine.is_signalled(), "held SETs wake nobody");
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Enabled, None)
        .await
        .unwrap();
    assert!(mine.is_signalled(), "resuming releases held SETs");
}
