//! Several bridge nodes on one PostgreSQL database (behind a load balancer, webhooks for one
//! ticket may reach any of them): a webhook delivered to two nodes is applied once, events of one
//! ticket on two nodes serialise in event time, two emitters send each row once and in order per
//! (user, asset), two sweepers revoke once, and a node that dies mid-way loses nothing.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    support::{Db, Harness, TOKEN_CLAIMS_CHANGE, claims, eventually, generic_event},
    transmitter::{Transmitter, app_stream, payload, poll, start_transmitter},
};

/// Two nodes on a fresh schema, or `None` when no server answers (see `backends`).
async fn two_nodes(configure: impl FnOnce(&mut ssf_jit::JitConfig)) -> Option<(Harness, Harness)> {
    let db = Db::postgres().await?;
    let a = Harness::on_with(db, configure).await;
    let b = a.node().await;
    Some((a, b))
}

fn ticket_event(ticket: &str, id: &str, kind: &str, at: i64, who: Option<&str>) -> Value {
    let mut event = generic_event(id, kind, at, who);
    event["ticket_id"] = json!(ticket);
    event
}

/// Tickets `SUP-<i>` assigned to `user<i>@example.com`, one per user, through `h`.
async fn assign_users(h: &Harness, users: usize) {
    for i in 0..users {
        let who = format!("user{i}@example.com");
        let event = ticket_event(
            &format!("SUP-{i}"),
            &format!("e-{i}"),
            "assigned",
            0,
            Some(&who),
        );
        assert_eq!(h.generic(&event).await.1["status"], "applied");
    }
}

/// Replay protection across nodes (D-JIT-09): the same delivery to both nodes at the same moment
/// is applied by one; the other answers `duplicate` (200, not an error).
#[tokio::test]
async fn the_same_webhook_on_two_nodes_at_once_is_applied_once() {
    let Some((a, b)) = two_nodes(|_| {}).await else {
        return;
    };
    for i in 0..8 {
        let ticket = format!("SUP-{i}");
        let event = ticket_event(
            &ticket,
            &format!("e-{i}"),
            "assigned",
            0,
            Some("jane@example.com"),
        );
        let (one, two) = tokio::join!(a.generic(&event), b.generic(&event));
        assert_eq!(
            (one.0, two.0),
            (StatusCode::OK, StatusCode::OK),
            "{one:?} {two:?}"
        );
        let mut statuses = [one.1["status"].clone(), two.1["status"].clone()];
        statuses.sort_by_key(Value::to_string);
        assert_eq!(statuses, [json!("applied"), json!("duplicate")], "{ticket}");
        let grants = a
            .bridge
            .store()
            .ticket_grants("generic", &ticket)
            .await
            .unwrap();
        assert_eq!(grants.len(), 1, "{ticket}: one grant");
    }
    // One customer, one user: the first ticket's grant is the one event; the others change
    // nothing the app was told.
    let queued = b.bridge.store().outbox(None).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let audit = a.bridge.store().audit(None).await.unwrap();
    let count = |action: &str| audit.iter().filter(|r| r.action == action).count();
    assert_eq!((count("ticket_event"), count("duplicate")), (8, 8));
}

/// D-JIT-02 and D-JIT-09, ordering across nodes: an older event reaching one node while a
/// newer one of the same ticket reaches the other ends in the state of the newer one,
/// whichever commits first.
#[tokio::test]
async fn events_of_one_ticket_on_two_nodes_follow_event_time() {
    let Some((a, b)) = two_nodes(|_| {}).await else {
        return;
    };
    a.at(120);
    for i in 0..6 {
        let ticket = format!("SUP-{i}");
        let assign = ticket_event(
            &ticket,
            &format!("a-{i}"),
            "assigned",
            0,
            Some("jane@example.com"),
        );
        let reassign = ticket_event(
            &ticket,
            &format!("r-{i}"),
            "assigned",
            60,
            Some("john@example.com"),
        );
        let close = ticket_event(&ticket, &format!("c-{i}"), "closed", 90, None);
        // Alternate which node gets which, and let the newest race the oldest.
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (x, y) = tokio::join!(first.generic(&assign), second.generic(&reassign));
        assert_eq!((x.0, y.0), (StatusCode::OK, StatusCode::OK), "{x:?} {y:?}");
        let active = a
            .bridge
            .store()
            .ticket_grants("generic", &ticket)
            .await
            .unwrap();
        let active: Vec<_> = active
            .iter()
            .filter(|g| g.status == ssf_jit::store::GrantStatus::Active)
            .map(|g| g.subject_key.as_str())
            .collect();
        assert_eq!(active, ["email:john@example.com"], "{ticket}: {x:?} {y:?}");
        // A late delivery of an older assignment races the close: the close stands.
        let late = ticket_event(
            &ticket,
            &format!("l-{i}"),
            "assigned",
            30,
            Some("jane@example.com"),
        );
        let (x, y) = tokio::join!(second.generic(&close), first.generic(&late));
        assert_eq!((x.0, y.0), (StatusCode::OK, StatusCode::OK), "{x:?} {y:?}");
        let mut statuses = [x.1["status"].clone(), y.1["status"].clone()];
        statuses.sort_by_key(Value::to_string);
        assert_eq!(statuses, [json!("applied"), json!("stale")], "{ticket}");
        let state = b
            .bridge
            .store()
            .ticket("generic", &ticket)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !state.open,
            "{ticket}: the close (90) wins over the older assignment (30)"
        );
        let grants = b
            .bridge
            .store()
            .ticket_grants("generic", &ticket)
            .await
            .unwrap();
        assert!(
            grants
                .iter()
                .all(|g| g.status != ssf_jit::store::GrantStatus::Active),
            "{ticket}: {grants:?}"
        );
    }
    // What the app was told last, per user: no access for either.
    for row in a.bridge.store().effective().await.unwrap() {
        assert_eq!(row.access, None, "{row:?}");
    }
}

/// D-JIT-09, both nodes' sweepers at the same moment: each grant past its maximum duration
/// is revoked once.
#[tokio::test]
async fn two_sweepers_revoke_once() {
    let Some((a, b)) = two_nodes(|_| {}).await else {
        return;
    };
    assign_users(&a, 4).await;
    a.advance_secs(8 * 3600 + 1);
    let (x, y) = tokio::join!(a.bridge.expire_due(), b.bridge.expire_due());
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 4, "{x:?} {y:?}");
    let revokes = a
        .bridge
        .store()
        .outbox(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "revoke")
        .count();
    assert_eq!(revokes, 4);
}

/// Every SET on the stream, oldest first: one at a time, acknowledging the previous.
async fn drain(h: &Harness, tx: &Transmitter, token: &str, stream: &str) -> Vec<Value> {
    let mut sets = Vec::new();
    let mut ack: Vec<String> = Vec::new();
    loop {
        let body = json!({"returnImmediately": true, "maxEvents": 1, "ack": ack});
        let polled = poll(&h.http, tx, token, stream, &body).await;
        let Some((jti, set)) = polled["sets"].as_object().unwrap().iter().next() else {
            return sets;
        };
        sets.push(payload(set.as_str().unwrap()));
        ack = vec![jti.clone()];
    }
}

/// D-JIT-10, two emitters on one outbox, against the real transmitter, while webhooks keep arriving on
/// both nodes: every event reaches the app exactly once, and per user the grant comes before
/// its revoke.
#[tokio::test]
async fn two_emitters_send_each_event_once_in_order_per_user() {
    let tx = start_transmitter().await;
    let base = tx.base.clone();
    let Some((a, b)) = two_nodes(move |c| {
        c.emitter.events_url = Some(format!("{base}/events"));
        c.emitter.token_url = Some(format!("{base}/oauth/token"));
    })
    .await
    else {
        return;
    };
    let (token, stream) = app_stream(&a.http, &tx).await;
    let shutdown = CancellationToken::new();
    let workers = [
        tokio::spawn(a.emitter.clone().run(shutdown.clone())),
        tokio::spawn(b.emitter.clone().run(shutdown.clone())),
    ];
    let users: i64 = 6;
    let want = 12;
    for i in 0..users {
        let ticket = format!("SUP-{i}");
        let who = format!("user{i}@example.com");
        let assign = ticket_event(&ticket, &format!("a-{i}"), "assigned", i, Some(&who));
        let close = ticket_event(&ticket, &format!("c-{i}"), "closed", i + 1, None);
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(first.generic(&assign).await.1["status"], "applied");
        assert_eq!(second.generic(&close).await.1["status"], "applied");
    }
    let store = a.bridge.store().clone();
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while sent < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {sent} events sent"
        );
        sent = store
            .outbox(Some(ssf_jit::store::OutboxStatus::Sent))
            .await
            .unwrap()
            .len();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    for w in workers {
        w.await.unwrap();
    }
    let outbox = store.outbox(None).await.unwrap();
    assert!(
        outbox.iter().all(|r| r.attempts == 1),
        "no row sent twice: {outbox:?}"
    );

    let sets = drain(&a, &tx, &token, &stream).await;
    let mut per_txn: BTreeMap<String, usize> = BTreeMap::new();
    for set in &sets {
        *per_txn
            .entry(set["txn"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let queued: Vec<&str> = outbox.iter().map(|r| r.txn.as_str()).collect();
    assert_eq!(per_txn.len(), queued.len(), "{per_txn:?}");
    assert!(
        per_txn.values().all(|n| *n == 1),
        "each event exactly once: {per_txn:?}"
    );
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for set in &sets {
        let user = set["sub_id"]["email"].as_str().unwrap().to_owned();
        let access = set["events"][TOKEN_CLAIMS_CHANGE]["claims"]["access_allowed"]
            .as_str()
            .unwrap()
            .to_owned();
        seen.entry(user).or_default().push(access);
    }
    assert_eq!(seen.len(), 6);
    for (user, order) in &seen {
        assert_eq!(order, &["read_write", "none"], "{user}");
    }
}

/// D-JIT-10, a node that dies holding the sending turn, with events queued: the other node sends them
/// once it notices; the restarted node still knows its deliveries and its grants.
#[tokio::test]
async fn a_node_dying_mid_way_loses_nothing() {
    let Some((a, b)) = two_nodes(|_| {}).await else {
        return;
    };
    assign_users(&a, 3).await;
    // Node A is mid-round (it holds the turn) when its connection dies; meanwhile B may not send.
    let turn = a.bridge.store().sending_turn().await.unwrap().unwrap();
    assert_eq!(
        b.emitter.run_once().await.unwrap().sent,
        0,
        "A has the turn"
    );
    let Db::Postgres(schema) = &a.db else {
        unreachable!("two nodes are on PostgreSQL")
    };
    terminate_turn_holder(schema.name()).await;
    turn.end().await;
    let a = a.restart().await;
    // The dead connection took the lock with it: B takes over.
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while sent < 3 {
        assert!(tokio::time::Instant::now() < deadline, "B sent {sent} of 3");
        sent += b.emitter.run_once().await.unwrap().sent;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eventually("three events at the transmitter", || {
        b.tx.events().len() == 3
    })
    .await;
    // The restarted node: replays are still duplicates, and a close revokes the right user.
    let replay = ticket_event("SUP-1", "e-1", "assigned", 0, Some("user1@example.com"));
    assert_eq!(a.generic(&replay).await.1["status"], "duplicate");
    a.at(60);
    let close = ticket_event("SUP-1", "c-1", "closed", 60, None);
    assert_eq!(a.generic(&close).await.1["status"], "applied");
    assert_eq!(a.flush().await.sent, 1);
    let events = a.tx.events();
    assert_eq!(events.len(), 4);
    assert_eq!(events[3]["sub_id"]["email"], "user1@example.com");
    assert_eq!(claims(&events[3])["access_allowed"], "none");
}

/// Ends the server session holding the sending turn of `schema` (the bridge's advisory lock
/// 74102 keyed by the schema), as a crash or a cut network would.
async fn terminate_turn_holder(schema: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&crate::backends::database_url())
        .await
        .unwrap();
    let (ended,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' \
         AND granted AND objsubid = 2 AND objid = 74102 \
         AND classid = ((hashtext($1)::bigint) & 4294967295)::oid",
    )
    .bind(schema)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(ended, 1, "one session held the turn");
    admin.close().await.unwrap();
}
