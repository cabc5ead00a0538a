//! Key rotation through a real JWKS served on 127.0.0.1: the verifier follows the receiver's
//! JWKS cache (`Cache-Control` lifetime, unknown `kid` refetched at most once per window, keys
//! kept while the endpoint is down).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns panic on purpose

use std::sync::{Arc, Mutex};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;
use ssf_http::{ClientConfig, build_client};
use ssf_jose::{Algorithm as JoseAlg, Jwk, KeyPair, SigningKey};
use ssf_receiver::{config::JwksSettings, jwks::JwksCache};
use ssf_types::{KeyId, ManualClock, UnixMillis};

use super::{
    TokenVerifier,
    tests::{Fixture, ISS, T0, call, jane, jwt, policy, serve},
};
use crate::{EnforceError, Engine};

/// What the IdP's JWKS endpoint serves, and how often it was asked.
#[derive(Default)]
struct Idp {
    keys: Vec<Jwk>,
    down: bool,
    fetches: u32,
}

type Shared = Arc<Mutex<Idp>>;

async fn jwks(State(idp): State<Shared>) -> axum::response::Response {
    let mut idp = idp.lock().unwrap();
    idp.fetches += 1;
    if idp.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    axum::Json(json!({ "keys": idp.keys })).into_response()
}

async fn start_idp(idp: Shared) -> String {
    let app = Router::new().route("/jwks", get(jwks)).with_state(idp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn key(kid: &str) -> KeyPair {
    KeyPair::generate(JoseAlg::Rs256, Some(KeyId::new(kid))).unwrap()
}

/// A token for Jane signed by `key`, issued at T0 (valid for an hour).
fn token(key: &KeyPair) -> String {
    jwt(key, json!({}), &jane(T0))
}

/// A token for Jane signed by `key`, issued at the clock's time.
fn token_now(key: &KeyPair, clock: &ManualClock) -> String {
    jwt(
        key,
        json!({}),
        &jane(ssf_types::Clock::now(clock).as_secs()),
    )
}

struct Rig {
    idp: Shared,
    clock: ManualClock,
    verifier: TokenVerifier,
}

impl Rig {
    async fn start(first: &KeyPair) -> Self {
        let idp: Shared = Arc::new(Mutex::new(Idp {
            keys: vec![first.public_jwk()],
            ..Idp::default()
        }));
        let url = start_idp(Arc::clone(&idp)).await;
        let clock = ManualClock::new(UnixMillis::from_secs(T0));
        let http = build_client(&ClientConfig::dev_loopback()).unwrap();
        let cache =
            JwksCache::new(http, &url, JwksSettings::default(), Arc::new(clock.clone())).unwrap();
        let verifier = TokenVerifier::from_source(ISS, Arc::new(cache), Arc::new(clock.clone()))
            .await
            .unwrap()
            .audience("console");
        Self {
            idp,
            clock,
            verifier,
        }
    }

    fn fetches(&self) -> u32 {
        self.idp.lock().unwrap().fetches
    }

    fn publish(&self, keys: &[&KeyPair]) {
        self.idp.lock().unwrap().keys = keys.iter().map(|k| k.public_jwk()).collect();
    }
}

const SECOND: i64 = 1000;

#[tokio::test]
async fn rotated_keys_are_fetched_once_per_window_and_unknown_kids_refused() {
    let (k1, k2, k3) = (key("k1"), key("k2"), key("k3"));
    let rig = Rig::start(&k1).await;
    assert_eq!(rig.fetches(), 1);
    rig.verifier.verify_fresh(&token(&k1)).await.unwrap();
    assert_eq!(rig.fetches(), 1, "the cached set serves while fresh");

    // The IdP rotates to k2: its first token triggers one refetch.
    rig.publish(&[&k2]);
    rig.verifier.verify_fresh(&token(&k2)).await.unwrap();
    assert_eq!(rig.fetches(), 2);
    assert_eq!(rig.verifier.kids(), ["k2"]);

    // k3 is not published yet: refused, and within the window no further fetch (made-up kids
    // cannot make the verifier fetch for each token).
    rig.publish(&[&k2, &k3]);
    for _ in 0..3 {
        let err = rig.verifier.verify_fresh(&token(&k3)).await.unwrap_err();
        assert!(matches!(err, EnforceError::TokenKeyUnknown), "{err:?}");
    }
    assert_eq!(rig.fetches(), 2);
    // After the window (30 s), an unknown kid may refetch again.
    rig.clock.advance(31 * SECOND);
    rig.verifier.verify_fresh(&token(&k3)).await.unwrap();
    assert_eq!(rig.fetches(), 3);
    // The synchronous path sees the same keys.
    rig.verifier.verify(&token(&k2)).unwrap();
}

#[tokio::test]
async fn an_expired_set_is_refetched_and_a_down_endpoint_keeps_the_cached_keys() {
    let (k1, k2) = (key("k1"), key("k2"));
    let rig = Rig::start(&k1).await;
    // Past the default lifetime (15 min) the set is fetched again, rotation included.
    rig.publish(&[&k1, &k2]);
    rig.clock.advance(16 * 60 * SECOND);
    rig.verifier.verify_fresh(&token(&k1)).await.unwrap();
    assert_eq!(rig.fetches(), 2);
    assert_eq!(rig.verifier.kids(), ["k1", "k2"]);

    rig.idp.lock().unwrap().down = true;
    // Long past the lifetime and `stale_if_error`: the cache has nothing usable, the verifier
    // keeps what it holds.
    rig.clock.advance(60 * 60 * SECOND);
    rig.verifier
        .verify_fresh(&token_now(&k2, &rig.clock))
        .await
        .unwrap();
    assert!(rig.fetches() >= 3, "the endpoint was asked");
    let k9 = key("k9");
    let err = rig
        .verifier
        .verify_fresh(&token_now(&k9, &rig.clock))
        .await
        .unwrap_err();
    assert!(matches!(err, EnforceError::TokenKeyUnknown), "{err:?}");
}

// RFC 6750 §3.1: an unknown kid is a 401 invalid_token that says why.
#[tokio::test]
async fn the_layer_follows_rotation_and_answers_401_for_a_kid_still_unknown() {
    let (k1, k2) = (key("k1"), key("k2"));
    let rig = Rig::start(&k1).await;
    let clock = Arc::new(ManualClock::new(UnixMillis::from_secs(T0)));
    let f = Fixture {
        engine: Arc::new(Engine::new(policy(), clock).unwrap()),
        key: k1,
        verifier: rig.verifier.clone(),
    };
    let base = serve(&f).await;
    let (status, _, _) = call(&base, reqwest::Method::GET, "/me", Some(&token(&f.key))).await;
    assert_eq!(status, 200);
    rig.publish(&[&k2]);
    let (status, _, _) = call(&base, reqwest::Method::GET, "/me", Some(&token(&k2))).await;
    assert_eq!(status, 200, "rotated key picked up without a restart");
    let stranger = key("k-unknown");
    let (status, www, body) =
        call(&base, reqwest::Method::GET, "/me", Some(&token(&stranger))).await;
    assert_eq!(status, 401);
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    assert_eq!(
        body["error_description"],
        "The access token is signed with a key the issuer does not publish"
    );
}
