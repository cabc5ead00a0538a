//! Identity mapping (issue 11, item 4), on both backends: Jira assignees whose e-mail is hidden
//! (only `accountId`), with and without a mapping; the operator's `identities_file`, re-read
//! when it changes; display names as the last resort; one subject key for an e-mail in NFC and
//! NFD.

use std::{fs::File, path::Path, sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_jit::{Bridge, JitError};
use ssf_types::ManualClock;

use crate::support::{Db, Harness, claims, fixture, generic_event};

const JANE_ACCOUNT: &str = "712020:5b10ac8d-82e0-4e3b-9d1a-aa11bb22cc33";

fn hidden() -> String {
    fixture("jira/issue_assigned_email_hidden.json")
}

/// Gives `path` an explicit modification time, so a rewrite is seen as a change on any file
/// system (no sleeping for the clock to tick).
fn touch(path: &Path, secs: u64) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

async fn jira_email_hidden_without_a_mapping_is_no_identity(db: Db) {
    let h = Harness::on_with(db, |c| {
        let rules = &mut c.systems.get_mut("jira").unwrap().rules;
        rules.subject.allowed_email_domains = vec!["example.com".into()];
    })
    .await;
    assert!(
        !hidden().contains("emailAddress\": \"Jane"),
        "the fixture hides it"
    );
    let (status, answer) = h.jira(&hidden(), "d-1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["no_grant"]["reason"], "no_identity",
        "not domain_not_allowed with an empty domain: {answer}"
    );
    assert_eq!(
        answer["no_grant"]["description"],
        format!(
            "assignee {JANE_ACCOUNT} (Jane Doe) has no e-mail and no entry in jit.systems.jira.identities"
        )
    );
    let audit = h
        .bridge
        .store()
        .audit(Some(("jira", "10482")))
        .await
        .unwrap();
    let row = audit.iter().find(|r| r.action == "no_grant").unwrap();
    assert_eq!(row.detail["reason"], "no_identity");
}

async fn jira_email_hidden_with_a_mapping_is_granted(db: Db) {
    let h = Harness::on_with(db, |c| {
        let jira = c.systems.get_mut("jira").unwrap();
        jira.rules.subject.allowed_email_domains = vec!["Example.COM".into()];
        jira.identities
            .insert(JANE_ACCOUNT.into(), "Jane.Doe@Example.com".into());
    })
    .await;
    let (status, answer) = h.jira(&hidden(), "d-1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["changes"][0]["subject_key"], "email:jane.doe@example.com",
        "mapped before the domain check: {answer}"
    );
    h.flush().await;
    assert_eq!(
        h.tx.events()[0]["sub_id"],
        json!({"format": "email", "email": "jane.doe@example.com"})
    );
}

async fn the_identities_file_is_read_re_read_and_names_come_last(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jira-users.json");
    std::fs::write(
        &path,
        json!({JANE_ACCOUNT: "jane.doe@example.com", "John Roe": "john.roe@example.com"})
            .to_string(),
    )
    .unwrap();
    touch(&path, 1_000);
    let file = path.clone();
    let h = Harness::on_with(db, move |c| {
        c.systems.get_mut("jira").unwrap().identities_file = Some(file);
    })
    .await;
    let (_, answer) = h.jira(&hidden(), "d-1").await;
    assert_eq!(
        answer["changes"][0]["subject_key"], "email:jane.doe@example.com",
        "{answer}"
    );

    // The operator fixes Jane's entry; a broken version in between keeps the last good table.
    std::fs::write(&path, "{\"712020:").unwrap();
    touch(&path, 2_000);
    h.at(60);
    let update = hidden()
        .replace("1735722000000", "1735722060000")
        .replace("\"High\"", "\"Highest\"");
    let (_, answer) = h.jira(&update, "d-2").await;
    assert_eq!(answer["changes"], json!([]), "unchanged: {answer}");
    std::fs::write(
        &path,
        json!({JANE_ACCOUNT: "jane.d@example.com"}).to_string(),
    )
    .unwrap();
    touch(&path, 3_000);
    h.at(120);
    let update = hidden().replace("1735722000000", "1735722120000");
    let (_, answer) = h.jira(&update, "d-3").await;
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
            ("revoke", "email:jane.doe@example.com"),
            ("grant", "email:jane.d@example.com")
        ],
        "the new file is read: {answer}"
    );

    // A display name is the last resort: an assignee whose accountId has no entry.
    h.at(130);
    let (_, answer) = h
        .jira(
            &hidden()
                .replace(JANE_ACCOUNT, "712020:0000-unknown")
                .replace("1735722000000", "1735722125000"),
            "d-4",
        )
        .await;
    assert_eq!(answer["no_grant"]["reason"], "no_identity", "{answer}");
    std::fs::write(
        &path,
        json!({JANE_ACCOUNT: "jane.d@example.com", "Jane Doe": "jane.doe@example.com"}).to_string(),
    )
    .unwrap();
    touch(&path, 4_000);
    let (_, answer) = h
        .jira(
            &hidden()
                .replace(JANE_ACCOUNT, "712020:0000-unknown")
                .replace("1735722000000", "1735722130000"),
            "d-5",
        )
        .await;
    assert_eq!(
        answer["changes"].as_array().unwrap().last().unwrap()["subject_key"],
        "email:jane.doe@example.com",
        "by display name: {answer}"
    );
}

#[tokio::test]
async fn a_missing_identities_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let tx = crate::support::FakeTx::start().await;
    let mut config = crate::support::config(dir.path().join("jit.db").display().to_string(), &tx);
    config.systems.get_mut("jira").unwrap().identities_file = Some(dir.path().join("missing.json"));
    let err = config.validate().unwrap_err();
    assert!(
        matches!(&err, JitError::Config(t) if t.contains("jit.systems.jira: identities_file") && t.contains("missing.json")),
        "{err}"
    );
    let clock = Arc::new(ManualClock::new(ssf_types::UnixMillis::from_secs(0)));
    assert!(matches!(
        Bridge::open(config, clock).await,
        Err(JitError::Config(_))
    ));
}

async fn composed_and_decomposed_e_mails_are_one_subject(db: Db) {
    let h = Harness::on(db).await;
    let decomposed = "Jose\u{301}@Example.com";
    let composed = "Jos\u{e9}@example.com";
    let canonical = "jos\u{e9}@example.com";
    let (_, grant) = h
        .generic(&generic_event("e1", "assigned", 0, Some(decomposed)))
        .await;
    assert_eq!(
        grant["changes"][0]["subject_key"],
        format!("email:{canonical}"),
        "{grant}"
    );
    let mut same = generic_event("e2", "updated", 10, Some(composed));
    same["fields"] = json!({});
    let (_, answer) = h.generic(&same).await;
    assert_eq!(answer["changes"], json!([]), "the same person: {answer}");
    let (_, revoke) = h.generic(&generic_event("e3", "closed", 20, None)).await;
    assert_eq!(revoke["changes"][0]["action"], "revoke");
    assert_eq!(
        revoke["changes"][0]["subject_key"],
        grant["changes"][0]["subject_key"]
    );
    h.flush().await;
    let subjects: Vec<Value> = h.tx.events().iter().map(|e| e["sub_id"].clone()).collect();
    assert_eq!(
        subjects,
        vec![json!({"format": "email", "email": canonical}); 2]
    );
    assert_eq!(claims(&h.tx.events()[1])["access_allowed"], "none");
}

on_both_backends!(
    jira_email_hidden_without_a_mapping_is_no_identity,
    jira_email_hidden_with_a_mapping_is_granted,
    the_identities_file_is_read_re_read_and_names_come_last,
    composed_and_decomposed_e_mails_are_one_subject,
);
