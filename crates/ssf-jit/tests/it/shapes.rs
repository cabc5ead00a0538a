//! Realistic payload shapes (issue 11, items 2, 4 and 5), on both backends: Jira tickets keyed
//! by `issue.id` across a project move, Jira number fields, Jira Automation bodies with a token
//! header, ServiceNow state codes, labels and reference objects, the Customer Service case
//! table, unknown states, Basic auth, the generic replay key, id limits. Each fixture follows a
//! documented shape: see `tests/fixtures/README.md`.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_jit::{JitConfig, SystemConfig, SystemKind, WebhookAuth, verify::sign_hex};

use crate::support::{Db, Harness, asset, claims, fixture, generic_event};

/// The ServiceNow user and password of the incident system's REST message (Basic auth).
const SNOW_USER: &str = "svc.ssf.bridge";
const SNOW_PASSWORD: &str = "rest-message-password-0123456789";
const AUTOMATION_TOKEN: &str = "automation-token-0123456789abcdef";

/// `snow-incident`: incidents sent by an outbound REST message with a Basic auth profile, the
/// customer in the custom field `u_customer_id`, Abel Tuter's user `sys_id` mapped to his
/// e-mail. `jira-automation`: Jira Automation bodies with a token in `X-Automation-Token`.
fn more_systems(c: &mut JitConfig) {
    let mut s = SystemConfig::new(SystemKind::ServiceNow, SNOW_PASSWORD);
    s.auth = Some(WebhookAuth::Basic);
    s.username = Some(SNOW_USER.into());
    s.rules.asset = asset("customer", "u_customer_id");
    s.identities.insert(
        "681b365ec0a80164000fb0b05854a0cd".into(),
        "abel.tuter@example.com".into(),
    );
    c.systems.insert("snow-incident".into(), s);
    let mut a = SystemConfig::new(SystemKind::Jira, AUTOMATION_TOKEN);
    a.auth = Some(WebhookAuth::Token);
    a.header = Some("X-Automation-Token".into());
    a.rules.asset = asset("customer", "customfield_10050");
    c.systems.insert("jira-automation".into(), a);
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    (
        "Authorization",
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
    )
}

async fn incident(h: &Harness, file: &str) -> (StatusCode, Value) {
    h.post(
        "snow-incident",
        &[basic(SNOW_USER, SNOW_PASSWORD)],
        fixture(file),
    )
    .await
}

async fn jira_number_fields_read_as_integers(db: Db) {
    let h = Harness::on_with(db, |c| {
        c.systems.get_mut("jira").unwrap().rules.asset = asset("customer", "customfield_10060");
    })
    .await;
    let body = fixture("jira/issue_created_number_field.json");
    assert!(
        body.contains("\"customfield_10060\": 5120.0"),
        "a JSON float"
    );
    let (status, answer) = h.jira(&body, "d-num").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["changes"][0]["asset"], "customer:5120", "{answer}");
    h.flush().await;
    assert_eq!(claims(&h.tx.events()[0])["customer_id"], "5120");
}

async fn jira_tickets_are_keyed_by_issue_id_across_a_project_move(db: Db) {
    let h = Harness::on(db).await;
    let (_, first) = h
        .jira(&fixture("jira/issue_assigned.json"), "d-assign")
        .await;
    assert_eq!(first["txn"], "jira:10482:d-assign", "{first}");
    h.at(3600);
    let (status, moved) = h.jira(&fixture("jira/issue_moved.json"), "d-move").await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["txn"], "jira:10482:d-move");
    assert_eq!(
        moved["changes"],
        json!([]),
        "SUP-42 became OPS-7: the same ticket, the same grant: {moved}"
    );
    let store = h.bridge.store();
    assert!(store.ticket("jira", "10482").await.unwrap().is_some());
    assert!(store.ticket("jira", "OPS-7").await.unwrap().is_none());
    assert!(store.ticket("jira", "SUP-42").await.unwrap().is_none());
    let grants = store.grants(true).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].ticket_id, "10482");
}

async fn jira_automation_bodies_with_a_token_header(db: Db) {
    let h = Harness::on_with(db, more_systems).await;
    let token = || ("X-Automation-Token", AUTOMATION_TOKEN.to_owned());
    let body = fixture("jira/automation_jira_format.json");
    // Automation cannot sign: an HMAC in Jira's header is not what this system checks.
    let sig = format!("sha256={}", sign_hex(AUTOMATION_TOKEN, body.as_bytes()));
    let (status, _) = h
        .post("jira-automation", &[("X-Hub-Signature", sig)], body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h
        .post(
            "jira-automation",
            &[("X-Automation-Token", "wrong-token-0123456789abcdef".into())],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, answer) = h.post("jira-automation", &[token()], body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "applied");
    assert!(
        answer["txn"]
            .as_str()
            .unwrap()
            .starts_with("jira-automation:10482:automation-"),
        "{answer}"
    );
    assert_eq!(answer["changes"][0]["action"], "grant", "{answer}");
    let (_, again) = h.post("jira-automation", &[token()], body).await;
    assert_eq!(
        again["status"], "duplicate",
        "the body hash is the replay key"
    );

    h.at(3600);
    let (status, answer) = h
        .post(
            "jira-automation",
            &[token()],
            fixture("jira/automation_automation_format_resolved.json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["changes"][0]["action"], "revoke", "{answer}");
    assert_eq!(answer["changes"][0]["reason"], "closed");
}

async fn jira_status_without_category_is_unknown_and_revokes(db: Db) {
    let h = Harness::on(db).await;
    let (_, answer) = h
        .jira(&fixture("jira/issue_assigned.json"), "d-assign")
        .await;
    assert_eq!(answer["changes"][0]["action"], "grant");
    h.at(3600);
    let (status, answer) = h
        .jira(&fixture("jira/issue_status_without_category.json"), "d-odd")
        .await;
    assert_eq!(status, StatusCode::OK, "answered, so Jira does not retry");
    assert_eq!(answer["no_grant"]["reason"], "unknown_state", "{answer}");
    let text = answer["no_grant"]["description"].as_str().unwrap();
    assert!(
        text.contains("\"undefined\"")
            && text.contains("jit.systems.jira.rules.open_states or closed_states"),
        "{text}"
    );
    assert_eq!(
        answer["changes"][0]["action"], "revoke",
        "fails closed: {answer}"
    );
    let audit = h
        .bridge
        .store()
        .audit(Some(("jira", "10482")))
        .await
        .unwrap();
    let row = audit
        .iter()
        .find(|r| r.action == "unknown_state")
        .expect("an unknown_state audit row");
    assert_eq!(row.detail["value"], "\"undefined\"");
    assert_eq!(row.detail["field"], "status.statusCategory.key");
}

async fn servicenow_state_codes_labels_and_reference_objects(db: Db) {
    let h = Harness::on_with(db, more_systems).await;
    h.at(5);
    let (status, answer) = incident(&h, "servicenow/incident_assigned_rest_message.json").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["changes"][0]["subject_key"], "email:abel.tuter@example.com",
        "state {{value: 2, display_value: In Progress}} is open; the sys_id maps: {answer}"
    );
    h.at(1800);
    let (_, answer) = incident(&h, "servicenow/incident_on_hold_label.json").await;
    assert_eq!(
        (answer["status"].as_str(), &answer["changes"]),
        (Some("applied"), &json!([])),
        "the label On Hold is open: {answer}"
    );
    assert!(answer.get("no_grant").is_none(), "{answer}");
    h.at(7200);
    let (_, answer) = incident(&h, "servicenow/incident_closed_code.json").await;
    assert_eq!(answer["changes"][0]["action"], "revoke", "code 7: {answer}");
    assert_eq!(answer["changes"][0]["reason"], "closed");
}

async fn servicenow_case_table_states(db: Db) {
    let h = Harness::on_with(db, |c| {
        // The case table's own defaults, without the harness's closed_states.
        c.systems.get_mut("snow").unwrap().rules.closed_states = None;
    })
    .await;
    h.at(5);
    let (_, answer) = h.snow(&fixture("servicenow/case_assigned.json")).await;
    assert_eq!(answer["changes"][0]["action"], "grant", "10 Open: {answer}");
    h.at(2400);
    let (_, answer) = h.snow(&fixture("servicenow/case_awaiting_info.json")).await;
    assert_eq!(
        answer["changes"],
        json!([]),
        "18 Awaiting Info is open: {answer}"
    );
    assert!(answer.get("no_grant").is_none(), "{answer}");
    h.at(4200);
    let (_, answer) = h
        .snow(&fixture("servicenow/case_resolved_label.json"))
        .await;
    assert_eq!(
        answer["changes"][0]["action"], "revoke",
        "Resolved: {answer}"
    );
    // 3 is Closed for a case (it is On Hold for an incident).
    h.at(5 * 3600);
    let mut closed: Value = serde_json::from_str(&fixture("servicenow/case_closed.json")).unwrap();
    closed["sys_updated_on"] = json!("2025-01-01 14:00:00");
    let (_, answer) = h.snow(&closed.to_string()).await;
    assert_eq!(answer["no_grant"]["reason"], "closed", "{answer}");
}

async fn servicenow_unknown_state_revokes_and_is_audited(db: Db) {
    let h = Harness::on_with(db, more_systems).await;
    h.at(5);
    incident(&h, "servicenow/incident_assigned_rest_message.json").await;
    h.at(3600);
    let (status, answer) = incident(&h, "servicenow/incident_custom_state.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["no_grant"]["reason"], "unknown_state", "{answer}");
    assert_eq!(answer["changes"][0]["action"], "revoke", "{answer}");
    let text = answer["no_grant"]["description"].as_str().unwrap();
    assert!(
        text.contains("\"9\" / \"Awaiting Vendor\"") && text.contains("table incident"),
        "{text}"
    );
    let audit = h
        .bridge
        .store()
        .audit(Some(("snow-incident", "INC0010023")))
        .await
        .unwrap();
    let row = audit.iter().find(|r| r.action == "unknown_state").unwrap();
    assert_eq!(
        row.detail["setting"],
        "jit.systems.snow-incident.rules.open_states or closed_states"
    );
    assert_eq!(row.detail["table"], "incident");
    h.flush().await;
    let events = h.tx.events();
    assert_eq!(claims(events.last().unwrap())["access_allowed"], "none");
}

async fn servicenow_basic_auth(db: Db) {
    let h = Harness::on_with(db, more_systems).await;
    h.at(5);
    let body = fixture("servicenow/incident_assigned_rest_message.json");
    for (header, why) in [
        (basic("admin", SNOW_PASSWORD), "wrong user"),
        (
            basic(SNOW_USER, "rest-message-password-012345678"),
            "wrong password",
        ),
        (
            (
                "Authorization",
                "Basic c3ZjLnNzZi5icmlkZ2U6*****".to_owned(),
            ),
            "not base64",
        ),
        (
            ("Authorization", format!("Bearer {SNOW_PASSWORD}")),
            "another scheme",
        ),
    ] {
        let (status, answer) = h.post("snow-incident", &[header], body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {answer}");
        assert_eq!(answer["error"], "unauthenticated");
    }
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    assert!(
        h.bridge
            .store()
            .ticket("snow-incident", "INC0010023")
            .await
            .unwrap()
            .is_none()
    );
    let (status, answer) = incident(&h, "servicenow/incident_assigned_rest_message.json").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["status"], "applied",
        "the refused ones recorded nothing"
    );
}

async fn generic_replay_key_is_the_ticket_and_event_pair(db: Db) {
    let h = Harness::on(db).await;
    let first: Value =
        serde_json::from_str(&fixture("generic/assigned_per_ticket_counter.json")).unwrap();
    let mut other = first.clone();
    other["ticket_id"] = json!("HD-8");
    other["fields"]["customer_id"] = json!("C3001");
    let (_, a) = h.generic(&first).await;
    let (_, b) = h.generic(&other).await;
    assert_eq!(a["status"], "applied", "{a}");
    assert_eq!(
        b["status"], "applied",
        "the same event id on another ticket: {b}"
    );
    assert_eq!(b["changes"][0]["asset"], "customer:C3001");
    let (_, again) = h.generic(&first).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(h.bridge.store().grants(true).await.unwrap().len(), 2);
}

async fn ids_over_the_limit_or_with_control_characters_are_400(db: Db) {
    let h = Harness::on(db).await;
    let long = "C".repeat(257);
    let cases = [
        ("ticket_id", json!("T".repeat(257)), "`ticket_id`"),
        ("event_id", json!("evt-1\u{7}"), "`event_id`"),
        ("asset", json!(long), "`customer_id (the asset id)`"),
    ];
    for (what, value, member) in cases {
        let mut e = generic_event("evt-1", "assigned", 0, Some("jane@example.com"));
        match what {
            "asset" => e["fields"]["customer_id"] = value,
            name => e[name] = value,
        }
        let (status, answer) = h.generic(&e).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(answer["error"], "invalid_request");
        let text = answer["error_description"].as_str().unwrap();
        assert!(
            text.contains(member) && text.contains("256"),
            "{what}: {text}"
        );
    }
    let mut jira: Value = serde_json::from_str(&fixture("jira/issue_assigned.json")).unwrap();
    jira["issue"]["id"] = json!("1".repeat(300));
    let (status, answer) = h.jira(&jira.to_string(), "d-long").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("`issue.id`")
    );
    assert!(h.bridge.store().grants(false).await.unwrap().is_empty());
    assert!(h.bridge.store().outbox(None).await.unwrap().is_empty());
    // Nothing was recorded: the same ids, fixed, are accepted.
    let ok = generic_event("evt-1", "assigned", 0, Some("jane@example.com"));
    assert_eq!(h.generic(&ok).await.1["status"], "applied");
    assert_eq!(
        h.jira(&fixture("jira/issue_assigned.json"), "d-long")
            .await
            .1["status"],
        "applied"
    );
}

on_both_backends!(
    jira_number_fields_read_as_integers,
    jira_tickets_are_keyed_by_issue_id_across_a_project_move,
    jira_automation_bodies_with_a_token_header,
    jira_status_without_category_is_unknown_and_revokes,
    servicenow_state_codes_labels_and_reference_objects,
    servicenow_case_table_states,
    servicenow_unknown_state_revokes_and_is_audited,
    servicenow_basic_auth,
    generic_replay_key_is_the_ticket_and_event_pair,
    ids_over_the_limit_or_with_control_characters_are_400,
);
