//! The seed scenario in one `ssf serve` process: a signed helpdesk webhook assigns a case about
//! customer C2148 to Jane; the ticket bridge emits a CAEP token-claims-change to the
//! transmitter, the receiver applies it and the AuthZEN PDP opens C2148; the case closes and
//! C2148 is closed again. Forged and unsigned webhooks change nothing.

use serde_json::{Value, json};

use crate::{
    serve_enforce::{WEBHOOK_SECRET, evaluate, now_secs, start_all_roles, until_decision},
    server::{Server, post, ssf_env},
};

/// A generic webhook body (docs/jit.md) for ticket SUP-42 about C2148.
fn ticket_event(event_id: &str, event_type: &str) -> String {
    let mut body = json!({
        "ticket_id": "SUP-42",
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": now_secs(),
        "fields": {"customer_id": "C2148"},
    });
    if event_type == "assigned" {
        body["assignee"] = json!({"email": "jane@example.com"});
    }
    body.to_string()
}

/// POSTs `body` to the helpdesk webhook with `signature` (if any) in `X-JIT-Signature`.
fn webhook(server: &Server, body: &str, signature: Option<String>) -> (u16, Value) {
    let (url, body) = (server.url("/jit/webhooks/helpdesk"), body.to_owned());
    let (status, text) = crate::server::runtime().block_on(async move {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            request = request.header("x-jit-signature", sig);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn signed(body: &str) -> Option<String> {
    Some(format!(
        "sha256={}",
        ssf_jit::verify::sign_hex(WEBHOOK_SECRET, body.as_bytes())
    ))
}

/// The audit trail of SUP-42, read by `ssf jit audit` beside the running server.
fn audit(server: &Server) -> Vec<Value> {
    let run = ssf_env(
        &server.dir,
        &[
            "jit",
            "audit",
            "--config",
            "ssf.toml",
            "--ticket",
            "helpdesk:SUP-42",
            "--json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str::<Vec<Value>>(&run.stdout).unwrap()
}

#[test]
fn signed_webhooks_grant_and_revoke_through_the_whole_chain() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_all_roles(dir.path());
    let banner = server.stdout.lock().unwrap().join("\n");
    assert!(banner.contains("/jit/webhooks/{helpdesk}"), "{banner}");
    let iat = now_secs() - 60;
    assert_eq!(
        evaluate(&server, iat, "customer:C2148", "read")["decision"],
        false
    );

    // Unsigned and forged: 401, nothing recorded, nothing granted.
    let assigned = ticket_event("evt-1", "assigned");
    let (status, _) = webhook(&server, &assigned, None);
    assert_eq!(status, 401);
    let forged = Some(format!(
        "sha256={}",
        ssf_jit::verify::sign_hex("not-the-webhook-secret-0123", assigned.as_bytes())
    ));
    let (status, answer) = webhook(&server, &assigned, forged);
    assert_eq!(status, 401, "{answer}");
    let refused = audit(&server);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| r["action"] == "refused" && r["detail"]["reason"] == "unauthenticated"),
        "a refused webhook is audited and records nothing else: {refused:?}"
    );

    // Signed: applied, one event queued; it reaches the receiver and the PDP opens C2148.
    let (status, answer) = webhook(&server, &assigned, signed(&assigned));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "applied", "{answer}");
    assert_eq!(answer["events_queued"], 1, "{answer}");
    let allowed = until_decision(&server, iat, "customer:C2148", "read", true);
    assert!(allowed["context"]["jti"].is_string(), "{allowed}");
    assert_eq!(
        evaluate(&server, iat, "customer:C2148", "read_write")["decision"],
        true,
        "the default grant is read_write"
    );
    assert_eq!(
        evaluate(&server, iat, "customer:C9999", "read")["decision"],
        false,
        "only the ticket's customer"
    );
    // The audit links the ticket event to the SET the transmitter made.
    let trail = audit(&server);
    assert!(trail.iter().any(|a| a["action"] == "grant"), "{trail:?}");

    // A forged close changes nothing; the signed one closes C2148 again.
    let closed = ticket_event("evt-2", "closed");
    let forged = Some(format!(
        "sha256={}",
        ssf_jit::verify::sign_hex("not-the-webhook-secret-0123", closed.as_bytes())
    ));
    assert_eq!(webhook(&server, &closed, forged).0, 401);
    assert_eq!(
        evaluate(&server, iat, "customer:C2148", "read")["decision"],
        true
    );
    let (status, answer) = webhook(&server, &closed, signed(&closed));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "applied", "{answer}");
    until_decision(&server, iat, "customer:C2148", "read", false);
    // A replay of the signed assignment is a duplicate and grants nothing.
    let (status, answer) = webhook(&server, &assigned, signed(&assigned));
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );

    // A state the rules do not know: answered 200 (no retries), no grant, counted.
    let odd = json!({"ticket_id": "SUP-43", "event_id": "evt-1", "event_type": "updated",
        "occurred_at": now_secs(), "state": "archived",
        "assignee": {"email": "jane@example.com"}, "fields": {"customer_id": "C2148"}})
    .to_string();
    let (status, answer) = webhook(&server, &odd, signed(&odd));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["no_grant"]["reason"], "unknown_state", "{answer}");
    let metrics = server.metrics();
    assert!(
        metrics.contains("ssf_jit_unknown_states_total{system=\"helpdesk\"} 1"),
        "{metrics}"
    );

    let (status, health) = crate::server::get(&server.url("/healthz"));
    assert_eq!(status, 200);
    assert!(health.contains("\"jit\":\"ok\""), "{health}");
    let (status, _) = post(
        &server.url("/jit/webhooks/nosuch"),
        None,
        None,
        "application/json",
        "{}".to_owned(),
    );
    assert_eq!(status, 404);
    assert_eq!(server.stop(), 0);
}
