//! JWT access tokens ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)): compact encoding with
//! the transmitter's signing key.
//!
//! Signing goes through [`SigningKey::sign`], so access tokens use the same key (and the same
//! rotation) as SETs, told apart by `typ` (`at+jwt` here, `secevent+jwt` on SETs). Verification
//! is [`ssf_jose::verify_jwt`], the one JWT core shared with the enforcement layer; the caller
//! passes the injected [`ssf_types::Clock`]'s time.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::json;
use ssf_jose::{JoseError, SigningKey};

/// The `typ` of the access tokens this transmitter issues (RFC 9068 §2.1).
pub(crate) const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Why an access token could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The header or the claims do not serialize to JSON.
    #[error("signing failed: {0}")]
    Json(#[source] serde_json::Error),
    /// The key failed to sign.
    #[error("signing failed: {0}")]
    Signing(#[source] JoseError),
}

/// Signs `claims` as a compact JWS with header `{"typ": typ, "alg", "kid"}`.
pub fn encode_jwt<T: Serialize + ?Sized>(
    key: &dyn SigningKey,
    typ: &str,
    claims: &T,
) -> Result<String, JwtError> {
    let header = json!({ "typ": typ, "alg": key.alg().as_str(), "kid": key.kid().as_str() });
    let header = serde_json::to_vec(&header).map_err(JwtError::Json)?;
    let payload = serde_json::to_vec(claims).map_err(JwtError::Json)?;
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = key.sign(out.as_bytes()).map_err(JwtError::Signing)?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};
    use ssf_jose::{
        Algorithm, Jwks, JwtError as VerifyError, JwtRules, KeyPair, VerifiedJwt, peek_jwt_claims,
        verify_jwt,
    };
    use ssf_types::KeyId;

    use super::*;

    fn jwks_of(key: &KeyPair) -> Jwks {
        Jwks {
            keys: vec![key.public_jwk()],
        }
    }

    fn rules(iss: &str, aud: &str) -> JwtRules {
        JwtRules::new(iss).audience(aud)
    }

    #[test]
    fn round_trip_for_every_signing_algorithm() {
        ssf_jose::install_crypto_provider();
        for alg in [
            Algorithm::Rs256,
            Algorithm::Es256,
            Algorithm::EdDsa,
            Algorithm::Ps256,
        ] {
            let key = KeyPair::generate(alg.clone(), Some(KeyId::new("k1"))).unwrap();
            let claims = json!({"iss": "https://tx", "aud": "https://tx", "scope": "ssf.read"});
            let token = encode_jwt(&key, ACCESS_TOKEN_TYP, &claims).unwrap();
            let v: VerifiedJwt<Map<String, Value>> = verify_jwt(
                &token,
                &jwks_of(&key),
                &rules("https://tx", "https://tx"),
                0,
            )
            .unwrap();
            assert_eq!(v.typ.as_deref(), Some("at+jwt"));
            assert_eq!(v.claims["scope"], "ssf.read");
            assert_eq!(peek_jwt_claims(&token).unwrap()["iss"], "https://tx");
        }
    }

    #[test]
    fn wrong_issuer_audience_or_key_is_refused() {
        ssf_jose::install_crypto_provider();
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
        let other = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
        let token = encode_jwt(
            &key,
            "at+jwt",
            &json!({"iss": "https://tx", "aud": "https://tx"}),
        )
        .unwrap();
        let check = |jwks: &Jwks, iss: &str, aud: &str| {
            verify_jwt::<Map<String, Value>>(&token, jwks, &rules(iss, aud), 0).map(|_| ())
        };
        assert!(matches!(
            check(&jwks_of(&key), "https://other", "https://tx"),
            Err(VerifyError::Invalid)
        ));
        assert!(matches!(
            check(&jwks_of(&key), "https://tx", "https://other"),
            Err(VerifyError::Invalid)
        ));
        assert!(matches!(
            check(&jwks_of(&other), "https://tx", "https://tx"),
            Err(VerifyError::Invalid)
        ));
        assert!(matches!(
            check(&Jwks { keys: vec![] }, "https://tx", "https://tx"),
            Err(VerifyError::UnknownKey)
        ));
        assert!(matches!(
            peek_jwt_claims("a.b"),
            Err(VerifyError::Malformed)
        ));
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        ssf_jose::install_crypto_provider();
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
        let rules = rules("https://tx", "https://tx");
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://tx","aud":"https://tx"}"#);
        let token = format!("{header}.{payload}.");
        assert!(verify_jwt::<Value>(&token, &jwks_of(&key), &rules, 0).is_err());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k1"}"#);
        let token = format!("{header}.{payload}.c2ln");
        assert!(verify_jwt::<Value>(&token, &jwks_of(&key), &rules, 0).is_err());
    }
}
