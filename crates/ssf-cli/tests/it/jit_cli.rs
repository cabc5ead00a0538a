//! `ssf jit`: reconcile against lists of open tickets (drift both ways, then clean), the
//! operator views, bad input, and `ssf serve --check` naming bad `[enforce]` / `[jit]` keys.

use std::path::Path;

use serde_json::Value;

use crate::server::{ssf_env, ssf_json};

/// A bridge with one generic system and no emitter: events wait in the outbox.
const BRIDGE_ONLY: &str = r#"
[server]
data_dir = "data"

[jit.systems.helpdesk]
kind = "generic"
secret = "webhook-secret-for-tests-0123"
"#;

fn jit(dir: &Path, args: &[&str]) -> crate::Run {
    let mut all = vec!["jit", "--config", "ssf.toml"];
    all.extend_from_slice(args);
    ssf_env(dir, &all, &[])
}

fn jit_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["jit", "--config", "ssf.toml", "--json"];
    all.extend_from_slice(args);
    ssf_json(dir, &all, &[])
}

fn tickets(dir: &Path, name: &str, list: &str) -> String {
    std::fs::write(dir.join(name), list).unwrap();
    name.to_owned()
}

const SUP1: &str = r#"{"ticket_id": "SUP-1", "assignee": {"email": "jane@example.com"}, "state": "open", "fields": {"customer_id": "C2148"}}"#;
const SUP2: &str = r#"{"ticket_id": "SUP-2", "assignee": {"email": "bob@example.com"}, "fields": {"customer_id": "C9999"}}"#;

/// Reconcile (ssf-jit D-JIT-07: per system): an open ticket without a grant is granted; a grant
/// whose ticket is no longer listed is revoked; the same list again reports clean. The views
/// show the grants and the queued events; bad lists are usage errors (exit 2).
#[test]
fn reconcile_fixes_drift_then_reports_clean() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("ssf.toml"), BRIDGE_ONLY).unwrap();

    let first = tickets(p, "first.json", &format!("[{SUP1}]"));
    let report = jit_json(
        p,
        &[
            "reconcile",
            "--system",
            "helpdesk",
            "--open-tickets",
            &first,
        ],
    );
    assert_eq!(report["granted"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["granted"][0]["asset"], "customer:C2148");
    assert_eq!(report["clean"], false);
    assert_eq!(report["events_queued"], 1);

    // Drift: SUP-1 is gone from the list (closed while a webhook was lost), SUP-2 is new.
    let second = tickets(p, "second.json", &format!("{{\"tickets\": [{SUP2}]}}"));
    let run = jit(
        p,
        &[
            "reconcile",
            "--system",
            "helpdesk",
            "--open-tickets",
            &second,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("1 granted, 1 revoked"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("revoked        email:jane@example.com customer:C2148"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("granted        email:bob@example.com customer:C9999"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the running ssf serve sends them"),
        "{}",
        run.stdout
    );

    let again = jit(
        p,
        &[
            "reconcile",
            "--system",
            "helpdesk",
            "--open-tickets",
            &second,
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("clean, nothing to change"),
        "{}",
        again.stdout
    );

    let active = jit_json(p, &["grants"]);
    let active = active.as_array().unwrap();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0]["ticket_id"], "SUP-2");
    assert_eq!(
        jit_json(p, &["grants", "--all"]).as_array().unwrap().len(),
        2
    );
    let table = jit(p, &["grants", "--all"]);
    assert!(table.stdout.starts_with("GRANT  "), "{}", table.stdout);
    assert!(table.stdout.contains("revoked"), "{}", table.stdout);
    let outbox = jit_json(p, &["outbox"]);
    assert_eq!(
        outbox.as_array().unwrap().len(),
        3,
        "grant, revoke, grant: {outbox}"
    );
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "pending")
    );
    assert!(
        jit_json(p, &["outbox", "--failed"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let trail = jit(p, &["audit", "--ticket", "helpdesk:SUP-1"]);
    assert_eq!(trail.code, 0, "{}", trail.stderr);
    assert!(
        trail.stdout.contains("grant") && trail.stdout.contains("revoke"),
        "{}",
        trail.stdout
    );

    // Bad input: clear errors, exit 2, nothing changed.
    let garbage = tickets(p, "garbage.json", "[{\"ticket\": \"SUP-3\"}]");
    let bad = jit(
        p,
        &[
            "reconcile",
            "--system",
            "helpdesk",
            "--open-tickets",
            &garbage,
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("garbage.json") && bad.stderr.contains("ticket"),
        "{}",
        bad.stderr
    );
    let missing = jit(
        p,
        &[
            "reconcile",
            "--system",
            "helpdesk",
            "--open-tickets",
            "nope.json",
        ],
    );
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.json"), "{}", missing.stderr);
    let unknown = jit(
        p,
        &["reconcile", "--system", "jira", "--open-tickets", &second],
    );
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("helpdesk"),
        "names the configured systems: {}",
        unknown.stderr
    );
    let no_send = jit(
        p,
        &[
            "reconcile",
            "--system",
            "helpdesk",
            "--open-tickets",
            &second,
            "--send",
        ],
    );
    assert_eq!(no_send.code, 2);
    assert!(no_send.stderr.contains("events_url"), "{}", no_send.stderr);
    let retry = jit(p, &["retry", "1"]);
    assert_eq!(retry.code, 2, "row 1 is pending, not failed");
    assert!(retry.stderr.contains("--failed"), "{}", retry.stderr);
    let bad_ticket = jit(p, &["audit", "--ticket", "SUP-1"]);
    assert_eq!(bad_ticket.code, 2);
    assert_eq!(jit_json(p, &["grants"]).as_array().unwrap().len(), 1);

    let help = ssf_env(p, &["jit", "--help"], &[]);
    assert!(help.stdout.contains("Example") && help.stdout.contains("Exit codes"));
    for cmd in ["reconcile", "grants", "audit", "outbox", "retry", "revoke"] {
        let run = ssf_env(p, &["jit", cmd, "--help"], &[]);
        assert!(run.stdout.contains("Example"), "{cmd}: {}", run.stdout);
    }
}

/// `ssf jit revoke` (ssf-jit D-JIT-16): ends one grant by hand, queues the revoke for the
/// running server's emitter and audits who and why; the same list reconciled again does not
/// grant it back. A second revoke, an unknown id and an empty reason are usage errors (exit 2)
/// that change nothing.
#[test]
fn revoke_by_hand_queues_the_revoke_and_audits_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("ssf.toml"), BRIDGE_ONLY).unwrap();
    let list = tickets(p, "open.json", &format!("[{SUP1}]"));
    let reconcile = [
        "reconcile",
        "--system",
        "helpdesk",
        "--open-tickets",
        list.as_str(),
    ];
    jit_json(p, &reconcile);
    let id = jit_json(p, &["grants"])[0]["grant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let table = jit(p, &["grants"]);
    assert!(
        table.stdout.contains(&id),
        "the id to revoke: {}",
        table.stdout
    );

    let run = jit(
        p,
        &["revoke", &id, "--reason", "left the team", "--actor", "sam"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = [
        format!("revoked grant {id} (helpdesk:SUP-1): email:jane@example.com customer:C2148"),
        "reason   by_hand: by sam: left the team".to_owned(),
        format!("txn      helpdesk:SUP-1:by-hand-{id}"),
        "1 event queued; the running ssf serve sends it".to_owned(),
    ];
    for line in expected {
        assert!(run.stdout.contains(&line), "{line}: {}", run.stdout);
    }
    assert!(jit_json(p, &["grants"]).as_array().unwrap().is_empty());
    let all = jit_json(p, &["grants", "--all"]);
    assert_eq!(all[0]["status"], "revoked");
    assert_eq!(all[0]["end_reason"], "by_hand: by sam: left the team");
    let outbox = jit_json(p, &["outbox"]);
    let last = outbox.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["action"], &last["status"], &last["txn"]),
        (
            &Value::from("revoke"),
            &Value::from("pending"),
            &Value::from(format!("helpdesk:SUP-1:by-hand-{id}"))
        ),
        "{outbox}"
    );
    let trail = jit_json(p, &["audit", "--ticket", "helpdesk:SUP-1"]);
    let row = trail
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "revoke_by_hand")
        .unwrap_or_else(|| panic!("{trail}"));
    assert_eq!(row["detail"]["actor"], "sam");
    assert_eq!(row["detail"]["text"], "left the team");

    let again = jit(p, &["revoke", &id, "--reason", "again"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("is not active: it is revoked already"),
        "{}",
        again.stderr
    );
    let unknown = jit(p, &["revoke", "no-such-grant", "--reason", "x"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no grant has the id"),
        "{}",
        unknown.stderr
    );
    let empty = jit(p, &["revoke", &id, "--reason", " "]);
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("`reason`"), "{}", empty.stderr);
    assert_eq!(jit_json(p, &["outbox"]), outbox, "nothing changed");

    let report = jit_json(p, &reconcile);
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(
        report["skipped"],
        serde_json::json!([["SUP-1", "revoked_by_hand"]])
    );
    assert!(jit_json(p, &["grants"]).as_array().unwrap().is_empty());
}

/// `serve --check` names the bad key of `[enforce]` and `[jit]`, and where it came from.
#[test]
fn serve_check_names_bad_enforce_and_jit_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let check = |config: &str, env: &[(&str, &str)]| {
        std::fs::write(p.join("ssf.toml"), config).unwrap();
        ssf_env(p, &["serve", "--config", "ssf.toml", "--check"], env)
    };
    let cases: [(&str, &str); 6] = [
        (
            "[receiver]\n[enforce.access]\ncritcal = [\"customer\"]\n",
            "enforce.access.critcal",
        ),
        (
            "[receiver]\n[enforce]\npdp_token = \"short\"\n",
            "enforce.pdp_token",
        ),
        (
            "[receiver]\n[enforce.access.roles]\nagent = [{ asset = \"kb:*\", access = \"admin\" }]\n",
            "enforce.access",
        ),
        ("[enforce]\n", "[receiver]"),
        ("[jit]\nmax_body = 3\n", "jit.max_body"),
        (
            "[jit.systems.helpdesk]\nkind = \"generic\"\nsecret = \"short\"\n",
            "jit.systems.helpdesk",
        ),
    ];
    for (config, key) in cases {
        let run = check(config, &[]);
        assert_eq!(run.code, 2, "{config}: {}", run.stderr);
        assert!(run.stderr.contains(key), "{config}: {}", run.stderr);
    }
    let env = check(
        "[jit.systems.helpdesk]\nkind = \"generic\"\nsecret = \"placeholder\"\n",
        &[(
            "SSF_JIT__SYSTEMS__HELPDESK__SECRET",
            "from-the-environment-0123",
        )],
    );
    assert_eq!(env.code, 0, "a secret from the environment: {}", env.stderr);
    assert!(
        env.stdout.contains("jit systems: helpdesk"),
        "{}",
        env.stdout
    );
    let typo = check(
        "[jit.systems.helpdesk]\nkind = \"generic\"\nsecret = \"placeholder-0123456789\"\n",
        &[("SSF_JIT__EMITTER__EVENT_URL", "http://x")],
    );
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr.contains("jit.emitter") && typo.stderr.contains("SSF_JIT__EMITTER__EVENT_URL"),
        "{}",
        typo.stderr
    );
}
