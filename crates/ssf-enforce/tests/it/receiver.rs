//! The engine behind the receiver's apply task (`EventHandler`), through the store's row shape.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use ssf_enforce::{EnforcementHandler, EngineConfig, ReasonCode};
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, KeyPair, SetVerifier, SigningKey as _, VerifyOptions, sign_with,
};
use ssf_receiver::handler::{EventHandler, ReceivedSet, StateRow, StateWrite};
use ssf_types::{KeyId, ManualClock, UnixMillis};

use crate::common::{Harness, T0};

/// A SET as the receiver hands it over: signed, then verified (a `ReceivedSet` is built only
/// from a verified SET). The verifier's clock is the SET's `iat`.
fn received(payload: &Value) -> ReceivedSet {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    let key = KEY
        .get_or_init(|| KeyPair::generate(Algorithm::EdDsa, Some(KeyId::new("test-key"))).unwrap());
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let options = VerifyOptions::new(
        payload["iss"].as_str().unwrap(),
        payload["aud"].as_str().unwrap(),
    )
    .algorithms([Algorithm::EdDsa]);
    let clock = ManualClock::new(UnixMillis::from_secs(payload["iat"].as_i64().unwrap()));
    let verifier = SetVerifier::new(options, Arc::new(JwksSnapshot::new(&jwks)), Arc::new(clock));
    let verified = verifier.verify(sign_with(key, payload).unwrap()).unwrap();
    ReceivedSet::from_verified("idp".into(), "idp".into(), verified, UnixMillis(0))
}

#[test]
fn tv_caep_01_through_the_event_handler_and_a_store_reload() {
    let tv: Value = serde_json::from_str(include_str!(
        "../../../ssf-types/tests/vectors/TV-CAEP-01.json"
    ))
    .unwrap();
    let h = Harness::new(EngineConfig::default());
    let engine = Arc::new(h.engine);
    let handler = EnforcementHandler::new(Arc::clone(&engine));
    let set = received(&tv);
    let (writes, audit) = handler.plan_with_audit(&set).unwrap();
    assert_eq!(audit.jti, "24c63fb56e5a2d77a6b512616ca9fa24");
    assert_eq!(handler.plan(&set), writes);
    let StateWrite::Put {
        kind,
        event_time,
        value,
        ..
    } = &writes[0]
    else {
        panic!()
    };
    assert_eq!(
        (kind.as_str(), *event_time),
        ("revocation", 1_615_304_991_000)
    );
    assert_eq!(value["cause"]["rule"], "caep.session-revoked");
    handler.commit(&writes);

    let claims = serde_json::json!({"iss": "https://idp.example.com/123456789/", "sub": "u",
        "sid": "dMTlD|1600802906337.16|16008.16", "iat": T0 - 1});
    let req = engine.request_from_claims(claims.as_object().unwrap());
    assert_eq!(engine.decide(&req).reason(), ReasonCode::SessionRevoked);

    // What the store would hold, loaded into a fresh engine behind another handler.
    let stored: Vec<StateRow> = writes
        .iter()
        .filter_map(|w| match w {
            StateWrite::Put {
                kind,
                key,
                value,
                event_time,
            } => Some(StateRow {
                kind: kind.clone(),
                key: key.clone(),
                value: value.clone(),
                event_time: *event_time,
                updated_at: UnixMillis(0),
            }),
            StateWrite::Delete { .. } => None,
        })
        .collect();
    let other = Arc::new(Harness::new(EngineConfig::default()).engine);
    EnforcementHandler::new(Arc::clone(&other)).load(stored);
    assert_eq!(other.rows(), engine.rows());
    let d = other.decide(&req);
    assert_eq!(d.cause().unwrap().txn.as_deref(), Some("8675309"));
}

// D-EN-02: the handler reads the stream id of the received SET, so a source listed with its
// stream grants and the same SET without it does not.
#[test]
fn d_en_02_the_handler_passes_the_stream_id_to_grant_sources() {
    let mut config = crate::jane::jane_config();
    config.grants.sources = Some(vec![ssf_enforce::GrantSource {
        iss: crate::common::IDP.into(),
        stream_ids: vec!["stream-1".into()],
    }]);
    let payload = crate::common::set(
        "g-1",
        &crate::common::caep("token-claims-change"),
        crate::common::email("jane@example.com"),
        serde_json::json!({"claims": {"customer_id": "C1", "access_allowed": "read"}}),
        Some(T0),
    );
    let handler = EnforcementHandler::new(Arc::new(Harness::new(config).engine));
    let (writes, audit) = handler.plan_with_audit(&received(&payload)).unwrap();
    assert_eq!((writes.len(), audit.refused), (0, 1));
    let on_stream = received(&payload).with_stream_id(Some(ssf_types::StreamId::new("stream-1")));
    let (writes, audit) = handler.plan_with_audit(&on_stream).unwrap();
    assert_eq!((writes.len(), audit.refused), (1, 0));
}
