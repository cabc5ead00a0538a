//! Every algorithm signs and verifies; the header is exactly what SSF asks for.

use std::sync::Arc;

use serde_json::{Value, json};
use ssf_jose::{
    Algorithm, JoseError, JwksSnapshot, KeyStore, MemoryKeyStore, SetSigner, SetVerifier,
    VerifyOptions, decode_unverified,
};

use crate::common::{self, AUD, ISS, NOW};

#[test]
fn every_algorithm_signs_and_verifies() {
    for alg in Algorithm::SIGNING {
        let signer = SetSigner::with_key(common::key(&alg), common::clock());
        let token = signer.sign(&common::claims()).unwrap();
        let set = common::verify(&token).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(set.claims().to_json(), common::claims(), "{alg}");
        assert_eq!(set.alg(), alg);
        assert_eq!(set.kid(), common::kid_for(&alg));
        assert_eq!(set.jti(), "24c63fb56e5a2d77a6b512616ca9fa24");
        assert_eq!(set.issuer(), ISS);
        assert_eq!(set.compact(), token);
    }
}

/// SSF-SET-01, SSF-SET-02, SSF-SIG-03, TV-HDR-01: short `typ`, `alg`, `kid`, nothing else.
#[test]
fn header_is_typ_alg_kid_in_that_order() {
    let signer = SetSigner::with_key(common::key(&Algorithm::Rs256), common::clock());
    let token = signer.sign(&common::claims()).unwrap();
    let header_b64 = token.split('.').next().unwrap();
    let header = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            header_b64,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        r#"{"typ":"secevent+jwt","alg":"RS256","kid":"tx-key-1"}"#
    );
    let decoded = decode_unverified(&token).unwrap();
    assert_eq!(Value::Object(decoded.claims), common::claims());
}

/// RS256 is the default allow-list (SSF-SIG-02, SSF-SIG-05): other algorithms need listing.
#[test]
fn default_allow_list_is_rs256_only() {
    let resolver = Arc::new(JwksSnapshot::new(&common::all_keys_jwks()));
    let verifier = SetVerifier::new(VerifyOptions::new(ISS, AUD), resolver, common::clock());
    let rs = SetSigner::with_key(common::key(&Algorithm::Rs256), common::clock());
    assert!(verifier.verify(rs.sign(&common::claims()).unwrap()).is_ok());
    for alg in [Algorithm::Ps256, Algorithm::Es256, Algorithm::EdDsa] {
        let signer = SetSigner::with_key(common::key(&alg), common::clock());
        let err = verifier
            .verify(signer.sign(&common::claims()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, JoseError::AlgorithmNotAllowed),
            "{alg}: {err}"
        );
    }
}

/// SSF-SET-07 / SSF-RXV-04: `aud` may be an array; one matching member suffices.
#[test]
fn audience_array_containing_ours_is_accepted() {
    let signer = SetSigner::with_key(common::key(&Algorithm::Rs256), common::clock());
    let mut claims = common::claims();
    claims["aud"] = json!(["https://other.example", AUD]);
    assert!(common::verify(&signer.sign(&claims).unwrap()).is_ok());
    // A verifier with several accepted audiences accepts any of them.
    claims["aud"] = json!("https://second.example");
    let token = signer.sign(&claims).unwrap();
    assert!(matches!(
        common::verify(&token),
        Err(JoseError::AudienceMismatch)
    ));
    assert!(
        common::verifier(common::all_algs().audience("https://second.example"))
            .verify(&token)
            .is_ok()
    );
}

#[test]
fn signer_follows_the_store_current_key() {
    let store = Arc::new(MemoryKeyStore::with_current(
        common::clock(),
        common::key(&Algorithm::Es256),
    ));
    let signer = SetSigner::new(store.clone());
    let before = signer.sign(&common::claims()).unwrap();
    assert_eq!(common::verify(&before).unwrap().kid(), "tx-key-es256");
    store.stage_key(common::key(&Algorithm::EdDsa)).unwrap();
    store.promote().unwrap();
    let after = signer.sign(&common::claims()).unwrap();
    assert_eq!(common::verify(&after).unwrap().kid(), "tx-key-eddsa");
}

#[test]
fn claims_must_be_a_json_object() {
    let signer = SetSigner::with_key(common::key(&Algorithm::EdDsa), common::clock());
    assert!(matches!(
        signer.sign(&json!(["not", "an", "object"])),
        Err(JoseError::ClaimsNotObject)
    ));
    assert!(matches!(
        signer.sign("string"),
        Err(JoseError::ClaimsNotObject)
    ));
    let empty = MemoryKeyStore::new(common::clock());
    assert!(matches!(
        SetSigner::new(Arc::new(empty)).sign(&common::claims()),
        Err(JoseError::NoSigningKey)
    ));
}

/// SSF-SET-04: `iat` within the skew is fine; the clock is injected.
#[test]
fn clock_drives_iat_checks() {
    let signer = SetSigner::with_key(common::key(&Algorithm::EdDsa), common::clock());
    let mut claims = common::claims();
    claims["iat"] = json!(NOW + 30);
    let token = signer.sign(&claims).unwrap();
    let clock = common::clock();
    let resolver = Arc::new(JwksSnapshot::new(&common::all_keys_jwks()));
    let verifier = SetVerifier::new(
        common::all_algs().clock_skew(std::time::Duration::from_secs(10)),
        resolver,
        clock.clone(),
    );
    assert!(matches!(
        verifier.verify(&token),
        Err(JoseError::IssuedInFuture)
    ));
    clock.advance(25_000);
    assert!(verifier.verify(&token).is_ok());
}
