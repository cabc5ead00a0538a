//! Keys: PEM and JWK round trips, public-only publication (SSF-SIG-03), import rules.

use serde_json::{Value, json};
use ssf_jose::{
    Algorithm, JoseError, Jwk, Jwks, JwksSnapshot, KeyPair, PRIVATE_MEMBERS, SetSigner, SigningKey,
    VerifyingKey,
};
use ssf_types::KeyId;
use ssf_types::secret::ExposeSecret;

use crate::common;

#[test]
fn pem_round_trip_for_every_algorithm() {
    for alg in Algorithm::SIGNING {
        let key = KeyPair::generate(alg.clone(), None).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(
            pem.expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----"),
            "{alg}"
        );
        let back = KeyPair::from_pem(pem.expose_secret(), Some(alg.clone()), None).unwrap();
        assert_eq!(back.public_jwk(), key.public_jwk(), "{alg}");
        assert_eq!(back.kid(), key.kid(), "{alg}: thumbprint kid is stable");
        // Signed by the reloaded key, verified by the original's public JWK.
        let token = SetSigner::with_key(back, common::clock())
            .sign(&common::claims())
            .unwrap();
        let verifier = ssf_jose::SetVerifier::new(
            common::all_algs(),
            std::sync::Arc::new(JwksSnapshot::new(&Jwks {
                keys: vec![key.public_jwk()],
            })),
            common::clock(),
        );
        assert!(verifier.verify(&token).is_ok(), "{alg}");
    }
}

/// The algorithm is inferred from the key when not given; PS256 must be asked for.
#[test]
fn algorithm_is_inferred_from_the_key() {
    for (alg, inferred) in [
        (Algorithm::Rs256, Algorithm::Rs256),
        (Algorithm::Ps256, Algorithm::Rs256),
        (Algorithm::Es256, Algorithm::Es256),
        (Algorithm::EdDsa, Algorithm::EdDsa),
    ] {
        let key = KeyPair::from_pem(common::pem(&alg), None, None).unwrap();
        assert_eq!(key.alg(), &inferred);
    }
}

#[test]
fn jwk_round_trip_and_published_members() {
    for alg in Algorithm::SIGNING {
        let key = common::key(&alg);
        let jwk = key.public_jwk();
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["use"], "sig");
        assert_eq!(json["alg"], alg.as_str());
        assert_eq!(json["kid"], common::kid_for(&alg));
        let back: Jwk = serde_json::from_value(json).unwrap();
        assert_eq!(back, jwk);
        let vk = VerifyingKey::from_jwk(&back).unwrap();
        assert!(vk.fits(&alg));
        assert_eq!(vk.kid().as_str(), common::kid_for(&alg));
    }
}

/// SSF-SIG-03 / SSF-SEC-13: a JWKS never carries private members.
#[test]
fn jwks_holds_no_private_members() {
    let jwks = common::all_keys_jwks();
    assert!(jwks.is_public());
    let json: Value = serde_json::from_str(&jwks.to_json_pretty().unwrap()).unwrap();
    let keys = json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    for key in keys {
        for member in PRIVATE_MEMBERS {
            assert!(key.get(member).is_none(), "{member} published in {key}");
        }
    }
}

#[test]
fn private_or_weak_jwks_are_refused_as_verifying_keys() {
    let mut leaked = common::key(&Algorithm::Es256).public_jwk();
    leaked.other.insert("d".into(), json!("c2VjcmV0"));
    assert!(matches!(
        VerifyingKey::from_jwk(&leaked),
        Err(JoseError::InvalidKey { .. })
    ));

    let oct: Jwk = serde_json::from_value(
        json!({"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}),
    )
    .unwrap();
    assert!(
        VerifyingKey::from_jwk(&oct).is_err(),
        "secrets never come from a JWKS"
    );

    // A 1024-bit modulus (SSF-SIG-02 wants at least 2048).
    let n = common::b64([0xc5u8; 128]);
    let weak: Jwk =
        serde_json::from_value(json!({"kty":"RSA","n":n,"e":"AQAB","kid":"weak"})).unwrap();
    assert!(matches!(
        VerifyingKey::from_jwk(&weak),
        Err(JoseError::InvalidKey { .. })
    ));
    // An oversized one: 8200 bits.
    let n = common::b64([0xc5u8; 1025]);
    let huge: Jwk =
        serde_json::from_value(json!({"kty":"RSA","n":n,"e":"AQAB","kid":"huge"})).unwrap();
    assert!(VerifyingKey::from_jwk(&huge).is_err());

    let mut no_kid = common::key(&Algorithm::EdDsa).public_jwk();
    no_kid.kid = None;
    assert!(VerifyingKey::from_jwk(&no_kid).is_err());

    let off_curve: Jwk = serde_json::from_value(json!({
        "kty":"EC","crv":"P-256","kid":"bad",
        "x": common::b64([1u8; 32]), "y": common::b64([2u8; 32])
    }))
    .unwrap();
    assert!(VerifyingKey::from_jwk(&off_curve).is_err());
}

#[test]
fn foreign_pem_forms_are_read_or_refused_clearly() {
    assert!(matches!(
        KeyPair::from_pem("garbage", None, None),
        Err(JoseError::InvalidKey { .. })
    ));
    let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(matches!(
        KeyPair::from_pem(public, None, None),
        Err(JoseError::InvalidKey { .. })
    ));
    let enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(
        KeyPair::from_pem(enc, None, None),
        Err(JoseError::InvalidKey {
            reason: "encrypted PEM keys are not supported"
        })
    ));
}

#[test]
fn kid_can_be_chosen() {
    let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("2026-11-a"))).unwrap();
    assert_eq!(key.kid().as_str(), "2026-11-a");
    let renamed = key.with_kid(KeyId::new("b"));
    assert_eq!(renamed.public_jwk().kid.unwrap().as_str(), "b");
}
