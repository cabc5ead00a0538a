//! Webhook intake: sender verification, unknown systems, size limits, replays, the timestamp
//! window.

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_jit::verify::sign_hex;

use crate::support::{Db, Harness, JIRA_SECRET, SNOW_SECRET, fixture, generic_event};

async fn nothing_changed(h: &Harness) {
    assert!(
        h.bridge.store().grants(false).await.unwrap().is_empty(),
        "no grant"
    );
    assert!(
        h.bridge.store().outbox(None).await.unwrap().is_empty(),
        "nothing queued"
    );
    assert!(
        h.bridge
            .store()
            .ticket("jira", "10482")
            .await
            .unwrap()
            .is_none(),
        "no ticket state"
    );
}

async fn unsigned_and_forged_jira_webhooks_are_401_and_change_nothing(db: Db) {
    let h = Harness::on(db).await;
    let body = fixture("jira/issue_assigned.json");
    let id = ("X-Atlassian-Webhook-Identifier", "d-1".to_owned());

    let (status, answer) = h
        .post("jira", std::slice::from_ref(&id), body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned: {answer}");
    assert_eq!(answer["error"], "unauthenticated");

    let forged = format!(
        "sha256={}",
        sign_hex("not-the-secret-0123456789abcdef", body.as_bytes())
    );
    let (status, _) = h
        .post(
            "jira",
            &[id.clone(), ("X-Hub-Signature", forged)],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong secret");

    let tampered = body.replace("C2148", "C9999");
    let sig = format!("sha256={}", sign_hex(JIRA_SECRET, body.as_bytes()));
    let (status, answer) = h
        .post("jira", &[id.clone(), ("X-Hub-Signature", sig)], tampered)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "body changed after signing"
    );
    assert!(
        !answer.to_string().contains(JIRA_SECRET),
        "the answer never carries the secret"
    );
    nothing_changed(&h).await;

    // The same delivery id is still usable: a refused webhook records nothing.
    let (status, answer) = h.jira(&body, "d-1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "applied");
}

async fn unsigned_and_forged_servicenow_webhooks_are_401(db: Db) {
    let h = Harness::on(db).await;
    let body = fixture("servicenow/case_assigned.json");
    let (status, _) = h.post("snow", &[], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token");
    let (status, _) = h
        .post(
            "snow",
            &[("Authorization", "Bearer wrong-token-0123456789".to_owned())],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong token");
    let (status, _) = h
        .post(
            "snow",
            &[("Authorization", format!("Basic {SNOW_SECRET}"))],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another scheme");
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    let (status, answer) = h.snow(&body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn servicenow_hmac_mode_checks_the_body(db: Db) {
    let h = Harness::on_with(db, |c| {
        let snow = c.systems.get_mut("snow").unwrap();
        snow.auth = Some(ssf_jit::WebhookAuth::Hmac);
        snow.header = Some("X-Snow-Signature".into());
    })
    .await;
    let body = fixture("servicenow/case_assigned.json");
    let (status, _) = h
        .post(
            "snow",
            &[("Authorization", format!("Bearer {SNOW_SECRET}"))],
            body.clone(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token is not enough in hmac mode"
    );
    // ServiceNow's GlideCertificateEncoder gives base64.
    let mac = hex::decode(sign_hex(SNOW_SECRET, body.as_bytes())).unwrap();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac);
    let (status, answer) = h.post("snow", &[("X-Snow-Signature", b64)], body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn unknown_system_is_404_and_oversized_bodies_are_413(db: Db) {
    let h = Harness::on_with(db, |c| c.max_body_bytes = 4096).await;
    let (status, answer) = h.post("zendesk", &[], "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"], "not_found");

    let mut big = generic_event("e-big", "assigned", 0, Some("jane@example.com"));
    big["fields"]["notes"] = json!("x".repeat(5000));
    let (status, answer) = h.generic(&big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
}

async fn a_replayed_webhook_answers_duplicate_and_changes_nothing(db: Db) {
    let h = Harness::on(db).await;
    let body = fixture("jira/issue_assigned.json");
    let (status, first) = h.jira(&body, "0d5b2c1e-delivery-1").await;
    assert_eq!(
        (status, first["status"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{first}"
    );
    let outbox = h.bridge.store().outbox(None).await.unwrap();
    let audit = h
        .bridge
        .store()
        .audit(Some(("jira", "10482")))
        .await
        .unwrap();

    let (status, again) = h.jira(&body, "0d5b2c1e-delivery-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["changes"], json!([]));
    assert_eq!(
        h.bridge.store().outbox(None).await.unwrap(),
        outbox,
        "no event queued"
    );
    let after = h
        .bridge
        .store()
        .audit(Some(("jira", "10482")))
        .await
        .unwrap();
    assert_eq!(
        after.len(),
        audit.len() + 1,
        "only the replay itself is audited"
    );
    assert_eq!(after.last().unwrap().action, "duplicate");

    // Generic: the (ticket, event id) pair is the replay key, whatever else changes.
    let e = generic_event("evt-1", "assigned", 0, Some("jane@example.com"));
    assert_eq!(h.generic(&e).await.1["status"], "applied");
    let mut replay = e.clone();
    replay["assignee"] = json!({"email": "mallory@example.com"});
    assert_eq!(h.generic(&replay).await.1["status"], "duplicate");
    h.flush().await;
    let sent: Vec<Value> = h.tx.events();
    assert_eq!(sent.len(), 2, "one grant per ticket, none for the replays");
    assert!(
        sent.iter()
            .all(|e| e["sub_id"]["email"] != "mallory@example.com")
    );
}

/// D-JIT-06: a webhook older than `max_age` grants nothing (it may still revoke, see
/// `hardening`); one from beyond the clock skew in the future is refused.
async fn webhooks_older_than_max_age_grant_nothing_d_jit_06(db: Db) {
    let h = Harness::on(db).await;
    h.at(3601);
    let (status, answer) = h.jira(&fixture("jira/issue_assigned.json"), "d-old").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["no_grant"]["reason"], "too_old", "{answer}");
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    h.at(-400);
    let (status, answer) = h
        .generic(&generic_event(
            "e-future",
            "assigned",
            0,
            Some("jane@example.com"),
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "more than the allowed skew in the future"
    );
    assert_eq!(answer["error"], "stale_webhook");
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    h.at(3599);
    let (status, answer) = h.jira(&fixture("jira/issue_assigned.json"), "d-old").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["status"], "duplicate",
        "the late delivery was recorded: its replay cannot grant later"
    );
}

async fn bad_payloads_are_400_with_the_reason(db: Db) {
    let h = Harness::on(db).await;
    let (status, answer) = h
        .generic(&json!({"ticket_id": "T-1", "event_type": "assigned"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("event_id"),
        "{answer}"
    );
    let mut e = generic_event("e1", "reopened", 0, None);
    let (status, answer) = h.generic(&e).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("reopened"),
        "{answer}"
    );
    e["event_type"] = json!("assigned");
    e["colour"] = json!("blue");
    let (status, answer) = h.generic(&e).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{answer}"
    );
}

async fn jira_events_about_other_things_are_acknowledged_and_ignored(db: Db) {
    let h = Harness::on(db).await;
    let body = fixture("jira/comment_created.json");
    let (status, answer) = h.jira(&body, "d-comment").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "ignored");
    assert_eq!(h.jira(&body, "d-comment").await.1["status"], "duplicate");
    assert!(h.bridge.store().outbox(None).await.unwrap().is_empty());
}

on_both_backends!(
    unsigned_and_forged_jira_webhooks_are_401_and_change_nothing,
    unsigned_and_forged_servicenow_webhooks_are_401,
    servicenow_hmac_mode_checks_the_body,
    unknown_system_is_404_and_oversized_bodies_are_413,
    a_replayed_webhook_answers_duplicate_and_changes_nothing,
    webhooks_older_than_max_age_grant_nothing_d_jit_06,
    bad_payloads_are_400_with_the_reason,
    jira_events_about_other_things_are_acknowledged_and_ignored,
);
