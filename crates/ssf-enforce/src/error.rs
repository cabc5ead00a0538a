//! The one error enum of this crate.
//!
//! Planning never fails (a malformed event yields a [`Plan`](crate::Plan) without effects whose
//! audit entry says why); these errors come from parsing inputs, rows and configuration, and
//! from checking bearer access tokens (feature `http`; every token error answers
//! `401 invalid_token` with the constant text of [`EnforceError::token_description`]).

use crate::row::RowKind;

/// What went wrong while reading a subject, an event, a state row, the configuration or an
/// access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnforceError {
    /// A Subject Identifier lacks a member its format requires, or is not a JSON object
    /// ([RFC 9493 §3](https://www.rfc-editor.org/rfc/rfc9493#section-3),
    /// [SSF 1.0 §3.3](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-3.3)).
    #[error("invalid subject identifier: {0}")]
    InvalidSubject(&'static str),
    /// A SET payload or event body lacks a member the engine needs (`iss`, `jti`, `events`, ...).
    #[error("invalid event: {0}")]
    InvalidEvent(&'static str),
    /// A stored state row does not have the shape its kind needs; it is skipped on load.
    #[error("invalid state row {kind}/{key}: {reason}")]
    InvalidRow {
        /// The row's kind.
        kind: RowKind,
        /// The row's key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The engine configuration is inconsistent (e.g. an unknown access level in a permission).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The receiver store could not be read (e.g. while looking up the audit entry behind a
    /// decision, [`crate::explain`]).
    #[cfg(feature = "receiver")]
    #[error("the receiver store could not be read: {0}")]
    Store(#[source] ssf_store::StoreError),
    // Bearer access tokens: coarse on purpose, so that nothing about the expected issuer,
    // audience or keys leaks (RFC 6750 §3.1).
    /// No `Authorization: Bearer` header.
    #[error("no bearer access token")]
    TokenMissing,
    /// Not a compact JWS, or its header or claims are not JSON objects.
    #[error("the access token is malformed")]
    TokenMalformed,
    /// No `kid`, or no configured key has it.
    #[error("the access token's signing key is unknown")]
    TokenKeyUnknown,
    /// The `alg` is not allowed or does not fit the key.
    #[error("the access token's algorithm is not accepted")]
    TokenAlgorithm,
    /// The signature, `iss` or `aud` did not verify.
    #[error("the access token did not verify")]
    TokenInvalid,
    /// `exp` is missing or past, or `nbf` is in the future.
    #[error("the access token is expired or not yet valid")]
    TokenExpired,
    /// The JWKS given to the token verifier could not be read, or its algorithm list cannot be
    /// used (configuration error).
    #[cfg(feature = "http")]
    #[error("the JWKS could not be read: {}", jwks_reason(.0))]
    Jwks(#[source] ssf_jose::JwtError),
    /// The key source could not hand out a key set (feature `http`); the text is the source's own
    /// description of what failed.
    #[error("the JWKS could not be read: {0}")]
    JwksUnavailable(String),
}

/// What a JWKS error says: the parser's complaint for a document that is not a JWKS, else the
/// error itself.
#[cfg(feature = "http")]
fn jwks_reason(err: &ssf_jose::JwtError) -> String {
    match err {
        ssf_jose::JwtError::Jwks(source) => source.to_string(),
        other => other.to_string(),
    }
}

impl EnforceError {
    /// The constant `error_description` of the `401` answer to a token error
    /// ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)): the one place
    /// that turns errors into wire text.
    pub fn token_description(&self) -> &'static str {
        match self {
            Self::TokenMissing => "A bearer access token is required",
            Self::TokenExpired => "The access token is expired",
            Self::TokenKeyUnknown => {
                "The access token is signed with a key the issuer does not publish"
            }
            _ => "The access token is not valid",
        }
    }
}
