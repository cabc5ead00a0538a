//! The emitter: transmitter down or failing, refusals, order per (user, asset), tokens, restarts.

use serde_json::json;
use ssf_jit::store::OutboxStatus;

use crate::support::{Db, Harness, Mode, claims, eventually, generic_event};

async fn a_revoke_made_while_the_transmitter_is_down_arrives_when_it_is_back(db: Db) {
    let h = Harness::on(db).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let workers = h.bridge.start(shutdown.clone()).unwrap();
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    eventually("the grant is delivered", || h.tx.events().len() == 1).await;

    h.tx.stop().await;
    h.at(60);
    let (_, answer) = h.generic(&generic_event("e2", "closed", 60, None)).await;
    assert_eq!(answer["events_queued"], 1);
    let store = h.bridge.store().clone();
    let mut tried = false;
    for _ in 0..2000 {
        let pending = store.outbox(Some(OutboxStatus::Pending)).await.unwrap();
        if pending.first().is_some_and(|r| r.attempts >= 1) {
            tried = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(tried, "the worker tried and failed");
    let row = &store.outbox(Some(OutboxStatus::Pending)).await.unwrap()[0];
    assert!(row.last_error.is_some(), "{row:?}");

    h.tx.restart();
    h.advance_secs(2); // past the first backoff step (1 s, no jitter)
    eventually(
        "the revoke is delivered after the transmitter is back",
        || h.tx.events().len() == 2,
    )
    .await;
    assert_eq!(claims(&h.tx.events()[1])["access_allowed"], "none");
    shutdown.cancel();
    workers.join().await;
}

async fn a_5xx_is_retried_with_backoff_and_a_revoke_never_overtakes_its_grant(db: Db) {
    let h = Harness::on(db).await;
    h.tx.set_mode(Mode::Fail);
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.generic(&generic_event("e2", "closed", 0, None)).await;
    let r = h.flush().await;
    assert_eq!(
        (r.sent, r.retried),
        (0, 1),
        "only the head of the (user, asset) line is tried"
    );
    h.tx.set_mode(Mode::Accept);
    assert_eq!(h.flush().await.sent, 0, "not due yet");
    h.advance_secs(1);
    assert_eq!(h.flush().await.sent, 2);
    let levels: Vec<_> =
        h.tx.events()
            .iter()
            .map(|e| claims(e)["access_allowed"].clone())
            .collect();
    assert_eq!(
        levels,
        [json!("read_write"), json!("none")],
        "grant first, then revoke"
    );
    let rows = h.bridge.store().outbox(None).await.unwrap();
    assert_eq!(rows[0].attempts, 2);
}

async fn the_backoff_keeps_retrying_at_its_last_step_d_jit_05(db: Db) {
    let h = Harness::on_with(db, |c| {
        c.emitter.retry.delays = vec![
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(5),
        ];
    })
    .await;
    h.tx.set_mode(Mode::Fail);
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    for step in [1, 5, 5, 5] {
        assert_eq!(h.flush().await.retried, 1);
        h.advance_secs(step);
    }
    h.tx.set_mode(Mode::Accept);
    assert_eq!(h.flush().await.sent, 1, "never given up");
}

async fn a_4xx_is_a_permanent_failure_kept_for_inspection(db: Db) {
    let h = Harness::on(db).await;
    h.tx.set_mode(Mode::Reject);
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    let r = h.flush().await;
    assert_eq!(r.failed, 1);
    let failed = h
        .bridge
        .store()
        .outbox(Some(OutboxStatus::Failed))
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].last_error.as_deref().unwrap().contains("400"),
        "{:?}",
        failed[0].last_error
    );
    let audit = h
        .bridge
        .store()
        .audit(Some(("generic", "SUP-42")))
        .await
        .unwrap();
    assert!(audit.iter().any(|a| a.action == "failed"));
    // Later rows of the same (user, asset) are not blocked by a failed one.
    h.tx.set_mode(Mode::Accept);
    h.generic(&generic_event("e2", "closed", 0, None)).await;
    assert_eq!(h.flush().await.sent, 1);
    // An operator can put the failed row back in line.
    assert!(
        h.bridge
            .store()
            .retry_failed(failed[0].seq, h.bridge.clock().now())
            .await
            .unwrap()
    );
    assert_eq!(h.flush().await.sent, 1);
}

async fn tokens_are_cached_and_renewed_before_they_expire(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.flush().await;
    let mut other = generic_event("e2", "assigned", 0, Some("john@example.com"));
    other["ticket_id"] = json!("SUP-43");
    h.generic(&other).await;
    h.flush().await;
    assert_eq!(h.tx.token_requests(), 1, "one token for both");
    h.at(600 - 59); // within refresh_before (60 s) of the 600 s lifetime
    h.generic(&generic_event("e3", "closed", 1, None)).await;
    h.flush().await;
    assert_eq!(h.tx.token_requests(), 2, "renewed early");
    assert_eq!(h.tx.events().len(), 3);
}

async fn a_wrong_client_secret_holds_events_without_losing_them(db: Db) {
    let h = Harness::on_with(db, |c| {
        c.emitter.client_secret = Some("wrong-secret-0123456789".into());
    })
    .await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    let r = h.flush().await;
    assert_eq!((r.sent, r.retried, r.failed), (0, 1, 0));
    assert_eq!(
        h.bridge
            .store()
            .outbox(Some(OutboxStatus::Pending))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_restart_neither_forgets_a_grant_nor_sends_it_twice(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.flush().await;
    // Queued but not yet sent when the process stops.
    let mut other = generic_event("e2", "assigned", 0, Some("john@example.com"));
    other["ticket_id"] = json!("SUP-43");
    h.generic(&other).await;

    let h = h.restart().await;
    assert_eq!(
        h.bridge.store().grants(true).await.unwrap().len(),
        2,
        "both grants survive"
    );
    assert_eq!(h.flush().await.sent, 1, "only the unsent one goes out");
    assert_eq!(h.tx.events().len(), 2);
    // A replay after the restart is still recognised.
    let (_, answer) = h
        .generic(&generic_event(
            "e1",
            "assigned",
            0,
            Some("jane@example.com"),
        ))
        .await;
    assert_eq!(answer["status"], "duplicate");
    // And the grant still knows whom to revoke.
    h.at(60);
    h.generic(&generic_event("e3", "closed", 60, None)).await;
    h.flush().await;
    let events = h.tx.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        (
            events[2]["sub_id"]["email"].as_str(),
            claims(&events[2])["access_allowed"].as_str()
        ),
        (Some("jane@example.com"), Some("none"))
    );
    let journal = h.bridge.store().pragma("journal_mode").await;
    if h.db.is_postgres() {
        assert!(journal.unwrap_err().to_string().contains("SQLite only"));
    } else {
        assert_eq!(journal.unwrap(), "wal");
        assert_eq!(h.bridge.store().pragma("synchronous").await.unwrap(), "2");
    }
}

on_both_backends!(
    a_revoke_made_while_the_transmitter_is_down_arrives_when_it_is_back,
    a_5xx_is_retried_with_backoff_and_a_revoke_never_overtakes_its_grant,
    the_backoff_keeps_retrying_at_its_last_step_d_jit_05,
    a_4xx_is_a_permanent_failure_kept_for_inspection,
    tokens_are_cached_and_renewed_before_they_expire,
    a_wrong_client_secret_holds_events_without_losing_them,
    a_restart_neither_forgets_a_grant_nor_sends_it_twice,
);
