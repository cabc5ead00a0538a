//! Property tests: verification never panics, whatever arrives.

use proptest::prelude::*;
use ssf_jose::{SetVerifier, decode_unverified};

use crate::common;

fn verifier() -> &'static SetVerifier {
    static V: std::sync::OnceLock<SetVerifier> = std::sync::OnceLock::new();
    V.get_or_init(|| common::verifier(common::all_algs()))
}

/// Three dot-separated parts of base64url-ish text, so inputs reach the later checks.
fn compactish() -> impl Strategy<Value = String> {
    let part = "[A-Za-z0-9_=+/-]{0,80}";
    (part, part, part).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

/// Real headers and claims with random JSON values mixed in, base64url encoded.
fn json_shaped() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just(serde_json::json!(null)),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
        Just(serde_json::json!(["x", 1])),
        Just(serde_json::json!({"a": {}})),
    ];
    let header_key = prop::sample::select(vec!["typ", "alg", "kid", "crit", "jwk", "x"]);
    let claim_key = prop::sample::select(vec![
        "iss", "aud", "iat", "jti", "sub", "exp", "nbf", "events",
    ]);
    (
        prop::collection::btree_map(header_key, value.clone(), 0..5),
        prop::collection::btree_map(claim_key, value, 0..8),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(h, c, sig)| {
            format!(
                "{}.{}.{}",
                common::b64(serde_json::to_vec(&h).unwrap()),
                common::b64(serde_json::to_vec(&c).unwrap()),
                common::b64(sig)
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_never_panics_on_strings(s in ".{0,400}") {
        let _ = verifier().verify(&s);
        let _ = decode_unverified(&s);
    }

    #[test]
    fn verify_never_panics_on_bytes(b in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = verifier().verify(&b);
        let _ = decode_unverified(&b);
    }

    #[test]
    fn verify_never_panics_on_compact_like_input(s in compactish()) {
        let _ = verifier().verify(&s);
    }

    #[test]
    fn verify_never_accepts_random_json(s in json_shaped()) {
        // Random signatures never verify, and nothing panics on the way.
        let result = verifier().verify(&s);
        prop_assert!(result.is_err());
        prop_assert!(result.unwrap_err().set_error_code().is_some());
    }
}
