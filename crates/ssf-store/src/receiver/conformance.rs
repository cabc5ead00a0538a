//! The backend-neutral conformance suite for [`ReceiverStore`] (feature `conformance`).
//!
//! Every implementation runs every function here against a fresh database through a
//! [`ReceiverHarness`]; [`receiver_conformance_tests!`](crate::receiver_conformance_tests)
//! expands to one `#[tokio::test]` per function. Times come from a [`ManualClock`]; nothing
//! sleeps. Checklist ids in the function docs say which rule each one covers.
// Test-support code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    missing_debug_implementations
)]

mod audit;
mod follow;
mod verification;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use ssf_types::{ManualClock, StreamId, UnixMillis};

use super::{ApplyItem, ApplyResult, ReceiverStore, ReceiverStream, StateWrite, StreamControl};
use crate::model::{AuditQuery, DeliveryMethod, NewAuditEntry, StreamStatus};

pub use self::{
    audit::{audit_has_its_own_retention, audit_is_found_by_jti_subject_and_time},
    follow::state_log_lets_other_nodes_follow,
    verification::every_recent_verification_request_is_expected,
};

/// Opens receiver stores of one backend for the suite.
#[async_trait]
pub trait ReceiverHarness: Send + Sync {
    /// One empty database, owned for the test's duration.
    type Db: Send + Sync;

    /// Creates an empty database.
    async fn create_db(&self) -> Self::Db;

    /// Opens a store on `db` with `clock`. Called again on the same `db` to simulate a restart.
    async fn open(&self, db: &Self::Db, clock: ManualClock) -> Arc<dyn ReceiverStore>;
}

/// The suite's start time.
pub const T0: UnixMillis = UnixMillis(1_767_225_600_000);

/// A fresh database and a store on it.
pub struct Ctx<'h, H: ReceiverHarness> {
    pub harness: &'h H,
    pub db: H::Db,
    pub clock: ManualClock,
    pub store: Arc<dyn ReceiverStore>,
}

impl<'h, H: ReceiverHarness> Ctx<'h, H> {
    pub async fn new(harness: &'h H) -> Self {
        let db = harness.create_db().await;
        let clock = ManualClock::new(T0);
        let store = harness.open(&db, clock.clone()).await;
        Self {
            harness,
            db,
            clock,
            store,
        }
    }

    /// The clock's time now.
    pub fn clock_now(&self) -> UnixMillis {
        ssf_types::Clock::now(&self.clock)
    }

    /// Drops the store without closing it (a crash) and opens the same database again.
    pub async fn crash_and_reopen(&mut self) {
        self.store = self.harness.open(&self.db, self.clock.clone()).await;
    }
}

/// An item without effects.
pub fn item(iss: &str, jti: &str) -> ApplyItem {
    ApplyItem {
        iss: iss.to_owned(),
        jti: jti.to_owned(),
        received_at: T0,
        stream_key: "peer-a".to_owned(),
        event_type: "urn:test:event".to_owned(),
        writes: Vec::new(),
        audit: None,
        audit_subjects: Vec::new(),
        control: None,
    }
}

pub fn put(kind: &str, key: &str, value: serde_json::Value, at: i64) -> StateWrite {
    StateWrite::Put {
        kind: kind.to_owned(),
        key: key.to_owned(),
        value,
        event_time: at,
    }
}

pub fn delete(kind: &str, key: &str, at: i64) -> StateWrite {
    StateWrite::Delete {
        kind: kind.to_owned(),
        key: key.to_owned(),
        event_time: at,
    }
}

pub fn stream(key: &str) -> ReceiverStream {
    ReceiverStream {
        stream_key: key.to_owned(),
        peer: key.to_owned(),
        issuer: "https://tx.example".to_owned(),
        stream_id: Some(StreamId::new("s-1")),
        delivery: DeliveryMethod::Push,
        status: StreamStatus::Enabled,
        status_reason: None,
        push_auth_sha256: Some("ab".repeat(32)),
        config: json!({"stream_id": "s-1"}),
    }
}

/// The stream's last recorded verification `state` (`None` if none or no stream).
pub async fn last_verification_state(store: &dyn ReceiverStore, key: &str) -> Option<String> {
    store
        .get_stream(key)
        .await
        .unwrap()
        .and_then(|r| r.expected_verification_state)
}

async fn values(store: &dyn ReceiverStore, kind: &str) -> Vec<(String, serde_json::Value)> {
    store
        .state_rows(kind)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect()
}

/// SSF-RXV-13, PUSH-14: a (`iss`, `jti`) is applied once, whether repeated in a later batch or
/// in the same one; the same `jti` from another issuer is another SET.
pub async fn duplicates_are_detected_across_and_within_batches<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let first = s
        .apply_batch(vec![item("a", "1"), item("a", "2"), item("a", "1")])
        .await
        .unwrap();
    assert_eq!(
        first,
        [
            ApplyResult::Applied,
            ApplyResult::Applied,
            ApplyResult::Duplicate
        ]
    );
    let again = s
        .apply_batch(vec![item("a", "2"), item("b", "1"), item("a", "3")])
        .await
        .unwrap();
    assert_eq!(
        again,
        [
            ApplyResult::Duplicate,
            ApplyResult::Applied,
            ApplyResult::Applied
        ]
    );
    assert!(s.is_seen("a", "1").await.unwrap());
    assert!(!s.is_seen("a", "9").await.unwrap());
    let keys: Vec<(String, String)> = [("a", "1"), ("x", "1"), ("b", "1"), ("a", "3")]
        .iter()
        .map(|(i, j)| ((*i).to_owned(), (*j).to_owned()))
        .collect();
    assert_eq!(
        s.seen_among(&keys).await.unwrap(),
        [true, false, true, true]
    );
    assert_eq!(s.seen_count().await.unwrap(), 4);
    assert!(s.apply_batch(Vec::new()).await.unwrap().is_empty());
}

/// A duplicate stores nothing: neither its writes nor its audit entry nor its control change.
pub async fn duplicates_store_nothing<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    s.upsert_stream(stream("peer-a")).await.unwrap();
    let mut first = item("a", "1");
    first.writes = vec![put("k", "x", json!(1), 10)];
    s.apply_batch(vec![first]).await.unwrap();
    let mut dup = item("a", "1");
    dup.writes = vec![put("k", "x", json!(2), 20), put("k", "y", json!(3), 20)];
    dup.audit = Some(NewAuditEntry {
        actor: "peer-a".into(),
        action: "set.applied".into(),
        stream_id: None,
        detail: json!({}),
    });
    dup.control = Some(StreamControl::Verified);
    assert_eq!(
        s.apply_batch(vec![dup]).await.unwrap(),
        [ApplyResult::Duplicate]
    );
    assert_eq!(values(&**s, "k").await, [("x".to_owned(), json!(1))]);
    let audit = s.list_audit(AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    });
    assert!(audit.await.unwrap().is_empty());
    let rec = s.get_stream("peer-a").await.unwrap().unwrap();
    assert_eq!(rec.last_verified_at, None);
}

/// Writes follow event time: a newer-or-equal put replaces, an older one is ignored; a delete
/// removes only rows not newer than itself; puts and deletes keep their order.
pub async fn state_writes_follow_event_time<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let mut a = item("a", "1");
    a.writes = vec![
        put("k", "x", json!("v10"), 10),
        put("k", "y", json!("y10"), 10),
    ];
    let mut b = item("a", "2");
    // Out of order: an older event arrives later and must not roll the state back.
    b.writes = vec![put("k", "x", json!("v5"), 5), delete("k", "y", 9)];
    let mut c = item("a", "3");
    c.writes = vec![
        put("k", "z", json!("z1"), 30),
        delete("k", "z", 30),
        put("other", "x", json!({"n": 1}), 1),
        put("other", "x", json!({"n": 2}), 2),
    ];
    s.apply_batch(vec![a, b, c]).await.unwrap();
    assert_eq!(
        values(&**s, "k").await,
        [
            ("x".to_owned(), json!("v10")),
            ("y".to_owned(), json!("y10"))
        ]
    );
    assert_eq!(
        values(&**s, "other").await,
        [("x".to_owned(), json!({"n": 2}))]
    );
    let mut d = item("a", "4");
    d.writes = vec![delete("k", "y", 10), put("k", "x", json!("v10b"), 10)];
    s.apply_batch(vec![d]).await.unwrap();
    assert_eq!(values(&**s, "k").await, [("x".to_owned(), json!("v10b"))]);
    let all = s.load_state().await.unwrap();
    let kinds: Vec<&str> = all.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["k", "other"]);
    assert_eq!(all[0].event_time, 10);
    assert_eq!(all[0].updated_at, T0);
}

/// Batches larger than one statement's chunk keep their order and results.
pub async fn large_batches_are_split_transparently<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let mut items: Vec<ApplyItem> = (0..450)
        .map(|i| {
            let mut it = item("a", &format!("j{i}"));
            it.writes = vec![put("k", &format!("key{:03}", i % 150), json!(i), i)];
            it
        })
        .collect();
    items.push(item("a", "j7"));
    let results = s.apply_batch(items).await.unwrap();
    assert_eq!(results.len(), 451);
    assert!(results[..450].iter().all(|r| *r == ApplyResult::Applied));
    assert_eq!(results[450], ApplyResult::Duplicate);
    let rows = s.state_rows("k").await.unwrap();
    assert_eq!(rows.len(), 150);
    assert_eq!(
        rows[0].value,
        json!(300),
        "the newest of key000 (0, 150, 300) wins"
    );
    assert_eq!(s.seen_count().await.unwrap(), 450);
}

/// SSF-RXV-20: pairs older than the replay window are purged; newer ones stay.
pub async fn purge_forgets_old_pairs_only<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let mut old = item("a", "old");
    old.received_at = T0.plus_millis(-8 * 86_400_000);
    let mut recent = item("a", "recent");
    recent.received_at = T0.plus_millis(-86_400_000);
    s.apply_batch(vec![old, recent]).await.unwrap();
    // More than one purge chunk of a backend, older than the window.
    let many: Vec<ApplyItem> = (0..12_000)
        .map(|i| {
            let mut it = item("b", &format!("old-{i}"));
            it.received_at = T0.plus_millis(-9 * 86_400_000);
            it
        })
        .collect();
    s.apply_batch(many).await.unwrap();
    let removed = s.purge_seen(T0.plus_millis(-7 * 86_400_000)).await.unwrap();
    assert_eq!(removed, 12_001);
    assert_eq!(s.seen_count().await.unwrap(), 1);
    assert!(!s.is_seen("a", "old").await.unwrap());
    assert!(s.is_seen("a", "recent").await.unwrap());
}

/// Audit entries from batches and direct appends, paged by id and filtered by stream key.
pub async fn audit_appends_and_pages<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let entry = |action: &str, stream: Option<&str>| NewAuditEntry {
        actor: "rx".into(),
        action: action.into(),
        stream_id: stream.map(StreamId::new),
        detail: json!({"n": action}),
    };
    let id = s
        .append_audit(entry("stream.create", Some("peer-b")))
        .await
        .unwrap();
    let mut it = item("a", "1");
    it.audit = Some(entry("set.applied", None));
    s.apply_batch(vec![it]).await.unwrap();
    let all = s
        .list_audit(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, id);
    assert_eq!(
        all[1].stream_id,
        Some(StreamId::new("peer-a")),
        "defaults to the stream key"
    );
    assert_eq!(all[1].detail, json!({"n": "set.applied"}));
    assert_eq!(all[1].at, T0);
    let after = s
        .list_audit(AuditQuery {
            after_id: Some(id),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    let only_b = s
        .list_audit(AuditQuery {
            stream_id: Some(StreamId::new("peer-b")),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
}

/// Stream records: upsert, get, list, status, delete; an upsert keeps verification bookkeeping.
pub async fn streams_are_recorded<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    let rec = s.upsert_stream(stream("peer-a")).await.unwrap();
    assert_eq!(rec.stream, stream("peer-a"));
    assert_eq!(rec.created_at, T0);
    assert!(
        s.set_expected_verification_state("peer-a", Some("st-1".into()))
            .await
            .unwrap()
    );
    ctx.clock.advance(1000);
    let mut changed = stream("peer-a");
    changed.stream_id = Some(StreamId::new("s-2"));
    changed.delivery = DeliveryMethod::Poll;
    let rec = s.upsert_stream(changed.clone()).await.unwrap();
    assert_eq!(rec.stream, changed);
    assert_eq!(rec.created_at, T0);
    assert_eq!(rec.updated_at, T0.plus_millis(1000));
    assert_eq!(rec.expected_verification_state.as_deref(), Some("st-1"));
    assert_eq!(rec.verification_requested_at, Some(T0));
    s.upsert_stream(stream("peer-b")).await.unwrap();
    let keys: Vec<String> = s
        .list_streams()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.stream.stream_key)
        .collect();
    assert_eq!(keys, ["peer-a", "peer-b"]);
    assert!(
        s.set_stream_status("peer-b", StreamStatus::Paused, Some("maintenance".into()))
            .await
            .unwrap()
    );
    let b = s.get_stream("peer-b").await.unwrap().unwrap();
    assert_eq!(b.stream.status, StreamStatus::Paused);
    assert_eq!(b.stream.status_reason.as_deref(), Some("maintenance"));
    assert!(s.delete_stream("peer-b").await.unwrap());
    assert!(!s.delete_stream("peer-b").await.unwrap());
    assert!(s.get_stream("peer-b").await.unwrap().is_none());
    assert!(
        !s.set_stream_status("peer-b", StreamStatus::Enabled, None)
            .await
            .unwrap()
    );
}

/// SSF-RXV-10 bookkeeping: the expected verification state per stream.
pub async fn verification_state_is_kept_per_stream<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    assert!(
        !s.set_expected_verification_state("nope", Some("x".into()))
            .await
            .unwrap()
    );
    assert_eq!(last_verification_state(s.as_ref(), "nope").await, None);
    s.upsert_stream(stream("peer-a")).await.unwrap();
    assert_eq!(last_verification_state(s.as_ref(), "peer-a").await, None);
    s.set_expected_verification_state("peer-a", Some("abc".into()))
        .await
        .unwrap();
    assert_eq!(
        last_verification_state(s.as_ref(), "peer-a")
            .await
            .as_deref(),
        Some("abc")
    );
    s.set_expected_verification_state("peer-a", None)
        .await
        .unwrap();
    assert_eq!(last_verification_state(s.as_ref(), "peer-a").await, None);
}

/// SSF-EVT-18: a stream-updated event's status and a verification's time are stored with the SET.
pub async fn control_events_update_the_stream<H: ReceiverHarness>(h: &H) {
    let ctx = Ctx::new(h).await;
    let s = &ctx.store;
    s.upsert_stream(stream("peer-a")).await.unwrap();
    ctx.clock.advance(5000);
    let mut paused = item("a", "1");
    paused.control = Some(StreamControl::Status {
        status: StreamStatus::Paused,
        reason: Some("admin".into()),
    });
    let mut verified = item("a", "2");
    verified.control = Some(StreamControl::Verified);
    let mut unknown = item("a", "3");
    unknown.stream_key = "gone".into();
    unknown.control = Some(StreamControl::Verified);
    let results = s
        .apply_batch(vec![paused, verified, unknown])
        .await
        .unwrap();
    assert!(results.iter().all(|r| *r == ApplyResult::Applied));
    let rec = s.get_stream("peer-a").await.unwrap().unwrap();
    assert_eq!(rec.stream.status, StreamStatus::Paused);
    assert_eq!(rec.stream.status_reason.as_deref(), Some("admin"));
    assert_eq!(rec.last_verified_at, Some(T0.plus_millis(5000)));
}

/// Crash safety: what a batch committed survives a crash (the store dropped without closing);
/// a redelivery after the restart is a duplicate and the state is there to load.
pub async fn committed_batches_survive_a_crash<H: ReceiverHarness>(h: &H) {
    let mut ctx = Ctx::new(h).await;
    let mut it = item("a", "1");
    it.writes = vec![put("k", "x", json!({"revoked": true}), 10)];
    ctx.store.apply_batch(vec![it.clone()]).await.unwrap();
    ctx.crash_and_reopen().await;
    assert_eq!(
        ctx.store.apply_batch(vec![it]).await.unwrap(),
        [ApplyResult::Duplicate]
    );
    let rows = ctx.store.load_state().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].value, json!({"revoked": true}));
}

/// Expands to one `#[tokio::test]` per receiver conformance function, each with `$harness` (an
/// expression building a [`ReceiverHarness`]).
#[macro_export]
macro_rules! receiver_conformance_tests {
    ($harness:expr) => {
        $crate::receiver_conformance_tests!(@each $harness;
            duplicates_are_detected_across_and_within_batches,
            duplicates_store_nothing,
            state_writes_follow_event_time,
            large_batches_are_split_transparently,
            purge_forgets_old_pairs_only,
            audit_appends_and_pages,
            audit_is_found_by_jti_subject_and_time,
            audit_has_its_own_retention,
            streams_are_recorded,
            verification_state_is_kept_per_stream,
            control_events_update_the_stream,
            committed_batches_survive_a_crash,
            state_log_lets_other_nodes_follow,
            every_recent_verification_request_is_expected,
        );
    };
    (@each $harness:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::receiver::conformance::$name(&$harness).await;
            }
        )+
    };
}
