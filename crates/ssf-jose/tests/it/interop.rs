//! Cross-checks against an independent JWS implementation (jsonwebtoken 11 on aws-lc-rs): our
//! SETs verify there, and its tokens verify here.

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, jwk::Jwk as JwtJwk};
use serde_json::Value;
use ssf_jose::{Algorithm, SetSigner, SigningKey};

use crate::common::{self, AUD, ISS};

fn jwt_alg(alg: &Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::Ps256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        _ => jsonwebtoken::Algorithm::EdDSA,
    }
}

fn validation(alg: &Algorithm) -> Validation {
    let mut v = Validation::new(jwt_alg(alg));
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    v
}

#[test]
fn our_sets_verify_with_jsonwebtoken() {
    ssf_jose::install_crypto_provider();
    ssf_jose::install_crypto_provider(); // idempotent
    for alg in Algorithm::SIGNING {
        let key = common::key(&alg);
        let jwk: JwtJwk =
            serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        let token = SetSigner::with_key(key, common::clock())
            .sign(&common::claims())
            .unwrap();
        let data = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation(&alg),
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.header.typ.as_deref(), Some("secevent+jwt"));
        assert_eq!(data.claims, common::claims());
    }
}

#[test]
fn jsonwebtoken_sets_verify_here() {
    ssf_jose::install_crypto_provider();
    for alg in Algorithm::SIGNING {
        let pem = common::pem(&alg);
        let encoding = match alg {
            Algorithm::Rs256 | Algorithm::Ps256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            Algorithm::Es256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_ed_pem(pem.as_bytes()),
        }
        .unwrap();
        let mut header = Header::new(jwt_alg(&alg));
        header.typ = Some("application/secevent+jwt".into());
        header.kid = Some(common::kid_for(&alg).into());
        let token = jsonwebtoken::encode(&header, &common::claims(), &encoding).unwrap();
        let set = common::verify(&token).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(set.claims().to_json(), common::claims());
    }
}
