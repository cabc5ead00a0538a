//! Revoking a grant by hand (`Bridge::revoke_by_hand`, the console's button and
//! `ssf jit revoke`): the revoke event goes out as for a closed ticket, the audit trail names the
//! operator, bad requests change nothing, and later webhooks of the same ticket follow D-JIT-16.

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_jit::{JitError, store::GrantStatus};

use crate::support::{Db, Harness, T0, claims, fixture, generic_event};

/// The one active grant.
async fn only_grant(h: &Harness) -> String {
    let grants = h.bridge.store().grants(true).await.unwrap();
    assert_eq!(grants.len(), 1, "{grants:?}");
    grants[0].grant_id.clone()
}

/// `(email, access)` of every event sent, in order.
fn told(h: &Harness) -> Vec<(String, String)> {
    h.tx.events()
        .iter()
        .map(|e| {
            (
                e["sub_id"]["email"].as_str().unwrap_or("-").to_owned(),
                claims(e)["access_allowed"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
            )
        })
        .collect()
}

fn pair(email: &str, access: &str) -> (String, String) {
    (email.to_owned(), access.to_owned())
}

/// A Jira webhook body from a fixture with another time, changelog id and assignee.
fn jira_at(file: &str, at_secs: i64, changelog_id: &str, assignee: Option<&str>) -> String {
    let mut body: Value = serde_json::from_str(&fixture(file)).unwrap();
    body["timestamp"] = json!((T0 + at_secs) * 1000);
    body["changelog"]["id"] = json!(changelog_id);
    if let Some(email) = assignee {
        body["issue"]["fields"]["assignee"]["emailAddress"] = json!(email);
    }
    body.to_string()
}

/// The revoke goes out like the one a closing ticket sends (access `none` for the ticket's
/// user and asset), with its own `txn`; the grant says who ended it and why; the audit trail
/// has the operator's row, the queued event and its delivery.
async fn a_grant_revoked_by_hand_sends_the_revoke_and_is_audited(db: Db) {
    let h = Harness::on(db).await;
    let (status, answer) = h.jira(&fixture("jira/issue_assigned.json"), "d-1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    h.flush().await;
    let grant_id = only_grant(&h).await;

    h.at(20 * 60);
    let done = h
        .bridge
        .revoke_by_hand(
            &grant_id,
            "sam.lead@example.com",
            "customer asked to stop access",
        )
        .await
        .unwrap();
    let txn = format!("jira:10482:by-hand-{grant_id}");
    assert_eq!(done.txn, txn);
    assert_eq!(done.events_queued, 1);
    assert!(done.still_granted_by.is_empty());
    assert_eq!(done.grant.status, GrantStatus::Revoked);
    assert_eq!(
        done.grant.end_reason.as_deref(),
        Some("by_hand: by sam.lead@example.com: customer asked to stop access")
    );
    assert_eq!(done.grant.end_txn.as_deref(), Some(txn.as_str()));
    assert_eq!(done.grant.ended_at.unwrap().as_secs(), T0 + 20 * 60);
    assert!(h.bridge.store().grants(true).await.unwrap().is_empty());

    assert_eq!(h.flush().await.sent, 1);
    let events = h.tx.events();
    let revoke = &events[1];
    assert_eq!(
        revoke["sub_id"],
        json!({"format": "email", "email": "jane.doe@example.com"})
    );
    assert_eq!(
        claims(revoke),
        &json!({"customer_id": "C2148", "access_allowed": "none"}),
        "the same revoke a closed ticket sends"
    );
    assert_eq!(revoke["txn"], txn);
    assert_eq!(revoke["event"]["event_timestamp"], T0 + 20 * 60);
    let reason = revoke["event"]["reason_admin"]["en"].as_str().unwrap();
    assert!(
        reason.contains("revoked by hand by sam.lead@example.com"),
        "{reason}"
    );
    assert!(
        !reason.contains("customer asked"),
        "the operator's words stay in the bridge: {reason}"
    );

    let audit = h
        .bridge
        .store()
        .audit(Some(("jira", "10482")))
        .await
        .unwrap();
    let tail: Vec<(&str, Option<&str>)> = audit
        .iter()
        .skip_while(|a| a.action != "revoke_by_hand")
        .map(|a| (a.action.as_str(), a.txn.as_deref()))
        .collect();
    assert_eq!(
        tail,
        [
            ("revoke_by_hand", Some(txn.as_str())),
            ("queued", Some(txn.as_str())),
            ("sent", Some(txn.as_str())),
        ]
    );
    let row = audit.iter().find(|a| a.action == "revoke_by_hand").unwrap();
    assert_eq!(row.detail["actor"], "sam.lead@example.com");
    assert_eq!(row.detail["text"], "customer asked to stop access");
    assert_eq!(row.detail["grant_id"], grant_id.as_str());
    assert_eq!(
        row.subject_key.as_deref(),
        Some("email:jane.doe@example.com")
    );
    assert_eq!(row.asset.as_deref(), Some("customer:C2148"));
}

/// An unknown id, a grant already ended (by hand or by its maximum duration), and an empty or
/// multi-line reason are clear errors, and change nothing: no audit row, no queued event.
async fn revoking_what_is_not_active_is_an_error_and_changes_nothing(db: Db) {
    let h = Harness::on(db).await;
    h.snow(&fixture("servicenow/case_assigned.json")).await;
    let grant_id = only_grant(&h).await;
    let store = h.bridge.store();
    let (audit, outbox) = (
        store.audit(None).await.unwrap().len(),
        store.outbox(None).await.unwrap().len(),
    );

    for (actor, reason) in [("ops", ""), ("", "why"), ("ops", "two\nlines")] {
        let e = h.bridge.revoke_by_hand(&grant_id, actor, reason).await;
        assert!(matches!(e, Err(JitError::Invalid(_))), "{e:?}");
        assert_eq!(e.unwrap_err().status_and_code().0, StatusCode::BAD_REQUEST);
    }
    let long = "x".repeat(ssf_jit::MAX_REASON_BYTES + 1);
    assert!(matches!(
        h.bridge.revoke_by_hand(&grant_id, "ops", &long).await,
        Err(JitError::Invalid(_))
    ));
    let e = h.bridge.revoke_by_hand("no-such-grant", "ops", "why").await;
    assert!(
        matches!(&e, Err(JitError::UnknownGrant(id)) if id == "no-such-grant"),
        "{e:?}"
    );
    assert_eq!(e.unwrap_err().status_and_code().0, StatusCode::NOT_FOUND);
    assert_eq!(store.audit(None).await.unwrap().len(), audit);
    assert_eq!(store.outbox(None).await.unwrap().len(), outbox);
    assert_eq!(only_grant(&h).await, grant_id, "still active");

    h.bridge
        .revoke_by_hand(&grant_id, "ops", "why")
        .await
        .unwrap();
    let (audit, outbox) = (
        store.audit(None).await.unwrap().len(),
        store.outbox(None).await.unwrap().len(),
    );
    let again = h.bridge.revoke_by_hand(&grant_id, "ops", "again").await;
    match &again {
        Err(JitError::GrantNotActive {
            grant_id: id,
            status,
        }) => {
            assert_eq!(
                (id.as_str(), status.as_str()),
                (grant_id.as_str(), "revoked")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(again.unwrap_err().status_and_code().0, StatusCode::CONFLICT);
    assert_eq!(store.audit(None).await.unwrap().len(), audit);
    assert_eq!(store.outbox(None).await.unwrap().len(), outbox);
    let ended = store.ticket_grants("snow", "CS0001042").await.unwrap();
    assert_eq!(
        ended[0].end_reason.as_deref(),
        Some("by_hand: by ops: why"),
        "the first revoke's reason stays"
    );

    // A grant past its maximum duration is expired, not revocable.
    h.generic(&generic_event("e1", "assigned", 0, Some("bob@example.com")))
        .await;
    h.at(9 * 3600);
    h.bridge.expire_due().await.unwrap();
    let expired = store.ticket_grants("generic", "SUP-42").await.unwrap();
    let e = h
        .bridge
        .revoke_by_hand(&expired[0].grant_id, "ops", "why")
        .await;
    assert!(
        matches!(&e, Err(JitError::GrantNotActive { status, .. }) if status == "expired"),
        "{e:?}"
    );
}

/// D-JIT-16 with ServiceNow's payloads: after a revoke by hand, a newer update of the case that
/// keeps Jane as the assignee (Awaiting Info) and a reconcile listing the case do not grant her
/// again; they say why.
async fn d_jit_16_updates_of_the_same_assignment_do_not_grant_again(db: Db) {
    let h = Harness::on(db).await;
    h.at(5);
    h.snow(&fixture("servicenow/case_assigned.json")).await;
    let grant_id = only_grant(&h).await;
    h.at(600);
    h.bridge
        .revoke_by_hand(&grant_id, "ops", "suspicious export")
        .await
        .unwrap();

    h.at(2400);
    let (status, answer) = h.snow(&fixture("servicenow/case_awaiting_info.json")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "applied", "{answer}");
    assert_eq!(answer["changes"], json!([]), "{answer}");
    assert_eq!(answer["no_grant"]["reason"], "revoked_by_hand", "{answer}");
    assert_eq!(answer["events_queued"], 0);

    let open = json!([{"ticket_id": "CS0001042", "assignee": {"email": "jane.doe@example.com"},
        "state": "18", "fields": {"account": {"number": "C2148"}, "table": "sn_customerservice_case"},
        "updated_at": "2025-01-01T09:45:00Z"}]);
    h.at(2700);
    let report = h
        .bridge
        .reconcile(
            "snow",
            ssf_jit::parse_snapshots(open.to_string().as_bytes()).unwrap(),
        )
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        report.skipped,
        [("CS0001042".to_owned(), "revoked_by_hand".to_owned())]
    );
    assert!(h.bridge.store().grants(true).await.unwrap().is_empty());
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane.doe@example.com", "read_write"),
            pair("jane.doe@example.com", "none"),
        ]
    );
}

/// D-JIT-16 with Jira's payloads: a reassignment after the revoke grants the new assignee, and
/// assigning Jane again later grants her again (a new assignment). An assignment to her whose
/// time is before the revoke (a webhook that was late) does not.
async fn d_jit_16_a_new_assignment_after_the_revoke_grants_again(db: Db) {
    let h = Harness::on(db).await;
    h.jira(&fixture("jira/issue_assigned.json"), "d-1").await;
    let jane = only_grant(&h).await;
    h.at(40 * 60);
    h.bridge
        .revoke_by_hand(&jane, "ops", "left the team")
        .await
        .unwrap();

    // Assigned to her at 09:30 (before the revoke at 09:40), delivered at 09:45.
    h.at(45 * 60);
    let late = jira_at("jira/issue_assigned.json", 30 * 60, "10932", None);
    let (_, answer) = h.jira(&late, "d-2").await;
    assert_eq!(answer["no_grant"]["reason"], "revoked_by_hand", "{answer}");

    h.at(3600);
    let (_, answer) = h.jira(&fixture("jira/issue_reassigned.json"), "d-3").await;
    assert_eq!(answer["changes"][0]["action"], "grant", "{answer}");
    assert_eq!(
        answer["changes"][0]["subject_key"],
        "email:john.roe@example.com"
    );

    h.at(5400);
    let back = jira_at("jira/issue_assigned.json", 5400, "10947", None);
    let (_, answer) = h.jira(&back, "d-4").await;
    let actions: Vec<(&str, &str)> = answer["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap(),
                c["subject_key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("revoke", "email:john.roe@example.com"),
            ("grant", "email:jane.doe@example.com"),
        ],
        "{answer}"
    );
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane.doe@example.com", "read_write"),
            pair("jane.doe@example.com", "none"),
            pair("john.roe@example.com", "read_write"),
            pair("john.roe@example.com", "none"),
            pair("jane.doe@example.com", "read_write"),
        ]
    );
}

/// D-JIT-16: resolving and reopening the issue after the revoke grants its assignee again.
async fn d_jit_16_a_reopen_after_the_revoke_grants_again(db: Db) {
    let h = Harness::on(db).await;
    h.jira(&fixture("jira/issue_assigned.json"), "d-1").await;
    let jane = only_grant(&h).await;
    h.at(600);
    h.bridge
        .revoke_by_hand(&jane, "ops", "pause")
        .await
        .unwrap();
    let jane_mail = Some("Jane.Doe@example.com");
    h.at(2 * 3600);
    let resolved = jira_at("jira/issue_resolved.json", 2 * 3600, "10960", jane_mail);
    let (_, answer) = h.jira(&resolved, "d-2").await;
    assert_eq!(
        answer["changes"],
        json!([]),
        "nothing left to revoke: {answer}"
    );
    h.at(3 * 3600);
    let reopened = jira_at("jira/issue_reopened.json", 3 * 3600, "10970", jane_mail);
    let (_, answer) = h.jira(&reopened, "d-3").await;
    assert_eq!(answer["changes"][0]["action"], "grant", "{answer}");
    assert_eq!(
        answer["changes"][0]["subject_key"],
        "email:jane.doe@example.com"
    );
}

/// Two tickets give Jane the same customer: revoking one grant by hand queues nothing (the
/// other keeps her access, and says so); revoking the second sends the revoke.
async fn revoking_one_of_two_grants_keeps_the_access_of_the_other(db: Db) {
    let h = Harness::on(db).await;
    h.generic(&generic_event(
        "e1",
        "assigned",
        0,
        Some("jane@example.com"),
    ))
    .await;
    let mut other = generic_event("e2", "assigned", 0, Some("jane@example.com"));
    other["ticket_id"] = json!("SUP-43");
    h.generic(&other).await;
    let grants = h.bridge.store().grants(true).await.unwrap();
    assert_eq!(grants.len(), 2);
    let of = |ticket: &str| {
        grants
            .iter()
            .find(|g| g.ticket_id == ticket)
            .unwrap()
            .grant_id
            .clone()
    };
    let first = h
        .bridge
        .revoke_by_hand(&of("SUP-42"), "ops", "wrong case")
        .await
        .unwrap();
    assert_eq!(first.events_queued, 0);
    assert_eq!(first.still_granted_by.len(), 1);
    assert_eq!(first.still_granted_by[0].ticket_id, "SUP-43");
    let second = h
        .bridge
        .revoke_by_hand(&of("SUP-43"), "ops", "wrong case")
        .await
        .unwrap();
    assert_eq!(second.events_queued, 1);
    assert!(second.still_granted_by.is_empty());
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane@example.com", "read_write"),
            pair("jane@example.com", "none"),
        ]
    );
    assert_eq!(
        h.tx.events()[1]["txn"],
        format!("generic:SUP-43:by-hand-{}", of("SUP-43"))
    );
}

on_both_backends!(
    a_grant_revoked_by_hand_sends_the_revoke_and_is_audited,
    revoking_what_is_not_active_is_an_error_and_changes_nothing,
    d_jit_16_updates_of_the_same_assignment_do_not_grant_again,
    d_jit_16_a_new_assignment_after_the_revoke_grants_again,
    d_jit_16_a_reopen_after_the_revoke_grants_again,
    revoking_one_of_two_grants_keeps_the_access_of_the_other,
);
