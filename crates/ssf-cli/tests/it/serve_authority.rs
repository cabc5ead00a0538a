//! Decision D-TX-15 in `ssf serve`'s development mode: only `dev-bridge` may publish a CAEP
//! `token-claims-change`, and only with the bridge's claim names; `dev-producer` publishes every
//! other event. Refusals are `403`s, shown by `ssf emit`, and counted in
//! `ssf_events_refused_total{reason}`.

use crate::{
    Run,
    serve::{TRANSMITTER, sample},
    server::{Server, ssf_env},
};

const GRANT: &str =
    r#"claims={"customer_id":"C2148","access_allowed":"read_write","expires_at":1767225600}"#;

fn emit(server: &Server, client: &str, secret: &str, event: &str, field: &str) -> Run {
    ssf_env(
        &server.dir,
        &[
            "emit",
            "--transmitter",
            &server.base,
            "--client-id",
            client,
            "--event",
            event,
            "--subject",
            "email:jane@example.com",
            "--field",
            field,
        ],
        &[("SSF_CLIENT_SECRET", secret)],
    )
}

#[test]
fn in_dev_mode_only_the_dev_bridge_can_grant_d_tx_15() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), TRANSMITTER, &[]);
    let banner = server.stdout.lock().unwrap().join("\n");
    assert!(banner.contains("dev-bridge"), "{banner}");
    let creds = server.credentials("data");
    let secret = |who: &str| creds[who]["client_secret"].as_str().unwrap().to_owned();
    let (producer, bridge) = (secret("producer"), secret("bridge"));
    assert_eq!(creds["bridge"]["client_id"], "dev-bridge");

    let refused = emit(
        &server,
        "dev-producer",
        &producer,
        "token-claims-change",
        GRANT,
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("403")
            && refused
                .stderr
                .contains("client `dev-producer` may not publish event type"),
        "{}",
        refused.stderr
    );
    let revoked = emit(&server, "dev-producer", &producer, "session-revoked", "x=1");
    assert_eq!(revoked.code, 0, "its other events flow: {}", revoked.stderr);

    let granted = emit(&server, "dev-bridge", &bridge, "token-claims-change", GRANT);
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    let escalation = r#"claims={"customer_id":"C2148","role":"admin"}"#;
    let refused = emit(
        &server,
        "dev-bridge",
        &bridge,
        "token-claims-change",
        escalation,
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("may not set the claims `role`"),
        "{}",
        refused.stderr
    );
    let refused = emit(&server, "dev-bridge", &bridge, "session-revoked", "x=1");
    assert_eq!(
        refused.code, 1,
        "the bridge only grants: {}",
        refused.stderr
    );

    let metrics = server.metrics();
    let refusals = |reason: &str| {
        sample(
            &metrics,
            "ssf_events_refused_total",
            &format!("reason=\"{reason}\""),
        )
    };
    assert_eq!(refusals("event_type"), Some(2.0), "{metrics}");
    assert_eq!(refusals("claims"), Some(1.0), "{metrics}");
    assert!(
        server
            .log()
            .contains("event refused: the producer may not publish it"),
        "logged"
    );
}
