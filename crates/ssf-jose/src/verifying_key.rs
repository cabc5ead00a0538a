//! Public keys that verify SETs, and how a verifier finds them by `kid`.

use std::{collections::BTreeMap, fmt, sync::Arc};

use aws_lc_rs::{
    hmac,
    signature::{
        ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
        RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
    },
};
use ssf_types::KeyId;

use crate::{Algorithm, JoseError, Jwk, Jwks, alg::KeyFamily, encoding::b64url_decode};

/// Finds the key a SET names in its `kid` header
/// ([RFC 7515 §4.1.4](https://www.rfc-editor.org/rfc/rfc7515#section-4.1.4)).
///
/// A receiver wraps its cached copy of the transmitter's JWKS behind this trait and refetches on
/// an unknown `kid` at most once per window (checklist SSF-SIG-06) before answering `None`.
pub trait KeyResolver: Send + Sync {
    /// The key with this `kid`, if known.
    fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>>;

    /// The only known key that [fits](VerifyingKey::fits) `alg`, for a SET without `kid` from
    /// a peer allowed to omit it ([`VerifyOptions::allow_missing_kid`](crate::VerifyOptions::allow_missing_kid)).
    /// `None` when there is no such key or more than one. Default: `None`.
    fn only_key(&self, alg: &Algorithm) -> Option<Arc<VerifyingKey>> {
        let _ = alg;
        None
    }
}

impl<T: KeyResolver + ?Sized> KeyResolver for Arc<T> {
    fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        (**self).key(kid)
    }

    fn only_key(&self, alg: &Algorithm) -> Option<Arc<VerifyingKey>> {
        (**self).only_key(alg)
    }
}

enum Material {
    /// One parsed key per RSA algorithm, so neither is re-parsed per verification.
    Rsa {
        rs256: ParsedPublicKey,
        ps256: ParsedPublicKey,
    },
    P256(ParsedPublicKey),
    Ed25519(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// A parsed public key (or an explicitly configured HMAC secret) that verifies SETs.
pub struct VerifyingKey {
    kid: KeyId,
    /// The key's own `alg`, if its JWK named one: then no other algorithm may use it.
    alg: Option<Algorithm>,
    material: Material,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.material {
            Material::Rsa { .. } => "RSA",
            Material::P256(_) => "EC P-256",
            Material::Ed25519(_) => "OKP Ed25519",
            Material::Hmac(_) => "oct [redacted]",
        };
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &kind)
            .finish()
    }
}

impl VerifyingKey {
    /// Builds a verifying key from a public JWK. The JWK must have a `kid`, hold no private
    /// members, have `use` `sig` (if any) and `key_ops` with `verify` (if any). RSA moduli must
    /// have 2048 to 8192 bits (checklist SSF-SIG-02). Symmetric (`oct`) JWKs are refused: a
    /// secret never travels in a JWKS; see [`VerifyingKey::hmac`].
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        let bad = JoseError::invalid_key;
        let kid = jwk.kid.clone().ok_or(bad("JWK has no kid"))?;
        if !jwk.is_public() {
            return Err(bad("JWK carries private key material"));
        }
        if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
            return Err(bad("JWK is not a signature key"));
        }
        if jwk
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return Err(bad("JWK key_ops does not allow verify"));
        }
        let decode = |member: &Option<String>| member.as_deref().and_then(b64url_decode);
        let material = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => {
                let n = decode(&jwk.n).ok_or(bad("RSA JWK lacks a valid n"))?;
                let e = decode(&jwk.e).ok_or(bad("RSA JWK lacks a valid e"))?;
                let bits = n
                    .iter()
                    .position(|b| *b != 0)
                    .map_or(0, |i| (n.len() - i) * 8);
                if bits < 2048 {
                    return Err(bad("RSA keys must have at least 2048 bits"));
                }
                if bits > 8192 {
                    return Err(bad("RSA keys above 8192 bits are not supported"));
                }
                let components = RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                let parse = |params| {
                    components
                        .to_parsed_public_key(params)
                        .map_err(|_| bad("RSA JWK is not a valid public key"))
                };
                Material::Rsa {
                    rs256: parse(&RSA_PKCS1_2048_8192_SHA256)?,
                    ps256: parse(&RSA_PSS_2048_8192_SHA256)?,
                }
            }
            ("EC", Some("P-256")) => {
                let x = decode(&jwk.x)
                    .filter(|x| x.len() == 32)
                    .ok_or(bad("bad EC x"))?;
                let y = decode(&jwk.y)
                    .filter(|y| y.len() == 32)
                    .ok_or(bad("bad EC y"))?;
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::P256(
                    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                        .map_err(|_| bad("EC JWK is not a point on P-256"))?,
                )
            }
            ("OKP", Some("Ed25519")) => {
                let x = decode(&jwk.x)
                    .filter(|x| x.len() == 32)
                    .ok_or(bad("bad OKP x"))?;
                Material::Ed25519(
                    ParsedPublicKey::new(&ED25519, x)
                        .map_err(|_| bad("OKP JWK is not an Ed25519 key"))?,
                )
            }
            ("EC" | "OKP", _) => return Err(bad("unsupported curve")),
            _ => return Err(bad("unsupported key type")),
        };
        Ok(Self {
            kid,
            alg: jwk.alg.clone(),
            material,
        })
    }

    /// An HMAC-SHA256 secret for peers explicitly configured with one. It is only ever used when
    /// the verifier's allow-list contains `HS256`. The secret must have at least 32 bytes
    /// ([RFC 7518 §3.2](https://www.rfc-editor.org/rfc/rfc7518#section-3.2)).
    pub fn hmac(kid: KeyId, secret: &[u8]) -> Result<Self, JoseError> {
        if secret.len() < 32 {
            return Err(JoseError::invalid_key(
                "HMAC secrets need at least 32 bytes",
            ));
        }
        let material = Material::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret)));
        Ok(Self {
            kid,
            alg: Some(Algorithm::Hs256),
            material,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// Whether this key may verify signatures made with `alg`: its type and curve fit the
    /// algorithm, and its own `alg` (if any) is the same.
    pub fn fits(&self, alg: &Algorithm) -> bool {
        let family = match self.material {
            Material::Rsa { .. } => KeyFamily::Rsa,
            Material::P256(_) => KeyFamily::P256,
            Material::Ed25519(_) => KeyFamily::Ed25519,
            Material::Hmac(_) => KeyFamily::Oct,
        };
        alg.family() == Some(family) && self.alg.as_ref().is_none_or(|own| own == alg)
    }

    /// Verifies `signature` over `signing_input` with `alg` (already checked to fit).
    pub(crate) fn verify(
        &self,
        alg: &Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        if !self.fits(alg) {
            return Err(JoseError::KeyAlgorithmMismatch);
        }
        let ok = match (&self.material, alg) {
            (Material::Rsa { rs256, .. }, Algorithm::Rs256) => {
                rs256.verify_sig(signing_input, signature)
            }
            (Material::Rsa { ps256, .. }, Algorithm::Ps256) => {
                ps256.verify_sig(signing_input, signature)
            }
            (Material::P256(key), Algorithm::Es256)
            | (Material::Ed25519(key), Algorithm::EdDsa) => {
                key.verify_sig(signing_input, signature)
            }
            (Material::Hmac(key), Algorithm::Hs256) => hmac::verify(key, signing_input, signature),
            _ => return Err(JoseError::KeyAlgorithmMismatch),
        };
        ok.map_err(|_| JoseError::BadSignature)
    }
}

/// A JWK from a JWKS that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The JWK's `kid`, if it had one.
    pub kid: Option<String>,
    /// Why it was skipped (a constant text).
    pub reason: &'static str,
}

/// An immutable snapshot of a JWKS, indexed by `kid`: the simplest [`KeyResolver`].
///
/// Unusable keys (unknown type or curve, encryption keys, private material) are skipped and
/// listed in [`JwksSnapshot::skipped`], so one odd key does not make the whole set unusable. A
/// key without `kid` (draft-era sets) is indexed under its RFC 7638 thumbprint. Two usable
/// keys with the same `kid` are both dropped: which one a SET means would be ambiguous.
#[derive(Debug, Default)]
pub struct JwksSnapshot {
    keys: BTreeMap<String, Arc<VerifyingKey>>,
    skipped: Vec<SkippedKey>,
}

impl JwksSnapshot {
    /// Indexes the usable keys of `jwks`.
    pub fn new(jwks: &Jwks) -> Self {
        let mut snapshot = Self::default();
        let mut duplicates = Vec::new();
        for jwk in &jwks.keys {
            let kid = jwk.kid.as_ref().map(|k| k.as_str().to_owned());
            let named;
            let thumbprint = || jwk.thumbprint().ok();
            let jwk = match jwk.kid.is_none().then(thumbprint).flatten() {
                Some(thumbprint) => {
                    let mut with_kid = jwk.clone();
                    with_kid.kid = Some(KeyId::new(thumbprint));
                    named = with_kid;
                    &named
                }
                _ => jwk,
            };
            match VerifyingKey::from_jwk(jwk) {
                Ok(key) => {
                    let id = key.kid().as_str().to_owned();
                    if snapshot.keys.insert(id.clone(), Arc::new(key)).is_some() {
                        duplicates.push(id);
                    }
                }
                Err(e) => {
                    let reason = match e {
                        JoseError::InvalidKey { reason } => reason,
                        _ => "unusable key",
                    };
                    snapshot.skipped.push(SkippedKey { kid, reason });
                }
            }
        }
        for id in duplicates {
            if snapshot.keys.remove(&id).is_some() {
                snapshot.skipped.push(SkippedKey {
                    kid: Some(id),
                    reason: "duplicate kid",
                });
            }
        }
        snapshot
    }

    /// Adds one key (e.g. an HMAC secret), replacing any key with the same `kid`.
    pub fn insert(&mut self, key: VerifyingKey) {
        self.keys
            .insert(key.kid().as_str().to_owned(), Arc::new(key));
    }

    /// The keys that could not be used.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The ids of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyResolver for JwksSnapshot {
    fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.keys.get(kid).cloned()
    }

    fn only_key(&self, alg: &Algorithm) -> Option<Arc<VerifyingKey>> {
        let mut fitting = self.keys.values().filter(|k| k.fits(alg));
        match (fitting.next(), fitting.next()) {
            (Some(only), None) => Some(Arc::clone(only)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyPair, SigningKey};

    #[test]
    fn odd_and_duplicate_keys_are_skipped_not_fatal() {
        let good = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("good"))).unwrap();
        let twin_a = KeyPair::generate(Algorithm::EdDsa, Some(KeyId::new("twin"))).unwrap();
        let twin_b = KeyPair::generate(Algorithm::EdDsa, Some(KeyId::new("twin"))).unwrap();
        let mut enc = good.public_jwk();
        enc.kid = Some(KeyId::new("enc"));
        enc.key_use = Some("enc".to_owned());
        let odd: Jwk =
            serde_json::from_str(r#"{"kty":"EC","crv":"P-521","kid":"p521","x":"AA","y":"AA"}"#)
                .unwrap();
        let jwks = Jwks {
            keys: vec![
                good.public_jwk(),
                twin_a.public_jwk(),
                twin_b.public_jwk(),
                enc,
                odd,
            ],
        };
        let snapshot = JwksSnapshot::new(&jwks);
        assert_eq!(snapshot.kids().collect::<Vec<_>>(), vec!["good"]);
        let reasons: Vec<_> = snapshot.skipped().iter().map(|s| s.reason).collect();
        assert!(reasons.contains(&"duplicate kid"));
        assert!(reasons.contains(&"JWK is not a signature key"));
        assert!(reasons.contains(&"unsupported curve"));
    }

    #[test]
    fn key_fits_only_its_own_family_and_alg() {
        let rsa = KeyPair::generate(Algorithm::Ps256, Some(KeyId::new("r"))).unwrap();
        let key = VerifyingKey::from_jwk(&rsa.public_jwk()).unwrap();
        assert!(key.fits(&Algorithm::Ps256));
        assert!(!key.fits(&Algorithm::Rs256), "the JWK says PS256");
        assert!(!key.fits(&Algorithm::Es256));
        assert!(!key.fits(&Algorithm::Hs256));
        assert!(!key.fits(&Algorithm::Unsecured));
        let mut no_alg = rsa.public_jwk();
        no_alg.alg = None;
        let key = VerifyingKey::from_jwk(&no_alg).unwrap();
        assert!(key.fits(&Algorithm::Rs256) && key.fits(&Algorithm::Ps256));
        assert!(VerifyingKey::hmac(KeyId::new("h"), b"short").is_err());
    }
}
