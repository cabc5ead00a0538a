//! Fixtures: one key per algorithm (generated once per test run), a fixed clock, forging helpers.

use std::sync::{Arc, OnceLock};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, KeyPair, SetVerifier, SigningKey, VerifiedSet, VerifyOptions,
};
use ssf_types::secret::ExposeSecret;
use ssf_types::{KeyId, ManualClock, UnixMillis};

pub(crate) const ISS: &str = "https://idp.example.com/123456789/";
pub(crate) const AUD: &str = "https://sp.example.com/caep";
/// "Now" in the tests: a little after the `iat` of the checklist's TV-CAEP vectors.
pub(crate) const NOW: i64 = 1_615_305_200;
pub(crate) const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

pub(crate) fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UnixMillis::from_secs(NOW)))
}

/// The kid of the fixed key for `alg`; RS256 uses the checklist's `tx-key-1` (TV-HDR-01).
pub(crate) fn kid_for(alg: &Algorithm) -> &'static str {
    match alg {
        Algorithm::Rs256 => "tx-key-1",
        Algorithm::Ps256 => "tx-key-ps256",
        Algorithm::Es256 => "tx-key-es256",
        _ => "tx-key-eddsa",
    }
}

fn pems() -> &'static Vec<(Algorithm, String)> {
    static PEMS: OnceLock<Vec<(Algorithm, String)>> = OnceLock::new();
    PEMS.get_or_init(|| {
        Algorithm::SIGNING
            .iter()
            .map(|alg| {
                let key = KeyPair::generate(alg.clone(), Some(KeyId::new(kid_for(alg)))).unwrap();
                (
                    alg.clone(),
                    key.to_pkcs8_pem().unwrap().expose_secret().to_owned(),
                )
            })
            .collect()
    })
}

/// The PKCS#8 PEM of the fixed key for `alg`.
pub(crate) fn pem(alg: &Algorithm) -> &'static str {
    &pems().iter().find(|(a, _)| a == alg).unwrap().1
}

/// A fresh copy of the fixed key for `alg`.
pub(crate) fn key(alg: &Algorithm) -> KeyPair {
    KeyPair::from_pem(pem(alg), Some(alg.clone()), Some(KeyId::new(kid_for(alg)))).unwrap()
}

/// The JWKS of every fixed key.
pub(crate) fn all_keys_jwks() -> Jwks {
    Jwks {
        keys: Algorithm::SIGNING
            .iter()
            .map(|a| key(a).public_jwk())
            .collect(),
    }
}

/// A CAEP session-revoked SET payload (TV-CAEP-01 shape) issued at `NOW`.
pub(crate) fn claims() -> Value {
    json!({
        "iss": ISS,
        "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
        "iat": NOW,
        "aud": AUD,
        "txn": "8675309",
        "sub_id": {"format": "email", "email": "jane@example.com"},
        "events": {SESSION_REVOKED: {"event_timestamp": NOW - 100}}
    })
}

/// Options for ISS/AUD allowing every signing algorithm.
pub(crate) fn all_algs() -> VerifyOptions {
    VerifyOptions::new(ISS, AUD).algorithms(Algorithm::SIGNING)
}

/// A verifier over every fixed key.
pub(crate) fn verifier(options: VerifyOptions) -> SetVerifier {
    SetVerifier::new(
        options,
        Arc::new(JwksSnapshot::new(&all_keys_jwks())),
        clock(),
    )
}

/// Verifies with every algorithm allowed and every fixed key known.
pub(crate) fn verify(token: &str) -> Result<VerifiedSet, ssf_jose::JoseError> {
    verifier(all_algs()).verify(token)
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Any header and payload, signed by `key` over exactly what is sent.
pub(crate) fn forge(header: &Value, claims: &Value, key: &dyn SigningKey) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(sig))
}

/// The standard header for `key` (TV-HDR-01 shape).
pub(crate) fn header_for(key: &KeyPair) -> Value {
    json!({"typ": "secevent+jwt", "alg": key.alg().as_str(), "kid": key.kid().as_str()})
}

pub(crate) fn b64_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}
