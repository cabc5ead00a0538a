//! PostgreSQL: the transmitter conformance suite against a real server (a fresh schema per test),
//! plus what only several nodes on one database can show: disjoint claims, cross-node wake-ups
//! through `LISTEN/NOTIFY`, lease expiry across nodes, and a listener that survives a dropped
//! connection.
//!
//! The server is `SSF_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `.ci/postgres.sh` starts one). When it is unreachable the tests print a note and pass, unless
//! `SSF_REQUIRE_POSTGRES=1` (set by `.ci/run`), which makes them fail.

use std::{collections::HashSet, sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::PgPool;
use ssf_store::{
    DeliveryMethod, NewSet, NewStream, PgStore, PollRequest, TransmitterStore, Wake,
    conformance::Harness,
};
use ssf_types::{Clock, Jti, ManualClock, StreamId, UnixMillis};

/// The shared test server and schema helpers.
pub(crate) use ssf_store::conformance::pg::{TestSchema as Schema, TestServer as Server};

/// Opens [`PgStore`]s on a fresh schema per test.
#[derive(Debug)]
pub(crate) struct PgHarness {
    pub(crate) server: Server,
}

impl PgHarness {
    pub(crate) async fn new() -> Option<Self> {
        Server::connect().await.map(|server| Self { server })
    }

    pub(crate) async fn node(&self, db: &Schema, clock: &ManualClock) -> Arc<PgStore> {
        let store = PgStore::connect(self.server.url(), Arc::new(clock.clone()), db.options());
        Arc::new(store.await.unwrap())
    }
}

#[async_trait]
impl Harness for PgHarness {
    type Db = Schema;

    async fn create_db(&self) -> Self::Db {
        self.server.schema().await
    }

    async fn open(&self, db: &Self::Db, clock: ManualClock) -> Arc<dyn TransmitterStore> {
        self.node(db, &clock).await
    }
}

mod conformance {
    ssf_store::transmitter_conformance_tests!(match super::PgHarness::new().await {
        Some(harness) => harness,
        None => return,
    });
}

const LEASE: Duration = Duration::from_secs(30);
/// Generous: only a broken wake-up path takes this long.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

fn set(stream: &str, jti: &str, key: &str) -> NewSet {
    NewSet {
        stream_id: StreamId::new(stream),
        jti: Jti::new(jti),
        subject_key: key.to_owned(),
        set_jwt: format!("jwt-{jti}"),
    }
}

pub(crate) async fn create(store: &PgStore, id: &str, delivery: DeliveryMethod) {
    let config = serde_json::json!({ "stream_id": id });
    let new = NewStream::new(StreamId::new(id), "rp", delivery, config);
    store.create_stream(new).await.unwrap();
}

/// Two nodes, each with its own pool and `LISTEN` connection, on one schema.
pub(crate) async fn two_nodes()
-> Option<(PgHarness, Schema, ManualClock, Arc<PgStore>, Arc<PgStore>)> {
    let harness = PgHarness::new().await?;
    let db = harness.server.schema().await;
    let clock = ManualClock::new(UnixMillis(1_767_225_600_000));
    let a = harness.node(&db, &clock).await;
    let b = harness.node(&db, &clock).await;
    Some((harness, db, clock, a, b))
}

/// PUSH-06 across nodes: workers of two nodes claiming at once never get the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_row() {
    let Some((_h, _db, _clock, a, b)) = two_nodes().await else {
        return;
    };
    create(&a, "s1", DeliveryMethod::Push).await;
    let sets = (0..600).map(|i| set("s1", &format!("j{i}"), &format!("k{i}")));
    a.enqueue(sets.collect()).await.unwrap();
    let mut tasks = Vec::new();
    for (w, store) in [&a, &a, &b, &b].into_iter().enumerate() {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let owner = format!("node-w{w}");
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_push(&owner, 9, LEASE).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                let ids: Vec<_> = batch.iter().map(|c| c.id).collect();
                let report = store.mark_delivered(&owner, &ids).await.unwrap();
                assert_eq!(report.applied, ids.len() as u64);
                mine.extend(batch.into_iter().map(|c| c.jti));
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for jti in task.await.unwrap() {
            assert!(seen.insert(jti.clone()), "{jti} claimed twice");
        }
    }
    assert_eq!(seen.len(), 600);
    assert_eq!(b.outbox_counts(None).await.unwrap().queued(), 0);
}

/// SSF-STATUS-14 across nodes: SETs of one subject enqueued concurrently on two nodes, and
/// finished there, still go out one at a time and none is left stuck behind a finished one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_subject_order_holds_across_nodes() {
    let Some((_h, _db, _clock, a, b)) = two_nodes().await else {
        return;
    };
    create(&a, "s1", DeliveryMethod::Push).await;
    // Claims in the order they happened: a SET is only claimable once the one before it of its
    // subject was delivered, so per subject this must list increasing ids (enqueue order).
    let log: Arc<std::sync::Mutex<Vec<(String, i64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for (n, store) in [&a, &b].into_iter().enumerate() {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let batch = vec![
                    set("s1", &format!("n{n}-{i}-x"), "alice"),
                    set("s1", &format!("n{n}-{i}-y"), &format!("bob{}", i % 3)),
                ];
                store.enqueue(batch).await.unwrap();
            }
        }));
    }
    for (w, store) in [&a, &b].into_iter().enumerate() {
        let (store, log) = (Arc::clone(store), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            for _ in 0..200 {
                let batch = store.claim_push(&owner, 4, LEASE).await.unwrap();
                let mut keys = HashSet::new();
                assert!(batch.iter().all(|c| keys.insert(c.subject_key.clone())));
                let claimed = batch.iter().map(|c| (c.subject_key.clone(), c.id.0));
                log.lock().unwrap().extend(claimed);
                let ids: Vec<_> = batch.iter().map(|c| c.id).collect();
                store.mark_delivered(&owner, &ids).await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Drain what is left: one claim per subject at a time, until nothing is queued.
    let mut rounds = 0;
    loop {
        let batch = a.claim_push("drain", 100, LEASE).await.unwrap();
        let counts = a.outbox_counts(None).await.unwrap();
        if batch.is_empty() {
            assert_eq!(counts.queued(), 0, "a SET was left behind: {counts:?}");
            break;
        }
        let mut keys = HashSet::new();
        assert!(batch.iter().all(|c| keys.insert(c.subject_key.clone())));
        let claimed = batch.iter().map(|c| (c.subject_key.clone(), c.id.0));
        log.lock().unwrap().extend(claimed);
        let ids: Vec<_> = batch.iter().map(|c| c.id).collect();
        a.mark_delivered("drain", &ids).await.unwrap();
        rounds += 1;
        assert!(rounds < 500);
    }
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 160, "every SET delivered once");
    let mut last: std::collections::HashMap<&str, i64> = Default::default();
    for (key, id) in log.iter() {
        let previous = last.insert(key, *id).unwrap_or(0);
        assert!(previous < *id, "{key}: {id} after {previous}");
    }
}

/// LISTEN/NOTIFY: a SET queued through node A wakes a long poll and a push worker waiting on
/// node B, and B's poll hands it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_queued_on_one_node_wakes_waiters_on_another() {
    let Some((_h, _db, _clock, a, b)) = two_nodes().await else {
        return;
    };
    create(&a, "poll-1", DeliveryMethod::Poll).await;
    create(&a, "other", DeliveryMethod::Poll).await;
    let mut long_poll = b.subscribe(Some(&StreamId::new("poll-1")));
    let mut worker = b.subscribe(None);
    let bystander = b.subscribe(Some(&StreamId::new("other")));
    a.enqueue(vec![set("poll-1", "j1", "k")]).await.unwrap();
    assert_eq!(long_poll.wait(DEADLINE).await, Wake::Signalled);
    assert_eq!(worker.wait(DEADLINE).await, Wake::Signalled);
    assert!(!bystander.is_signalled(), "other streams are not woken");
    let polled = b.poll(poll_request("poll-1", 10)).await.unwrap();
    assert_eq!(polled.sets.len(), 1);
    assert_eq!(polled.sets[0].jti.as_str(), "j1");
}

fn poll_request(stream: &str, max_events: u32) -> PollRequest {
    PollRequest {
        client_id: "rp".to_owned(),
        stream_id: StreamId::new(stream),
        ack: Vec::new(),
        set_errs: Default::default(),
        max_events,
        redelivery_after_ms: 30_000,
    }
}

/// A lease taken on node A expires; node B's reaper returns the row and B delivers it, while
/// A's late retry no longer applies (fencing across nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_returns_rows_across_nodes() {
    let Some((_h, _db, clock, a, b)) = two_nodes().await else {
        return;
    };
    create(&a, "s1", DeliveryMethod::Push).await;
    a.enqueue(vec![set("s1", "j1", "k"), set("s1", "j2", "k")])
        .await
        .unwrap();
    let taken = a.claim_push("node-a", 10, LEASE).await.unwrap();
    assert_eq!(taken.len(), 1, "j2 waits behind j1");
    assert!(b.claim_push("node-b", 10, LEASE).await.unwrap().is_empty());
    let mut worker_b = b.subscribe(None);
    clock.advance(LEASE.as_millis() as i64);
    assert_eq!(b.reap_expired_leases().await.unwrap(), 1);
    assert_eq!(worker_b.wait(DEADLINE).await, Wake::Signalled);
    let again = b.claim_push("node-b", 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].jti.as_str(), again[0].attempts), ("j1", 2));
    let at = clock.now().plus_millis(1);
    let stale = a
        .schedule_retry("node-a", taken[0].id, at, http_503())
        .await
        .unwrap();
    assert_eq!(stale.stale, vec![taken[0].id]);
    b.mark_delivered("node-b", &[again[0].id]).await.unwrap();
    let next = a.claim_push("node-a", 10, LEASE).await.unwrap();
    assert_eq!(next[0].jti.as_str(), "j2");
}

fn http_503() -> ssf_store::DeliveryError {
    ssf_store::DeliveryError::new("http_503", "service unavailable")
}

/// The `LISTEN` connection is killed (as in a database restart): the listener reconnects,
/// signals the configuration subscribers (changes may have been missed), and cross-node wake-ups
/// work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_survives_a_dropped_connection() {
    let Some((h, db, _clock, a, b)) = two_nodes().await else {
        return;
    };
    let mut created = b.config_changes().unwrap();
    create(&a, "p", DeliveryMethod::Poll).await;
    assert_eq!(created.wait(DEADLINE).await, Wake::Signalled);
    // One connection per node listens on both channels, in one statement.
    let listeners = format!(
        "LISTEN \"{}\";LISTEN \"{}\";",
        b.notify_channel(),
        b.config_channel()
    );
    let mut config = b.config_changes().unwrap();
    let before = listener_pids(h.server.admin(), &listeners).await;
    assert_eq!(before.len(), 2, "one listener per node");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
        .bind(&before)
        .execute(h.server.admin())
        .await
        .unwrap();
    // Bounded wait for both nodes to listen again, on new connections.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let now = listener_pids(h.server.admin(), &listeners).await;
        if now.len() == 2 && now.iter().all(|pid| !before.contains(pid)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "listeners did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        config.wait(DEADLINE).await,
        Wake::Signalled,
        "after reconnect"
    );
    let mut sub = b.subscribe(Some(&StreamId::new("p")));
    for round in 0..2 {
        // The reconnect itself wakes everyone once; the second round needs the NOTIFY.
        a.enqueue(vec![set("p", &format!("j{round}"), "k")])
            .await
            .unwrap();
        assert_eq!(sub.wait(DEADLINE).await, Wake::Signalled, "round {round}");
    }
    drop(db);
}

async fn listener_pids(admin: &PgPool, pattern: &str) -> Vec<i32> {
    sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE query LIKE $1 ORDER BY pid")
        .bind(pattern)
        .fetch_all(admin)
        .await
        .unwrap()
}

/// Closing a store makes later writes fail with `Closed`, like on SQLite.
#[tokio::test]
async fn closed_store_refuses_writes() {
    let Some(harness) = PgHarness::new().await else {
        return;
    };
    let db = harness.server.schema().await;
    let store = harness.node(&db, &ManualClock::new(UnixMillis(0))).await;
    store.close().await;
    let err = store.delete_client("c").await.unwrap_err();
    assert!(matches!(err, ssf_store::StoreError::Closed), "{err:?}");
}

/// `ssf serve` selects the backend by URL: a `postgres://` URL opens PostgreSQL stores, and
/// `ssf migrate` can prepare the database beforehand.
#[tokio::test]
async fn postgres_urls_open_postgres_stores() {
    let Some(server) = Server::connect().await else {
        return;
    };
    let db = server.schema().await;
    let sep = if server.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options[search_path]={}", server.url(), db.name);
    assert!(ssf_store::StoreUrl::parse(&url).unwrap().is_postgres());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(UnixMillis(0)));
    ssf_store::open::migrate_transmitter(&url, clock.clone())
        .await
        .unwrap();
    ssf_store::open::migrate_receiver(&url, clock.clone())
        .await
        .unwrap();
    let tx = ssf_store::open_transmitter_store(&url, clock.clone())
        .await
        .unwrap();
    assert!(format!("{tx:?}").contains("PgStore"));
    create_dyn(&*tx, "s1").await;
    let rx = ssf_store::open_receiver_store(&url, clock).await.unwrap();
    assert!(format!("{rx:?}").contains("PgReceiverStore"));
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1 \
         AND table_name IN ('streams', 'outbox', 'received_sets', 'receiver_state')",
    )
    .bind(&db.name)
    .fetch_one(server.admin())
    .await
    .unwrap();
    assert_eq!(
        tables, 4,
        "both schemas were created in the URL's search_path"
    );
    tx.close().await;
    rx.close().await;
}

async fn create_dyn(store: &dyn TransmitterStore, id: &str) {
    let new = NewStream::new(
        StreamId::new(id),
        "rp",
        DeliveryMethod::Push,
        serde_json::json!({}),
    );
    store.create_stream(new).await.unwrap();
}

/// Poll -> push with SETs handed out by a poll and not yet acknowledged: the hand-outs are void
/// (a push stream is not polled), the SETs are pushed again, one per subject at a time.
#[tokio::test]
async fn switching_to_push_requeues_polled_sets_in_subject_order() {
    let Some(harness) = PgHarness::new().await else {
        return;
    };
    let db = harness.server.schema().await;
    let store = harness.node(&db, &ManualClock::new(UnixMillis(0))).await;
    create(&store, "s1", DeliveryMethod::Poll).await;
    let sets = vec![
        set("s1", "1", "a"),
        set("s1", "2", "a"),
        set("s1", "3", "b"),
    ];
    store.enqueue(sets).await.unwrap();
    assert_eq!(
        store.poll(poll_request("s1", 10)).await.unwrap().sets.len(),
        3
    );
    let update = ssf_store::StreamUpdate {
        config: serde_json::json!({"delivery": {"method": "push"}}),
        delivery: DeliveryMethod::Push,
        inactivity_timeout_secs: None,
        min_verification_interval_secs: None,
        expected_revision: None,
    };
    let sid = StreamId::new("s1");
    store.update_stream("rp", &sid, update).await.unwrap();
    let first = store.claim_push("w", 10, LEASE).await.unwrap();
    let jtis: Vec<&str> = first.iter().map(|c| c.jti.as_str()).collect();
    assert_eq!(jtis, vec!["1", "3"]);
    let ids: Vec<_> = first.iter().map(|c| c.id).collect();
    store.mark_delivered("w", &ids).await.unwrap();
    let second = store.claim_push("w", 10, LEASE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].jti.as_str(), "2");
}
