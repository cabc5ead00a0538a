//! Every rejection, built from real signed tokens, with its RFC 8935 `err` code (checklist §1.3).

use std::sync::Arc;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use ssf_jose::{
    Algorithm, JoseError, JwksSnapshot, SetSigner, SetVerifier, SigningKey, VerifyOptions,
    VerifyingKey,
};
use ssf_types::{KeyId, SetErrorCode};

use crate::common::{self, AUD, ISS, NOW, b64, forge, header_for};

fn rs256() -> ssf_jose::KeyPair {
    common::key(&Algorithm::Rs256)
}

fn expect(token: &str, want: fn(&JoseError) -> bool, code: SetErrorCode) {
    let err = common::verify(token).expect_err("must be rejected");
    assert!(want(&err), "unexpected error: {err:?}");
    assert_eq!(err.set_error_code(), Some(code), "{err:?}");
}

fn signed_claims(claims: &Value) -> String {
    SetSigner::with_key(rs256(), common::clock())
        .sign(claims)
        .unwrap()
}

/// TV-NEG-25: `{"typ":"secevent+jwt","alg":"none"}` is never accepted.
#[test]
fn tv_neg_25_alg_none_is_refused() {
    let header = json!({"typ": "secevent+jwt", "alg": "none"});
    let token = format!(
        "{}.{}.",
        b64(header.to_string()),
        b64(common::claims().to_string())
    );
    expect(
        &token,
        |e| matches!(e, JoseError::UnsecuredNotAllowed),
        SetErrorCode::InvalidKey,
    );
    // Even with a kid and a copied signature.
    let good = signed_claims(&common::claims());
    let sig = good.rsplit('.').next().unwrap();
    let header = json!({"typ": "secevent+jwt", "alg": "none", "kid": "tx-key-1"});
    let token = format!(
        "{}.{}.{sig}",
        b64(header.to_string()),
        b64(common::claims().to_string())
    );
    expect(
        &token,
        |e| matches!(e, JoseError::UnsecuredNotAllowed),
        SetErrorCode::InvalidKey,
    );
}

/// `none` only when explicitly listed, and then with an empty signature only.
#[test]
fn alg_none_only_when_explicitly_allowed() {
    let header = json!({"typ": "secevent+jwt", "alg": "none"});
    let token = format!(
        "{}.{}.",
        b64(header.to_string()),
        b64(common::claims().to_string())
    );
    let verifier =
        common::verifier(VerifyOptions::new(ISS, AUD).algorithms([Algorithm::Unsecured]));
    assert!(verifier.verify(&token).is_ok());
    assert!(matches!(
        verifier.verify(format!("{token}AAAA")),
        Err(JoseError::MalformedToken)
    ));
}

/// Algorithm confusion: an HS256 token keyed with the RSA public key (as PEM-ish bytes and as
/// the JWK's modulus) is refused, whether or not HS256 is in the allow-list.
#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    ssf_jose::install_crypto_provider();
    let jwk = rs256().public_jwk();
    for secret in [
        serde_json::to_vec(&jwk).unwrap(),
        jwk.n.clone().unwrap().into_bytes(),
    ] {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("secevent+jwt".into());
        header.kid = Some("tx-key-1".into());
        let token = jsonwebtoken::encode(
            &header,
            &common::claims(),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        expect(
            &token,
            |e| matches!(e, JoseError::AlgorithmNotAllowed),
            SetErrorCode::InvalidKey,
        );
        let lax =
            common::verifier(common::all_algs().algorithms([Algorithm::Rs256, Algorithm::Hs256]));
        let err = lax.verify(&token).unwrap_err();
        assert!(matches!(err, JoseError::KeyAlgorithmMismatch), "{err:?}");
        assert_eq!(err.set_error_code(), Some(SetErrorCode::InvalidKey));
    }
}

/// HS256 works only with an explicitly configured secret and an explicit allow-list entry.
#[test]
fn hs256_with_configured_secret_when_listed() {
    ssf_jose::install_crypto_provider();
    let secret = [7u8; 32];
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("secevent+jwt".into());
    header.kid = Some("shared".into());
    let token = jsonwebtoken::encode(
        &header,
        &common::claims(),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let mut keys = JwksSnapshot::default();
    keys.insert(VerifyingKey::hmac(KeyId::new("shared"), &secret).unwrap());
    let keys = Arc::new(keys);
    let strict = SetVerifier::new(VerifyOptions::new(ISS, AUD), keys.clone(), common::clock());
    assert!(matches!(
        strict.verify(&token),
        Err(JoseError::AlgorithmNotAllowed)
    ));
    let opts = VerifyOptions::new(ISS, AUD).algorithms([Algorithm::Hs256]);
    assert!(
        SetVerifier::new(opts, keys, common::clock())
            .verify(&token)
            .is_ok()
    );
}

/// An RS256 token whose kid names the EC key: the key does not fit the alg.
#[test]
fn rs256_token_against_an_ec_key_is_refused() {
    let header = json!({"typ": "secevent+jwt", "alg": "RS256", "kid": "tx-key-es256"});
    let token = forge(&header, &common::claims(), &rs256());
    expect(
        &token,
        |e| matches!(e, JoseError::KeyAlgorithmMismatch),
        SetErrorCode::InvalidKey,
    );
    // And an ES256 token naming the RSA key.
    let es = common::key(&Algorithm::Es256);
    let header = json!({"typ": "secevent+jwt", "alg": "ES256", "kid": "tx-key-1"});
    let token = forge(&header, &common::claims(), &es);
    expect(
        &token,
        |e| matches!(e, JoseError::KeyAlgorithmMismatch),
        SetErrorCode::InvalidKey,
    );
    // PS256 naming the RS256 key: same kty, but the JWK's alg is RS256.
    let header = json!({"typ": "secevent+jwt", "alg": "PS256", "kid": "tx-key-1"});
    let token = forge(&header, &common::claims(), &common::key(&Algorithm::Ps256));
    expect(
        &token,
        |e| matches!(e, JoseError::KeyAlgorithmMismatch),
        SetErrorCode::InvalidKey,
    );
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let key = rs256();
    let token = forge(
        &json!({"typ": "secevent+jwt", "alg": "RS256", "kid": "nope"}),
        &common::claims(),
        &key,
    );
    expect(
        &token,
        |e| matches!(e, JoseError::UnknownKid),
        SetErrorCode::InvalidKey,
    );
    let token = forge(
        &json!({"typ": "secevent+jwt", "alg": "RS256"}),
        &common::claims(),
        &key,
    );
    expect(
        &token,
        |e| matches!(e, JoseError::MissingKid),
        SetErrorCode::InvalidKey,
    );
    let token = forge(
        &json!({"typ": "secevent+jwt", "alg": "RS256", "kid": 1}),
        &common::claims(),
        &key,
    );
    expect(
        &token,
        |e| matches!(e, JoseError::MalformedHeader),
        SetErrorCode::InvalidRequest,
    );
}

/// Decision D-RX-10 (issue 12): a SET without `kid` verifies only when the options allow it
/// (draft-era peers) and exactly one key of the set fits its `alg`; none or several fitting keys
/// fail as an unknown `kid` (`invalid_key`, SSF-RXV-02). A JWK without `kid` (draft-era sets) is
/// usable under its RFC 7638 thumbprint.
#[test]
fn missing_kid_only_when_allowed_and_one_key_fits() {
    let key = rs256();
    let token = forge(
        &json!({"typ": "secevent+jwt", "alg": "RS256"}),
        &common::claims(),
        &key,
    );
    let legacy = common::all_algs().allow_missing_kid(true);
    // Every fixed key is known, but only one fits RS256 (the PS256 key names its own alg).
    assert!(common::verifier(legacy.clone()).verify(&token).is_ok());
    assert!(matches!(common::verify(&token), Err(JoseError::MissingKid)));
    let with = |jwks: Vec<ssf_jose::Jwk>| {
        SetVerifier::new(
            legacy.clone(),
            Arc::new(JwksSnapshot::new(&ssf_jose::Jwks { keys: jwks })),
            common::clock(),
        )
        .verify(&token)
    };
    let twin = ssf_jose::KeyPair::generate(Algorithm::Rs256, Some(KeyId::new("twin"))).unwrap();
    let err = with(vec![key.public_jwk(), twin.public_jwk()]).unwrap_err();
    assert!(matches!(err, JoseError::UnknownKid), "ambiguous: {err:?}");
    assert_eq!(err.set_error_code(), Some(SetErrorCode::InvalidKey));
    let err = with(vec![common::key(&Algorithm::Es256).public_jwk()]).unwrap_err();
    assert!(matches!(err, JoseError::UnknownKid), "no RSA key: {err:?}");
    let mut bare = key.public_jwk();
    bare.kid = None;
    let snapshot = JwksSnapshot::new(&ssf_jose::Jwks {
        keys: vec![bare.clone()],
    });
    assert_eq!(
        snapshot.kids().collect::<Vec<_>>(),
        vec![bare.thumbprint().unwrap().as_str()]
    );
    assert!(with(vec![bare]).is_ok(), "a draft-era JWKS without kid");
}

#[test]
fn tampered_payload_or_signature_is_refused() {
    for alg in Algorithm::SIGNING {
        let token = SetSigner::with_key(common::key(&alg), common::clock())
            .sign(&common::claims())
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut other = common::claims();
        other["aud"] = json!("https://sp.example.com/caep");
        other["jti"] = json!("replayed-with-new-jti");
        let swapped = format!("{}.{}.{}", parts[0], b64(other.to_string()), parts[2]);
        expect(
            &swapped,
            |e| matches!(e, JoseError::BadSignature),
            SetErrorCode::InvalidKey,
        );
        let mut sig = common::b64_decode(parts[2]);
        sig[10] ^= 0x01;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
        expect(
            &flipped,
            |e| matches!(e, JoseError::BadSignature),
            SetErrorCode::InvalidKey,
        );
        let stripped = format!("{}.{}.", parts[0], parts[1]);
        expect(
            &stripped,
            |e| matches!(e, JoseError::BadSignature),
            SetErrorCode::InvalidKey,
        );
    }
}

#[test]
fn typ_must_be_present_and_secevent() {
    let key = rs256();
    let no_typ = forge(
        &json!({"alg": "RS256", "kid": "tx-key-1"}),
        &common::claims(),
        &key,
    );
    expect(
        &no_typ,
        |e| matches!(e, JoseError::MissingTyp),
        SetErrorCode::InvalidRequest,
    );
    // TV-NEG-24
    let jwt = forge(
        &json!({"typ": "JWT", "alg": "RS256", "kid": "tx-key-1"}),
        &common::claims(),
        &key,
    );
    expect(
        &jwt,
        |e| matches!(e, JoseError::WrongTyp),
        SetErrorCode::InvalidRequest,
    );
    let number = forge(
        &json!({"typ": 1, "alg": "RS256", "kid": "tx-key-1"}),
        &common::claims(),
        &key,
    );
    expect(
        &number,
        |e| matches!(e, JoseError::WrongTyp),
        SetErrorCode::InvalidRequest,
    );
}

/// RFC 7515 §4.1.11: no extension is understood, so any `crit` is refused.
#[test]
fn crit_header_is_refused() {
    let header = json!({"typ": "secevent+jwt", "alg": "RS256", "kid": "tx-key-1", "crit": ["exp"], "exp": 1});
    let token = forge(&header, &common::claims(), &rs256());
    expect(
        &token,
        |e| matches!(e, JoseError::CriticalHeader),
        SetErrorCode::InvalidRequest,
    );
    let header = json!({"typ": "secevent+jwt", "alg": "RS256", "kid": "tx-key-1", "crit": []});
    let token = forge(&header, &common::claims(), &rs256());
    expect(
        &token,
        |e| matches!(e, JoseError::CriticalHeader),
        SetErrorCode::InvalidRequest,
    );
}

#[test]
fn sub_and_exp_are_refused_by_default() {
    let mut claims = common::claims();
    claims["sub"] = json!("jane.smith@example.com");
    expect(
        &signed_claims(&claims),
        |e| matches!(e, JoseError::SubPresent),
        SetErrorCode::InvalidRequest,
    );
    let mut claims = common::claims();
    claims["exp"] = json!(NOW + 3600);
    expect(
        &signed_claims(&claims),
        |e| matches!(e, JoseError::ExpPresent),
        SetErrorCode::InvalidRequest,
    );
}

#[test]
fn iat_in_the_future_missing_or_fractional_is_refused() {
    for (iat, want) in [
        (
            json!(NOW + 61),
            (|e: &JoseError| matches!(e, JoseError::IssuedInFuture)) as fn(&JoseError) -> bool,
        ),
        (json!(NOW as f64), |e| {
            matches!(e, JoseError::InvalidClaim { claim: "iat" })
        }),
        (json!(null), |e| {
            matches!(e, JoseError::InvalidClaim { claim: "iat" })
        }),
    ] {
        let mut claims = common::claims();
        claims["iat"] = iat;
        expect(&signed_claims(&claims), want, SetErrorCode::InvalidRequest);
    }
    let mut claims = common::claims();
    claims.as_object_mut().unwrap().remove("iat");
    expect(
        &signed_claims(&claims),
        |e| matches!(e, JoseError::MissingClaim { claim: "iat" }),
        SetErrorCode::InvalidRequest,
    );
}

#[test]
fn jti_must_be_a_non_empty_string() {
    for jti in [json!(""), json!(42), json!(null)] {
        let mut claims = common::claims();
        claims["jti"] = jti;
        expect(
            &signed_claims(&claims),
            |e| matches!(e, JoseError::InvalidClaim { claim: "jti" }),
            SetErrorCode::InvalidRequest,
        );
    }
}

/// SSF-RXV-03 / SSF-RXV-04, and SSF-SEC-17: the error text never echoes what was expected.
#[test]
fn wrong_issuer_and_audience_without_echo() {
    let mut claims = common::claims();
    claims["iss"] = json!("https://idp.example.com/123456789"); // no trailing slash: not equal
    let err = common::verify(&signed_claims(&claims)).unwrap_err();
    assert!(matches!(err, JoseError::IssuerMismatch));
    assert_eq!(err.set_error_code(), Some(SetErrorCode::InvalidIssuer));
    let mut claims = common::claims();
    claims["aud"] = json!("https://attacker.example");
    let err2 = common::verify(&signed_claims(&claims)).unwrap_err();
    assert!(matches!(err2, JoseError::AudienceMismatch));
    assert_eq!(err2.set_error_code(), Some(SetErrorCode::InvalidAudience));
    for text in [err.to_string(), err2.to_string()] {
        for secret in [ISS, AUD, "idp.example.com", "attacker", "sp.example.com"] {
            assert!(!text.contains(secret), "{text:?} echoes {secret}");
        }
    }
}

/// RFC 7519 §4: duplicate claim names are refused rather than read one way or the other.
#[test]
fn duplicate_claims_are_refused() {
    let key = rs256();
    let header = b64(header_for(&key).to_string());
    let payload = format!(
        r#"{{"iss":"{ISS}","iss":"https://evil.example","aud":"{AUD}","iat":{NOW},"jti":"x"}}"#
    );
    let input = format!("{header}.{}", b64(payload));
    let token = format!("{input}.{}", b64(key.sign(input.as_bytes()).unwrap()));
    expect(
        &token,
        |e| matches!(e, JoseError::MalformedClaims),
        SetErrorCode::InvalidRequest,
    );
}

#[test]
fn malformed_compact_forms_are_invalid_request() {
    let good = signed_claims(&common::claims());
    let parts: Vec<&str> = good.split('.').collect();
    for bad in [
        String::new(),
        "not a jwt".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.extra"),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64("[]"), parts[1], parts[2]),
        format!("{}.{}.{}", b64("{not json"), parts[1], parts[2]),
        format!(" {good}"),
    ] {
        let err = common::verify(&bad).expect_err(&bad);
        assert_eq!(
            err.set_error_code(),
            Some(SetErrorCode::InvalidRequest),
            "{bad}: {err:?}"
        );
    }
    let huge = "a".repeat(VerifyOptions::DEFAULT_MAX_TOKEN_LEN + 1);
    assert!(matches!(
        common::verify(&huge),
        Err(JoseError::TokenTooLarge)
    ));
}

/// Keys from a header (`jwk`, `jku`, `x5u`) are never used: only the resolver decides.
#[test]
fn embedded_header_keys_are_ignored() {
    let attacker =
        ssf_jose::KeyPair::generate(Algorithm::Es256, Some(KeyId::new("tx-key-es256"))).unwrap();
    let header = json!({
        "typ": "secevent+jwt", "alg": "ES256", "kid": "tx-key-es256",
        "jwk": attacker.public_jwk(), "jku": "https://attacker.example/jwks"
    });
    let token = forge(&header, &common::claims(), &attacker);
    expect(
        &token,
        |e| matches!(e, JoseError::BadSignature),
        SetErrorCode::InvalidKey,
    );
}
