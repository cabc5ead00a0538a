//! Two receiver nodes (`ssf serve` processes) on one PostgreSQL schema, each with the
//! enforcement engine and its AuthZEN PDP. Node A polls the transmitter; node B has no
//! transmitter at all, so every decision change on B comes from the events A applied, read back
//! from the shared store's state log (issue 6: "a decision on any node sees the event applied on
//! another"). A SET delivered to both is applied once (shared dedupe, covered by the store
//! tests); here the point is the in-memory state of the node that did not get it.

use crate::{
    multinode::{Schema, free_port, shared_server},
    serve_enforce::{PDP_TOKEN, emit, evaluate, now_secs, until_decision},
    server::{Server, wait_for},
};

/// The receiver's client at the transmitter, and the producer client of `ssf emit` (the same
/// secrets and hashes as `serve_enforce`'s all-roles configuration).
const APP_SECRET: &str = "app-secret-for-tests-0123456789";
const APP_HASH: &str = "sha256:2081fad0bdc0761a0b30147b5ede40cf42775073b03a5a3a2269f9bdbcb5b293";
const BRIDGE_HASH: &str = "sha256:3ec4d4878b781a764f85c687c9766d904f9de7e9ce48f3e1e3f049cb3a9c9e44";

/// `[receiver]` on the shared schema, `[enforce]` with the PDP, plus `peers` (TOML).
fn receiver_node(port: u16, database: &str, schema: &str, peers: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "data"
log_format = "json"
shutdown_timeout = "5s"

[receiver]
database = "{database}"

[receiver.postgres]
max_connections = 4
schema = "{schema}"

[receiver.http]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
{peers}
[enforce]
pdp_token = "{PDP_TOKEN}"

[enforce.access]
critical = ["customer"]
roles = {{ support-agent = [{{ asset = "kb:*", access = "read" }}] }}
"#
    )
}

/// Node A: the transmitter (on its own SQLite file) and a receiver polling it.
fn node_a(port: u16, database: &str, schema: &str) -> String {
    let peers = format!(
        r#"
[[receiver.transmitters]]
name = "self"
issuer = "http://127.0.0.1:{port}"
delivery = "poll"
verification_interval = "0s"
auth = {{ type = "client_credentials", client_id = "app", client_secret = "{APP_SECRET}" }}
"#
    );
    let transmitter = format!(
        r#"
[transmitter]

[[transmitter.auth.clients]]
client_id = "app"
secret_hash = "{APP_HASH}"
scopes = ["ssf.read", "ssf.manage"]

[[transmitter.auth.clients]]
client_id = "bridge"
secret_hash = "{BRIDGE_HASH}"
scopes = ["ssf.events.publish"]
"#
    );
    format!(
        "{}{transmitter}",
        receiver_node(port, database, schema, &peers)
    )
}

/// A grant applied on A opens the critical record on B, and a session revocation applied on A
/// denies Jane's token on B, each naming the SET that caused it; B never received either SET.
/// B restarted afterwards loads the same state from the store.
#[test]
fn a_decision_on_one_node_sees_the_event_applied_on_another() {
    let Some(url) = shared_server() else {
        return;
    };
    let schema = Schema::create(&url);
    let root = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();

    let a = Server::start(&dir_a, &node_a(free_port(), &url, &schema.name), &[]);
    wait_for("node A's stream verification", || {
        a.log()
            .lines()
            .any(|l| l.contains("event applied") && l.contains("/verification"))
            .then_some(())
    });
    let b_config = receiver_node(free_port(), &url, &schema.name, "");
    let b = Server::start(&dir_b, &b_config, &[]);
    let banner = b.stdout.lock().unwrap().join("\n");
    assert!(
        banner.contains("(schema ssf_nodes_") && banner.contains("follows the others' writes"),
        "{banner}"
    );
    let iat = now_secs() - 60;
    assert_eq!(
        evaluate(&b, iat, "customer:C2148", "read")["decision"],
        false,
        "critical assets need a grant"
    );

    let grant = emit(
        &a,
        &[
            "--event",
            "token-claims-change",
            "--field",
            r#"claims={"customer_id":"C2148","access_allowed":"read"}"#,
        ],
    );
    let on_a = until_decision(&a, iat, "customer:C2148", "read", true);
    assert_eq!(on_a["context"]["jti"], grant.as_str(), "{on_a}");
    let on_b = until_decision(&b, iat, "customer:C2148", "read", true);
    assert_eq!(on_b["context"]["jti"], grant.as_str(), "{on_b}");
    assert!(
        !b.log().contains("event applied"),
        "B applied nothing itself: the decision came from A's writes"
    );

    let revoke = emit(
        &a,
        &[
            "--event",
            "session-revoked",
            "--reason-admin",
            "Policy violation",
        ],
    );
    let denied = until_decision(&b, iat, "kb:a1", "read", false);
    assert_eq!(denied["context"]["jti"], revoke.as_str(), "{denied}");
    assert_eq!(
        evaluate(&b, now_secs() + 5, "kb:a1", "read")["decision"],
        true,
        "a token issued after the revocation passes on B too"
    );
    let followed = crate::serve::sample(&b.metrics(), "ssf_receiver_state_followed_total", "");
    assert!(followed.is_some_and(|n| n >= 2.0), "{}", b.metrics());

    // A restarted B starts from the store: the same decisions.
    assert_eq!(b.stop(), 0);
    let b = Server::start(&dir_b, &b_config, &[]);
    let denied = evaluate(&b, iat, "kb:a1", "read");
    assert_eq!(denied["decision"], false, "{denied}");
    assert_eq!(denied["context"]["jti"], revoke.as_str(), "{denied}");
    assert_eq!(b.stop(), 0);
    assert_eq!(a.stop(), 0);
}
