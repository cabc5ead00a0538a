//! Leases, crashes, fencing, concurrency and durability of the outbox.

use std::{collections::HashSet, sync::Arc};

use serde_json::json;
use ssf_types::{Clock, Jti, StreamId};

use super::{
    Ctx, Harness,
    outbox::{LEASE, claim, claimed_jtis, http_503, ids},
    set,
};
use crate::StreamStatus;

fn sid(id: &str) -> StreamId {
    StreamId::new(id)
}

/// A leased row whose lease expired returns to the queue (same jti), held if paused meanwhile.
pub async fn lease_expiry_returns_rows<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.push_stream("rp", "s2").await;
    cx.enqueue(&[("s1", "1", "k"), ("s2", "2", "k")]).await;
    let leased = claim(&cx.store, "w1", 10).await;
    assert_eq!(leased.len(), 2);
    cx.store
        .set_stream_status("rp", &sid("s2"), StreamStatus::Paused, None)
        .await
        .unwrap();
    cx.clock.advance(29_999);
    assert_eq!(cx.store.reap_expired_leases().await.unwrap(), 0);
    assert!(
        claim(&cx.store, "w2", 10).await.is_empty(),
        "never a row leased to someone else"
    );
    cx.clock.advance(1);
    assert_eq!(cx.store.reap_expired_leases().await.unwrap(), 2);
    let counts = cx.store.outbox_counts(None).await.unwrap();
    assert_eq!((counts.pending, counts.held, counts.leased), (1, 1, 0));
    let reclaimed = claim(&cx.store, "w2", 10).await;
    assert_eq!(claimed_jtis(&reclaimed), vec!["1"]);
    assert_eq!(reclaimed[0].attempts, 2);
}

/// DESIGN §3: killing the process mid-delivery loses nothing.
pub async fn crash_mid_delivery_loses_nothing<H: Harness>(h: &H) {
    let mut cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "k1"), ("s1", "j2", "k2")]).await;
    let before = claim(&cx.store, "node-a", 10).await;
    assert_eq!(before.len(), 2);
    cx.crash_and_reopen().await;
    assert!(
        claim(&cx.store, "node-b", 10).await.is_empty(),
        "lease still running"
    );
    cx.clock.advance(LEASE.as_millis() as i64);
    assert_eq!(cx.store.reap_expired_leases().await.unwrap(), 2);
    let after = claim(&cx.store, "node-b", 10).await;
    assert_eq!(claimed_jtis(&after), claimed_jtis(&before));
    assert_eq!(
        after.iter().map(|c| &c.set_jwt).collect::<Vec<_>>(),
        before.iter().map(|c| &c.set_jwt).collect::<Vec<_>>()
    );
}

/// Fencing: after the reaper gave a row away, the old worker's retry/failure does not apply,
/// while its late 202 still removes the row (the receiver has it).
pub async fn lost_lease_cannot_record_outcomes<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "k1"), ("s1", "j2", "k2")]).await;
    let old = claim(&cx.store, "old", 10).await;
    cx.clock.advance(30_000);
    cx.store.reap_expired_leases().await.unwrap();
    let new = claim(&cx.store, "new", 10).await;
    assert_eq!(ids(&new), ids(&old));
    let at = cx.clock.now().plus_millis(1);
    let stale = cx
        .store
        .schedule_retry("old", old[0].id, at, http_503())
        .await
        .unwrap();
    assert_eq!(stale.stale, vec![old[0].id]);
    let stale = cx
        .store
        .dead_letter("old", old[1].id, http_503())
        .await
        .unwrap();
    assert_eq!(stale.stale, vec![old[1].id]);
    assert_eq!(cx.store.outbox_counts(None).await.unwrap().leased, 2);
    let late = cx.store.mark_delivered("old", &[old[0].id]).await.unwrap();
    assert_eq!(late.applied, 1);
    let done = cx.store.mark_delivered("new", &ids(&new)).await.unwrap();
    assert_eq!((done.applied, done.stale), (1, vec![old[0].id]));
}

/// Concurrent claimers never get the same row.
pub async fn concurrent_claimers_never_share_rows<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    let sets: Vec<_> = (0..400)
        .map(|i| set("s1", &format!("j{i}"), &format!("k{i}")))
        .collect();
    cx.store.enqueue(sets).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = Arc::clone(&cx.store);
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_push(&owner, 7, LEASE).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                let got: Vec<_> = batch.iter().map(|c| c.id).collect();
                store.mark_delivered(&owner, &got).await.unwrap();
                mine.extend(batch.into_iter().map(|c| c.jti));
            }
        }));
    }
    let mut seen: HashSet<Jti> = HashSet::new();
    for task in tasks {
        for jti in task.await.unwrap() {
            assert!(seen.insert(jti.clone()), "{jti} claimed twice");
        }
    }
    assert_eq!(seen.len(), 400);
}

/// Every hop is durable before it acknowledges: enqueued SETs survive a restart.
pub async fn durability_across_reopen<H: Harness>(h: &H) {
    let mut cx = Ctx::new(h).await;
    cx.push_stream("rp", "s1").await;
    cx.store
        .add_subject("rp", &sid("s1"), "k", json!({"id": 1}), None)
        .await
        .unwrap();
    cx.enqueue(&[("s1", "j1", "k"), ("s1", "j2", "k")]).await;
    cx.close_and_reopen().await;
    assert!(
        cx.store
            .get_stream("rp", &sid("s1"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        cx.store
            .get_subject("rp", &sid("s1"), "k")
            .await
            .unwrap()
            .is_some()
    );
    let counts = cx.store.outbox_counts(None).await.unwrap();
    assert_eq!((counts.pending, counts.waiting), (1, 1));
    cx.crash_and_reopen().await;
    assert_eq!(claimed_jtis(&claim(&cx.store, "w", 10).await), vec!["j1"]);
}
