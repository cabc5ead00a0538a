//! Jira Service Management and ServiceNow sample payloads end to end.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Harness, claims, fixture};

#[tokio::test]
async fn jira_assign_reassign_resolve() {
    let h = Harness::start().await;
    let (status, answer) = h
        .jira(&fixture("jira/issue_assigned.json"), "a8f1c2d4-0001")
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["txn"], "jira:10482:a8f1c2d4-0001",
        "keyed by the stable issue.id, not the key SUP-42"
    );

    h.at(3600);
    let (_, answer) = h
        .jira(&fixture("jira/issue_reassigned.json"), "a8f1c2d4-0002")
        .await;
    assert_eq!(answer["events_queued"], 2, "{answer}");

    h.at(7200);
    let (_, answer) = h
        .jira(&fixture("jira/issue_resolved.json"), "a8f1c2d4-0003")
        .await;
    assert_eq!(
        answer["changes"][0]["reason"], "closed",
        "status category done: {answer}"
    );

    h.flush().await;
    let seen: Vec<(String, String)> =
        h.tx.events()
            .iter()
            .map(|e| {
                (
                    e["sub_id"]["email"].as_str().unwrap().to_owned(),
                    claims(e)["access_allowed"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seen,
        pairs(&[
            ("jane.doe@example.com", "read_write"),
            ("jane.doe@example.com", "none"),
            ("john.roe@example.com", "read_write"),
            ("john.roe@example.com", "none"),
        ])
    );
    assert!(
        h.tx.events()
            .iter()
            .all(|e| claims(e)["customer_id"] == "C2148")
    );
}

#[tokio::test]
async fn jira_subjects_can_be_account_ids() {
    let h = Harness::with(|c| {
        let rules = &mut c.systems.get_mut("jira").unwrap().rules;
        rules.subject.format = ssf_jit::config::SubjectFormatRule::Opaque;
    })
    .await;
    let body = fixture("jira/issue_assigned.json")
        .replace("\"emailAddress\": \"Jane.Doe@example.com\",", "");
    let (_, answer) = h.jira(&body, "d-1").await;
    assert_eq!(
        answer["changes"][0]["subject_key"], "opaque:712020:5b10ac8d-82e0-4e3b-9d1a-aa11bb22cc33",
        "{answer}"
    );
    h.flush().await;
    assert_eq!(
        h.tx.events()[0]["sub_id"],
        json!({"format": "opaque", "id": "712020:5b10ac8d-82e0-4e3b-9d1a-aa11bb22cc33"})
    );
}

#[tokio::test]
async fn jira_without_email_and_email_subjects_is_no_grant() {
    let h = Harness::start().await;
    let body = fixture("jira/issue_assigned.json")
        .replace("\"emailAddress\": \"Jane.Doe@example.com\",", "");
    let (status, answer) = h.jira(&body, "d-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["no_grant"]["reason"], "no_identity", "{answer}");
}

#[tokio::test]
async fn servicenow_case_assign_and_close() {
    let h = Harness::start().await;
    h.at(5);
    let (status, answer) = h.snow(&fixture("servicenow/case_assigned.json")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["txn"], "snow:CS0001042:mod-3");
    assert_eq!(answer["changes"][0]["asset"], "customer:C2148");
    // The same record version again (ServiceNow retries): a replay.
    assert_eq!(
        h.snow(&fixture("servicenow/case_assigned.json")).await.1["status"],
        "duplicate"
    );

    h.at(3 * 3600 + 1800);
    let (_, answer) = h.snow(&fixture("servicenow/case_closed.json")).await;
    assert_eq!(
        answer["changes"][0]["action"], "revoke",
        "state 3 is Closed for cases: {answer}"
    );
    h.flush().await;
    let events = h.tx.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["sub_id"]["email"], "jane.doe@example.com");
    assert_eq!(claims(&events[0])["access_allowed"], "read_write");
    assert_eq!(
        claims(&events[1]),
        &json!({"customer_id": "C2148", "access_allowed": "none"})
    );
}

#[tokio::test]
async fn the_generic_fixture_is_the_documented_example() {
    let h = Harness::start().await;
    let event: serde_json::Value = serde_json::from_str(&fixture("generic/assigned.json")).unwrap();
    let (status, answer) = h.generic(&event).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["txn"], "generic:SUP-42:evt-0001");
}
