//! SET verification of arbitrary bytes: never panics, never accepts garbage.
//!
//! Two verifiers: one with every signing algorithm and real keys (header, key lookup and
//! signature paths), and one that explicitly allows `alg: none`, so mutated payloads reach the
//! claim checks without a valid signature.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, KeyPair, SetVerifier, SigningKey, VerifyOptions,
    decode_unverified,
};
use ssf_types::{KeyId, ManualClock, UnixMillis};

const ISS: &str = "https://idp.example.com/123456789/";
const AUD: &str = "https://sp.example.com/caep";

fn verifier(algorithms: Vec<Algorithm>) -> SetVerifier {
    let keys = Algorithm::SIGNING
        .iter()
        .map(|alg| {
            KeyPair::generate(alg.clone(), Some(KeyId::new(alg.as_str()))).map(|k| k.public_jwk())
        })
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default();
    let clock = Arc::new(ManualClock::new(UnixMillis::from_secs(1_615_305_200)));
    let options = VerifyOptions::new(ISS, AUD).algorithms(algorithms);
    SetVerifier::new(options, Arc::new(JwksSnapshot::new(&Jwks { keys })), clock)
}

static SIGNED: LazyLock<SetVerifier> = LazyLock::new(|| verifier(Algorithm::SIGNING.to_vec()));
static UNSECURED: LazyLock<SetVerifier> = LazyLock::new(|| verifier(vec![Algorithm::Unsecured]));

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = SIGNED.verify(data) {
        panic!("accepted a fuzzed SET signed by kid {}", set.kid());
    }
    if let Err(e) = UNSECURED.verify(data) {
        assert!(
            e.set_error_code().is_some(),
            "verification error without an err code: {e:?}"
        );
    }
    let _ = decode_unverified(data);
});
