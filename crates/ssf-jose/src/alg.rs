//! JWS algorithms ([RFC 7518 §3.1](https://www.rfc-editor.org/rfc/rfc7518#section-3.1)) and the
//! key types each one needs.

ssf_types::open_enum! {
    /// A JWS `alg` value. Unknown values (e.g. `HS512`, `RS384`) are kept in `Other` and can never
    /// sign or verify.
    ///
    /// SETs are signed with [`Algorithm::Rs256`] by default (interop profile, checklist
    /// SSF-SIG-02). [`Algorithm::Hs256`] and [`Algorithm::Unsecured`] exist so a verifier can
    /// name them in an allow-list; both are refused unless explicitly allowed (SSF-SIG-05,
    /// [RFC 8725 §3.1–3.2](https://www.rfc-editor.org/rfc/rfc8725#section-3.1)).
    pub enum Algorithm {
        /// RSASSA-PKCS1-v1_5 with SHA-256; RSA keys of at least 2048 bits.
        Rs256 = "RS256",
        /// RSASSA-PSS with SHA-256 (MGF1, salt of 32 bytes); RSA keys of at least 2048 bits.
        Ps256 = "PS256",
        /// ECDSA on P-256 with SHA-256, fixed-width `r || s` signature (RFC 7518 §3.4).
        Es256 = "ES256",
        /// EdDSA with Ed25519 ([RFC 8037](https://www.rfc-editor.org/rfc/rfc8037#section-3.1)).
        EdDsa = "EdDSA",
        /// HMAC with SHA-256: a shared secret. Only for peers configured with one, never from a
        /// JWKS.
        Hs256 = "HS256",
        /// `none`: an unsecured JWS (RFC 7515 Appendix A.5). Never accepted unless explicitly
        /// allowed for integrity-protected transports (RFC 8417 §2.4).
        Unsecured = "none",
    }
}

/// The key family an algorithm needs; the verifier matches it against the key's `kty`/`crv` so
/// the header `alg` alone never decides how a key is used (no algorithm confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
    /// `kty: oct`.
    Oct,
}

impl Algorithm {
    /// The algorithms this crate can sign with (all asymmetric).
    pub const SIGNING: [Self; 4] = [Self::Rs256, Self::Ps256, Self::Es256, Self::EdDsa];

    /// The key family this algorithm needs, or `None` when it has no key (`none`, unknown).
    pub(crate) fn family(&self) -> Option<KeyFamily> {
        match self {
            Self::Rs256 | Self::Ps256 => Some(KeyFamily::Rsa),
            Self::Es256 => Some(KeyFamily::P256),
            Self::EdDsa => Some(KeyFamily::Ed25519),
            Self::Hs256 => Some(KeyFamily::Oct),
            Self::Unsecured | Self::Other(_) => None,
        }
    }

    /// Whether this algorithm uses a shared secret (HMAC).
    pub fn is_symmetric(&self) -> bool {
        matches!(self, Self::Hs256)
    }

    /// Whether this crate can produce signatures with it.
    pub fn can_sign(&self) -> bool {
        Self::SIGNING.contains(self)
    }
}

impl Default for Algorithm {
    /// `RS256`, the interop profile's algorithm (checklist SSF-SIG-02).
    fn default() -> Self {
        Self::Rs256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_cannot_sign() {
        for alg in Algorithm::SIGNING {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
            assert!(alg.can_sign());
            assert!(alg.family().is_some());
        }
        let other: Algorithm = "HS512".parse().unwrap();
        assert!(!other.is_known());
        assert!(!other.can_sign());
        assert_eq!(other.family(), None);
        assert_eq!(Algorithm::Unsecured.as_str(), "none");
        assert!(!Algorithm::Unsecured.can_sign());
        assert!(Algorithm::Hs256.is_symmetric());
        // `alg` values are case-sensitive (RFC 7515 §4.1.1).
        assert!(!"rs256".parse::<Algorithm>().unwrap().is_known());
    }
}
