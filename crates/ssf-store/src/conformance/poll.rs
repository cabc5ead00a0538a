//! RFC 8936 poll delivery.

use std::collections::BTreeMap;

use ssf_types::{Jti, StreamId};

use super::{Ctx, Harness, T0, jtis};
use crate::{
    DeliveryError, DeliveryMethod, OutboxState, ParkedQuery, PollRequest, PollResponse, StoreError,
    StreamStatus, TransmitterStore,
};

const REDELIVERY_MS: i64 = 60_000;

fn sid(id: &str) -> StreamId {
    StreamId::new(id)
}

fn request(client: &str, stream: &str, max_events: u32) -> PollRequest {
    PollRequest {
        client_id: client.to_owned(),
        stream_id: sid(stream),
        ack: Vec::new(),
        set_errs: BTreeMap::new(),
        max_events,
        redelivery_after_ms: REDELIVERY_MS,
    }
}

async fn poll(store: &dyn TransmitterStore, request: PollRequest) -> PollResponse {
    store.poll(request).await.unwrap()
}

fn handed_out(response: &PollResponse) -> Vec<&str> {
    jtis(response.sets.iter().map(|s| &s.jti))
}

fn acks(jtis: &[&str]) -> Vec<Jti> {
    jtis.iter().map(|j| Jti::new(*j)).collect()
}

/// POLL-04/05/06, D-17: up to `maxEvents`, oldest first, `moreAvailable` when more remain.
pub async fn poll_hands_out_oldest_first<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "1", "a"), ("s1", "2", "a"), ("s1", "3", "b")])
        .await;
    cx.enqueue(&[("s1", "4", "a")]).await;
    let s = cx.store.as_ref();
    let first = poll(s, request("rp", "s1", 3)).await;
    assert_eq!(
        handed_out(&first),
        vec!["1", "2", "3"],
        "several per subject, in order"
    );
    assert_eq!(first.sets[0].set_jwt, "jwt-s1-1");
    assert!(first.more_available);
    assert_eq!(first.status, StreamStatus::Enabled);
    let second = poll(s, request("rp", "s1", 3)).await;
    assert_eq!(handed_out(&second), vec!["4"]);
    assert!(!second.more_available);
    let empty = poll(s, request("rp", "s1", 3)).await;
    assert!(
        empty.sets.is_empty(),
        "POLL-04: sets is empty when nothing is outstanding"
    );
    let none = poll(s, request("rp", "s1", 0)).await;
    assert!(none.sets.is_empty(), "POLL-06: maxEvents 0 returns none");
}

/// POLL-12: a SET handed out and not acknowledged is handed out again after the redelivery
/// timeout, with the same jti, and not before.
pub async fn poll_redelivers_after_timeout_with_same_jti<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "a"), ("s1", "j2", "b")]).await;
    let s = cx.store.as_ref();
    assert_eq!(
        handed_out(&poll(s, request("rp", "s1", 1)).await),
        vec!["j1"]
    );
    cx.clock.advance(REDELIVERY_MS - 1);
    let mut ack_j2 = request("rp", "s1", 10);
    let before = poll(s, request("rp", "s1", 10)).await;
    assert_eq!(handed_out(&before), vec!["j2"], "j1 is still out");
    cx.clock.advance(1);
    ack_j2.ack = acks(&["j2"]);
    let again = poll(s, ack_j2).await;
    assert_eq!(
        handed_out(&again),
        vec!["j1"],
        "redelivered with the same jti"
    );
    assert_eq!(again.sets[0].set_jwt, "jwt-s1-j1");
    // The reaper returns unacknowledged hand-outs as well.
    cx.clock.advance(REDELIVERY_MS);
    assert_eq!(cx.store.reap_expired_leases().await.unwrap(), 1);
    assert_eq!(
        handed_out(&poll(s, request("rp", "s1", 10)).await),
        vec!["j1"]
    );
}

/// POLL-10, POLL-13, POLL-16 (acknowledge-only), POLL-22: `ack` deletes; repeating it or acking
/// unknown jtis is harmless and reported; ack is processed before the hand-out (POLL-09).
pub async fn poll_ack_is_idempotent_and_ignores_unknown<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "a"), ("s1", "j2", "a")]).await;
    let s = cx.store.as_ref();
    assert_eq!(
        handed_out(&poll(s, request("rp", "s1", 10)).await),
        vec!["j1", "j2"]
    );
    let mut ack_only = request("rp", "s1", 0);
    ack_only.ack = acks(&["j1", "j1", "nope"]);
    let answer = poll(s, ack_only.clone()).await;
    assert_eq!(answer.acked, 1);
    assert_eq!(answer.unknown_acks, acks(&["nope"]));
    assert!(answer.sets.is_empty());
    let repeat = poll(s, ack_only).await;
    assert_eq!((repeat.acked, repeat.unknown_acks.len()), (0, 2));
    cx.clock.advance(REDELIVERY_MS);
    let mut ack_then_poll = request("rp", "s1", 10);
    ack_then_poll.ack = acks(&["j2"]);
    let last = poll(s, ack_then_poll).await;
    assert_eq!(last.acked, 1);
    assert!(
        last.sets.is_empty(),
        "POLL-09/10: an acknowledged SET is never returned"
    );
    assert_eq!(cx.store.outbox_counts(None).await.unwrap().queued(), 0);
}

/// POLL-11, POLL-15: `setErrs` are recorded with their error and never handed out again.
pub async fn poll_set_errs_are_recorded_and_removed<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "a"), ("s1", "j2", "a")]).await;
    let s = cx.store.as_ref();
    poll(s, request("rp", "s1", 10)).await;
    let mut report = request("rp", "s1", 10);
    let err = DeliveryError::new("invalid_state", "state mismatch");
    report.set_errs.insert(Jti::new("j1"), err.clone());
    report.set_errs.insert(Jti::new("ghost"), err.clone());
    report.ack = acks(&["j2"]);
    let answer = poll(s, report).await;
    assert_eq!(
        (answer.errors_recorded, answer.unknown_errs.clone()),
        (1, acks(&["ghost"]))
    );
    cx.clock.advance(REDELIVERY_MS * 2);
    assert!(poll(s, request("rp", "s1", 10)).await.sets.is_empty());
    let parked = cx
        .store
        .list_parked(ParkedQuery {
            limit: 10,
            ..ParkedQuery::default()
        })
        .await;
    let parked = parked.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].jti.as_str(), parked[0].state),
        ("j1", OutboxState::Failed)
    );
    assert_eq!(parked[0].error, Some(err));
    assert_eq!(parked[0].finished_at, Some(T0));
}

/// POLL-19: a poll only ever sees its own stream's SETs; acks cannot touch another stream.
pub async fn poll_never_returns_another_streams_sets<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.poll_stream("rp", "s2").await;
    cx.poll_stream("other", "s3").await;
    cx.enqueue(&[("s2", "x1", "a"), ("s3", "x2", "a"), ("s1", "mine", "a")])
        .await;
    let s = cx.store.as_ref();
    let mut mine = request("rp", "s1", 100);
    mine.ack = acks(&["x1", "x2"]);
    let answer = poll(s, mine).await;
    assert_eq!(handed_out(&answer), vec!["mine"]);
    assert_eq!(
        answer.acked, 0,
        "acks of other streams' jtis are unknown here"
    );
    assert_eq!(
        cx.store
            .outbox_counts(Some(&sid("s2")))
            .await
            .unwrap()
            .pending,
        1
    );
    assert_eq!(
        cx.store
            .outbox_counts(Some(&sid("s3")))
            .await
            .unwrap()
            .pending,
        1
    );
}

/// POLL-20, SSF-STATUS-11/12: a paused stream returns nothing and keeps holding; acks still work.
pub async fn poll_paused_stream_returns_nothing<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.enqueue(&[("s1", "j1", "a")]).await;
    let s = cx.store.as_ref();
    assert_eq!(
        handed_out(&poll(s, request("rp", "s1", 10)).await),
        vec!["j1"]
    );
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Paused, None)
        .await
        .unwrap();
    cx.enqueue(&[("s1", "j2", "b")]).await;
    cx.clock.advance(REDELIVERY_MS);
    let paused = poll(s, request("rp", "s1", 10)).await;
    assert!(paused.sets.is_empty());
    assert!(!paused.more_available);
    assert_eq!(paused.status, StreamStatus::Paused);
    let mut ack = request("rp", "s1", 10);
    ack.ack = acks(&["j1"]);
    assert_eq!(poll(s, ack).await.acked, 1);
    cx.store
        .set_stream_status("rp", &sid("s1"), StreamStatus::Enabled, None)
        .await
        .unwrap();
    assert_eq!(
        handed_out(&poll(s, request("rp", "s1", 10)).await),
        vec!["j2"]
    );
    let stream = cx
        .store
        .get_stream("rp", &sid("s1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stream.last_activity_at,
        T0.plus_millis(REDELIVERY_MS),
        "POLL-23"
    );
}

/// POLL-17/19/21: another client's stream is not found; a push stream is not pollable.
pub async fn poll_rejects_wrong_client_and_push_streams<H: Harness>(h: &H) {
    let cx = Ctx::new(h).await;
    cx.poll_stream("rp", "s1").await;
    cx.push_stream("rp", "pushed").await;
    cx.enqueue(&[("s1", "j1", "a")]).await;
    let s = cx.store.as_ref();
    let err = s.poll(request("intruder", "s1", 10)).await.unwrap_err();
    assert!(matches!(err, StoreError::StreamNotFound), "{err:?}");
    assert_eq!(err.http_status(), 404);
    let err = s.poll(request("rp", "pushed", 10)).await.unwrap_err();
    let expected = DeliveryMethod::Poll;
    assert!(matches!(err, StoreError::WrongDeliveryMethod { expected: e } if e == expected));
    let err = s.poll(request("rp", "missing", 10)).await.unwrap_err();
    assert!(matches!(err, StoreError::StreamNotFound));
    assert_eq!(
        cx.store
            .outbox_counts(Some(&sid("s1")))
            .await
            .unwrap()
            .pending,
        1
    );
}
