//! The per-issuer JWKS cache (checklist SSF-SIG-06): caching, `Cache-Control`, unknown-`kid`
//! refetch at most once per window, coalescing, and "unavailable" instead of accepting.

use std::sync::Arc;

use ssf_jose::{Algorithm, KeyPair, KeyResolver, SetVerifier, VerifyOptions, sign_with};
use ssf_receiver::{ReceiverError, config::JwksSettings, jwks::JwksCache};
use ssf_types::{KeyId, ManualClock};

use crate::{
    client_support::{http, manual_clock},
    fake_tx::{self, FakeTransmitter},
};

fn cache(tx: &FakeTransmitter, clock: &ManualClock) -> Arc<JwksCache> {
    Arc::new(
        JwksCache::new(
            http(),
            &format!("{}/jwks", tx.shared.base),
            JwksSettings::default(),
            Arc::new(clock.clone()),
        )
        .unwrap(),
    )
}

fn fetches(tx: &FakeTransmitter) -> u32 {
    tx.shared.knobs().jwks_fetches
}

#[tokio::test]
async fn keys_are_cached_for_the_default_lifetime() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    let jwks = cache(&tx, &clock);
    assert!(jwks.current().is_none(), "nothing fetched before first use");
    assert!(jwks.resolve("k1").await.unwrap().is_some());
    assert!(jwks.resolve("k1").await.unwrap().is_some());
    assert_eq!(fetches(&tx), 1);
    clock.advance(14 * 60 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 1, "15 min default lifetime");
    clock.advance(61 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 2);
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_within_bounds() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    tx.shared.knobs().jwks_cache_control = Some("public, max-age=7200".into());
    let jwks = cache(&tx, &clock);
    jwks.snapshot().await.unwrap();
    clock.advance(7100 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 1, "max-age 2 h");
    clock.advance(200 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 2);
    // max-age=5 is raised to the 1 min floor.
    tx.shared.knobs().jwks_cache_control = Some("max-age=5".into());
    clock.advance(3 * 3600 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 3);
    clock.advance(30 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 3, "min_ttl 60 s");
    // max-age of a week is capped at 24 h.
    tx.shared.knobs().jwks_cache_control = Some("max-age=604800".into());
    clock.advance(61 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 4);
    clock.advance(25 * 3600 * 1000);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 5, "max_ttl 24 h");
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_window_ssf_sig_06() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    let jwks = cache(&tx, &clock);
    jwks.snapshot().await.unwrap();
    assert_eq!(fetches(&tx), 1);
    // An unknown kid: one refetch, then nothing more within 30 s however many arrive.
    assert!(jwks.resolve("made-up-1").await.unwrap().is_none());
    assert_eq!(fetches(&tx), 2);
    for i in 0..20 {
        assert!(
            jwks.resolve(&format!("made-up-{i}"))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(fetches(&tx), 2);
    // The transmitter rotates in a new key; after the window it is found by one refetch.
    let k2 = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k2"))).unwrap();
    tx.shared.knobs().keys.push(k2);
    clock.advance(31 * 1000);
    assert!(jwks.resolve("k2").await.unwrap().is_some());
    assert_eq!(fetches(&tx), 3);
    assert!(
        jwks.key("k2").is_some(),
        "the synchronous resolver sees it too"
    );
}

#[tokio::test]
async fn concurrent_refreshes_are_coalesced() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    let jwks = cache(&tx, &clock);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let jwks = Arc::clone(&jwks);
            tokio::spawn(async move { jwks.snapshot().await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fetches(&tx), 1);
}

#[tokio::test]
async fn jwks_down_is_unavailable_not_accepted() {
    let tx = FakeTransmitter::start().await;
    tx.shared.knobs().jwks_down = true;
    let clock = manual_clock();
    let jwks = cache(&tx, &clock);
    let set = tx.shared.sign(&tx.shared.claims("j1"));
    let err = jwks.prepare(set.as_bytes()).await.unwrap_err();
    assert!(matches!(err, ReceiverError::JwksUnavailable(_)), "{err}");
    assert_eq!(
        err.push_status(),
        503,
        "the push endpoint makes the transmitter retry"
    );
    // The synchronous resolver has no key either, so verification fails closed.
    let verifier = SetVerifier::new(
        VerifyOptions::new(tx.issuer(), fake_tx::AUD).algorithms([Algorithm::Es256]),
        jwks.clone(),
        Arc::new(clock.clone()),
    );
    assert!(verifier.verify(&set).is_err());
}

#[tokio::test]
async fn expired_keys_serve_only_within_stale_if_error() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    let jwks = cache(&tx, &clock);
    jwks.snapshot().await.unwrap();
    tx.shared.knobs().jwks_down = true;
    clock.advance((15 * 60 + 60) * 1000);
    assert!(jwks.snapshot().await.is_ok(), "within 5 min of expiry");
    clock.advance(5 * 60 * 1000);
    assert!(matches!(
        jwks.snapshot().await,
        Err(ReceiverError::JwksUnavailable(_))
    ));
}

#[tokio::test]
async fn prepared_cache_verifies_a_set_and_refuses_another_key() {
    let tx = FakeTransmitter::start().await;
    let clock = manual_clock();
    let jwks = cache(&tx, &clock);
    let set = tx.shared.sign(&tx.shared.claims("j1"));
    jwks.prepare(set.as_bytes()).await.unwrap();
    let verifier = SetVerifier::new(
        VerifyOptions::new(tx.issuer(), fake_tx::AUD).algorithms([Algorithm::Es256]),
        jwks.clone(),
        Arc::new(ssf_types::SystemClock),
    );
    assert_eq!(verifier.verify(&set).unwrap().jti(), "j1");
    let stranger = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("stranger"))).unwrap();
    let forged = sign_with(&stranger, &tx.shared.claims("j2")).unwrap();
    jwks.prepare(forged.as_bytes()).await.unwrap();
    let err = verifier.verify(&forged).unwrap_err();
    assert_eq!(
        err.set_error_code(),
        Some(ssf_types::SetErrorCode::InvalidKey)
    );
}
