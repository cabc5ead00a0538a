//! The stream management client (SSF 1.0 §8.1) and access tokens against the fake transmitter.

use std::sync::Arc;

use ssf_receiver::{
    ReceiverError,
    stream_client::{CreateOutcome, StatusOutcome, StreamClient, UpdateOutcome},
    token::{ClientCredentials, TokenSource},
};
use ssf_types::secret::{ExposeSecret, SecretString};
use ssf_types::{
    StreamConfiguration, StreamId, StreamStatus, SubjectId,
    stream::{Delivery, PollDelivery, PushDelivery},
};

use crate::{
    client_support::{http, manual_clock, system_clock},
    fake_tx::{self, FakeTransmitter},
};

fn static_tokens() -> TokenSource {
    TokenSource::bearer(SecretString::from(fake_tx::STATIC_TOKEN.to_owned()))
}

async fn client(tx: &FakeTransmitter) -> StreamClient {
    StreamClient::connect(http(), &tx.issuer(), static_tokens(), false, system_clock())
        .await
        .unwrap()
        .with_audience(Some(fake_tx::AUD.to_owned()))
}

fn push_request() -> StreamConfiguration {
    let mut c = StreamConfiguration::new();
    c.events_requested = Some(vec![
        fake_tx::SESSION_REVOKED.into(),
        "urn:example:unknown".into(),
    ]);
    c.delivery = Some(Delivery::Push(PushDelivery::new(
        "https://rx.example/ssf/push/idp",
    )));
    c.description = Some("test".into());
    c
}

#[tokio::test]
async fn create_sends_only_receiver_supplied_fields_ssf_stream_23() {
    let tx = FakeTransmitter::start().await;
    let c = client(&tx).await;
    let mut request = push_request();
    // Transmitter-supplied properties a caller left in must not be sent.
    request.stream_id = Some(StreamId::new("mine"));
    request.aud = Some(ssf_types::Audience::from("https://x"));
    request.events_delivered = Some(vec![fake_tx::SESSION_REVOKED.into()]);
    request.min_verification_interval = Some(5);
    let CreateOutcome::Created(config) = c.create(&request).await.unwrap() else {
        panic!("expected 201");
    };
    assert_eq!(config.iss.as_ref().unwrap().as_str(), tx.issuer());
    assert_eq!(
        config.events_delivered,
        Some(vec![fake_tx::SESSION_REVOKED.into()])
    );
    let sent = tx.shared.knobs().create_bodies[0].clone();
    let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["delivery", "description", "events_requested"]);
    // One stream per receiver at this transmitter: the second create is a 409.
    assert!(matches!(
        c.create(&push_request()).await.unwrap(),
        CreateOutcome::Conflict
    ));
}

#[tokio::test]
async fn empty_events_requested_is_not_sent_ssf_stream_35() {
    let tx = FakeTransmitter::start().await;
    let c = client(&tx).await;
    let mut request = push_request();
    request.events_requested = Some(Vec::new());
    assert!(matches!(
        c.create(&request).await,
        Err(ReceiverError::InvalidRequest(_))
    ));
    assert!(tx.shared.knobs().create_bodies.is_empty());
}

#[tokio::test]
async fn read_update_replace_status_subjects_delete() {
    let tx = FakeTransmitter::start().await;
    let c = client(&tx).await;
    let CreateOutcome::Created(created) = c.create(&push_request()).await.unwrap() else {
        panic!("expected 201");
    };
    let id = created.stream_id.clone().unwrap();
    assert_eq!(c.get(&id).await.unwrap().stream_id.as_ref(), Some(&id));
    assert_eq!(c.list().await.unwrap().len(), 1);

    let mut patch = StreamConfiguration::new();
    patch.stream_id = Some(id.clone());
    patch.delivery = Some(Delivery::Poll(PollDelivery::new(None)));
    let UpdateOutcome::Updated(updated) = c.update(&patch).await.unwrap() else {
        panic!("expected 200");
    };
    assert!(matches!(updated.delivery, Some(Delivery::Poll(ref p)) if p.endpoint_url.is_some()));
    // SSF-STREAM-33: PATCH carries stream_id; a PATCH without one is not sent.
    assert!(matches!(
        c.update(&StreamConfiguration::new()).await,
        Err(ReceiverError::InvalidRequest(_))
    ));
    assert_eq!(tx.shared.knobs().patch_bodies[0]["stream_id"], id.as_str());

    let mut full = push_request();
    full.stream_id = Some(id.clone());
    assert!(matches!(
        c.replace(&full).await.unwrap(),
        UpdateOutcome::Updated(_)
    ));

    assert_eq!(c.status(&id).await.unwrap().status, StreamStatus::Enabled);
    let StatusOutcome::Updated(s) = c
        .set_status(&id, StreamStatus::Paused, Some("maintenance".into()))
        .await
        .unwrap()
    else {
        panic!("expected 200");
    };
    assert_eq!(s.status, StreamStatus::Paused);

    c.add_subject(&id, SubjectId::email("bob@example.com"), Some(true))
        .await
        .unwrap();
    c.remove_subject(&id, SubjectId::email("bob@example.com"))
        .await
        .unwrap();
    assert_eq!(tx.shared.knobs().subjects.len(), 2);

    c.verify(&id, Some("st".into())).await.unwrap();
    assert_eq!(
        tx.shared.knobs().verifications,
        vec![(id.as_str().to_owned(), Some("st".to_owned()))]
    );

    c.delete(&id).await.unwrap();
    let err = c.get(&id).await.unwrap_err();
    // Errors carry the status and the transmitter's error body.
    match &err {
        ReceiverError::Transmitter {
            status,
            error,
            description,
            body,
            ..
        } => {
            assert_eq!(*status, 404);
            assert_eq!(error.as_deref(), Some("not_found"));
            assert_eq!(description.as_deref(), Some("no such stream"));
            assert!(body.contains("not_found"));
        }
        other => panic!("expected Transmitter, got {other}"),
    }
    assert!(err.to_string().contains("HTTP 404"));
}

#[tokio::test]
async fn foreign_iss_stream_is_refused_and_never_used_ssf_auth_14_15() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().foreign_iss = true;
    let c = client(&tx).await;
    let err = c.create(&push_request()).await.unwrap_err();
    let ReceiverError::ForeignStream { stream_id, found } = err else {
        panic!("expected ForeignStream, got {err}");
    };
    assert_eq!(found, "https://evil.example");
    let id = StreamId::new(stream_id);
    assert!(c.is_refused(&id));
    // No verify, status, update or subject call reaches the transmitter for it.
    assert!(matches!(
        c.verify(&id, None).await,
        Err(ReceiverError::ForeignStream { .. })
    ));
    assert!(matches!(
        c.status(&id).await,
        Err(ReceiverError::ForeignStream { .. })
    ));
    let mut patch = push_request();
    patch.stream_id = Some(id.clone());
    assert!(matches!(
        c.update(&patch).await,
        Err(ReceiverError::ForeignStream { .. })
    ));
    assert!(matches!(
        c.add_subject(&id, SubjectId::email("a@example.com"), None)
            .await,
        Err(ReceiverError::ForeignStream { .. })
    ));
    assert!(tx.shared.knobs().verifications.is_empty());
    assert!(tx.shared.knobs().patch_bodies.is_empty());
    // A list leaves it out; a read refuses it too.
    assert!(c.list().await.unwrap().is_empty());
    assert!(matches!(
        c.get(&id).await,
        Err(ReceiverError::ForeignStream { .. })
    ));
}

#[tokio::test]
async fn audience_is_checked_when_agreed_ssf_stream_30() {
    let tx = FakeTransmitter::start().await;
    let c = client(&tx)
        .await
        .with_audience(Some("https://someone-else.example".into()));
    let err = c.create(&push_request()).await.unwrap_err();
    assert!(
        matches!(err, ReceiverError::AudienceMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn client_credentials_token_is_cached_and_renewed_before_expiry() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().token_lifetime = 60;
    let clock = manual_clock();
    let token_endpoint = format!("{}/token", tx.shared.base).parse().unwrap();
    let tokens = TokenSource::client_credentials(
        http(),
        ClientCredentials::new(
            token_endpoint,
            fake_tx::CLIENT_ID,
            SecretString::from(fake_tx::CLIENT_SECRET.to_owned()),
            Some("ssf.manage".into()),
        ),
        Arc::new(clock.clone()),
    );
    let first = tokens.token().await.unwrap();
    assert_eq!(
        tokens.token().await.unwrap().expose_secret(),
        first.expose_secret()
    );
    assert_eq!(tx.shared.knobs().tokens_issued, 1, "cached");
    // Renewed shortly before expires_in runs out (60 s, margin 12 s), without a 401.
    clock.advance(50_000);
    let second = tokens.token().await.unwrap();
    assert_ne!(second.expose_secret(), first.expose_secret());
    assert_eq!(tx.shared.knobs().tokens_issued, 2);
    assert!(!format!("{tokens:?}").contains(fake_tx::CLIENT_SECRET));
}

#[tokio::test]
async fn token_refused_with_401_is_renewed_once_conformance_access_token_expiry() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    let tokens = TokenSource::from_config(
        &http(),
        &crate::client_support::client_credentials(None),
        &tx.issuer(),
        Arc::new(clock),
    )
    .await
    .unwrap();
    let c = StreamClient::connect(http(), &tx.issuer(), tokens, false, system_clock())
        .await
        .unwrap();
    c.create(&push_request()).await.unwrap();
    assert_eq!(tx.shared.knobs().tokens_issued, 1);
    // The transmitter revokes every token (as if it expired early): one 401, a new token, done.
    tx.shared.revoke_tokens();
    assert_eq!(c.list().await.unwrap().len(), 1);
    assert_eq!(tx.shared.knobs().tokens_issued, 2);
    assert_eq!(tx.shared.knobs().unauthorized_answers, 1);
}

#[tokio::test]
async fn static_token_refused_is_an_error_with_the_challenge() {
    let tx = FakeTransmitter::start().await;
    let c = client(&tx).await;
    tx.shared.revoke_tokens();
    let err = c.list().await.unwrap_err();
    match err {
        ReceiverError::Transmitter {
            status: 401, error, ..
        } => {
            assert_eq!(error.as_deref(), Some("invalid_token"));
        }
        other => panic!("expected 401, got {other}"),
    }
    assert_eq!(
        tx.shared.knobs().unauthorized_answers,
        1,
        "a static token is not retried"
    );
}

#[tokio::test]
async fn bad_client_credentials_are_a_token_error() {
    let tx = FakeTransmitter::start().await;
    let tokens = TokenSource::client_credentials(
        http(),
        ClientCredentials::new(
            format!("{}/token", tx.shared.base).parse().unwrap(),
            fake_tx::CLIENT_ID,
            SecretString::from("wrong".to_owned()),
            None,
        ),
        system_clock(),
    );
    let err = tokens.token().await.unwrap_err();
    assert!(
        matches!(err, ReceiverError::Token(ref t) if t.to_string().contains("invalid_client")),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"));
}
