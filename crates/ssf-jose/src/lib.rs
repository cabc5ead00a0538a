//! Security Event Token ([RFC 8417]) signing and verification for the
//! [OpenID Shared Signals Framework 1.0][ssf]: the JOSE rules of SSF (`typ`, `alg`, `kid`), JWK
//! and JWKS publication, key generation and rotation behind a [`KeyStore`] trait.
//!
//! - **Sign**: [`SetSigner`] writes `{"typ":"secevent+jwt","alg":..,"kid":..}` and signs with the
//!   store's current key (RS256 with RSA-2048 by default; PS256, ES256 and EdDSA available).
//! - **Verify**: [`SetVerifier`] with [`VerifyOptions`] checks `alg` against an allow-list
//!   (`none` and HMAC refused unless listed), `typ` (RFC 7515 §4.1.9 comparison), `crit`
//!   (refused), `kid` and the key's fit to `alg`, the signature, then `iss`, `aud`, `iat`, `jti`,
//!   and the absence of `sub`/`exp`, and last types the claims and the event with `ssf_types`
//!   into a [`VerifiedSet`], which nothing else can construct. Every failure is a [`JoseError`]
//!   whose [`set_error_code`](JoseError::set_error_code) is the RFC 8935 `err` to answer with.
//! - **Bearer JWTs**: [`verify_jwt`] with [`JwtRules`] is the one verification core for OAuth
//!   access tokens ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)) of the transmitter and
//!   the enforcement layer: `kid`, asymmetric `alg` fitting the key, signature, `iss`, `aud`,
//!   `typ`, then `exp`/`nbf` against the caller's clock; failures are a [`JwtError`].
//! - **Keys**: [`KeyPair`] (generation, PKCS#8 PEM, public [`Jwk`]), [`Jwks`], [`VerifyingKey`],
//!   [`KeyResolver`] / [`JwksSnapshot`], and the stores [`MemoryKeyStore`] and [`FileKeyStore`].
//!
//! The signature primitives are aws-lc-rs, used directly with keys parsed once; see
//! `docs/BENCHMARKS.md` for why signing does not go through `jsonwebtoken::encode`.
//!
//! [RFC 8417]: https://www.rfc-editor.org/rfc/rfc8417
//! [ssf]: https://openid.net/specs/openid-sharedsignals-framework-1_0.html

mod alg;
mod encoding;
mod error;
mod jwk;
mod jwt;
mod key_pair;
mod sign;
mod store;
mod verify;
mod verifying_key;

pub use alg::Algorithm;
pub use error::JoseError;
pub use jwk::{Jwk, Jwks, PRIVATE_MEMBERS};
pub use jwt::{
    JwtError, JwtKey, JwtKeyLookup, JwtKeySet, JwtRules, TypRule, VerifiedJwt, is_access_token_typ,
    jwt_kid, peek_jwt_claims, verify_jwt,
};
pub use key_pair::{KeyPair, SigningKey};
pub use sign::{SET_TYP, SetSigner, sign_with};
pub use store::{FileKeyStore, KeyInfo, KeyState, KeyStore, MemoryKeyStore};
pub use verify::{
    SetVerifier, UnverifiedSet, VerifiedSet, VerifyOptions, decode_unverified, is_set_typ,
};
pub use verifying_key::{JwksSnapshot, KeyResolver, SkippedKey, VerifyingKey};

/// Installs aws-lc-rs as jsonwebtoken's process-wide `CryptoProvider`.
///
/// jsonwebtoken ≥ 10 panics at its first signature if it cannot tell which provider to use
/// (e.g. when feature unification enables both `aws_lc_rs` and `rust_crypto`). This crate signs
/// and verifies SETs with aws-lc-rs directly and does not need it, but every binary that also
/// uses jsonwebtoken (OAuth access tokens, tests) calls this once at start-up. Safe to call any
/// number of times from any thread; if another provider was installed first, that one stays.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only means a provider is already installed, which is what we want.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
    });
}
