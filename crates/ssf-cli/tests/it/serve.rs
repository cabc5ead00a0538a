//! `ssf serve` over real HTTP, driven by the CLI (`ssf stream`, `ssf emit`, `ssf tail`,
//! `ssf set verify`) and plain HTTP: the transmitter's operations, a receiver role polling a
//! second `ssf serve`, configuration errors, environment overrides and a clean SIGTERM.

use serde_json::{Value, json};

use crate::{
    server::{PushReceiver, Server, get, post, ssf_env, ssf_json, token, wait_for},
    ssf,
};

pub(crate) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// A transmitter on a free loopback port that may push to loopback over plain http (tests and
/// development only).
pub(crate) const TRANSMITTER: &str = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[transmitter]

[transmitter.push]
workers = 1

[transmitter.push.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
"#;

/// The claims of a compact JWS, not verified (the tests verify with `ssf set verify`).
pub(crate) fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let mut bits = 0u32;
    let mut n = 0;
    let mut bytes = Vec::new();
    for c in payload.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            bytes.push((bits >> n) as u8);
        }
    }
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The value of the first sample of `metric` whose line contains `labels`.
pub(crate) fn sample(metrics: &str, metric: &str, labels: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(metric) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

fn first_aud(config: &Value) -> String {
    match &config["aud"] {
        Value::Array(items) => items[0].as_str().unwrap().to_owned(),
        other => other.as_str().unwrap().to_owned(),
    }
}

/// Transmitter done-when: a token, a poll and a push stream, an emitted event arriving by
/// push (verified against the JWKS) and by `ssf tail`, every management operation, metrics,
/// an env override in force, secrets never logged, and SIGTERM exiting 0.
#[test]
fn transmitter_end_to_end_over_real_http() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let server = Server::start(
        p,
        TRANSMITTER,
        &[
            ("SSF_TRANSMITTER__METADATA__LEGACY_DISCOVERY", "true"),
            (
                "SSF_TRANSMITTER__STREAMS__MIN_VERIFICATION_INTERVAL_SECS",
                "0",
            ),
        ],
    );
    let base = server.base.clone();
    // The env override is in force: the legacy discovery alias is served.
    assert_eq!(get(&server.url("/.well-known/sse-configuration")).0, 200);
    let (status, metadata) = get(&server.url("/.well-known/ssf-configuration"));
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(
        metadata["issuer"],
        base.as_str(),
        "issuer follows the bound address"
    );
    let banner = server.stdout.lock().unwrap().join("\n");
    for shown in ["issuer", "discovery", "credentials.json", "/metrics"] {
        assert!(banner.contains(shown), "banner lacks {shown}: {banner}");
    }

    let creds = server.credentials("data");
    let rx_id = creds["receiver"]["client_id"].as_str().unwrap();
    let rx_secret = creds["receiver"]["client_secret"].as_str().unwrap();
    let px_id = creds["producer"]["client_id"].as_str().unwrap();
    let px_secret = creds["producer"]["client_secret"].as_str().unwrap();
    let rx_env = [("SSF_CLIENT_SECRET", rx_secret)];
    let token = token(&server, rx_id, rx_secret);

    // A poll stream with a bearer token, a push stream with client credentials.
    let poll = ssf_json(
        p,
        &[
            "stream",
            "create",
            "--issuer",
            &base,
            "--token",
            &token,
            "--poll",
            "--event",
            "session-revoked",
        ],
        &[],
    );
    let poll_id = poll["stream_id"].as_str().unwrap().to_owned();
    let poll_url = poll["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(poll_url.ends_with(&poll_id), "{poll}");
    let receiver = PushReceiver::start();
    let push = ssf_json(
        p,
        &[
            "stream",
            "create",
            "--issuer",
            &base,
            "--client-id",
            rx_id,
            "--push",
            &receiver.url,
            "--push-auth",
            "Bearer push-secret",
            "--event",
            "session-revoked",
        ],
        &rx_env,
    );
    let push_id = push["stream_id"].as_str().unwrap().to_owned();
    let aud = first_aud(&push);
    let list = ssf_json(
        p,
        &["stream", "list", "--issuer", &base, "--token", &token],
        &[],
    );
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    // Emit; it is queued for both streams.
    let emitted = ssf_json(
        p,
        &[
            "emit",
            "--transmitter",
            &base,
            "--client-id",
            px_id,
            "--event",
            "session-revoked",
            "--subject",
            "email:jane@example.com",
            "--reason-admin",
            "Policy violation",
            "--txn",
            "ticket-42",
        ],
        &[("SSF_CLIENT_SECRET", px_secret)],
    );
    assert_eq!(emitted["streams"], 2, "{emitted}");
    assert_eq!(emitted["txn"], "ticket-42");
    assert_eq!(emitted["jtis"].as_array().unwrap().len(), 2);

    // Pushed, and it verifies against the transmitter's JWKS.
    let pushed = wait_for("the pushed session-revoked SET", || {
        receiver
            .sets
            .lock()
            .unwrap()
            .iter()
            .find(|set| claims(set)["events"].get(SESSION_REVOKED).is_some())
            .cloned()
    });
    let jwks = server.url("/jwks.json");
    let verified = ssf(
        p,
        &[
            "set", "verify", "-", "--jwks", &jwks, "--iss", &base, "--aud", &aud,
        ],
        Some(&pushed),
    );
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(
        verified.stdout.contains("jane@example.com"),
        "{}",
        verified.stdout
    );

    // Polled by `ssf tail`, verified, printed and acknowledged.
    let tail = ssf_env(
        p,
        &[
            "tail",
            "--issuer",
            &base,
            "--token",
            &token,
            "--stream-id",
            &poll_id,
            "--count",
            "1",
        ],
        &[],
    );
    assert_eq!(tail.code, 0, "{}", tail.stderr);
    for shown in [
        "verified",
        SESSION_REVOKED,
        "jane@example.com",
        "ticket-42",
        "Policy violation",
    ] {
        assert!(
            tail.stdout.contains(shown),
            "tail lacks {shown}: {}",
            tail.stdout
        );
    }
    let body = json!({"returnImmediately": true}).to_string();
    let (status, answer) = post(&poll_url, Some(&token), None, "application/json", body);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["sets"],
        json!({}),
        "acknowledged"
    );

    // Metrics: the push was delivered.
    wait_for("the delivered counter", || {
        sample(
            &server.metrics(),
            "ssf_push_attempts_total",
            "outcome=\"delivered\"",
        )
        .filter(|n| *n >= 1.0)
    });
    assert!(sample(&server.metrics(), "ssf_events_ingested_total", "").is_some());

    management_operations(p, &base, &token, &push_id, rx_id, &rx_env);

    // Refusals exit 1, usage errors 2.
    let wrong = ssf_env(
        p,
        &[
            "emit",
            "--transmitter",
            &base,
            "--client-id",
            px_id,
            "--event",
            "session-revoked",
            "--subject",
            "email:jane@example.com",
        ],
        &[("SSF_CLIENT_SECRET", "wrong")],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    let neither = ssf_env(
        p,
        &["stream", "create", "--issuer", &base, "--token", &token],
        &[],
    );
    assert_eq!(neither.code, 2, "{}", neither.stderr);
    assert!(neither.stderr.contains("--poll"), "{}", neither.stderr);

    let log = server.log();
    for secret in [rx_secret, px_secret, token.as_str()] {
        assert!(!log.contains(secret), "a secret was logged");
    }
    assert!(
        log.contains("\"stream_id\""),
        "structured logs carry stream_id"
    );
    assert_eq!(server.stop(), 0, "SIGTERM stops it cleanly");
    let log = std::fs::read_to_string(p.join("server.log")).unwrap();
    assert!(log.contains("ssf serve stopped"), "{log}");
}

/// get, status, set-status, verify, add/remove-subject, update, replace, delete.
fn management_operations(
    p: &std::path::Path,
    base: &str,
    token: &str,
    push_id: &str,
    rx_id: &str,
    rx_env: &[(&str, &str)],
) {
    let by_token = |args: &[&str]| {
        let mut all = vec![args[0], args[1], "--issuer", base, "--token", token];
        all.extend_from_slice(&args[2..]);
        ssf_json(p, &all, &[])
    };
    let got = by_token(&["stream", "get", "--stream-id", push_id]);
    assert_eq!(got["stream_id"], push_id);
    assert_eq!(
        by_token(&["stream", "status", "--stream-id", push_id])["status"],
        "enabled"
    );
    let paused = by_token(&[
        "stream",
        "set-status",
        "--stream-id",
        push_id,
        "--status",
        "paused",
        "--reason",
        "test",
    ]);
    assert_eq!(paused["status"], "paused", "{paused}");
    by_token(&[
        "stream",
        "set-status",
        "--stream-id",
        push_id,
        "--status",
        "enabled",
    ]);
    let verify = by_token(&["stream", "verify", "--stream-id", push_id, "--state", "s1"]);
    assert_eq!(verify["verification_requested"], true);
    let added = by_token(&[
        "stream",
        "add-subject",
        "--stream-id",
        push_id,
        "--subject",
        "email:bob@example.com",
    ]);
    assert_eq!(added["added"]["email"], "bob@example.com");
    by_token(&[
        "stream",
        "remove-subject",
        "--stream-id",
        push_id,
        "--subject",
        "email:bob@example.com",
    ]);
    let updated = by_token(&[
        "stream",
        "update",
        "--stream-id",
        push_id,
        "--description",
        "demo",
    ]);
    assert_eq!(updated["description"], "demo", "{updated}");
    let replaced = ssf_json(
        p,
        &[
            "stream",
            "replace",
            "--issuer",
            base,
            "--client-id",
            rx_id,
            "--stream-id",
            push_id,
            "--poll",
            "--event",
            "session-revoked",
            "--event",
            "credential-change",
        ],
        rx_env,
    );
    assert_eq!(
        replaced["events_requested"].as_array().unwrap().len(),
        2,
        "{replaced}"
    );
    assert_eq!(replaced["delivery"]["method"], "urn:ietf:rfc:8936");
    let deleted = by_token(&["stream", "delete", "--stream-id", push_id]);
    assert_eq!(deleted["deleted"], true);
    let gone = ssf_env(
        p,
        &[
            "stream",
            "get",
            "--issuer",
            base,
            "--token",
            token,
            "--stream-id",
            push_id,
        ],
        &[],
    );
    assert_eq!(gone.code, 1, "a 404 is a refusal: {}", gone.stderr);
    assert!(gone.stderr.contains("404"), "{}", gone.stderr);
}

/// `serve --check`: unknown keys and bad env values are named; env overrides take effect.
#[test]
fn serve_check_names_bad_keys_and_applies_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let check = |config: &str, env: &[(&str, &str)]| {
        std::fs::write(p.join("ssf.toml"), config).unwrap();
        ssf_env(p, &["serve", "--config", "ssf.toml", "--check"], env)
    };
    let typo = check(
        "[transmitter]\nissuerr = \"https://idp.example.com\"\n",
        &[],
    );
    assert_eq!(typo.code, 2, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("issuerr") && typo.stderr.contains("transmitter"),
        "{}",
        typo.stderr
    );
    let ok = check(
        "[transmitter]\n",
        &[("SSF_TRANSMITTER__ISSUER", "https://idp.example.com")],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout.contains("issuer https://idp.example.com"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains("SSF_TRANSMITTER__ISSUER"),
        "{}",
        ok.stdout
    );
    let bad_env = check(
        "[transmitter]\n",
        &[("SSF_TRANSMITTER__PUSH__WORKERS", "many")],
    );
    assert_eq!(bad_env.code, 2);
    assert!(
        bad_env.stderr.contains("SSF_TRANSMITTER__PUSH__WORKERS"),
        "{}",
        bad_env.stderr
    );
    let listen = check("[server]\nlisten = \"nowhere\"\n[receiver]\n", &[]);
    assert_eq!(listen.code, 2);
    assert!(listen.stderr.contains("server.listen"), "{}", listen.stderr);
    let push_peer = check(
        "[receiver]\npublic_base_url = \"https://rx.example.com\"\n[[receiver.transmitters]]\nname = \"bad name\"\nissuer = \"https://idp.example.com\"\nauth = { type = \"bearer\", token = \"t\" }\n",
        &[],
    );
    assert_eq!(push_peer.code, 2);
    assert!(push_peer.stderr.contains("name"), "{}", push_peer.stderr);
}

/// Every new command teaches: an example in its long help.
#[test]
fn networked_commands_teach() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["serve", "--help"][..],
        &["emit", "--help"],
        &["stream", "--help"],
        &["stream", "create", "--help"],
        &["stream", "set-status", "--help"],
        &["tail", "--help"],
    ] {
        let run = ssf(dir.path(), cmd, None);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{cmd:?}: {}", run.stdout);
    }
}

/// The configurations the docs show pass `serve --check` (they stay true to the code).
#[test]
fn documented_configurations_check() {
    let dir = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/");
    let mut checked = 0;
    for doc in ["transmitter.md", "receiver.md", "jit.md"] {
        let text = std::fs::read_to_string(format!("{root}{doc}")).unwrap();
        for block in text.split("```toml\n").skip(1) {
            let config = block.split("```").next().unwrap();
            let placeholders = config.contains("\"sha256:<");
            if placeholders {
                // A placeholder as pasted is refused, and the error says how to make a hash.
                std::fs::write(dir.path().join("ssf.toml"), config).unwrap();
                let run = ssf_env(
                    dir.path(),
                    &["serve", "--config", "ssf.toml", "--check"],
                    &[],
                );
                assert_eq!(run.code, 2, "{doc}: {}", run.stderr);
                assert!(run.stderr.contains("openssl rand"), "{}", run.stderr);
            }
            let config = fill_hash_placeholders(config);
            std::fs::write(dir.path().join("ssf.toml"), &config).unwrap();
            let run = ssf_env(
                dir.path(),
                &["serve", "--config", "ssf.toml", "--check"],
                &[],
            );
            assert_eq!(run.code, 0, "{doc}:\n{config}\n{}", run.stderr);
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked}");
}

/// The docs' `"sha256:<hex SHA-256 of ...>"` placeholders, replaced by a well-formed hash.
fn fill_hash_placeholders(config: &str) -> String {
    let mut out = String::new();
    let mut rest = config;
    while let Some(at) = rest.find("\"sha256:<") {
        let end = rest[at..].find(">\"").expect("a closed placeholder") + at + 2;
        out.push_str(&rest[..at]);
        out.push_str(&format!("\"sha256:{}\"", "ab".repeat(32)));
        rest = &rest[end..];
    }
    out + rest
}
