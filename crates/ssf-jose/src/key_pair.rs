//! Private signing keys: generation, PKCS#8 PEM import/export, public JWK export.
//!
//! Keys are parsed once into aws-lc-rs key pairs and kept parsed, so signing never re-reads key
//! bytes (jsonwebtoken's `EncodingKey` re-parses the key on every signature, see
//! `docs/BENCHMARKS.md`).

use std::fmt;

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der},
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        self as sig, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
        RsaKeyPair, RsaPublicKeyComponents,
    },
};
use ssf_types::KeyId;
use ssf_types::secret::SecretString;

use crate::{
    Algorithm, JoseError, Jwk,
    alg::KeyFamily,
    encoding::{pem_decode, pem_encode},
};

/// A key that signs SETs. Implemented by [`KeyPair`] for keys held in memory; an HSM or KMS
/// backend implements it to keep the private key outside the process.
pub trait SigningKey: Send + Sync + fmt::Debug {
    /// The key id written into each SET header (checklist SSF-SIG-03).
    fn kid(&self) -> &KeyId;
    /// The one algorithm this key signs with.
    fn alg(&self) -> &Algorithm;
    /// Signs the JWS signing input (`base64url(header) "." base64url(payload)`) and returns the
    /// raw signature bytes ([RFC 7515 §5.1](https://www.rfc-editor.org/rfc/rfc7515#section-5.1)).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError>;
    /// The public key as a JWK with `kid`, `alg` and `use: sig`; never private members.
    fn public_jwk(&self) -> Jwk;
}

enum Inner {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key held in memory, bound to one algorithm and one `kid`.
pub struct KeyPair {
    kid: KeyId,
    alg: Algorithm,
    inner: Inner,
    public: Jwk,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl KeyPair {
    /// Generates a new key for `alg`: RSA-2048 for RS256/PS256, P-256 for ES256, Ed25519 for
    /// EdDSA. Without `kid`, the key's RFC 7638 thumbprint becomes its `kid`.
    pub fn generate(alg: Algorithm, kid: Option<KeyId>) -> Result<Self, JoseError> {
        let inner = match alg.family() {
            Some(KeyFamily::Rsa) if alg.can_sign() => Inner::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JoseError::KeyGeneration)?,
            ),
            Some(KeyFamily::P256) => Inner::P256(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| JoseError::KeyGeneration)?,
            ),
            Some(KeyFamily::Ed25519) => {
                Inner::Ed25519(Ed25519KeyPair::generate().map_err(|_| JoseError::KeyGeneration)?)
            }
            _ => return Err(JoseError::UnsupportedAlgorithm),
        };
        Self::assemble(inner, alg, kid)
    }

    /// Reads a private key from PEM: PKCS#8 (`PRIVATE KEY`, what this crate writes), or the
    /// traditional `RSA PRIVATE KEY` (PKCS#1) and `EC PRIVATE KEY` (SEC 1) forms.
    ///
    /// Without `alg`, RSA keys sign with RS256, P-256 keys with ES256 and Ed25519 keys with
    /// EdDSA. Without `kid`, the key's RFC 7638 thumbprint is used.
    pub fn from_pem(
        pem: &str,
        alg: Option<Algorithm>,
        kid: Option<KeyId>,
    ) -> Result<Self, JoseError> {
        let block = pem_decode(pem).ok_or(JoseError::invalid_key("not a PEM private key"))?;
        let inner = match block.label.as_str() {
            "PRIVATE KEY" => parse_pkcs8(&block.der)?,
            "RSA PRIVATE KEY" => Inner::Rsa(
                RsaKeyPair::from_der(&block.der)
                    .map_err(|_| JoseError::invalid_key("unreadable PKCS#1 RSA key"))?,
            ),
            "EC PRIVATE KEY" => Inner::P256(
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &block.der)
                    .map_err(|_| JoseError::invalid_key("unreadable or non-P-256 SEC 1 EC key"))?,
            ),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(JoseError::invalid_key(
                    "encrypted PEM keys are not supported",
                ));
            }
            _ => return Err(JoseError::invalid_key("PEM block is not a private key")),
        };
        let alg = match alg {
            Some(alg) => alg,
            None => match inner {
                Inner::Rsa(_) => Algorithm::Rs256,
                Inner::P256(_) => Algorithm::Es256,
                Inner::Ed25519(_) => Algorithm::EdDsa,
            },
        };
        Self::assemble(inner, alg, kid)
    }

    /// Reads an unencrypted PKCS#8 DER private key; `alg` and `kid` as in [`KeyPair::from_pem`].
    pub fn from_pkcs8_der(
        der: &[u8],
        alg: Algorithm,
        kid: Option<KeyId>,
    ) -> Result<Self, JoseError> {
        Self::assemble(parse_pkcs8(der)?, alg, kid)
    }

    /// The private key as PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`). Ed25519 keys are written
    /// as PKCS#8 v1 (RFC 8410), which every common tool reads.
    pub fn to_pkcs8_pem(&self) -> Result<SecretString, JoseError> {
        let der: Vec<u8> = match &self.inner {
            Inner::Rsa(kp) => AsDer::<Pkcs8V1Der<'_>>::as_der(kp)
                .map_err(|_| JoseError::invalid_key("cannot encode RSA key"))?
                .as_ref()
                .to_vec(),
            Inner::P256(kp) => kp
                .to_pkcs8v1()
                .map_err(|_| JoseError::invalid_key("cannot encode EC key"))?
                .as_ref()
                .to_vec(),
            Inner::Ed25519(kp) => kp
                .to_pkcs8v1()
                .map_err(|_| JoseError::invalid_key("cannot encode Ed25519 key"))?
                .as_ref()
                .to_vec(),
        };
        Ok(SecretString::from(pem_encode("PRIVATE KEY", &der)))
    }

    /// The same key under another `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: KeyId) -> Self {
        self.public.kid = Some(kid.clone());
        self.kid = kid;
        self
    }

    fn assemble(inner: Inner, alg: Algorithm, kid: Option<KeyId>) -> Result<Self, JoseError> {
        let fits = matches!(
            (&inner, &alg),
            (Inner::Rsa(_), Algorithm::Rs256 | Algorithm::Ps256)
                | (Inner::P256(_), Algorithm::Es256)
                | (Inner::Ed25519(_), Algorithm::EdDsa)
        );
        if !fits {
            return Err(JoseError::invalid_key(
                "key type does not fit the algorithm",
            ));
        }
        let mut public = match &inner {
            Inner::Rsa(kp) => {
                if kp.public_modulus_len() < 256 {
                    return Err(JoseError::invalid_key(
                        "RSA keys must have at least 2048 bits",
                    ));
                }
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                Jwk::rsa(&c.n, &c.e)
            }
            Inner::P256(kp) => Jwk::p256(kp.public_key().as_ref())?,
            Inner::Ed25519(kp) => Jwk::ed25519(kp.public_key().as_ref()),
        };
        let kid = match kid {
            Some(kid) => kid,
            None => KeyId::new(public.thumbprint()?),
        };
        public.key_use = Some("sig".to_owned());
        public.alg = Some(alg.clone());
        public.kid = Some(kid.clone());
        Ok(Self {
            kid,
            alg,
            inner,
            public,
        })
    }
}

fn parse_pkcs8(der: &[u8]) -> Result<Inner, JoseError> {
    if let Ok(kp) = Ed25519KeyPair::from_pkcs8(der) {
        return Ok(Inner::Ed25519(kp));
    }
    if let Ok(kp) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(Inner::P256(kp));
    }
    if let Ok(kp) = RsaKeyPair::from_pkcs8(der) {
        return Ok(Inner::Rsa(kp));
    }
    Err(JoseError::invalid_key(
        "not an RSA, P-256 or Ed25519 PKCS#8 private key",
    ))
}

impl SigningKey for KeyPair {
    fn kid(&self) -> &KeyId {
        &self.kid
    }

    fn alg(&self) -> &Algorithm {
        &self.alg
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        match &self.inner {
            Inner::Rsa(kp) => {
                let padding: &'static dyn sig::RsaEncoding = match self.alg {
                    Algorithm::Ps256 => &sig::RSA_PSS_SHA256,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; kp.public_modulus_len()];
                kp.sign(padding, &SystemRandom::new(), signing_input, &mut out)
                    .map_err(|_| JoseError::Signing)?;
                Ok(out)
            }
            Inner::P256(kp) => Ok(kp
                .sign(&SystemRandom::new(), signing_input)
                .map_err(|_| JoseError::Signing)?
                .as_ref()
                .to_vec()),
            Inner::Ed25519(kp) => Ok(kp.sign(signing_input).as_ref().to_vec()),
        }
    }

    fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }
}

#[cfg(test)]
mod tests {
    use ssf_types::secret::ExposeSecret;

    use super::*;

    #[test]
    fn ed25519_pem_round_trip_keeps_the_public_key() {
        let key = KeyPair::generate(Algorithm::EdDsa, None).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(
            pem.expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        let back = KeyPair::from_pem(pem.expose_secret(), None, None).unwrap();
        assert_eq!(back.public_jwk(), key.public_jwk());
        assert_eq!(back.alg(), &Algorithm::EdDsa);
        // The default kid is the RFC 7638 thumbprint.
        assert_eq!(key.kid().as_str(), key.public_jwk().thumbprint().unwrap());
        assert!(!format!("{key:?}").contains(pem.expose_secret()));
    }

    #[test]
    fn algorithm_must_fit_the_key() {
        let key = KeyPair::generate(Algorithm::Es256, Some(KeyId::new("k"))).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let err = KeyPair::from_pem(pem.expose_secret(), Some(Algorithm::Rs256), None);
        assert!(matches!(err, Err(JoseError::InvalidKey { .. })));
        assert!(matches!(
            KeyPair::generate(Algorithm::Hs256, None),
            Err(JoseError::UnsupportedAlgorithm)
        ));
        assert!(matches!(
            KeyPair::generate(Algorithm::Unsecured, None),
            Err(JoseError::UnsupportedAlgorithm)
        ));
    }
}
