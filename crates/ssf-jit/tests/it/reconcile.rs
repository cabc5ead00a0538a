//! Reconcile: open-ticket lists against grants.

use serde_json::json;
use ssf_jit::{TicketSnapshot, parse_snapshots};

use crate::support::{Db, Harness, claims, fixture, generic_event};

fn snapshot(ticket: &str, email: Option<&str>, customer: &str) -> TicketSnapshot {
    serde_json::from_value(json!({
        "ticket_id": ticket,
        "assignee": email.map(|e| json!({"email": e})),
        "fields": {"customer_id": customer}
    }))
    .unwrap()
}

async fn reconcile_fixes_both_kinds_of_drift_and_is_idempotent(db: Db) {
    let h = Harness::on(db).await;
    // SUP-42 is known and granted, but its close webhook was lost.
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    // SUP-43 is assigned in the ticket system, but its webhook never arrived.
    let open = vec![
        snapshot("SUP-43", Some("john@example.com"), "C3001"),
        snapshot("SUP-44", None, "C3002"),
    ];

    h.at(600);
    let report = h.bridge.reconcile("generic", open.clone()).await.unwrap();
    assert_eq!(report.listed, 2);
    assert_eq!(report.granted.len(), 1, "{report:?}");
    assert_eq!(report.granted[0].subject_key, "email:john@example.com");
    assert_eq!(report.granted[0].asset, "customer:C3001");
    assert_eq!(report.revoked.len(), 1);
    assert_eq!(report.revoked[0].subject_key, "email:jane@example.com");
    assert_eq!(
        report.skipped,
        vec![("SUP-44".to_owned(), "no_assignee".to_owned())]
    );
    assert_eq!(report.events_queued, 2);

    h.flush().await;
    let events = h.tx.events();
    assert_eq!(events.len(), 3);
    assert!(
        events[1..]
            .iter()
            .all(|e| e["txn"].as_str().unwrap().contains(":reconcile-"))
    );
    let mut active: Vec<_> = h
        .bridge
        .store()
        .grants(true)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.ticket_id)
        .collect();
    active.sort();
    assert_eq!(active, ["SUP-43"]);

    h.at(700);
    let again = h.bridge.reconcile("generic", open).await.unwrap();
    assert!(again.is_clean(), "{again:?}");
    assert_eq!(again.events_queued, 0);
    h.flush().await;
    assert_eq!(h.tx.events().len(), 3, "nothing more sent");
}

async fn reconcile_follows_reassignment_and_skips_older_snapshots(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.at(300);
    let mut stale = snapshot("SUP-42", Some("john@example.com"), "C2148");
    stale.updated_at = Some(json!(crate::support::T0 - 60));
    let report = h.bridge.reconcile("generic", vec![stale]).await.unwrap();
    assert!(report.is_clean());
    assert_eq!(
        report.skipped[0].1,
        "a newer ticket event is already applied"
    );

    let report = h
        .bridge
        .reconcile(
            "generic",
            vec![snapshot("SUP-42", Some("john@example.com"), "C2148")],
        )
        .await
        .unwrap();
    assert_eq!(
        (report.granted.len(), report.revoked.len()),
        (1, 1),
        "{report:?}"
    );
    h.flush().await;
    let last = h.tx.events().pop().unwrap();
    assert_eq!(last["sub_id"]["email"], "john@example.com");
    assert_eq!(claims(&last)["access_allowed"], "read_write");
}

async fn reconcile_does_not_renew_an_expired_assignment(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.at(8 * 3600);
    h.bridge.expire_due().await.unwrap();
    let report = h
        .bridge
        .reconcile(
            "generic",
            vec![snapshot("SUP-42", Some("jane@example.com"), "C2148")],
        )
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        report.skipped,
        vec![("SUP-42".to_owned(), "expired".to_owned())]
    );
}

async fn the_generic_list_format_parses_and_states_map(db: Db) {
    let h = Harness::on_with(db, |c| {
        c.systems.get_mut("generic").unwrap().rules.open_states =
            Some(vec!["open".into(), "in_progress".into()]);
    })
    .await;
    let list = parse_snapshots(fixture("generic/open_tickets.json").as_bytes()).unwrap();
    assert_eq!(list.len(), 3);
    let report = h.bridge.reconcile("generic", list).await.unwrap();
    assert_eq!(report.granted.len(), 2, "{report:?}");
    assert!(
        parse_snapshots(b"[{\"ticket\": \"x\"}]").is_err(),
        "unknown members are refused"
    );
    let unknown = h.bridge.reconcile("nope", Vec::new()).await.unwrap_err();
    assert!(matches!(unknown, ssf_jit::JitError::UnknownSystem(_)));
}

on_both_backends!(
    reconcile_fixes_both_kinds_of_drift_and_is_idempotent,
    reconcile_follows_reassignment_and_skips_older_snapshots,
    reconcile_does_not_renew_an_expired_assignment,
    the_generic_list_format_parses_and_states_map,
);
