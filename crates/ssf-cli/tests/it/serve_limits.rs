//! What an operator sees when something fails, and what an attacker meets (issue 12): failed
//! authentications are counted and throttled per address (item 12, D-SRV-01), and a push
//! stream whose receiver is down makes `/healthz` degraded with the reason (item 4, D-TX-20).
//! Behind trusted reverse proxies the address is the one they forward (D-SRV-03). Idempotent
//! replays are counted (D-TX-16).

use serde_json::{Value, json};

use crate::{
    serve::{SESSION_REVOKED, TRANSMITTER, sample},
    server::{Server, get, post, runtime, token, wait_for},
};

/// `POST /oauth/token` with basic auth; the status and `Retry-After`.
fn token_attempt(server: &Server, client_id: &str, secret: &str) -> (u16, Option<String>) {
    token_attempt_via(server, client_id, secret, None)
}

/// [`token_attempt`] with an `X-Forwarded-For` header, as a reverse proxy sends it.
fn token_attempt_via(
    server: &Server,
    client_id: &str,
    secret: &str,
    forwarded_for: Option<&str>,
) -> (u16, Option<String>) {
    let url = server.url("/oauth/token");
    let (client_id, secret) = (client_id.to_owned(), secret.to_owned());
    let forwarded_for = forwarded_for.map(str::to_owned);
    runtime().block_on(async move {
        let mut request = reqwest::Client::new()
            .post(&url)
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials");
        if let Some(forwarded_for) = forwarded_for {
            request = request.header("x-forwarded-for", forwarded_for);
        }
        let response = request.send().await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), retry_after)
    })
}

/// A transmitter whose throttle refuses an address after 3 failures within an hour, started with
/// `env`; the receiver client's id and secret.
fn throttled_server(dir: &std::path::Path, env: &[(&str, &str)]) -> (Server, String, String) {
    let config =
        format!("{TRANSMITTER}\n[server.auth_throttle]\nmax_failures = 3\nwindow = \"1h\"\n");
    let server = Server::start(dir, &config, env);
    let creds = server.credentials("data");
    let client = |field: &str| creds["receiver"][field].as_str().unwrap().to_owned();
    let (id, secret) = (client("client_id"), client("client_secret"));
    (server, id, secret)
}

/// Item 12: after `max_failures` wrong secrets from one address, the token endpoint answers
/// `429` with `Retry-After` even to the right secret, until the window ends; failures and
/// refusals are in the metrics; other surfaces are not affected.
#[test]
fn failed_authentications_are_counted_and_throttled_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = throttled_server(dir.path(), &[]);
    let (id, secret) = (id.as_str(), secret.as_str());
    let good = token(&server, id, secret);

    for _ in 0..3 {
        assert_eq!(token_attempt(&server, id, "wrong-secret").0, 401);
    }
    let (status, retry_after) = token_attempt(&server, id, secret);
    assert_eq!(status, 429, "the right secret is refused while throttled");
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");

    // The management API is another surface: the token issued before still works.
    let (status, body) = post(
        &server.url("/ssf/streams"),
        Some(&good),
        None,
        "application/json",
        json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": [SESSION_REVOKED]})
            .to_string(),
    );
    assert!(status == 201 || status == 200, "{status} {body}");

    let metrics = server.metrics();
    assert_eq!(
        sample(&metrics, "ssf_auth_failures_total", "surface=\"token\""),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "ssf_auth_throttled_total", "surface=\"token\""),
        Some(1.0)
    );
    assert!(server.log().contains("too many failed authentications"));
}

/// D-SRV-03: behind a trusted proxy (here the test itself, on loopback) each client is
/// throttled by the address the proxy forwards, so one client's failures do not lock out the
/// others; the client part a client writes itself is not believed.
#[test]
fn behind_trusted_proxies_each_forwarded_client_is_throttled_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // As the environment gives it: one comma-separated string.
    let proxies = ("SSF_SERVER__TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8");
    let (server, id, secret) = throttled_server(dir.path(), &[proxies]);
    let (id, secret) = (id.as_str(), secret.as_str());
    // The attacker fakes a first hop on each try; the proxies append what they saw.
    for fake in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let chain = format!("{fake}, 203.0.113.9, 10.1.2.3");
        let attempt = token_attempt_via(&server, id, "wrong-secret", Some(&chain));
        assert_eq!(attempt.0, 401);
    }
    let attacker = token_attempt_via(&server, id, secret, Some("203.0.113.9, 10.1.2.3"));
    assert_eq!(
        attacker.0, 429,
        "the forwarded client is throttled, fakes aside"
    );
    let other = token_attempt_via(&server, id, secret, Some("203.0.113.10, 10.1.2.3"));
    assert_eq!(other.0, 200, "another client behind the same proxy is not");
    let proxy_itself = token_attempt(&server, id, secret);
    assert_eq!(proxy_itself.0, 200, "nor the proxy's own requests");
}

/// D-SRV-03: without `trusted_proxies` (the default), `X-Forwarded-For` is ignored, so a client
/// cannot escape the throttle by naming other addresses.
#[test]
fn without_trusted_proxies_forwarded_addresses_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id, secret) = throttled_server(dir.path(), &[]);
    let (id, secret) = (id.as_str(), secret.as_str());
    for n in 1..=3 {
        let spoofed = format!("203.0.113.{n}");
        let attempt = token_attempt_via(&server, id, "wrong-secret", Some(&spoofed));
        assert_eq!(attempt.0, 401);
    }
    let next = token_attempt_via(&server, id, secret, Some("203.0.113.99"));
    assert_eq!(
        next.0, 429,
        "the TCP peer is throttled whatever it forwards"
    );
}

/// D-SRV-03: `--check` says where the client address comes from, warns about a range that
/// trusts everyone, and refuses an entry that is not an address or range, with an example.
#[test]
fn trusted_proxies_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ssf.toml"), TRANSMITTER).unwrap();
    let check = |proxies: Option<&str>| {
        let mut env = vec![("SSF_SECRETS_KEY", crate::server::TEST_SECRETS_KEY)];
        env.extend(proxies.map(|p| ("SSF_SERVER__TRUSTED_PROXIES", p)));
        crate::server::ssf_env(
            dir.path(),
            &["serve", "--config", "ssf.toml", "--check"],
            &env,
        )
    };
    let default = check(None);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert!(
        default.stdout.contains("client address: the TCP peer"),
        "{}",
        default.stdout
    );
    let set = check(Some(r#"["10.0.0.0/8", "192.0.2.7"]"#));
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(
        set.stdout
            .contains("X-Forwarded-For when the TCP peer is one of 10.0.0.0/8, 192.0.2.7/32"),
        "{}",
        set.stdout
    );
    let everyone = check(Some("0.0.0.0/0"));
    assert_eq!(everyone.code, 0, "{}", everyone.stderr);
    assert!(
        everyone.stdout.contains("trusts every address"),
        "{}",
        everyone.stdout
    );
    let bad = check(Some(r#"["10.0.0/8"]"#));
    assert_eq!(bad.code, 2, "{}", bad.stdout);
    assert!(
        bad.stderr.contains("trusted_proxies") && bad.stderr.contains("\"10.0.0.0/8\""),
        "{}",
        bad.stderr
    );
}

/// D-TX-16: a producer's retry answered from its `Idempotency-Key`, and a key reused for
/// another body, are counted in `ssf_events_idempotent_replays_total{outcome}`.
#[test]
fn idempotent_replays_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), TRANSMITTER, &[]);
    let creds = server.credentials("data");
    let producer = token(
        &server,
        creds["producer"]["client_id"].as_str().unwrap(),
        creds["producer"]["client_secret"].as_str().unwrap(),
    );
    let event = |email: &str| {
        json!({"event_type": SESSION_REVOKED,
            "sub_id": {"format": "email", "email": email},
            "event": {"event_timestamp": 1_735_689_600}})
        .to_string()
    };
    let publish = |body: String| {
        let (url, producer) = (server.url("/events"), producer.clone());
        runtime().block_on(async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(producer)
                .header("content-type", "application/json")
                .header("idempotency-key", "ticket-4711-assigned")
                .body(body)
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            (response.status().as_u16(), replayed)
        })
    };
    assert_eq!(publish(event("jane@example.com")), (202, false));
    assert_eq!(publish(event("jane@example.com")), (202, true), "the retry");
    assert_eq!(publish(event("john@example.com")).0, 422, "another body");
    let metrics = server.metrics();
    for (outcome, n) in [("replayed", 1.0), ("key_reused", 1.0)] {
        assert_eq!(
            sample(
                &metrics,
                "ssf_events_idempotent_replays_total",
                &format!("outcome=\"{outcome}\"")
            ),
            Some(n),
            "{metrics}"
        );
    }
}

/// Item 4: a push stream whose receiver is down shows as a `stream:<id>` check of `/healthz`
/// (`degraded`, still `200`), counted by `ssf_push_failing_streams`, and logged at WARN with
/// the answer and the next attempt.
#[test]
fn a_push_stream_that_keeps_failing_makes_healthz_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), TRANSMITTER, &[]);
    // Nothing listens on port 9 of loopback (discard): every push fails to connect.
    let stream_id = push_stream_with_one_event(&server, "http://127.0.0.1:9/push");

    let check = format!("stream:{stream_id}");
    let health = wait_for("the stream to show in /healthz", || {
        let (status, body) = get(&server.url("/healthz"));
        let body: Value = serde_json::from_str(&body).ok()?;
        body["checks"]
            .get(&check)
            .is_some()
            .then_some((status, body))
    });
    assert_eq!(
        health.0, 200,
        "a receiver being down does not make this node unavailable"
    );
    assert_eq!(health.1["status"], "degraded");
    let reason = health.1["checks"][&check].as_str().unwrap();
    assert!(
        reason.starts_with("unhealthy: ") && reason.contains("transport_error"),
        "{reason}"
    );
    assert_eq!(
        sample(&server.metrics(), "ssf_push_failing_streams", ""),
        Some(1.0)
    );
    let log = server.log();
    assert!(
        log.contains("push to the receiver failed; will retry") && log.contains(&stream_id),
        "{log}"
    );
}

/// Creates a push stream to `endpoint` for `session-revoked` with the development receiver's
/// client, and publishes one such event with the development producer; the stream's id.
pub(crate) fn push_stream_with_one_event(server: &Server, endpoint: &str) -> String {
    let creds = server.credentials("data");
    let client = |name: &str| {
        token(
            server,
            creds[name]["client_id"].as_str().unwrap(),
            creds[name]["client_secret"].as_str().unwrap(),
        )
    };
    let (status, body) = post(
        &server.url("/ssf/streams"),
        Some(&client("receiver")),
        None,
        "application/json",
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint},
            "events_requested": [SESSION_REVOKED]})
        .to_string(),
    );
    assert!(status == 201 || status == 200, "{status} {body}");
    let stream_id = serde_json::from_str::<Value>(&body).unwrap()["stream_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = json!({"event_type": SESSION_REVOKED,
        "sub_id": {"format": "email", "email": "jane@example.com"},
        "event": {"event_timestamp": 1_735_689_600}});
    let (status, body) = post(
        &server.url("/events"),
        Some(&client("producer")),
        None,
        "application/json",
        event.to_string(),
    );
    assert_eq!(status, 202, "{body}");
    stream_id
}
