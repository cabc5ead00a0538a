//! Checklist §15 vectors: TV-HDR-01/02 accepted, TV-NEG-02/03/24/25 refused, TV-CAEP payloads
//! signed and verified.

use serde_json::{Value, json};
use ssf_jose::{Algorithm, JoseError, SetSigner, VerifyOptions};
use ssf_types::SetErrorCode;

use crate::common::{self, forge};

const CAEP_ISS: &str = "https://idp.example.com/123456789/";
const CAEP_AUD: &str = "https://sp.example.com/caep";

/// TV-CAEP-01..03 (session-revoked), verbatim from the checklist.
fn caep_vectors() -> Vec<(&'static str, Value)> {
    vec![
        (
            "TV-CAEP-01",
            json!({
                "iss": "https://idp.example.com/123456789/",
                "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
                "iat": 1615305159,
                "aud": "https://sp.example.com/caep",
                "txn": "8675309",
                "sub_id": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
                "events": {
                    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"event_timestamp": 1615304991}
                }
            }),
        ),
        (
            "TV-CAEP-02",
            json!({
                "iss": "https://idp.example.com/123456789/",
                "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
                "iat": 1615305159,
                "aud": "https://sp.example.com/caep",
                "txn": "8675309",
                "sub_id": {
                    "format": "complex",
                    "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
                    "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "99beb27c-c1c2-4955-882a-e0dc4996fcbc"},
                    "tenant": {"format": "opaque", "id": "123456789"}
                },
                "events": {
                    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"initiating_entity": "policy", "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"}, "reason_user": {"en": "Access attempt from multiple regions.", "es-410": "Intento de acceso desde varias regiones."}, "event_timestamp": 1615304991}
                }
            }),
        ),
        (
            "TV-CAEP-03",
            json!({
                "iss": "https://idp.example.com/123456789/",
                "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
                "iat": 1615305159,
                "aud": "https://sp.example.com/caep",
                "txn": "8675309",
                "sub_id": {
                    "format": "complex",
                    "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "jane.smith@example.com"},
                    "device": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "e9297990-14d2-42ec-a4a9-4036db86509a"},
                    "tenant": {"format": "opaque", "id": "123456789"}
                },
                "events": {
                    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"initiating_entity": "policy", "reason_admin": {"en": "Policy Violation: C076E822"}, "reason_user": {"en": "This device is no longer compliant.", "it": "Questo dispositivo non è più conforme."}, "event_timestamp": 1615304991}
                }
            }),
        ),
    ]
}

#[test]
fn tv_caep_payloads_sign_and_verify_with_every_algorithm() {
    let opts = VerifyOptions::new(CAEP_ISS, CAEP_AUD).algorithms(Algorithm::SIGNING);
    let verifier = common::verifier(opts);
    for (name, payload) in caep_vectors() {
        for alg in Algorithm::SIGNING {
            let token = SetSigner::with_key(common::key(&alg), common::clock())
                .sign(&payload)
                .unwrap();
            let set = verifier
                .verify(&token)
                .unwrap_or_else(|e| panic!("{name} {alg}: {e}"));
            assert_eq!(set.claims().to_json(), payload, "{name} {alg}");
        }
    }
}

/// TV-HDR-01 (short typ) and TV-HDR-02 (long typ): both accepted by a receiver.
#[test]
fn tv_hdr_01_and_02_are_accepted() {
    let key = common::key(&Algorithm::Rs256);
    let hdr01 = json!({"typ": "secevent+jwt", "alg": "RS256", "kid": "tx-key-1"});
    let hdr02 = json!({"typ": "application/secevent+jwt", "alg": "RS256", "kid": "tx-key-1"});
    let mixed = json!({"typ": "Application/SecEvent+JWT", "alg": "RS256", "kid": "tx-key-1"});
    for header in [hdr01, hdr02, mixed] {
        let token = forge(&header, &common::claims(), &key);
        assert!(common::verify(&token).is_ok(), "{header}");
    }
}

/// TV-NEG-24: typ JWT -> invalid_request. TV-NEG-25: alg none -> invalid_key.
#[test]
fn tv_neg_24_and_25() {
    let key = common::key(&Algorithm::Rs256);
    let neg24 = forge(
        &json!({"typ": "JWT", "alg": "RS256", "kid": "tx-key-1"}),
        &common::claims(),
        &key,
    );
    let err = common::verify(&neg24).unwrap_err();
    assert!(matches!(err, JoseError::WrongTyp));
    assert_eq!(err.set_error_code(), Some(SetErrorCode::InvalidRequest));

    let neg25 = json!({"typ": "secevent+jwt", "alg": "none"});
    let token = format!(
        "{}.{}.",
        common::b64(neg25.to_string()),
        common::b64(common::claims().to_string())
    );
    let err = common::verify(&token).unwrap_err();
    assert_eq!(err.set_error_code(), Some(SetErrorCode::InvalidKey));
}

/// TV-NEG-02 (`sub` present) and TV-NEG-03 (`exp` present): invalid_request by default (D-07),
/// accepted with the compatibility flags.
#[test]
fn tv_neg_02_and_03() {
    let base = json!({
        "iss": "https://idp.example.com/3456789/",
        "jti": "07efd930f0977e4fcc1149a733ce7f78",
        "iat": 1615305159,
        "aud": "https://sp.example2.net/caep",
        "txn": "8675309",
        "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/3456789/", "sub": "jane.smith@example.com"},
        "events": {
            "https://schemas.openid.net/secevent/caep/event-type/credential-change": {"credential_type": "fido2-roaming", "change_type": "create", "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc", "friendly_name": "Jane's USB authenticator", "initiating_entity": "user", "reason_admin": {"en": "User self-enrollment"}, "event_timestamp": 1615304991}
        }
    });
    let mut neg02 = base.clone();
    neg02["sub"] = json!("jane.smith@example.com");
    let mut neg03 = base;
    neg03["exp"] = json!(1615308759);
    let signer = SetSigner::with_key(common::key(&Algorithm::Rs256), common::clock());
    let opts = VerifyOptions::new(
        "https://idp.example.com/3456789/",
        "https://sp.example2.net/caep",
    );
    let strict = common::verifier(opts.clone());
    let lax = common::verifier(opts.allow_sub(true).allow_exp(true));
    let t02 = signer.sign(&neg02).unwrap();
    let t03 = signer.sign(&neg03).unwrap();
    assert!(matches!(strict.verify(&t02), Err(JoseError::SubPresent)));
    assert!(matches!(strict.verify(&t03), Err(JoseError::ExpPresent)));
    assert_eq!(
        JoseError::SubPresent.set_error_code(),
        Some(SetErrorCode::InvalidRequest)
    );
    assert!(lax.verify(&t02).is_ok());
    assert!(
        lax.verify(&t03).is_ok(),
        "exp 1615308759 is after the test clock"
    );
}
