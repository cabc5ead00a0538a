//! Whole ticket histories from realistic payloads (tests/fixtures/README.md says which documented
//! shape each follows): ServiceNow updates within one second in either arrival order, a late
//! ServiceNow close, a Jira unassignment and a Jira reopen. What the app is told is checked on
//! the events the bridge sends.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Db, Harness, T0, claims, fixture};

/// Who holds what, from the events sent: `(email, access)` in sending order.
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

/// `sys_updated_on` has second resolution: the assignment to Jane (`sys_mod_count` 3) and the
/// reassignment to John (4) in the same second arrive newest first. Jane never gets access.
async fn servicenow_same_second_reorder_never_lets_the_older_assignment_win(db: Db) {
    let h = Harness::on(db).await;
    h.at(5);
    let (status, answer) = h
        .snow(&fixture("servicenow/case_reassigned_same_second.json"))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "applied");
    let (_, answer) = h.snow(&fixture("servicenow/case_assigned.json")).await;
    assert_eq!(answer["status"], "stale", "mod 3 after mod 4: {answer}");
    h.flush().await;
    assert_eq!(told(&h), [pair("john.smith@example.com", "read_write")]);
}

/// The same two updates in the order they happened: Jane, then John in her place.
async fn servicenow_same_second_updates_in_order_reassign(db: Db) {
    let h = Harness::on(db).await;
    h.at(5);
    h.snow(&fixture("servicenow/case_assigned.json")).await;
    let (_, answer) = h
        .snow(&fixture("servicenow/case_reassigned_same_second.json"))
        .await;
    assert_eq!(answer["status"], "applied", "{answer}");
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane.doe@example.com", "read_write"),
            pair("jane.doe@example.com", "none"),
            pair("john.smith@example.com", "read_write"),
        ]
    );
}

/// The close of 12:30 reaches the bridge at 14:45 (an outage of the ServiceNow instance's
/// outbound queue): past `max_age`, it still revokes.
async fn servicenow_late_close_still_revokes(db: Db) {
    let h = Harness::on(db).await;
    h.at(5);
    h.snow(&fixture("servicenow/case_assigned.json")).await;
    h.at(5 * 3600 + 45 * 60);
    let (status, answer) = h.snow(&fixture("servicenow/case_closed.json")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["changes"][0]["action"], "revoke", "{answer}");
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane.doe@example.com", "read_write"),
            pair("jane.doe@example.com", "none"),
        ]
    );
}

/// Jira: Jane is assigned, then nobody (`assignee: null`): her access ends.
async fn jira_unassignment_revokes(db: Db) {
    let h = Harness::on(db).await;
    h.jira(&fixture("jira/issue_assigned.json"), "d-1").await;
    h.at(1800);
    let (_, answer) = h.jira(&fixture("jira/issue_unassigned.json"), "d-2").await;
    assert_eq!(answer["changes"][0]["action"], "revoke", "{answer}");
    assert_eq!(answer["changes"][0]["reason"], "unassigned");
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane.doe@example.com", "read_write"),
            pair("jane.doe@example.com", "none"),
        ]
    );
}

/// Jira: assigned to Jane, reassigned to John, resolved, reopened: John gets access again with
/// the reopen, Jane never again.
async fn jira_reopen_grants_the_assignee_again(db: Db) {
    let h = Harness::on(db).await;
    let steps = [
        ("jira/issue_assigned.json", 0),
        ("jira/issue_reassigned.json", 3600),
        ("jira/issue_resolved.json", 2 * 3600),
        ("jira/issue_reopened.json", 3 * 3600),
    ];
    for (i, (file, at)) in steps.into_iter().enumerate() {
        h.at(at);
        let (status, answer) = h.jira(&fixture(file), &format!("d-{i}")).await;
        assert_eq!(status, StatusCode::OK, "{file}: {answer}");
        assert_eq!(answer["status"], "applied", "{file}: {answer}");
    }
    h.flush().await;
    assert_eq!(
        told(&h),
        [
            pair("jane.doe@example.com", "read_write"),
            pair("jane.doe@example.com", "none"),
            pair("john.roe@example.com", "read_write"),
            pair("john.roe@example.com", "none"),
            pair("john.roe@example.com", "read_write"),
        ]
    );
    let last: &Value = &h.tx.events()[4];
    assert_eq!(claims(last)["expires_at"], T0 + 3 * 3600 + 8 * 3600);
}

on_both_backends!(
    servicenow_same_second_reorder_never_lets_the_older_assignment_win,
    servicenow_same_second_updates_in_order_reassign,
    servicenow_late_close_still_revokes,
    jira_unassignment_revokes,
    jira_reopen_grants_the_assignee_again,
);
