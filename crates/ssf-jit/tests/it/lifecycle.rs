//! The grant lifecycle through the webhook routes: assign, reassign, close, expiry, ordering,
//! tickets without a grant, several tickets on one asset.

use reqwest::StatusCode;
use serde_json::json;
use ssf_jit::store::GrantStatus;

use crate::support::{Db, Harness, T0, TOKEN_CLAIMS_CHANGE, claims, generic_event};

const EIGHT_HOURS: i64 = 8 * 3600;

/// CAEP-11 (claims, event_timestamp); SSF-SET-10/11: the ticket event is the `txn`.
async fn assign_sends_one_grant_with_the_seed_claims_caep_11(db: Db) {
    let h = Harness::on(db).await;
    let (status, answer) = h
        .generic(&generic_event(
            "evt-1",
            "assigned",
            0,
            Some("Jane@Example.com"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "applied");
    assert_eq!(answer["txn"], "generic:SUP-42:evt-1");
    assert_eq!(answer["events_queued"], 1);
    assert_eq!(h.flush().await.sent, 1);

    let events = h.tx.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["event_type"], TOKEN_CLAIMS_CHANGE);
    assert_eq!(
        e["sub_id"],
        json!({"format": "email", "email": "jane@example.com"})
    );
    assert_eq!(
        claims(e),
        &json!({"customer_id": "C2148", "access_allowed": "read_write", "expires_at": T0 + EIGHT_HOURS})
    );
    assert_eq!(
        e["txn"], "generic:SUP-42:evt-1",
        "the ticket event is the txn"
    );
    assert_eq!(e["event"]["event_timestamp"], T0);
    assert_eq!(e["event"]["initiating_entity"], "policy");

    let grants = h.bridge.store().grants(true).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].expires_at.as_secs(),
        T0 + EIGHT_HOURS,
        "the grant carries its expiry"
    );
    // Audit: ticket event -> grant -> queued -> sent with the SET jti.
    let actions: Vec<String> = h
        .bridge
        .store()
        .audit(Some(("generic", "SUP-42")))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["ticket_event", "grant", "queued", "sent"]);
    let sent = h.bridge.store().outbox(None).await.unwrap();
    assert_eq!(sent[0].response.as_ref().unwrap()["jtis"], json!(["jti-1"]));
}

async fn reassign_revokes_the_old_assignee_and_grants_the_new(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.at(60);
    let mut e = generic_event("e2", "reassigned", 60, Some("john@example.com"));
    e["previous_assignee"] = json!({"email": "jane@example.com"});
    let (_, answer) = h.generic(&e).await;
    assert_eq!(answer["events_queued"], 2, "{answer}");
    h.flush().await;
    let events = h.tx.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["sub_id"]["email"], "jane@example.com");
    assert_eq!(
        claims(&events[1]),
        &json!({"customer_id": "C2148", "access_allowed": "none"})
    );
    assert_eq!(events[2]["sub_id"]["email"], "john@example.com");
    assert_eq!(claims(&events[2])["access_allowed"], "read_write");
    assert!(
        events[1..].iter().all(|e| e["txn"] == "generic:SUP-42:e2"),
        "one cause, one txn"
    );
    let active = h.bridge.store().grants(true).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].subject_key, "email:john@example.com");
}

async fn close_revokes_and_every_closing_kind_does(db: Db) {
    for kind in ["resolved", "closed", "cancelled"] {
        let h = Harness::on(db.fresh().await).await;
        h.generic(&generic_event(
            "e1",
            "assigned",
            0,
            Some("jane@example.com"),
        ))
        .await;
        h.at(120);
        let (_, answer) = h.generic(&generic_event("e2", kind, 120, None)).await;
        assert_eq!(answer["changes"][0]["action"], "revoke", "{kind}: {answer}");
        assert_eq!(answer["changes"][0]["reason"], "closed");
        h.flush().await;
        let events = h.tx.events();
        assert_eq!(events.len(), 2, "{kind}");
        assert_eq!(
            claims(&events[1]),
            &json!({"customer_id": "C2148", "access_allowed": "none"})
        );
        assert!(h.bridge.store().grants(true).await.unwrap().is_empty());
        let all = h.bridge.store().grants(false).await.unwrap();
        assert_eq!(
            (all[0].status, all[0].end_reason.as_deref()),
            (GrantStatus::Revoked, Some("closed"))
        );
    }
}

async fn expiry_revokes_even_if_the_ticket_stays_open_d_jit_04(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    h.flush().await;
    h.at(EIGHT_HOURS - 1);
    assert!(h.bridge.expire_due().await.unwrap().is_empty(), "not yet");
    h.at(EIGHT_HOURS);
    let expired = h.bridge.expire_due().await.unwrap();
    assert_eq!(expired.len(), 1);
    h.flush().await;
    let events = h.tx.events();
    assert_eq!(events.len(), 2);
    assert_eq!(claims(&events[1])["access_allowed"], "none");
    assert!(
        events[1]["txn"]
            .as_str()
            .unwrap()
            .starts_with("generic:SUP-42:expired-")
    );

    // Updates of the same assignment do not renew it.
    let mut update = generic_event("e2", "updated", EIGHT_HOURS, None);
    update["fields"]["priority"] = json!("high");
    let (_, answer) = h.generic(&update).await;
    assert_eq!(answer["no_grant"]["reason"], "expired", "{answer}");
    assert_eq!(answer["events_queued"], 0);
    // A new assignment does.
    h.at(EIGHT_HOURS + 60);
    let (_, answer) = h
        .generic(&generic_event(
            "e3",
            "assigned",
            EIGHT_HOURS + 60,
            Some("jane@example.com"),
        ))
        .await;
    assert_eq!(answer["changes"][0]["action"], "grant", "{answer}");
}

async fn the_background_sweeper_revokes_at_expiry(db: Db) {
    let h = Harness::on_with(db, |c| {
        c.sweep_interval = std::time::Duration::from_millis(20);
    })
    .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let workers = h.bridge.start(shutdown.clone()).unwrap();
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    crate::support::eventually("the grant is delivered", || h.tx.events().len() == 1).await;
    h.at(EIGHT_HOURS + 1);
    crate::support::eventually("the revoke is delivered", || h.tx.events().len() == 2).await;
    assert_eq!(claims(&h.tx.events()[1])["access_allowed"], "none");
    shutdown.cancel();
    workers.join().await;
}

async fn close_before_assign_grants_nothing_d_jit_02(db: Db) {
    let h = Harness::on(db).await;
    h.at(120);
    let (_, answer) = h
        .generic(&generic_event("e-close", "closed", 120, None))
        .await;
    assert_eq!(answer["status"], "applied");
    // The assignment happened earlier but arrives later.
    let (status, answer) = h
        .generic(&generic_event(
            "e-assign",
            "assigned",
            60,
            Some("jane@example.com"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "stale", "{answer}");
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    h.flush().await;
    assert!(h.tx.events().is_empty(), "no event at all");
}

async fn tickets_without_assignee_or_asset_are_accepted_without_a_grant(db: Db) {
    let h = Harness::on(db).await;
    let (status, answer) = h.generic(&generic_event("e1", "assigned", 0, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["no_grant"]["reason"], "no_assignee", "{answer}");
    let mut e = generic_event("e2", "assigned", 1, Some("jane@example.com"));
    e["ticket_id"] = json!("SUP-43");
    e["fields"] = json!({"priority": "low"});
    let (status, answer) = h.generic(&e).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["no_grant"]["reason"], "no_asset", "{answer}");
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    let audit = h
        .bridge
        .store()
        .audit(Some(("generic", "SUP-43")))
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "no_grant" && a.detail["reason"] == "no_asset")
    );
    // The asset arrives in a later update: now it grants.
    let mut later = generic_event("e3", "updated", 2, None);
    later["ticket_id"] = json!("SUP-43");
    let (_, answer) = h.generic(&later).await;
    assert_eq!(answer["changes"][0]["action"], "grant", "{answer}");
}

async fn two_tickets_on_one_customer_revoke_only_when_both_close_d_jit_03(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "a1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    let mut other = generic_event("b1", "assigned", 10, Some("jane@example.com"));
    other["ticket_id"] = json!("SUP-99");
    h.at(10);
    let (_, answer) = h.generic(&other).await;
    assert_eq!(
        answer["events_queued"], 1,
        "a later expiry is news: {answer}"
    );
    h.at(20);
    let (_, answer) = h.generic(&generic_event("a2", "closed", 20, None)).await;
    assert_eq!(answer["changes"][0]["action"], "revoke");
    assert_eq!(
        answer["events_queued"], 0,
        "SUP-99 still grants C2148: nothing else changes"
    );
    let mut close = generic_event("b2", "closed", 30, None);
    close["ticket_id"] = json!("SUP-99");
    h.at(30);
    let (_, answer) = h.generic(&close).await;
    assert_eq!(answer["events_queued"], 1);
    h.flush().await;
    let levels: Vec<_> =
        h.tx.events()
            .iter()
            .map(|e| claims(e)["access_allowed"].clone())
            .collect();
    assert_eq!(
        levels,
        [json!("read_write"), json!("read_write"), json!("none")]
    );
}

async fn access_level_follows_a_mapped_field(db: Db) {
    let h = Harness::on(db).await;
    let body = crate::support::fixture("jira/issue_assigned.json");
    let (_, answer) = h.jira(&body, "d-1").await;
    assert_eq!(
        answer["changes"][0]["access"], "read_write",
        "High maps to read_write: {answer}"
    );
    let lower = body
        .replace("\"name\": \"High\"", "\"name\": \"Low\"")
        .replace("1735722000000", "1735722060000");
    h.at(60);
    let (_, answer) = h.jira(&lower, "d-2").await;
    assert_eq!(answer["changes"][0]["action"], "access_change", "{answer}");
    assert_eq!(answer["changes"][0]["access"], "read");
    h.flush().await;
    let events = h.tx.events();
    assert_eq!(claims(&events[1])["access_allowed"], "read");
}

async fn event_timestamp_is_when_the_bridge_decided_d_jit_01(db: Db) {
    let h = Harness::on(db).await;
    h.at(100);
    h.generic(&generic_event(
        "e1",
        "assigned",
        30,
        Some("jane@example.com"),
    ))
    .await;
    h.flush().await;
    let e = &h.tx.events()[0];
    assert_eq!(e["event"]["event_timestamp"], T0 + 100);
    assert_eq!(
        e["event"]["reason_admin"]["en"],
        "generic ticket SUP-42: assigned"
    );
    assert_eq!(claims(e)["expires_at"], T0 + 100 + EIGHT_HOURS);
}

on_both_backends!(
    assign_sends_one_grant_with_the_seed_claims_caep_11,
    reassign_revokes_the_old_assignee_and_grants_the_new,
    close_revokes_and_every_closing_kind_does,
    expiry_revokes_even_if_the_ticket_stays_open_d_jit_04,
    the_background_sweeper_revokes_at_expiry,
    close_before_assign_grants_nothing_d_jit_02,
    tickets_without_assignee_or_asset_are_accepted_without_a_grant,
    two_tickets_on_one_customer_revoke_only_when_both_close_d_jit_03,
    access_level_follows_a_mapped_field,
    event_timestamp_is_when_the_bridge_decided_d_jit_01,
);
