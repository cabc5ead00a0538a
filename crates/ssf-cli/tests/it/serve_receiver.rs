//! The receiver role of `ssf serve` against a second `ssf serve` running the transmitter:
//! two processes, real HTTP, a poll peer and a push peer.

use crate::{
    multinode::free_port,
    serve::{SESSION_REVOKED, TRANSMITTER, sample},
    server::{Server, get, post, ssf_json, wait_for},
};

/// A receiver role (`[receiver]` with a poll peer and a push peer) in one `ssf serve` taking
/// events from a transmitter in another: an emitted event reaches it on both streams and is
/// verified, applied and logged with its jti.
#[test]
fn receiver_role_polls_a_second_server() {
    let tx_dir = tempfile::tempdir().unwrap();
    let tx = Server::start(tx_dir.path(), TRANSMITTER, &[]);
    let creds = tx.credentials("data");
    let rx_secret = creds["receiver"]["client_secret"].as_str().unwrap();
    let px_secret = creds["producer"]["client_secret"].as_str().unwrap();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[receiver]

[receiver.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[receiver.transmitters]]
name = "tx"
issuer = "{issuer}"
delivery = "poll"
events = ["{SESSION_REVOKED}"]
verification_interval = "0s"
auth = {{ type = "client_credentials", client_id = "dev-receiver", client_secret = "{rx_secret}" }}

[[receiver.transmitters]]
name = "tx-push"
issuer = "{issuer}"
delivery = "push"
push_authorization = "Bearer rx-push-secret"
events = ["{SESSION_REVOKED}"]
verification_interval = "0s"
auth = {{ type = "client_credentials", client_id = "dev-receiver", client_secret = "{rx_secret}" }}
"#,
        issuer = tx.base,
    );
    let rx_dir = tempfile::tempdir().unwrap();
    let rx = Server::start(rx_dir.path(), &config, &[]);
    // Both streams are set up: their verification events were applied.
    for peer in ["\"peer\":\"tx\"", "\"peer\":\"tx-push\""] {
        wait_for("the stream's verification", || {
            rx.log()
                .lines()
                .any(|l| {
                    l.contains("event applied") && l.contains(peer) && l.contains("/verification")
                })
                .then_some(())
        });
    }
    let emitted = ssf_json(
        tx_dir.path(),
        &[
            "emit",
            "--transmitter",
            &tx.base,
            "--client-id",
            "dev-producer",
            "--event",
            "session-revoked",
            "--subject",
            "email:jane@example.com",
        ],
        &[("SSF_CLIENT_SECRET", px_secret)],
    );
    assert_eq!(emitted["streams"], 2, "{emitted}");
    for jti in emitted["jtis"].as_array().unwrap() {
        let jti = jti.as_str().unwrap();
        let applied = || {
            rx.log()
                .lines()
                .any(|l| l.contains("event applied") && l.contains(jti))
        };
        if !crate::server::eventually(applied) {
            panic!(
                "{jti} not applied\nreceiver log:\n{}\ntransmitter log:\n{}",
                rx.log(),
                tx.log()
            );
        }
    }
    let log = rx.log();
    for peer in ["\"peer\":\"tx\"", "\"peer\":\"tx-push\""] {
        assert!(
            log.lines()
                .any(|l| l.contains("event applied") && l.contains(peer)),
            "no event applied for {peer}"
        );
    }
    let handled = sample(
        &rx.metrics(),
        "ssf_serve_events_handled_total",
        "session-revoked",
    );
    assert_eq!(
        handled,
        Some(2.0),
        "one event per stream, each applied once"
    );
    assert!(
        sample(
            &rx.metrics(),
            "ssf_receiver_sets_total",
            "result=\"applied\""
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(rx.stop(), 0);
    assert_eq!(tx.stop(), 0);
}

/// A push to a configured peer whose stream is not set up yet answers 503 (the transmitter
/// retries); a push to a name that is no peer answers 400 `access_denied`.
#[test]
fn push_before_setup_asks_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    // The transmitter does not exist: setup keeps retrying, the stream never registers.
    let config = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
shutdown_timeout = "5s"

[receiver]

[receiver.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[receiver.transmitters]]
name = "later"
issuer = "http://127.0.0.1:9"
auth = { type = "bearer", token = "t" }
"#;
    let rx = Server::start(dir.path(), config, &[]);
    let set = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln".to_owned();
    let (status, _) = post(
        &rx.url("/ssf/push/later"),
        None,
        None,
        "application/secevent+jwt",
        set.clone(),
    );
    assert_eq!(status, 503);
    let (status, body) = post(
        &rx.url("/ssf/push/nobody"),
        None,
        None,
        "application/secevent+jwt",
        set,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("access_denied"), "{body}");
    assert_eq!(rx.stop(), 0, "stops while a peer's setup is still retrying");
}

/// A transmitter that only knows the receiver's client `app` with `secret` (its hash), on
/// `port`.
fn transmitter_with_client(port: u16, secret: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[transmitter]

[[transmitter.auth.clients]]
client_id = "app"
secret_hash = "{hash}"
scopes = ["ssf.read", "ssf.manage"]
"#,
        hash = ssf_transmitter::auth::hash_secret(secret),
    )
}

/// `/healthz` as JSON.
fn healthz(server: &Server) -> (u16, serde_json::Value) {
    let (status, body) = get(&server.url("/healthz"));
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// Issue 12, item 3 (decision D-RX-09): a transmitter that refuses the receiver's client secret
/// is a visible, dead peer: `/healthz` answers `degraded` with `"peer:tx": "unhealthy: ..."`
/// naming the setting to fix, `ssf_receiver_peer_setup_failures_total{peer="tx",reason="auth"}`
/// counts the attempts and `ssf_receiver_peer_up{peer="tx"}` is 0. Set-up keeps retrying, so
/// once the transmitter is restarted knowing the receiver's secret, the peer comes up without a
/// restart of the receiver.
#[test]
fn a_transmitter_refusing_the_secret_is_a_degraded_peer_until_fixed() {
    const SECRET: &str = "receiver-secret-0123456789abcdef";
    let port = free_port();
    let tx_dir = tempfile::tempdir().unwrap();
    let tx = Server::start(
        tx_dir.path(),
        &transmitter_with_client(port, "an-older-secret-0123456789abcdef"),
        &[],
    );
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[receiver]

[receiver.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[receiver.transmitters]]
name = "tx"
issuer = "{issuer}"
delivery = "poll"
events = ["{SESSION_REVOKED}"]
verification_interval = "0s"
setup_retry = {{ delays = ["100ms", "200ms"], jitter_percent = 0 }}
auth = {{ type = "client_credentials", client_id = "app", client_secret = "{SECRET}" }}
"#,
        issuer = tx.base,
    );
    let rx_dir = tempfile::tempdir().unwrap();
    let rx = Server::start(rx_dir.path(), &config, &[]);
    let (status, health) = wait_for("the peer reported unhealthy", || {
        let (status, health) = healthz(&rx);
        health["checks"]["peer:tx"]
            .as_str()
            .is_some_and(|c| c.starts_with("unhealthy:"))
            .then_some((status, health))
    });
    assert_eq!(
        status, 200,
        "a dead peer degrades the node, it does not take it down"
    );
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["receiver"], "ok", "{health}");
    let check = health["checks"]["peer:tx"].as_str().unwrap();
    assert!(check.contains("receiver.transmitters.tx.auth"), "{check}");
    assert!(!check.contains(SECRET), "{check}");
    let metrics = rx.metrics();
    assert!(
        sample(
            &metrics,
            "ssf_receiver_peer_setup_failures_total",
            "reason=\"auth\""
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "ssf_receiver_peer_up", "peer=\"tx\""),
        Some(0.0)
    );

    // The operator registers the receiver's secret at the transmitter and restarts it there.
    assert_eq!(tx.stop(), 0);
    let tx = Server::start(tx_dir.path(), &transmitter_with_client(port, SECRET), &[]);
    wait_for("the peer to come up", || {
        let (_, health) = healthz(&rx);
        (health["checks"]["peer:tx"] == "ok").then_some(())
    });
    let (status, health) = healthz(&rx);
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
    assert_eq!(
        sample(&rx.metrics(), "ssf_receiver_peer_up", "peer=\"tx\""),
        Some(1.0)
    );
    assert_eq!(rx.stop(), 0);
    assert_eq!(tx.stop(), 0);
}
