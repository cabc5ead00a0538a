//! The one error type of this crate and its mapping to RFC 8935 `err` codes.
//!
//! Display texts are constant: they never contain the expected issuer or audience, key ids, claim
//! values or any other part of the token (checklist SSF-SEC-17), because a push endpoint sends
//! them back to whoever posted the SET.

use ssf_types::{SetErrorCode, SetShapeError};

/// Everything that can go wrong in this crate.
///
/// Verification failures map to an RFC 8935 `err` code through [`JoseError::set_error_code`];
/// the other variants are local failures (key files, key generation) that are never the SET's
/// fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    // ---- verification: the compact serialization and the JOSE header ----
    /// The token is longer than the verifier accepts.
    #[error("the SET is too large")]
    TokenTooLarge,
    /// Not a JWS compact serialization: three base64url parts separated by dots
    /// ([RFC 7515 §7.1](https://www.rfc-editor.org/rfc/rfc7515#section-7.1)).
    #[error("the SET is not a compact JWS (three base64url parts)")]
    MalformedToken,
    /// The JOSE header is not a JSON object, repeats a member, or a member has the wrong type.
    #[error("the SET's JOSE header is not a valid JSON object")]
    MalformedHeader,
    /// The header has no `alg`.
    #[error("the SET's JOSE header has no alg")]
    MissingAlgorithm,
    /// `alg` is `none` and the verifier does not allow unsecured SETs (checklist TV-NEG-25).
    #[error("unsecured SETs (alg none) are not accepted")]
    UnsecuredNotAllowed,
    /// `alg` is not in the verifier's allow-list (checklist SSF-SIG-05).
    #[error("the SET's signing algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The header has no `typ` ([SSF 1.0 §4.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1.1)).
    #[error("the SET's JOSE header has no typ")]
    MissingTyp,
    /// `typ` is not `secevent+jwt` (checklist SSF-RXV-05, TV-NEG-24).
    #[error("the SET's typ is not secevent+jwt")]
    WrongTyp,
    /// The header has a `crit` member; no extension is supported
    /// ([RFC 7515 §4.1.11](https://www.rfc-editor.org/rfc/rfc7515#section-4.1.11)).
    #[error("the SET's JOSE header has a crit member, which is not supported")]
    CriticalHeader,
    /// The header has no `kid` (checklist SSF-SIG-03).
    #[error("the SET's JOSE header has no kid")]
    MissingKid,
    /// No key with the header's `kid` is known (checklist SSF-SIG-06).
    #[error("no key is known for the SET's kid")]
    UnknownKid,
    /// The key found by `kid` does not fit `alg` (`kty`/`crv`, or the key's own `alg`).
    #[error("the key named by the SET's kid cannot be used with its alg")]
    KeyAlgorithmMismatch,
    /// The signature does not verify.
    #[error("the SET's signature is invalid")]
    BadSignature,

    // ---- verification: the claims ----
    /// The payload is not a JSON object, or repeats a member.
    #[error("the SET's claims are not a valid JSON object")]
    MalformedClaims,
    /// A required claim is missing.
    #[error("the SET has no {claim} claim")]
    MissingClaim {
        /// The claim's name (a constant, never token content).
        claim: &'static str,
    },
    /// A claim has the wrong JSON type (e.g. a non-integer `iat`, an empty `jti`).
    #[error("the SET's {claim} claim has an invalid value")]
    InvalidClaim {
        /// The claim's name (a constant, never token content).
        claim: &'static str,
    },
    /// `iss` is not the expected issuer ([SSF 1.0 §4.1.6](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1.6)).
    #[error("the SET's issuer is not accepted")]
    IssuerMismatch,
    /// `aud` is missing or names none of the expected audiences (RFC 8935 §2).
    #[error("the SET's audience does not include this receiver")]
    AudienceMismatch,
    /// `sub` is present ([SSF 1.0 §4.1.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1.2),
    /// decision D-07, TV-NEG-02).
    #[error("the SET has a sub claim, which SSF forbids")]
    SubPresent,
    /// `exp` is present ([SSF 1.0 §4.1.7](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-4.1.7),
    /// decision D-07, TV-NEG-03).
    #[error("the SET has an exp claim, which SSF forbids")]
    ExpPresent,
    /// `iat` is later than now plus the allowed clock skew (checklist SSF-SET-04).
    #[error("the SET's iat is in the future")]
    IssuedInFuture,
    /// `iat` is older than the verifier's maximum age (a receiver's freshness limit; checklist
    /// SSF-RXV-20, SSF-SEC-06).
    #[error("the SET is too old: its iat is beyond the receiver's maximum age")]
    TooOld,
    /// `exp` (allowed by configuration) has passed.
    #[error("the SET has expired")]
    Expired,
    /// `nbf` lies in the future.
    #[error("the SET is not valid yet")]
    NotYetValid,
    /// Signature and claims verified, but the claims do not have the shape of an SSF SET or the
    /// event does not conform to its definition ([`SetClaims::from_json`](ssf_types::SetClaims::from_json),
    /// [`SetClaims::event`](ssf_types::SetClaims::event); checklist SSF-RXV-06, SSF-RXV-07,
    /// SSF-RXV-09). The `err` is the shape error's own ([`SetShapeError::err_code`]); the source
    /// may quote SET content, so answer a peer with a constant text, never with it.
    #[error("the SET's claims or event do not have the shape SSF requires")]
    Shape(#[source] SetShapeError),

    // ---- local failures: keys, signing, stores ----
    /// A key could not be read or is not acceptable (format, size, curve, private material in a
    /// public JWK).
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// Why (a constant text).
        reason: &'static str,
    },
    /// The algorithm cannot be used for this operation.
    #[error("unsupported algorithm for this operation")]
    UnsupportedAlgorithm,
    /// The crypto library failed to generate a key.
    #[error("key generation failed")]
    KeyGeneration,
    /// The crypto library failed to sign.
    #[error("signing failed")]
    Signing,
    /// The claims passed to the signer do not serialize to a JSON object.
    #[error("SET claims must serialize to a JSON object")]
    ClaimsNotObject,
    /// The key store has no current signing key.
    #[error("the key store has no current signing key")]
    NoSigningKey,
    /// A rotation step is not possible in the store's state.
    #[error("rotation step not possible: {reason}")]
    Rotation {
        /// Why (a constant text).
        reason: &'static str,
    },
    /// The key store holds no key with that `kid`.
    #[error("no such key in the key store")]
    UnknownKey,
    /// The key store's files are inconsistent.
    #[error("key store is corrupt: {reason}")]
    StoreCorrupt {
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// JSON serialization failed (claims, key index).
    #[error("JSON serialization failed: {0}")]
    Json(#[source] serde_json::Error),
}

impl JoseError {
    /// The RFC 8935 `err` code to answer with when this error rejects a SET
    /// ([RFC 8935 §2.4](https://www.rfc-editor.org/rfc/rfc8935#section-2.4), checklist
    /// SSF-RXV-01..08).
    ///
    /// `None` marks a local failure (key files, key generation, signing) that is never the SET's
    /// fault: a push endpoint should answer 5xx so the transmitter retries. Verification only
    /// returns errors with a code.
    pub fn set_error_code(&self) -> Option<SetErrorCode> {
        use SetErrorCode::{InvalidAudience, InvalidIssuer, InvalidKey, InvalidRequest};
        // No wildcard: a new variant must be mapped here deliberately.
        let code = match self {
            Self::TokenTooLarge
            | Self::MalformedToken
            | Self::MalformedHeader
            | Self::MissingAlgorithm
            | Self::MissingTyp
            | Self::WrongTyp
            | Self::CriticalHeader
            | Self::MalformedClaims
            | Self::MissingClaim { .. }
            | Self::InvalidClaim { .. }
            | Self::SubPresent
            | Self::ExpPresent
            | Self::IssuedInFuture
            | Self::TooOld
            | Self::Expired
            | Self::NotYetValid => InvalidRequest,
            Self::UnsecuredNotAllowed
            | Self::AlgorithmNotAllowed
            | Self::MissingKid
            | Self::UnknownKid
            | Self::KeyAlgorithmMismatch
            | Self::BadSignature => InvalidKey,
            Self::Shape(e) => e.err_code(),
            Self::IssuerMismatch => InvalidIssuer,
            Self::AudienceMismatch => InvalidAudience,
            Self::InvalidKey { .. }
            | Self::UnsupportedAlgorithm
            | Self::KeyGeneration
            | Self::Signing
            | Self::ClaimsNotObject
            | Self::NoSigningKey
            | Self::Rotation { .. }
            | Self::UnknownKey
            | Self::StoreCorrupt { .. }
            | Self::Io { .. }
            | Self::Json(_) => return None,
        };
        Some(code)
    }

    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { context, source }
    }

    pub(crate) fn invalid_key(reason: &'static str) -> Self {
        Self::InvalidKey { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_errors_map_to_rfc8935_codes() {
        assert_eq!(
            JoseError::MalformedToken.set_error_code(),
            Some(SetErrorCode::InvalidRequest)
        );
        assert_eq!(
            JoseError::WrongTyp.set_error_code(),
            Some(SetErrorCode::InvalidRequest)
        );
        assert_eq!(
            JoseError::BadSignature.set_error_code(),
            Some(SetErrorCode::InvalidKey)
        );
        assert_eq!(
            JoseError::UnknownKid.set_error_code(),
            Some(SetErrorCode::InvalidKey)
        );
        assert_eq!(
            JoseError::IssuerMismatch.set_error_code(),
            Some(SetErrorCode::InvalidIssuer)
        );
        assert_eq!(
            JoseError::AudienceMismatch.set_error_code(),
            Some(SetErrorCode::InvalidAudience)
        );
        assert_eq!(
            JoseError::SubPresent.set_error_code(),
            Some(SetErrorCode::InvalidRequest)
        );
        assert_eq!(JoseError::NoSigningKey.set_error_code(), None);
        assert_eq!(
            JoseError::Shape(SetShapeError::MissingSubId).set_error_code(),
            Some(SetErrorCode::InvalidRequest),
            "SSF-RXV-07"
        );
    }
}
