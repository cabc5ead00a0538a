//! Who may publish what (issue 11, decision D-TX-15): per-producer `events` and `claims` allow
//! lists on `[[transmitter.auth.clients]]` and external issuers. A refused event answers `403`
//! and queues nothing for any stream, also when other events of the batch were fine.

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_transmitter::{
    auth::hash_secret,
    config::{ClientSettings, ProducerSettings},
    metadata::paths,
};

use super::{drain, queued};
use crate::{
    fake_receiver::{claims, event_type, poll_stream, revoked},
    support::{
        ExternalIdp, PRODUCER, RECEIVER, SESSION_REVOKED, TestServer, body_json, now_secs,
        secret_of,
    },
};

const CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
/// A producer that may only revoke sessions.
const RISK: &str = "risk-engine";
/// The ticket bridge: claims changes with the JIT claims only.
const BRIDGE: &str = "ticket-bridge";
const JIT_CLAIMS: [&str; 3] = ["customer_id", "access_allowed", "expires_at"];

async fn server() -> TestServer {
    TestServer::builder()
        .configure(|c| {
            let producer = |id: &str| {
                ClientSettings::new(id, hash_secret(&secret_of(id)), ["ssf.events.publish"])
            };
            c.auth
                .clients
                .push(producer(RISK).with_events(["session-revoked"]));
            c.auth.clients.push(
                producer(BRIDGE)
                    .with_events(["token-claims-change"])
                    .with_claims(JIT_CLAIMS),
            );
            c.auth.validate().unwrap();
        })
        .start()
        .await
}

fn claims_change(email: &str, claims: Value) -> Value {
    json!({
        "event_type": CLAIMS_CHANGE,
        "sub_id": {"format": "email", "email": email},
        "event": {"event_timestamp": 1_735_689_600, "claims": claims}
    })
}

fn grant() -> Value {
    claims_change(
        "jane@example.com",
        json!({"customer_id": "C1", "access_allowed": "read_write", "expires_at": 1_767_225_600}),
    )
}

async fn publish_as(server: &TestServer, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = server
        .post(paths::EVENTS)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status(), body_json(response).await)
}

async fn publish_by(server: &TestServer, client_id: &str, body: &Value) -> (StatusCode, Value) {
    let token = server.token(client_id).await;
    publish_as(server, &token, body).await
}

fn assert_refused(status: StatusCode, body: &Value, starts: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "access_denied", "{body}");
    let text = body["error_description"].as_str().unwrap();
    assert!(text.starts_with(starts), "{text}");
}

#[tokio::test]
async fn a_producer_limited_to_session_revoked_cannot_grant_d_tx_15() {
    let server = server().await;
    let rx = server.token(RECEIVER).await;
    let stream = poll_stream(&server, &rx, &[SESSION_REVOKED, CLAIMS_CHANGE]).await;

    let (status, body) = publish_by(&server, RISK, &grant()).await;
    assert_refused(
        status,
        &body,
        &format!(
            "client `{RISK}` may not publish event type `{CLAIMS_CHANGE}` (allowed: {SESSION_REVOKED})"
        ),
    );
    // A batch is refused as a whole: its allowed event is not queued either.
    let (status, body) = publish_by(
        &server,
        RISK,
        &json!([revoked("jane@example.com"), grant()]),
    )
    .await;
    assert_refused(status, &body, &format!("events[1]: client `{RISK}`"));
    assert_eq!(
        queued(&server).await,
        0,
        "nothing queued for a refused request"
    );
    assert!(drain(&server, &rx, &stream).await.is_empty());

    let (status, body) = publish_by(&server, RISK, &revoked("jane@example.com")).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "its own events still flow: {body}"
    );
    let sets = drain(&server, &rx, &stream).await;
    assert_eq!(sets.len(), 1);
    assert_eq!(event_type(&sets[0].1), SESSION_REVOKED);
}

#[tokio::test]
async fn the_bridge_may_set_only_its_claims_d_tx_15() {
    let server = server().await;
    let rx = server.token(RECEIVER).await;
    let stream = poll_stream(&server, &rx, &[SESSION_REVOKED, CLAIMS_CHANGE]).await;

    let (status, body) = publish_by(&server, BRIDGE, &grant()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["streams"], 1);
    let sets = drain(&server, &rx, &stream).await;
    assert_eq!(sets.len(), 1);
    assert_eq!(
        claims(&sets[0].1)["events"][CLAIMS_CHANGE]["claims"]["access_allowed"],
        "read_write"
    );

    let before = queued(&server).await;
    let groups = claims_change("jane@example.com", json!({"groups_add": ["admins"]}));
    let (status, body) = publish_by(&server, BRIDGE, &groups).await;
    assert_refused(
        status,
        &body,
        &format!("client `{BRIDGE}` may not set the claims `groups_add` in `{CLAIMS_CHANGE}`"),
    );
    let mut extra = grant();
    extra["event"]["claims"]["role"] = json!("admin");
    let (status, body) = publish_by(&server, BRIDGE, &extra).await;
    assert_refused(
        status,
        &body,
        &format!("client `{BRIDGE}` may not set the claims `role`"),
    );
    let (status, body) = publish_by(&server, BRIDGE, &revoked("jane@example.com")).await;
    assert_refused(
        status,
        &body,
        &format!("client `{BRIDGE}` may not publish event type"),
    );
    assert_eq!(
        queued(&server).await,
        before,
        "nothing queued for the refused ones"
    );
    assert!(drain(&server, &rx, &stream).await.is_empty());
}

#[tokio::test]
async fn a_client_without_allow_lists_publishes_anything_as_before() {
    let server = server().await;
    let rx = server.token(RECEIVER).await;
    let stream = poll_stream(&server, &rx, &[CLAIMS_CHANGE]).await;
    let groups = claims_change("jane@example.com", json!({"groups_add": ["admins"]}));
    let (status, body) = publish_by(&server, PRODUCER, &groups).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(drain(&server, &rx, &stream).await.len(), 1);
}

#[tokio::test]
async fn external_issuer_clients_get_the_issuers_or_their_own_lists_d_tx_15() {
    let idp = ExternalIdp::start().await;
    let mut settings = idp.settings("https://tx.example.com/api");
    settings.events = Some(vec!["session-revoked".to_owned()]);
    let mut bridge = ProducerSettings::new("ext-bridge");
    bridge.events = Some(vec![CLAIMS_CHANGE.to_owned()]);
    bridge.claims = Some(JIT_CLAIMS.map(str::to_owned).to_vec());
    settings.producers = vec![bridge];
    let server = TestServer::builder()
        .configure(move |c| {
            c.auth.external_issuers = vec![settings];
            c.auth.validate().unwrap();
        })
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let stream = poll_stream(&server, &rx, &[SESSION_REVOKED, CLAIMS_CHANGE]).await;
    let now = now_secs(&server);
    let token = |claim: &str, client: &str| {
        idp.token(&json!({
            "iss": idp.issuer, "aud": "https://tx.example.com/api", claim: client,
            "scope": "ssf.events.publish", "iat": now, "exp": now + 300,
        }))
    };

    let (status, body) = publish_as(&server, &token("client_id", "ext-risk"), &grant()).await;
    assert_refused(
        status,
        &body,
        "client `ext-risk` may not publish event type",
    );
    let (status, body) = publish_as(
        &server,
        &token("azp", "ext-risk"),
        &revoked("jane@example.com"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = publish_as(&server, &token("sub", "ext-bridge"), &grant()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut extra = grant();
    extra["event"]["claims"]["role"] = json!("admin");
    let (status, body) = publish_as(&server, &token("client_id", "ext-bridge"), &extra).await;
    assert_refused(
        status,
        &body,
        "client `ext-bridge` may not set the claims `role`",
    );
    assert_eq!(drain(&server, &rx, &stream).await.len(), 2);
}
