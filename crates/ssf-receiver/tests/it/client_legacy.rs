//! Issue 12, item 13: a `legacy = true` peer that is a draft-era transmitter ([`DraftTransmitter`]:
//! ID1 discovery, the RISC delivery-method URIs, one stream without `stream_id`, SETs without
//! `kid`, a verification event without subject, events with their subject inside the event and
//! an `initiating_entity` outside the final enumeration) works end to end by push and by poll,
//! through the real pipeline and apply task (checklist section 13, D-19; decision D-RX-10).

use std::sync::Arc;

use ssf_receiver::{
    config::{DeliveryMode, PeerAuth, PeerConfig},
    setup::run_peer,
    stream_client::LEGACY_STREAM_ID,
};
use ssf_types::secret::SecretString;
use ssf_types::{Event, SubjectId};
use tokio_util::sync::CancellationToken;

use crate::{
    client_run::{Receiver, context, receiver, serve_push},
    client_support::{fast_poll, wait_until},
    draft_tx::{DraftTransmitter, POLL_URN, PUSH_URN, TOKEN},
    fake_tx::{AUD, SESSION_REVOKED},
};

fn legacy_peer(tx: &DraftTransmitter, delivery: DeliveryMode) -> PeerConfig {
    let auth = PeerAuth::Bearer {
        token: SecretString::from(TOKEN.to_owned()),
    };
    let mut p = PeerConfig::new("idp", tx.base.clone(), auth);
    p.legacy = true;
    p.delivery = delivery;
    p.events = vec![SESSION_REVOKED.into()];
    p.audience = Some(AUD.to_owned());
    p.poll = fast_poll();
    p.push_authorization = Some(SecretString::from("Bearer draft-push-secret".to_owned()));
    p
}

/// The stream was verified: the verification event without subject was accepted and applied.
async fn verified(rx: &Receiver) -> bool {
    rx.store
        .get_stream("idp")
        .await
        .unwrap()
        .is_some_and(|r| r.last_verified_at.is_some())
}

/// The next applied event must be a session-revoked for `email` whose unknown
/// `initiating_entity` was ignored.
fn applied_session_revoked(rx: &Receiver, jti: &str, email: &str) {
    let mut events = rx.events.lock().unwrap();
    let set = loop {
        let set = events.try_recv().expect("an applied SET");
        if set.jti() == jti {
            break set;
        }
    };
    let Event::SessionRevoked(e) = &set.event else {
        panic!("{:?}", set.event);
    };
    assert_eq!(e.common.initiating_entity, None, "ignored in legacy mode");
    assert_eq!(
        set.claims.subject().as_deref(),
        Some(&SubjectId::email(email))
    );
}

/// What every draft-era exchange must look like: the stream was set by one configuration POST
/// in the draft `delivery` shape (no PATCH, no PUT), and no request named a `stream_id`.
fn spoke_draft(tx: &DraftTransmitter, urn: &str) {
    let d = tx.state();
    assert_eq!(d.updates.len(), 1, "{:?}", d.requests);
    let delivery = &d.updates[0]["delivery"];
    assert_eq!(delivery["delivery_method"], urn);
    assert!(delivery.get("method").is_none() && delivery.get("endpoint_url").is_none());
    for request in &d.requests {
        assert!(
            !request.starts_with("PATCH") && !request.starts_with("PUT"),
            "{request}"
        );
        assert!(!request.contains("stream_id"), "{request}");
        assert!(!request.contains(LEGACY_STREAM_ID), "{request}");
    }
    for body in &d.verifications {
        assert!(body.get("stream_id").is_none(), "{body}");
        assert!(body["state"].is_string());
    }
}

#[tokio::test]
async fn a_draft_era_push_transmitter_works_in_legacy_mode() {
    let tx = DraftTransmitter::start().await;
    let rx = receiver().await;
    let (base, server) = serve_push(&rx).await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_peer(
        context(&rx, &base),
        legacy_peer(&tx, DeliveryMode::Push),
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
        cancel.clone(),
    ));
    wait_until("the verification push answered", || {
        !tx.state().push_statuses.is_empty()
    })
    .await;
    assert_eq!(
        tx.state().push_statuses,
        [202],
        "verification without subject accepted"
    );
    assert!(verified(&rx).await);
    assert_eq!(
        tx.state().push_to.as_ref().map(|(url, _)| url.clone()),
        Some(format!("{base}/ssf/push/idp"))
    );
    spoke_draft(&tx, PUSH_URN);

    let (jti, set) = tx.event("jane@example.com");
    assert_eq!(
        tx.deliver(&jti, set.clone()).await,
        Some(202),
        "no kid, one RSA key"
    );
    applied_session_revoked(&rx, &jti, "jane@example.com");
    assert_eq!(
        tx.deliver(&jti, set).await,
        Some(202),
        "redelivered: 202 again"
    );
    cancel.cancel();
    task.await.unwrap().unwrap();
    server.abort();
}

#[tokio::test]
async fn a_draft_era_poll_transmitter_works_in_legacy_mode() {
    let tx = DraftTransmitter::start().await;
    let rx = receiver().await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_peer(
        context(&rx, "https://rx.example.com"),
        legacy_peer(&tx, DeliveryMode::Poll),
        Arc::clone(&rx.receiver),
        Arc::clone(&rx.registry),
        cancel.clone(),
    ));
    wait_until("the verification event acknowledged", || {
        tx.state().acks.iter().any(|a| a.starts_with("verify-"))
    })
    .await;
    assert!(verified(&rx).await);
    spoke_draft(&tx, POLL_URN);

    let (jti, set) = tx.event("john@example.com");
    assert_eq!(tx.deliver(&jti, set).await, None, "queued for the poller");
    wait_until("the event acknowledged", || tx.state().acks.contains(&jti)).await;
    applied_session_revoked(&rx, &jti, "john@example.com");
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// Without `legacy`, the same transmitter is not used: strict discovery finds no
/// `ssf-configuration` (SSF-META-01).
#[tokio::test]
async fn a_draft_era_transmitter_is_not_used_without_legacy() {
    let tx = DraftTransmitter::start().await;
    let rx = receiver().await;
    let mut p = legacy_peer(&tx, DeliveryMode::Poll);
    p.legacy = false;
    let ctx = context(&rx, "https://rx.example.com");
    let err = ssf_receiver::setup::setup_peer(&ctx, &p).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
}
