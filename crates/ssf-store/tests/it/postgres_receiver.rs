//! The receiver store on PostgreSQL: the receiver conformance suite (a fresh schema per test),
//! plus several receiver nodes sharing one database.

use std::sync::Arc;

use async_trait::async_trait;
use ssf_store::{
    PgStore, TransmitterStore,
    postgres::receiver::PgReceiverStore,
    receiver::{ApplyItem, ApplyResult, ReceiverStore, StateWrite, conformance::ReceiverHarness},
};
use ssf_types::{ManualClock, UnixMillis};

use crate::postgres::{Schema, Server};

/// Opens [`PgReceiverStore`]s on a fresh schema per test.
#[derive(Debug)]
pub(crate) struct PgReceiverHarness {
    server: Server,
}

impl PgReceiverHarness {
    async fn new() -> Option<Self> {
        Server::connect().await.map(|server| Self { server })
    }

    async fn node(&self, db: &Schema, clock: &ManualClock) -> Arc<PgReceiverStore> {
        let store =
            PgReceiverStore::connect(self.server.url(), Arc::new(clock.clone()), db.options());
        Arc::new(store.await.unwrap())
    }
}

#[async_trait]
impl ReceiverHarness for PgReceiverHarness {
    type Db = Schema;

    async fn create_db(&self) -> Self::Db {
        self.server.schema().await
    }

    async fn open(&self, db: &Self::Db, clock: ManualClock) -> Arc<dyn ReceiverStore> {
        self.node(db, &clock).await
    }
}

mod conformance {
    ssf_store::receiver_conformance_tests!(match super::PgReceiverHarness::new().await {
        Some(harness) => harness,
        None => return,
    });
}

fn item(jti: &str, value: i64) -> ApplyItem {
    ApplyItem {
        iss: "https://tx.example".to_owned(),
        jti: jti.to_owned(),
        received_at: UnixMillis(1_767_225_600_000),
        stream_key: "peer-a".to_owned(),
        event_type: "urn:test:event".to_owned(),
        writes: vec![StateWrite::Put {
            kind: "count".to_owned(),
            key: jti.to_owned(),
            value: serde_json::json!(value),
            event_time: value,
        }],
        audit: None,
        audit_subjects: Vec::new(),
        control: None,
    }
}

/// SSF-RXV-13, PUSH-14 across nodes: two receiver nodes recording the same SETs at once (in
/// opposite orders) apply each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_apply_the_same_set_once() {
    let Some(harness) = PgReceiverHarness::new().await else {
        return;
    };
    let db = harness.server.schema().await;
    let clock = ManualClock::new(UnixMillis(1_767_225_600_000));
    let a = harness.node(&db, &clock).await;
    let b = harness.node(&db, &clock).await;
    for round in 0..20 {
        let jtis: Vec<String> = (0..5).map(|i| format!("r{round}-{i}")).collect();
        let forward: Vec<ApplyItem> = jtis.iter().map(|j| item(j, 1)).collect();
        let backward: Vec<ApplyItem> = jtis.iter().rev().map(|j| item(j, 2)).collect();
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let a = Arc::clone(&a);
                async move { a.apply_batch(forward).await }
            }),
            tokio::spawn({
                let b = Arc::clone(&b);
                async move { b.apply_batch(backward).await }
            }),
        );
        let (ra, rb) = (ra.unwrap().unwrap(), rb.unwrap().unwrap());
        for (i, _) in jtis.iter().enumerate() {
            let applied = [ra[i], rb[jtis.len() - 1 - i]]
                .iter()
                .filter(|r| **r == ApplyResult::Applied)
                .count();
            assert_eq!(applied, 1, "round {round}, SET {i}: {ra:?} / {rb:?}");
        }
    }
    assert_eq!(a.seen_count().await.unwrap(), 100);
    assert_eq!(b.state_rows("count").await.unwrap().len(), 100);
}

/// Several puts on one row in one batch (PostgreSQL refuses them in one upsert statement) keep
/// the event-time rule.
#[tokio::test]
async fn repeated_rows_in_one_batch_follow_event_time() {
    let Some(harness) = PgReceiverHarness::new().await else {
        return;
    };
    let db = harness.server.schema().await;
    let store = harness.node(&db, &ManualClock::new(UnixMillis(0))).await;
    let mut one = item("j1", 5);
    one.writes.push(StateWrite::Put {
        kind: "count".to_owned(),
        key: "j1".to_owned(),
        value: serde_json::json!(3),
        event_time: 3,
    });
    let mut two = item("j2", 0);
    two.writes = vec![
        StateWrite::Put {
            kind: "count".to_owned(),
            key: "j1".to_owned(),
            value: serde_json::json!(7),
            event_time: 7,
        };
        3
    ];
    let results = store.apply_batch(vec![one, two]).await.unwrap();
    assert_eq!(results, vec![ApplyResult::Applied; 2]);
    let rows = store.state_rows("count").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].value.clone(), rows[0].event_time),
        (serde_json::json!(7), 7)
    );
}

/// Transmitter and receiver tables can share one schema: each set of migrations is tracked in
/// its own table, and both reopen cleanly.
#[tokio::test]
async fn transmitter_and_receiver_share_a_schema() {
    let Some(server) = Server::connect().await else {
        return;
    };
    let db = server.schema().await;
    let clock = Arc::new(ManualClock::new(UnixMillis(0)));
    for _ in 0..2 {
        let tx = PgStore::connect(server.url(), clock.clone(), db.options())
            .await
            .unwrap();
        let rx = PgReceiverStore::connect(server.url(), clock.clone(), db.options())
            .await
            .unwrap();
        assert!(tx.list_clients().await.unwrap().is_empty());
        assert_eq!(rx.seen_count().await.unwrap(), 0);
        tx.close().await;
        rx.close().await;
    }
}
