//! The transmitter's own events: verification (SSF 1.0 §8.1.4) and stream-updated (§8.1.5),
//! and inactivity (SSF-STREAM-10..12).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use ssf_store::StreamStatus;
use ssf_transmitter::{control_events, inactivity, metadata::paths};
use ssf_types::StreamId;

use crate::{
    fake_receiver::{
        FakeReceiver, check_set, claims, event_type, eventually, poll, poll_stream, publish,
        push_stream, revoked, set_status, sets, verifier,
    },
    support::{RECEIVER, SESSION_REVOKED, TestServer, audience_of},
};

const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

async fn no_rate_limit() -> TestServer {
    TestServer::builder()
        .configure(|c| c.streams.min_verification_interval_secs = 0)
        .start()
        .await
}

async fn verify(server: &TestServer, token: &str, stream_id: &str, state: Option<&str>) {
    let mut body = json!({"stream_id": stream_id});
    if let Some(s) = state {
        body["state"] = json!(s);
    }
    let response = server
        .post(paths::VERIFICATION)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "SSF-VERIFY-02");
}

/// Polls one SET at a time (acknowledging the previous one), so the order is visible.
async fn next_set(
    server: &TestServer,
    token: &str,
    stream_id: &str,
    ack: Option<&str>,
) -> Option<(String, String)> {
    let mut body = json!({"returnImmediately": true, "maxEvents": 1});
    if let Some(j) = ack {
        body["ack"] = json!([j]);
    }
    let (status, answer) = poll(server, token, stream_id, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    sets(&answer).into_iter().next()
}

async fn record(server: &TestServer, stream_id: &str) -> ssf_store::StreamRecord {
    server
        .state
        .store
        .find_stream(&StreamId::new(stream_id))
        .await
        .unwrap()
        .unwrap()
}

/// SSF-VERIFY-04, SSF-EVT-02/03: the verification SET echoes `state` and names the stream.
#[tokio::test]
async fn verification_echoes_state_and_names_the_stream() {
    let server = no_rate_limit().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    verify(
        &server,
        &rx,
        &s,
        Some("VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="),
    )
    .await;
    let (_, set) = next_set(&server, &rx, &s, None).await.unwrap();
    check_set(&verifier(&server, &audience_of(RECEIVER)).await, &set);
    let c = claims(&set);
    assert_eq!(
        c["events"][VERIFICATION],
        json!({"state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="})
    );
    assert_eq!(
        c["sub_id"],
        json!({"format": "opaque", "id": s}),
        "SSF-EVT-03"
    );
    assert_eq!(c["aud"], audience_of(RECEIVER));
}

/// SSF-VERIFY-05, SSF-RXV-17: a verification the transmitter starts carries no `state`.
#[tokio::test]
async fn unsolicited_verification_has_no_state() {
    let server = no_rate_limit().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    let jti = control_events::enqueue_verification(&server.state, &record(&server, &s).await, None)
        .await
        .unwrap();
    let (got, set) = next_set(&server, &rx, &s, None).await.unwrap();
    assert_eq!(Some(got), jti.map(|j| j.into_string()));
    assert_eq!(claims(&set)["events"][VERIFICATION], json!({}));
}

/// CONF verification-behind-queued-events: the verification SET comes after the SETs queued
/// before it.
#[tokio::test]
async fn verification_is_queued_behind_earlier_sets() {
    let server = no_rate_limit().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    publish(&server, &revoked("a@example.com")).await;
    publish(&server, &revoked("b@example.com")).await;
    verify(&server, &rx, &s, Some("st")).await;
    let mut types = Vec::new();
    let mut ack: Option<String> = None;
    while let Some((jti, set)) = next_set(&server, &rx, &s, ack.as_deref()).await {
        types.push(event_type(&set));
        ack = Some(jti);
    }
    assert_eq!(types, [SESSION_REVOKED, SESSION_REVOKED, VERIFICATION]);
}

/// SSF-VERIFY-13, D-11: held on a paused stream, nothing on a disabled one.
#[tokio::test]
async fn verification_is_held_while_paused_and_dropped_while_disabled() {
    let server = no_rate_limit().await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    set_status(&server, &rx, &s, "paused").await;
    verify(&server, &rx, &s, Some("held")).await;
    assert!(next_set(&server, &rx, &s, None).await.is_none(), "POLL-20");
    set_status(&server, &rx, &s, "enabled").await;
    let (jti, set) = next_set(&server, &rx, &s, None).await.unwrap();
    assert_eq!(claims(&set)["events"][VERIFICATION]["state"], "held");

    set_status(&server, &rx, &s, "disabled").await;
    verify(&server, &rx, &s, Some("dropped")).await;
    set_status(&server, &rx, &s, "enabled").await;
    let next = next_set(&server, &rx, &s, Some(&jti)).await;
    assert!(
        next.is_none(),
        "D-11: nothing was queued for a disabled stream: {next:?}"
    );
}

/// SSF-STREAM-12, SSF-EVT-13/15: an inactivity pause sends stream-updated before the stream
/// stops. The stream is paused afterwards and a paused stream is never pushed to (PUSH-06), so
/// the SET's arrival proves it went out while the stream was still enabled.
#[tokio::test]
async fn inactivity_pauses_the_stream_after_sending_stream_updated() {
    let server = TestServer::builder()
        .with_workers()
        .manual_clock()
        .configure(|c| {
            c.streams.inactivity_timeout_secs = 60;
            c.inactivity.notify_grace = Duration::from_secs(20);
            c.inactivity.sweep_interval = Duration::from_secs(3600);
            c.push.idle_poll_interval = Duration::from_millis(50);
        })
        .start()
        .await;
    let receiver = FakeReceiver::start().await;
    let rx = server.token(RECEIVER).await;
    let s = push_stream(&server, &rx, &receiver.url, None, &[SESSION_REVOKED]).await;
    assert_eq!(
        inactivity::sweep_once(&server.state).await.unwrap(),
        0,
        "still active"
    );

    server.advance(61);
    assert_eq!(inactivity::sweep_once(&server.state).await.unwrap(), 1);
    let got = receiver.received();
    assert_eq!(
        got.len(),
        1,
        "the stream-updated SET arrived before the sweep finished"
    );
    let c = claims(&got[0].body);
    assert_eq!(c["events"][STREAM_UPDATED]["status"], "paused");
    assert_eq!(
        c["events"][STREAM_UPDATED]["reason"],
        inactivity::INACTIVITY_REASON
    );
    assert_eq!(
        c["sub_id"],
        json!({"format": "opaque", "id": s}),
        "SSF-EVT-12"
    );
    let record = record(&server, &s).await;
    assert_eq!(record.status, StreamStatus::Paused);

    // Transmitter-initiated re-enable: the event follows the change (SSF-EVT-14).
    control_events::change_status(
        &server.state,
        &record,
        StreamStatus::Enabled,
        None,
        Duration::ZERO,
    )
    .await
    .unwrap();
    let got = receiver.wait_for(2).await;
    assert_eq!(
        claims(&got[1].body)["events"][STREAM_UPDATED]["status"],
        "enabled"
    );
}

/// SSF-EVT-13 on a poll stream: the sweep waits until the receiver has polled the
/// stream-updated SET, then pauses; events published afterwards are held.
#[tokio::test]
async fn inactivity_on_a_poll_stream_hands_out_stream_updated_first() {
    let server = TestServer::builder()
        .manual_clock()
        .configure(|c| {
            c.streams.inactivity_timeout_secs = 60;
            c.inactivity.notify_grace = Duration::from_secs(30);
        })
        .start()
        .await;
    let rx = server.token(RECEIVER).await;
    let s = poll_stream(&server, &rx, &[SESSION_REVOKED]).await;
    server.advance(61);
    let state = server.state.clone();
    let sweep = tokio::spawn(async move { inactivity::sweep_once(&state).await });
    let store = std::sync::Arc::clone(&server.state.store);
    eventually("the stream-updated SET queued", || async {
        store.outbox_counts(None).await.unwrap().pending == 1
    })
    .await;
    let (_, set) = next_set(&server, &rx, &s, None).await.unwrap();
    assert_eq!(claims(&set)["events"][STREAM_UPDATED]["status"], "paused");
    assert_eq!(sweep.await.unwrap().unwrap(), 1);
    assert_eq!(record(&server, &s).await.status, StreamStatus::Paused);
    publish(&server, &revoked("a@example.com")).await;
    let (_, body) = poll(&server, &rx, &s, &json!({"returnImmediately": true})).await;
    assert_eq!(body["sets"], Value::Object(Default::default()), "POLL-20");
}
