//! JWT access tokens ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)): compact encoding with
//! the transmitter's signing key, and signature checks against a JWKS.
//!
//! Signing goes through [`SigningKey::sign`], so access tokens use the same key (and the same
//! rotation) as SETs, told apart by `typ` (`at+jwt` here, `secevent+jwt` on SETs). Verification
//! uses jsonwebtoken with its clock checks switched off: expiry is checked against the injected
//! [`ssf_types::Clock`] by the caller.

use std::collections::HashSet;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, Validation};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use ssf_jose::{Jwk, Jwks, SigningKey};

/// The `typ` of the access tokens this transmitter issues (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Why a token's signature or structure could not be accepted. Kept coarse: the caller answers
/// `401 invalid_token` with a constant description (SSF-SEC-17).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a compact JWS, or its header or payload is not JSON.
    #[error("the access token is malformed")]
    Malformed,
    /// The header has no `kid`, or no published key has it.
    #[error("the access token's signing key is unknown")]
    UnknownKey,
    /// The `alg` is not allowed (e.g. `none`, HMAC) or does not fit the key.
    #[error("the access token's algorithm is not accepted")]
    Algorithm,
    /// The signature, `iss` or `aud` did not verify.
    #[error("the access token did not verify")]
    Invalid,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Signs `claims` as a compact JWS with header `{"typ": typ, "alg", "kid"}`.
pub fn encode_jwt<T: Serialize + ?Sized>(
    key: &dyn SigningKey,
    typ: &str,
    claims: &T,
) -> Result<String, JwtError> {
    let header = json!({ "typ": typ, "alg": key.alg().as_str(), "kid": key.kid().as_str() });
    let header = serde_json::to_vec(&header).map_err(|e| JwtError::Signing(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| JwtError::Signing(e.to_string()))?;
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = key
        .sign(out.as_bytes())
        .map_err(|e| JwtError::Signing(e.to_string()))?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(out)
}

/// The unverified payload of a compact JWS, to learn its `iss` before choosing the keys. Never
/// trust anything else read this way.
pub fn peek_payload(token: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

/// The verified header `typ` and claims of a token.
#[derive(Debug)]
pub struct Verified<T> {
    /// The header `typ`, if any.
    pub typ: Option<String>,
    /// The claims.
    pub claims: T,
}

/// Verifies the signature of `token` with the key of `jwks` its `kid` names, and its `iss` and
/// `aud`. Only asymmetric algorithms are accepted (never `none` or HMAC), and only the key's own
/// `alg` when its JWK names one. Time claims are not checked here.
pub fn verify_jwt<T: DeserializeOwned>(
    token: &str,
    jwks: &Jwks,
    issuer: &str,
    audience: &str,
) -> Result<Verified<T>, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let jwk = jwks.find(kid).ok_or(JwtError::UnknownKey)?;
    let alg = allowed_algorithm(header.alg, jwk)?;
    let key = decoding_key(jwk)?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let data = jsonwebtoken::decode::<T>(token, &key, &validation).map_err(|e| {
        tracing::debug!(error = %e, "access token rejected");
        JwtError::Invalid
    })?;
    Ok(Verified {
        typ: data.header.typ,
        claims: data.claims,
    })
}

/// The header `alg` if it is an asymmetric signature algorithm that fits the JWK.
fn allowed_algorithm(
    alg: jsonwebtoken::Algorithm,
    jwk: &Jwk,
) -> Result<jsonwebtoken::Algorithm, JwtError> {
    use jsonwebtoken::Algorithm as A;
    let family_ok = match jwk.kty.as_str() {
        "RSA" => matches!(
            alg,
            A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
        ),
        "EC" => matches!(alg, A::ES256 | A::ES384),
        "OKP" => matches!(alg, A::EdDSA),
        _ => false,
    };
    let jwk_alg_ok = jwk.alg.as_ref().is_none_or(|a| a.as_str() == alg_name(alg));
    if family_ok && jwk_alg_ok {
        Ok(alg)
    } else {
        Err(JwtError::Algorithm)
    }
}

fn alg_name(alg: jsonwebtoken::Algorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A jsonwebtoken decoding key for a public JWK (via its JSON form).
fn decoding_key(jwk: &Jwk) -> Result<DecodingKey, JwtError> {
    let value = serde_json::to_value(jwk).map_err(|_| JwtError::UnknownKey)?;
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(value).map_err(|_| JwtError::UnknownKey)?;
    DecodingKey::from_jwk(&jwk).map_err(|_| JwtError::UnknownKey)
}

#[cfg(test)]
mod tests {
    use serde_json::Map;
    use ssf_jose::{Algorithm, KeyPair};
    use ssf_types::KeyId;

    use super::*;

    fn jwks_of(key: &KeyPair) -> Jwks {
        Jwks {
            keys: vec![key.public_jwk()],
        }
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
            let v: Verified<Map<String, Value>> =
                verify_jwt(&token, &jwks_of(&key), "https://tx", "https://tx").unwrap();
            assert_eq!(v.typ.as_deref(), Some("at+jwt"));
            assert_eq!(v.claims["scope"], "ssf.read");
            assert_eq!(peek_payload(&token).unwrap()["iss"], "https://tx");
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
            verify_jwt::<Map<String, Value>>(&token, jwks, iss, aud).map(|_| ())
        };
        assert_eq!(
            check(&jwks_of(&key), "https://other", "https://tx"),
            Err(JwtError::Invalid)
        );
        assert_eq!(
            check(&jwks_of(&key), "https://tx", "https://other"),
            Err(JwtError::Invalid)
        );
        assert_eq!(
            check(&jwks_of(&other), "https://tx", "https://tx"),
            Err(JwtError::Invalid)
        );
        assert_eq!(
            check(&Jwks { keys: vec![] }, "https://tx", "https://tx"),
            Err(JwtError::UnknownKey)
        );
        assert_eq!(peek_payload("a.b"), Err(JwtError::Malformed));
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        ssf_jose::install_crypto_provider();
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k1"))).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://tx","aud":"https://tx"}"#);
        let token = format!("{header}.{payload}.");
        assert!(verify_jwt::<Value>(&token, &jwks_of(&key), "https://tx", "https://tx").is_err());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k1"}"#);
        let token = format!("{header}.{payload}.c2ln");
        assert!(verify_jwt::<Value>(&token, &jwks_of(&key), "https://tx", "https://tx").is_err());
    }
}
