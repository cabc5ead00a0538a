//! Bearer JWTs (OAuth access tokens, [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)): the one
//! verification core used by the transmitter's access tokens (its own and those of trusted
//! external issuers) and by the enforcement layer's `TokenVerifier`.
//!
//! [`verify_jwt`] checks, in this order: the compact header (`crit` refused), `kid` and the key
//! it names ([`JwtKeyLookup`]), `alg` (asymmetric only, in the [`JwtRules`] allow-list, fitting the
//! key's `kty` and its own `alg`), the signature with `iss` and `aud`, the claims' type, `typ`
//! ([`TypRule`]), and last `exp`/`nbf` against `now` (from the caller's injected clock) with the
//! rules' leeway. Every failure is a [`JwtError`]; each caller maps it to its own wire answer.
//!
//! Unlike SETs (which [`SetVerifier`](crate::SetVerifier) verifies with aws-lc-rs directly), access
//! tokens go through jsonwebtoken, which also knows the 384/512-bit variants some IdPs use.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Jwk, is_set_typ};

/// Why a bearer JWT could not be accepted. Display texts are constant (checklist SSF-SEC-17).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a compact JWS, its header or payload is not JSON, or the header has `crit`.
    #[error("the token is malformed")]
    Malformed,
    /// The header has no `kid`, or no usable key has it.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The `alg` is not allowed (e.g. `none`, HMAC, not listed) or does not fit the key.
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// The signature, `iss` or `aud` did not verify, or the claims do not have the expected type.
    #[error("the token did not verify")]
    Invalid,
    /// The header `typ` is not what the [`TypRule`] asks for.
    #[error("the token has the wrong typ")]
    WrongTyp,
    /// The token has no integer `exp` (required when time is checked).
    #[error("the token has no exp")]
    MissingExp,
    /// `exp` plus the leeway is not after now.
    #[error("the token has expired")]
    Expired,
    /// `nbf` minus the leeway is after now.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// A key set document is not a JWKS.
    #[error("the key set is not a JWKS: {0}")]
    Jwks(#[source] serde_json::Error),
    /// An algorithm name in an allow-list is not a JWS algorithm.
    #[error("unknown algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// An allow-list names a symmetric (HMAC) algorithm, which bearer tokens never use.
    #[error("{0} is not accepted")]
    SymmetricAlgorithm(String),
}

/// How the header `typ` is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypRule {
    /// Not checked.
    #[default]
    Any,
    /// Anything but a SET's `secevent+jwt` (a token of another issuer that may omit `typ`).
    NotSet,
    /// `at+jwt` or `application/at+jwt`, compared case-insensitively
    /// ([RFC 9068 §4](https://www.rfc-editor.org/rfc/rfc9068#section-4)).
    AccessToken,
}

impl TypRule {
    fn accepts(self, typ: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::NotSet => !typ.is_some_and(is_set_typ),
            Self::AccessToken => typ.is_some_and(is_access_token_typ),
        }
    }
}

/// `at+jwt` or `application/at+jwt`, compared case-insensitively (RFC 9068 §4).
pub fn is_access_token_typ(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == "at+jwt" || typ == "application/at+jwt"
}

/// What [`verify_jwt`] accepts.
#[derive(Debug, Clone)]
pub struct JwtRules {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Option<Vec<jsonwebtoken::Algorithm>>,
    typ: TypRule,
    leeway_secs: Option<i64>,
}

impl JwtRules {
    /// Tokens from `issuer`; any audience, any asymmetric algorithm that fits the key, any `typ`,
    /// time claims not checked, until the builder methods say otherwise.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms: None,
            typ: TypRule::Any,
            leeway_secs: None,
        }
    }

    /// Accept only tokens whose `aud` holds `audience` (or another audience given this way).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accept only these algorithms, by JOSE name (`RS256`, `PS384`, `ES256`, `EdDSA`, ...).
    /// HMAC names and unknown names are refused.
    pub fn algorithms<'a>(
        mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, JwtError> {
        let mut algs = Vec::new();
        for name in names {
            let alg = name
                .parse::<jsonwebtoken::Algorithm>()
                .map_err(|_| JwtError::UnknownAlgorithm(name.to_owned()))?;
            if matches!(
                alg,
                jsonwebtoken::Algorithm::HS256
                    | jsonwebtoken::Algorithm::HS384
                    | jsonwebtoken::Algorithm::HS512
            ) {
                return Err(JwtError::SymmetricAlgorithm(name.to_owned()));
            }
            algs.push(alg);
        }
        self.algorithms = Some(algs);
        Ok(self)
    }

    /// How the header `typ` is checked.
    #[must_use]
    pub fn typ(mut self, rule: TypRule) -> Self {
        self.typ = rule;
        self
    }

    /// Check time: `exp` is required and must lie after now, `nbf` (if any) not after now, each
    /// with `leeway_secs` of clock skew.
    #[must_use]
    pub fn check_time(mut self, leeway_secs: i64) -> Self {
        self.leeway_secs = Some(leeway_secs);
        self
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The accepted audiences (empty: any).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The allow-list by JOSE name, or `None` when every asymmetric algorithm fitting the key is
    /// accepted.
    pub fn algorithm_names(&self) -> Option<Vec<String>> {
        self.algorithms
            .as_ref()
            .map(|algs| algs.iter().map(|a| alg_name(*a)).collect())
    }
}

/// The key's own `alg`, which the token's must equal.
#[derive(Debug, Clone)]
enum OwnAlg {
    Unset,
    Known(jsonwebtoken::Algorithm),
    /// A name jsonwebtoken does not know: fits no token.
    Unknown,
}

/// A public key that verifies bearer JWTs: jsonwebtoken's decoding key, the JWK's `kty` and its
/// own `alg`.
#[derive(Clone)]
pub struct JwtKey {
    key: Option<DecodingKey>,
    kty: String,
    alg: OwnAlg,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// The key of a published [`Jwk`]. A JWK `alg` the verifier does not know fits no token; a
    /// key that cannot be used fails as [`JwtError::UnknownKey`] once the algorithm fits.
    pub fn from_jwk(jwk: &Jwk) -> Self {
        let key = serde_json::to_value(jwk)
            .ok()
            .and_then(|v| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(v).ok())
            .and_then(|jwk| DecodingKey::from_jwk(&jwk).ok());
        let alg = match &jwk.alg {
            None => OwnAlg::Unset,
            Some(a) => a.as_str().parse().map_or(OwnAlg::Unknown, OwnAlg::Known),
        };
        Self {
            key,
            kty: jwk.kty.clone(),
            alg,
        }
    }
}

/// Where [`verify_jwt`] finds the key a token's `kid` names.
pub trait JwtKeyLookup {
    /// The key with this `kid`, if any.
    fn jwt_key(&self, kid: &str) -> Option<JwtKey>;
}

impl JwtKeyLookup for crate::Jwks {
    fn jwt_key(&self, kid: &str) -> Option<JwtKey> {
        self.find(kid).map(JwtKey::from_jwk)
    }
}

/// Keys parsed once from a JWKS document, by `kid`: keys without `kid`, encryption keys
/// (`use: enc`), symmetric keys (`kty: oct`) and keys that cannot be used are left out, and a key
/// `alg` the verifier does not know does not restrict the key.
#[derive(Debug, Clone, Default)]
pub struct JwtKeySet {
    keys: BTreeMap<String, JwtKey>,
}

impl JwtKeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_jwks(jwks: &Value) -> Result<Self, JwtError> {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(jwks.clone()).map_err(JwtError::Jwks)?;
        let mut keys = BTreeMap::new();
        let raws = jwks
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for (jwk, raw) in set.keys.iter().zip(raws) {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let enc = raw.get("use").and_then(Value::as_str) == Some("enc");
            let kty = raw.get("kty").and_then(Value::as_str).unwrap_or_default();
            if enc || kty == "oct" {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let kty = match key.family() {
                jsonwebtoken::AlgorithmFamily::Rsa => "RSA",
                jsonwebtoken::AlgorithmFamily::Ec => "EC",
                jsonwebtoken::AlgorithmFamily::Ed => "OKP",
                _ => "oct",
            };
            let alg = raw
                .get("alg")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok())
                .map_or(OwnAlg::Unset, OwnAlg::Known);
            keys.insert(
                kid,
                JwtKey {
                    key: Some(key),
                    kty: kty.to_owned(),
                    alg,
                },
            );
        }
        Ok(Self { keys })
    }

    /// The ids of the keys.
    pub fn kids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl JwtKeyLookup for JwtKeySet {
    fn jwt_key(&self, kid: &str) -> Option<JwtKey> {
        self.keys.get(kid).cloned()
    }
}

/// A token that passed [`verify_jwt`]: its header `typ` and its claims.
#[derive(Debug)]
pub struct VerifiedJwt<T> {
    /// The header `typ`, if any.
    pub typ: Option<String>,
    /// The claims.
    pub claims: T,
}

/// The header `kid` of a compact JWT, unverified (to ask a key source for it).
pub fn jwt_kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid)
}

/// The unverified claims of a compact JWS, to learn its `iss` before choosing the keys. Never
/// trust anything else read this way.
pub fn peek_jwt_claims(token: &str) -> Result<Map<String, Value>, JwtError> {
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

/// Verifies a compact JWT against `rules` with a key from `keys`, `now` being the injected
/// clock's time in seconds. In order: the header (`crit` refused), `kid` and its key, `alg`
/// (asymmetric, in the allow-list, fitting the key's `kty` and own `alg`), the signature with
/// `iss` and `aud`, the claims' type, `typ` ([`TypRule`]), then `exp`/`nbf` with the leeway
/// when [`JwtRules::check_time`] asked for it.
pub fn verify_jwt<T: DeserializeOwned>(
    token: &str,
    keys: &dyn JwtKeyLookup,
    rules: &JwtRules,
    now: i64,
) -> Result<VerifiedJwt<T>, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let key = keys.jwt_key(kid).ok_or(JwtError::UnknownKey)?;
    let alg = header.alg;
    let listed = rules.algorithms.as_ref().is_none_or(|l| l.contains(&alg));
    let own_ok = match key.alg {
        OwnAlg::Unset => true,
        OwnAlg::Known(own) => own == alg,
        OwnAlg::Unknown => false,
    };
    if !listed || !fits(alg, &key.kty) || !own_ok {
        return Err(JwtError::Algorithm);
    }
    let decoding = key.key.as_ref().ok_or(JwtError::UnknownKey)?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims = std::collections::HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = !rules.audiences.is_empty();
    validation.leeway = 0;
    validation.set_issuer(&[&rules.issuer]);
    if !rules.audiences.is_empty() {
        validation.set_audience(&rules.audiences);
    }
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, decoding, &validation).map_err(|e| {
            tracing::debug!(error = %e, "bearer token rejected");
            JwtError::Invalid
        })?;
    let map = data.claims;
    let claims = T::deserialize(Value::Object(map.clone())).map_err(|e| {
        tracing::debug!(error = %e, "bearer token claims rejected");
        JwtError::Invalid
    })?;
    if !rules.typ.accepts(data.header.typ.as_deref()) {
        return Err(JwtError::WrongTyp);
    }
    if let Some(leeway) = rules.leeway_secs {
        let num = |name: &str| map.get(name).and_then(Value::as_i64);
        let exp = num("exp").ok_or(JwtError::MissingExp)?;
        if exp.saturating_add(leeway) <= now {
            return Err(JwtError::Expired);
        }
        if num("nbf").is_some_and(|nbf| nbf.saturating_sub(leeway) > now) {
            return Err(JwtError::NotYetValid);
        }
    }
    Ok(VerifiedJwt {
        typ: data.header.typ,
        claims,
    })
}

/// Whether `alg` is an asymmetric algorithm for a JWK of `kty`.
fn fits(alg: jsonwebtoken::Algorithm, kty: &str) -> bool {
    use jsonwebtoken::Algorithm as A;
    match kty {
        "RSA" => matches!(
            alg,
            A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
        ),
        "EC" => matches!(alg, A::ES256 | A::ES384),
        "OKP" => matches!(alg, A::EdDSA),
        _ => false,
    }
}

fn alg_name(alg: jsonwebtoken::Algorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_typ_comparison_is_case_insensitive() {
        assert!(is_access_token_typ("at+JWT"));
        assert!(is_access_token_typ("application/at+jwt"));
        assert!(!is_access_token_typ("JWT"));
        assert!(!is_access_token_typ("secevent+jwt"));
        assert!(TypRule::NotSet.accepts(None));
        assert!(!TypRule::NotSet.accepts(Some("application/secevent+jwt")));
        assert!(!TypRule::AccessToken.accepts(None));
    }

    #[test]
    fn algorithm_allow_lists_refuse_hmac_and_unknown_names() {
        assert!(matches!(
            JwtRules::new("https://idp").algorithms(["HS256"]),
            Err(JwtError::SymmetricAlgorithm(_))
        ));
        assert!(matches!(
            JwtRules::new("https://idp").algorithms(["XS999"]),
            Err(JwtError::UnknownAlgorithm(_))
        ));
        let rules = JwtRules::new("https://idp")
            .algorithms(["RS384", "EdDSA"])
            .unwrap();
        assert_eq!(
            rules.algorithm_names(),
            Some(vec!["RS384".to_owned(), "EdDSA".to_owned()])
        );
    }
}
