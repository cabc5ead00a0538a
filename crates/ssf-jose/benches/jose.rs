//! SET signing and verification cost against the raw signature primitive, per algorithm.
//!
//! For each algorithm: `raw` is the aws-lc-rs primitive alone (the physical floor), `ssf_jose` is
//! `SetSigner::sign` / `SetVerifier::verify` of a realistic CAEP SET (verification parses the
//! claims and the event into their `ssf-types` types), and `jsonwebtoken` is
//! `jsonwebtoken::encode` / `decode` with a cached key, for comparison. The bearer-JWT core is
//! measured the same way (`verify_jwt`): an RFC 9068 access token as the transmitter issues it,
//! verified with keys parsed once (`JwtKeySet`, the enforcement layer's way) and with a `Jwks`
//! whose key is parsed per call (the transmitter's own tokens). After the criterion run, tables
//! with the mean cost and the overhead ratio against `raw` are printed.
//!
//! Run: `cargo bench -p ssf-jose --bench jose -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    hint::black_box,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der},
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        self as sig, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519,
        EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
        RsaPublicKeyComponents,
    },
};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use serde_json::{Value, json};
use ssf_jose::{
    Algorithm, Jwks, JwksSnapshot, JwtKeySet, JwtRules, KeyPair, SetSigner, SetVerifier,
    SigningKey, TypRule, VerifyOptions, verify_jwt,
};
use ssf_types::{ManualClock, UnixMillis};

const ISS: &str = "https://idp.example.com/123456789/";
const AUD: &str = "https://sp.example.com/caep";
const NOW: i64 = 1_763_800_000;

/// Mean time per iteration over everything criterion ran, per (algorithm, op, impl).
type Key = (String, &'static str, &'static str);
static TOTALS: Mutex<BTreeMap<Key, (u64, Duration)>> = Mutex::new(BTreeMap::new());

fn timed<R>(group: &mut BenchmarkGroup<'_, WallTime>, key: Key, mut f: impl FnMut() -> R) {
    group.bench_function(key.2, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            let elapsed = start.elapsed();
            let mut totals = TOTALS.lock().unwrap();
            let entry = totals.entry(key.clone()).or_default();
            entry.0 += iters;
            entry.1 += elapsed;
            elapsed
        });
    });
}

/// A CAEP session-revoked SET as a transmitter sends it (TV-CAEP-02 shape, email subject).
fn caep_set() -> Value {
    json!({
        "iss": ISS,
        "jti": "0193a5f2-7c1e-7b3a-9f5e-3c2d1a0b9e8f",
        "iat": NOW,
        "aud": AUD,
        "txn": "8675309",
        "sub_id": {"format": "email", "email": "jane.smith@example.com"},
        "events": {
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
                "initiating_entity": "policy",
                "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
                "reason_user": {"en": "Access attempt from multiple regions.",
                                "es-410": "Intento de acceso desde varias regiones."},
                "event_timestamp": NOW - 10
            }
        }
    })
}

/// The claims of an RFC 9068 access token as the transmitter issues them.
fn access_token_claims() -> Value {
    json!({
        "iss": ISS,
        "sub": "rx-client",
        "aud": AUD,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "7d2a4c0e9b1f4e6a8c3d5b7a9e1f2c4d",
        "scope": "ssf.read ssf.manage",
        "client_id": "rx-client"
    })
}

/// The access token's claims as a caller reads them (the transmitter's `AccessTokenClaims`).
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)] // read by serde: the cost of the typed claims is what is measured
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    scope: String,
    client_id: String,
}

/// The same key as an aws-lc-rs primitive and as an ssf-jose key pair.
enum Raw {
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding, ParsedPublicKey),
    Ec(EcdsaKeyPair, ParsedPublicKey),
    Ed(Ed25519KeyPair, ParsedPublicKey),
}

impl Raw {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Rsa(kp, pad, _) => {
                let mut out = vec![0; kp.public_modulus_len()];
                kp.sign(*pad, &SystemRandom::new(), msg, &mut out).unwrap();
                out
            }
            Self::Ec(kp, _) => kp
                .sign(&SystemRandom::new(), msg)
                .unwrap()
                .as_ref()
                .to_vec(),
            Self::Ed(kp, _) => kp.sign(msg).as_ref().to_vec(),
        }
    }

    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let key = match self {
            Self::Rsa(_, _, k) | Self::Ec(_, k) | Self::Ed(_, k) => k,
        };
        key.verify_sig(msg, signature).is_ok()
    }
}

fn keys(alg: &Algorithm) -> (Raw, KeyPair) {
    match alg {
        Algorithm::Rs256 | Algorithm::Ps256 => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let der = AsDer::<Pkcs8V1Der<'_>>::as_der(&kp)
                .unwrap()
                .as_ref()
                .to_vec();
            let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
            let (pad, params): (&'static dyn sig::RsaEncoding, _) = if *alg == Algorithm::Ps256 {
                (&sig::RSA_PSS_SHA256, &sig::RSA_PSS_2048_8192_SHA256)
            } else {
                (&sig::RSA_PKCS1_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256)
            };
            let parsed = RsaPublicKeyComponents {
                n: c.n.as_slice(),
                e: c.e.as_slice(),
            }
            .to_parsed_public_key(params)
            .unwrap();
            (
                Raw::Rsa(kp, pad, parsed),
                KeyPair::from_pkcs8_der(&der, alg.clone(), None).unwrap(),
            )
        }
        Algorithm::Es256 => {
            let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let der = kp.to_pkcs8v1().unwrap().as_ref().to_vec();
            let parsed =
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, kp.public_key().as_ref()).unwrap();
            (
                Raw::Ec(kp, parsed),
                KeyPair::from_pkcs8_der(&der, alg.clone(), None).unwrap(),
            )
        }
        _ => {
            let kp = Ed25519KeyPair::generate().unwrap();
            let der = kp.to_pkcs8v1().unwrap().as_ref().to_vec();
            let parsed = ParsedPublicKey::new(&ED25519, kp.public_key().as_ref()).unwrap();
            (
                Raw::Ed(kp, parsed),
                KeyPair::from_pkcs8_der(&der, alg.clone(), None).unwrap(),
            )
        }
    }
}

fn jwt_alg(alg: &Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::Ps256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        _ => jsonwebtoken::Algorithm::EdDSA,
    }
}

fn jsonwebtoken_keys(ours: &KeyPair) -> (jsonwebtoken::EncodingKey, jsonwebtoken::DecodingKey) {
    use ssf_types::secret::ExposeSecret;
    let pem = ours.to_pkcs8_pem().unwrap();
    let pem = pem.expose_secret().as_bytes();
    let enc = match ours.alg() {
        Algorithm::Rs256 | Algorithm::Ps256 => jsonwebtoken::EncodingKey::from_rsa_pem(pem),
        Algorithm::Es256 => jsonwebtoken::EncodingKey::from_ec_pem(pem),
        _ => jsonwebtoken::EncodingKey::from_ed_pem(pem),
    }
    .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::to_value(ours.public_jwk()).unwrap()).unwrap();
    (enc, jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap())
}

fn bench_alg(c: &mut Criterion, alg: &Algorithm) {
    let (raw, ours) = keys(alg);
    let (jwt_enc, jwt_dec) = jsonwebtoken_keys(&ours);
    let kid = ours.kid().as_str().to_owned();
    let jwks = Jwks {
        keys: vec![ours.public_jwk()],
    };
    let clock = Arc::new(ManualClock::new(UnixMillis::from_secs(NOW)));
    let signer = SetSigner::with_key(ours, clock.clone());
    let claims = caep_set();
    let token = signer.sign(&claims).unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
            .unwrap();
    let verifier = SetVerifier::new(
        VerifyOptions::new(ISS, AUD).algorithms([alg.clone()]),
        Arc::new(JwksSnapshot::new(&jwks)),
        clock,
    );
    assert!(verifier.verify(&token).is_ok());
    assert!(raw.verify(signing_input.as_bytes(), &signature));
    let mut header = jsonwebtoken::Header::new(jwt_alg(alg));
    header.typ = Some("secevent+jwt".into());
    header.kid = Some(kid.clone());
    let mut validation = jsonwebtoken::Validation::new(jwt_alg(alg));
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);

    let name = alg.as_str().to_owned();
    let mut group = c.benchmark_group(format!("sign/{name}"));
    timed(&mut group, (name.clone(), "sign", "raw"), || {
        raw.sign(signing_input.as_bytes())
    });
    timed(&mut group, (name.clone(), "sign", "ssf_jose"), || {
        signer.sign(&claims).unwrap()
    });
    timed(&mut group, (name.clone(), "sign", "jsonwebtoken"), || {
        jsonwebtoken::encode(&header, &claims, &jwt_enc).unwrap()
    });
    group.finish();

    let mut group = c.benchmark_group(format!("verify/{name}"));
    timed(&mut group, (name.clone(), "verify", "raw"), || {
        raw.verify(signing_input.as_bytes(), &signature)
    });
    timed(&mut group, (name.clone(), "verify", "ssf_jose"), || {
        verifier.verify(&token).unwrap()
    });
    timed(&mut group, (name.clone(), "verify", "jsonwebtoken"), || {
        jsonwebtoken::decode::<Value>(&token, &jwt_dec, &validation).unwrap()
    });
    group.finish();

    // The bearer-JWT core on an access token.
    let mut at_header = jsonwebtoken::Header::new(jwt_alg(alg));
    at_header.typ = Some("at+jwt".into());
    at_header.kid = Some(kid);
    let access_token = jsonwebtoken::encode(&at_header, &access_token_claims(), &jwt_enc).unwrap();
    let (at_input, at_signature) = access_token.rsplit_once('.').unwrap();
    let at_signature = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        at_signature,
    )
    .unwrap();
    let key_set = JwtKeySet::from_jwks(&serde_json::to_value(&jwks).unwrap()).unwrap();
    let rules = JwtRules::new(ISS)
        .audience(AUD)
        .algorithms([alg.as_str()])
        .unwrap()
        .typ(TypRule::AccessToken)
        .check_time(0);
    assert!(verify_jwt::<AccessClaims>(&access_token, &key_set, &rules, NOW).is_ok());
    assert!(verify_jwt::<AccessClaims>(&access_token, &jwks, &rules, NOW).is_ok());
    assert!(raw.verify(at_input.as_bytes(), &at_signature));
    let mut group = c.benchmark_group(format!("verify_jwt/{name}"));
    timed(&mut group, (name.clone(), "verify_jwt", "raw"), || {
        raw.verify(at_input.as_bytes(), &at_signature)
    });
    timed(&mut group, (name.clone(), "verify_jwt", "ssf_jose"), || {
        verify_jwt::<AccessClaims>(&access_token, &key_set, &rules, NOW).unwrap()
    });
    timed(
        &mut group,
        (name.clone(), "verify_jwt", "ssf_jose_jwks"),
        || verify_jwt::<AccessClaims>(&access_token, &jwks, &rules, NOW).unwrap(),
    );
    timed(&mut group, (name, "verify_jwt", "jsonwebtoken"), || {
        jsonwebtoken::decode::<Value>(&access_token, &jwt_dec, &validation).unwrap()
    });
    group.finish();
}

fn print_ratios() {
    let totals = TOTALS.lock().unwrap();
    let mean = |alg: &str, op: &'static str, which: &'static str| {
        totals
            .get(&(alg.to_owned(), op, which))
            .map(|(n, d)| d.as_secs_f64() * 1e6 / (*n).max(1) as f64)
    };
    println!(
        "\n| alg | op | raw aws-lc-rs (us) | ssf-jose (us) | ssf-jose / raw | jsonwebtoken (us) | jsonwebtoken / raw |"
    );
    println!("|---|---|---|---|---|---|---|");
    for alg in Algorithm::SIGNING {
        for op in ["sign", "verify"] {
            let (Some(raw), Some(ours), Some(jwt)) = (
                mean(alg.as_str(), op, "raw"),
                mean(alg.as_str(), op, "ssf_jose"),
                mean(alg.as_str(), op, "jsonwebtoken"),
            ) else {
                continue;
            };
            println!(
                "| {alg} | {op} | {raw:.1} | {ours:.1} | {:.2}x | {jwt:.1} | {:.2}x |",
                ours / raw,
                jwt / raw
            );
        }
    }
    println!(
        "\n| alg | raw aws-lc-rs (us) | verify_jwt, JwtKeySet (us) | / raw | verify_jwt, Jwks (us) | / raw | jsonwebtoken::decode (us) | / raw |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for alg in Algorithm::SIGNING {
        let alg = alg.as_str();
        let (Some(raw), Some(set), Some(jwks), Some(jwt)) = (
            mean(alg, "verify_jwt", "raw"),
            mean(alg, "verify_jwt", "ssf_jose"),
            mean(alg, "verify_jwt", "ssf_jose_jwks"),
            mean(alg, "verify_jwt", "jsonwebtoken"),
        ) else {
            continue;
        };
        println!(
            "| {alg} | {raw:.1} | {set:.1} | {:.2}x | {jwks:.1} | {:.2}x | {jwt:.1} | {:.2}x |",
            set / raw,
            jwks / raw,
            jwt / raw
        );
    }
}

fn main() {
    ssf_jose::install_crypto_provider();
    let mut c = Criterion::default().configure_from_args();
    for alg in Algorithm::SIGNING {
        bench_alg(&mut c, &alg);
    }
    c.final_summary();
    print_ratios();
}
