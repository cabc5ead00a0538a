//! `ssf serve` with every role in one process: a transmitter, a receiver polling that same
//! transmitter, the enforcement engine with its AuthZEN PDP, and the ticket bridge sending its
//! grants to the transmitter. Events go through real HTTP and every store is a real file.

use serde_json::{Value, json};

use crate::server::{Server, eventually, post, ssf_json, wait_for};

/// The receiver's client at the transmitter (`ssf.read ssf.manage`).
const APP_SECRET: &str = "app-secret-for-tests-0123456789";
const APP_HASH: &str = "sha256:2081fad0bdc0761a0b30147b5ede40cf42775073b03a5a3a2269f9bdbcb5b293";
/// The producer client of the bridge and of `ssf emit` (`ssf.events.publish`).
const BRIDGE_SECRET: &str = "bridge-secret-for-tests-0123456789";
const BRIDGE_HASH: &str = "sha256:3ec4d4878b781a764f85c687c9766d904f9de7e9ce48f3e1e3f049cb3a9c9e44";
/// The AuthZEN callers' token.
pub(crate) const PDP_TOKEN: &str = "pdp-token-for-tests-0123456789";
/// The helpdesk's webhook HMAC key.
pub(crate) const WEBHOOK_SECRET: &str = "webhook-secret-for-tests-0123";

/// A port that was free a moment ago (the receiver's peer is this same server, so its URL must
/// be known before the start).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Every role on `127.0.0.1:<port>`: the receiver polls this server's own transmitter.
pub(crate) fn all_roles(port: u16) -> String {
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
secret_hash = "{APP_HASH}"
scopes = ["ssf.read", "ssf.manage"]

[[transmitter.auth.clients]]
client_id = "bridge"
secret_hash = "{BRIDGE_HASH}"
scopes = ["ssf.events.publish"]

[receiver]

[receiver.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[receiver.transmitters]]
name = "self"
issuer = "http://127.0.0.1:{port}"
delivery = "poll"
verification_interval = "0s"
auth = {{ type = "client_credentials", client_id = "app", client_secret = "{APP_SECRET}" }}

[enforce]
pdp_token = "{PDP_TOKEN}"

[enforce.access]
critical = ["customer"]
roles = {{ support-agent = [{{ asset = "kb:*", access = "read" }}] }}

[jit.emitter]
events_url = "http://127.0.0.1:{port}/events"
token_url = "http://127.0.0.1:{port}/oauth/token"
client_id = "bridge"
client_secret = "{BRIDGE_SECRET}"
poll_interval = "200ms"
http = {{ allow_http = true, allowed_networks = ["127.0.0.0/8"] }}

[jit.systems.helpdesk]
kind = "generic"
secret = "{WEBHOOK_SECRET}"
"#
    )
}

/// Starts [`all_roles`] in `dir` and waits until the receiver's stream is set up (its
/// verification event was applied), so events emitted from now on reach the engine.
pub(crate) fn start_all_roles(dir: &std::path::Path) -> Server {
    let server = Server::start(dir, &all_roles(free_port()), &[]);
    wait_for("the receiver's stream verification", || {
        server
            .log()
            .lines()
            .any(|l| l.contains("event applied") && l.contains("/verification"))
            .then_some(())
    });
    server
}

/// An AuthZEN evaluation for Jane's session `s-1` (a token issued at `iat`, role
/// `support-agent`) on `resource` = `type:id` with `action`.
pub(crate) fn evaluate(server: &Server, iat: i64, resource: &str, action: &str) -> Value {
    evaluate_at(&server.base, iat, resource, action)
}

/// [`evaluate`] on the server at `base` (`http://host:port`).
pub(crate) fn evaluate_at(base: &str, iat: i64, resource: &str, action: &str) -> Value {
    let (kind, id) = resource.split_once(':').unwrap();
    let body = json!({
        "subject": {"type": "user", "id": "jane@example.com",
            "properties": {"sid": "s-1", "iat": iat, "roles": ["support-agent"]}},
        "resource": {"type": kind, "id": id},
        "action": {"name": action},
    });
    let (status, text) = post(
        &format!("{base}/access/v1/evaluation"),
        Some(PDP_TOKEN),
        None,
        "application/json",
        body.to_string(),
    );
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Seconds since the epoch, for token `iat`s.
pub(crate) fn now_secs() -> i64 {
    use ssf_types::Clock as _;
    ssf_types::SystemClock.now().as_secs()
}

/// Waits until the evaluation's decision is `want`; returns the answer.
pub(crate) fn until_decision(
    server: &Server,
    iat: i64,
    resource: &str,
    action: &str,
    want: bool,
) -> Value {
    wait_for(&format!("{resource} {action} -> {want}"), || {
        let answer = evaluate(server, iat, resource, action);
        (answer["decision"] == want).then_some(answer)
    })
}

/// `ssf emit` as the bridge client; returns the jti of the one SET.
pub(crate) fn emit(server: &Server, args: &[&str]) -> String {
    let mut all = vec![
        "emit",
        "--transmitter",
        &server.base,
        "--client-id",
        "bridge",
        "--subject",
        "email:jane@example.com",
    ];
    all.extend_from_slice(args);
    let emitted = ssf_json(&server.dir, &all, &[("SSF_CLIENT_SECRET", BRIDGE_SECRET)]);
    assert_eq!(emitted["streams"], 1, "{emitted}");
    emitted["jtis"][0].as_str().unwrap().to_owned()
}

/// Enforcement wired into the receiver: before any event the role opens the knowledge base and
/// the critical customer record stays closed; a token-claims-change grant (CAEP 1.0 §3.2)
/// emitted at the transmitter opens `customer:C2148` for reading only, with the SET's jti as the
/// reason; a session-revoked (CAEP 1.0 §3.1) for Jane then denies her earlier token everywhere,
/// naming that SET; a token issued afterwards passes. The PDP wants its bearer token.
#[test]
fn emitted_events_change_authzen_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_all_roles(dir.path());
    let banner = server.stdout.lock().unwrap().join("\n");
    assert!(
        banner.contains("/access/v1/evaluation (bearer token"),
        "{banner}"
    );
    assert!(
        banner.contains("from any verified transmitter") && banner.contains("at most 7d"),
        "D-EN-02/03: the banner says who may grant: {banner}"
    );
    let iat = now_secs() - 60;

    let (status, body) = post(
        &server.url("/access/v1/evaluation"),
        None,
        None,
        "application/json",
        "{}".to_owned(),
    );
    assert_eq!(status, 401, "no token: {body}");
    let (status, _) = post(
        &server.url("/access/v1/evaluation"),
        Some("not-the-pdp-token-0123456789"),
        None,
        "application/json",
        "{}".to_owned(),
    );
    assert_eq!(status, 401, "wrong token");
    let (status, metadata) = crate::server::get(&server.url("/.well-known/authzen-configuration"));
    assert_eq!(status, 200, "the metadata is public");
    assert!(metadata.contains("/access/v1/evaluation"), "{metadata}");

    assert_eq!(evaluate(&server, iat, "kb:a1", "read")["decision"], true);
    assert_eq!(
        evaluate(&server, iat, "customer:C2148", "read")["decision"],
        false,
        "critical assets need a grant"
    );

    let grant = emit(
        &server,
        &[
            "--event",
            "token-claims-change",
            "--field",
            r#"claims={"customer_id":"C2148","access_allowed":"read"}"#,
        ],
    );
    let allowed = until_decision(&server, iat, "customer:C2148", "read", true);
    assert_eq!(allowed["context"]["jti"], grant.as_str(), "{allowed}");
    assert_eq!(
        evaluate(&server, iat, "customer:C2148", "read_write")["decision"],
        false,
        "the grant is read only"
    );
    assert_eq!(
        evaluate(&server, iat, "customer:C9999", "read")["decision"],
        false
    );

    let revoke = emit(
        &server,
        &[
            "--event",
            "session-revoked",
            "--reason-admin",
            "Policy violation",
        ],
    );
    let denied = until_decision(&server, iat, "kb:a1", "read", false);
    assert_eq!(denied["context"]["jti"], revoke.as_str(), "{denied}");
    assert!(
        denied["context"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{denied}"
    );
    assert_eq!(
        evaluate(&server, iat, "customer:C2148", "read")["decision"],
        false,
        "a revoked session reads nothing"
    );
    assert_eq!(
        evaluate(&server, now_secs() + 5, "kb:a1", "read")["decision"],
        true,
        "a token issued after the revocation passes"
    );
    // The counter moves after the commit that flips the decision: poll it.
    assert!(
        eventually(|| crate::serve::sample(
            &server.metrics(),
            "ssf_serve_events_handled_total",
            "session-revoked"
        )
        .is_some()),
        "the log line and counter stay"
    );
    assert_eq!(server.stop(), 0);
}
