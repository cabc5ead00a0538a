//! Two receiver nodes (two apply tasks, two push endpoints) on one PostgreSQL schema: each
//! node's handler memory follows the writes the other applied (decision D-RX-06), a SET pushed
//! to both is applied once, and a node that fell behind the state log's retention reloads.

use std::{
    collections::BTreeMap,
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use ssf_receiver::handler::{EventHandler, Plan, ReceivedSet, StateRow, StateWrite};
use ssf_store::{
    conformance::pg::{TestSchema, TestServer},
    postgres::receiver::PgReceiverStore,
    receiver::ReceiverStore as _,
};

use crate::server_support::{
    Rx, RxOptions, STREAM_KEY, StateHandler, claims, clock, sign, verification,
};

/// One receiver node: its own store pool and `LISTEN` connection on the shared schema, its push
/// endpoint and a [`StateHandler`] memory.
struct Node {
    store: Arc<PgReceiverStore>,
    rx: Rx,
    memory: Arc<StateHandler>,
}

/// `count` nodes on a fresh schema (dropped with the returned value), or `None` without a
/// server.
async fn cluster(count: usize) -> Option<(TestSchema, Vec<Node>)> {
    cluster_with(count, |memory| memory as Arc<dyn EventHandler>).await
}

/// [`cluster`] with each node's [`StateHandler`] wrapped by `wrap`.
async fn cluster_with(
    count: usize,
    wrap: impl Fn(Arc<StateHandler>) -> Arc<dyn EventHandler>,
) -> Option<(TestSchema, Vec<Node>)> {
    let server = TestServer::connect().await?;
    let schema = server.schema().await;
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        let store = PgReceiverStore::connect(server.url(), Arc::new(clock()), schema.options());
        let store = Arc::new(store.await.unwrap());
        let memory = Arc::new(StateHandler::default());
        let rx = Rx::start_with(RxOptions {
            handler: Some(wrap(memory.clone())),
            store: Some(store.clone()),
            ..RxOptions::default()
        })
        .await;
        nodes.push(Node { store, rx, memory });
    }
    Some((schema, nodes))
}

/// Makes the two nodes plan each `race-*` SET at the same time: the first node to plan it
/// waits (up to 10 s) until the other has planned it too, so both passed their dedupe check
/// before either commits, and exactly one loses the race at the insert.
#[derive(Debug, Default)]
struct Meeting {
    arrived: Mutex<BTreeMap<String, usize>>,
    all_here: Condvar,
}

#[derive(Debug)]
struct RacingHandler {
    inner: Arc<StateHandler>,
    meeting: Arc<Meeting>,
}

impl RacingHandler {
    fn meet(&self, jti: &str) {
        if !jti.starts_with("race-") {
            return;
        }
        // Hands this worker's queued tasks to another thread while it waits for the other node.
        tokio::task::block_in_place(|| {
            let mut arrived = self.meeting.arrived.lock().unwrap();
            *arrived.entry(jti.to_owned()).or_default() += 1;
            self.meeting.all_here.notify_all();
            let (_arrived, wait) = self
                .meeting
                .all_here
                .wait_timeout_while(arrived, Duration::from_secs(10), |a| a[jti] < 2)
                .unwrap();
            assert!(!wait.timed_out(), "the other node never planned {jti}");
        });
    }
}

impl EventHandler for RacingHandler {
    fn plan(&self, set: &ReceivedSet) -> Vec<StateWrite> {
        self.meet(set.jti());
        self.inner.plan(set)
    }

    fn plan_audited(&self, set: &ReceivedSet) -> Plan {
        self.meet(set.jti());
        self.inner.plan_audited(set)
    }

    fn commit(&self, writes: &[StateWrite]) {
        self.inner.commit(writes);
    }

    fn load(&self, rows: Vec<StateRow>) {
        self.inner.load(rows);
    }

    fn applied(&self, set: &ReceivedSet) {
        self.inner.applied(set);
    }
}

/// Polls `probe` every 20 ms for up to 30 s.
async fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !probe() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SSF-RXV-13 across nodes, and the state behind decisions: a SET pushed to node A reaches
/// node B's memory without B planning it; pushed to B afterwards it is a duplicate (202, not
/// applied again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_applied_on_one_node_reaches_the_other_nodes_memory_once() {
    let Some((_schema, nodes)) = cluster(2).await else {
        return;
    };
    let [a, b] = &nodes[..] else { unreachable!() };
    let (on_a, on_b) = (&a.memory, &b.memory);
    let (a, b) = (&a.rx, &b.rx);

    let token = sign(&claims("node-a-1"));
    a.push_accepted(&token).await;
    eventually("B's memory holds A's write", || {
        on_b.rows
            .lock()
            .unwrap()
            .get("jane@example.com")
            .is_some_and(|row| row["jti"] == "node-a-1")
    })
    .await;
    assert_eq!(on_a.planned.lock().unwrap().as_slice(), ["node-a-1"]);
    assert!(on_b.planned.lock().unwrap().is_empty(), "B planned nothing");

    b.push_accepted(&token).await;
    assert!(on_b.planned.lock().unwrap().is_empty(), "not applied again");
    assert!(on_b.applied.lock().unwrap().is_empty());
    assert_eq!(b.recorded().await, 1);
    assert_eq!(
        on_b.loads.lock().unwrap().len(),
        1,
        "followed, not reloaded"
    );
}

/// A node whose cursor fell behind the log's purge reloads the whole state (and so learns what
/// it could no longer read entry by entry). Injected in one transaction: a state row written
/// directly, the purge mark moved past every cursor, and a notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_the_log_retention_reloads_the_whole_state() {
    let Some((_schema, nodes)) = cluster(1).await else {
        return;
    };
    let (store, on_b) = (&nodes[0].store, &nodes[0].memory);
    assert_eq!(on_b.loads.lock().unwrap().as_slice(), [0]);

    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO receiver_state (kind, key, value, event_time, updated_at) \
         VALUES ('revoked', 'bob@example.com', '{\"jti\":\"lost-entry\"}', 1, 1)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE receiver_state_log_purged SET through = through + 1000000")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify($1, 'fault-injection')")
        .bind(store.state_channel())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    eventually("B reloads the whole state", || {
        on_b.loads.lock().unwrap().as_slice() == [0, 1]
    })
    .await;
    assert_eq!(
        on_b.rows.lock().unwrap()["bob@example.com"]["jti"],
        "lost-entry"
    );
}

/// SSF-RXV-10 / SSF-VERIFY-10 with two nodes: each requests verification of the shared stream
/// on its own schedule (recording its `state`), so a verification event carrying either state is
/// accepted on either node; a state neither sent is `invalid_state`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_requests_of_both_nodes_are_accepted_on_either() {
    let Some((_schema, nodes)) = cluster(2).await else {
        return;
    };
    let [a, b] = &nodes[..] else { unreachable!() };
    let (store_a, store_b) = (&a.store, &b.store);
    let (a, b) = (&a.rx, &b.rx);
    assert!(
        store_a
            .set_expected_verification_state(STREAM_KEY, Some("from-a".into()))
            .await
            .unwrap()
    );
    assert!(
        store_b
            .set_expected_verification_state(STREAM_KEY, Some("from-b".into()))
            .await
            .unwrap()
    );
    b.push_accepted(&sign(&verification("v-a", Some("from-a"))))
        .await;
    a.push_accepted(&sign(&verification("v-b", Some("from-b"))))
        .await;
    assert_eq!(
        a.push_rejected(&sign(&verification("v-x", Some("from-nobody"))))
            .await,
        "invalid_state"
    );
}

/// Issue 12, item 6 (SSF-RXV-13 across nodes, D-RX-13): the same SET pushed to both nodes at
/// once, many times, with both nodes past their dedupe check before either commits. Every
/// answer is `202`; the node that loses a race answers it as a duplicate without reloading its
/// state (`ssf_receiver_state_reloads_total` counts what `StateHandler::loads` records after
/// the start-up load), and its next distinct SET applies normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_a_dedupe_race_answers_202_and_keeps_its_state() {
    let meeting = Arc::new(Meeting::default());
    let Some((_schema, nodes)) = cluster_with(2, |inner| {
        Arc::new(RacingHandler {
            inner,
            meeting: Arc::clone(&meeting),
        })
    })
    .await
    else {
        return;
    };
    let [a, b] = &nodes[..] else { unreachable!() };
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let token = sign(&claims(&format!("race-{round}")));
        let (on_a, on_b) = tokio::join!(a.rx.push(&token), b.rx.push(&token));
        for (node, resp) in [("A", on_a), ("B", on_b)] {
            assert_eq!(
                resp.status,
                202,
                "round {round}, node {node}: {:?}",
                String::from_utf8_lossy(&resp.body)
            );
        }
    }
    // Every race really happened: both nodes planned every SET, exactly one applied it.
    for round in 0..ROUNDS {
        let jti = format!("race-{round}");
        for node in [a, b] {
            assert!(node.memory.planned.lock().unwrap().contains(&jti));
        }
        let applied = [a, b]
            .iter()
            .filter(|n| n.memory.applied.lock().unwrap().contains(&jti))
            .count();
        assert_eq!(applied, 1, "{jti} applied once");
    }
    for (name, node) in [("A", a), ("B", b)] {
        assert_eq!(
            node.memory.loads.lock().unwrap().as_slice(),
            [0],
            "node {name} never reloaded its state"
        );
    }
    // The next distinct SET on each node applies normally.
    for (i, node) in [a, b].into_iter().enumerate() {
        let jti = format!("after-{i}");
        let mut next = claims(&jti);
        next["sub_id"] =
            serde_json::json!({"format": "email", "email": format!("next-{i}@example.com")});
        node.rx.push_accepted(&sign(&next)).await;
        assert!(node.memory.applied.lock().unwrap().contains(&jti));
    }
    assert_eq!(a.rx.recorded().await, ROUNDS as u64 + 2);
    // Both memories hold the same rows once each node followed the other's writes.
    eventually("both memories agree", || {
        let (ra, rb) = (a.memory.rows.lock().unwrap(), b.memory.rows.lock().unwrap());
        ra.len() == 3 && ra.keys().eq(rb.keys())
    })
    .await;
}
