//! Where the pipeline gets a transmitter's signing keys: a [`KeySource`], which is a
//! [`KeyResolver`] that can first be made ready for a token (fetched, refreshed, refetched for an
//! unknown `kid`) and can say the keys are unavailable — then the SET is not judged at all and
//! the transmitter must retry (push `503`, poll: no `ack`), never accepted unverified.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};
use ssf_jose::{Algorithm, JwksSnapshot, KeyResolver, VerifyingKey};

use crate::{error::ReceiverError, jwks::JwksCache};

/// A transmitter's signing keys for the pipeline.
///
/// [`prepare`](Self::prepare) is awaited before the (synchronous) signature check, for tokens
/// whose header names an allowed `alg` and a `kid` (or no `kid`, from a draft-era peer allowed
/// to omit it: then `kid` is empty and a usable set is made ready, decision D-RX-10);
/// afterwards the pipeline looks the key up through [`KeyResolver::key`] (or
/// [`KeyResolver::only_key`]). Implementations decide the unknown-`kid` policy (checklist
/// SSF-SIG-06): refetch at most once per window and then answer `Ok` with the key still absent
/// (the SET fails with `invalid_key`), or `Err` when no usable key set can be had at all.
#[async_trait]
pub trait KeySource: KeyResolver + fmt::Debug {
    /// Makes the keys ready to judge a token whose header names `kid`.
    async fn prepare(&self, kid: &str) -> Result<(), ReceiverError>;
}

/// A fixed key set: always ready (tests, statically configured peers).
#[async_trait]
impl KeySource for JwksSnapshot {
    async fn prepare(&self, _kid: &str) -> Result<(), ReceiverError> {
        Ok(())
    }
}

/// The receiver's per-issuer JWKS cache ([`JwksCache::resolve`]: fresh set, one refetch per
/// window for an unknown `kid`).
#[async_trait]
impl KeySource for JwksCache {
    async fn prepare(&self, kid: &str) -> Result<(), ReceiverError> {
        let ready = if kid.is_empty() {
            self.snapshot().await.map(|_| ())
        } else {
            self.resolve(kid).await.map(|_| ())
        };
        ready.map_err(|e| ReceiverError::JwksUnavailable(e.into()))
    }
}

/// A key source that never has keys: what a peer whose JWKS cannot be fetched looks like
/// (tests, and a placeholder before a peer is set up).
#[derive(Debug, Clone, Default)]
pub struct UnavailableKeys;

impl KeyResolver for UnavailableKeys {
    fn key(&self, _kid: &str) -> Option<Arc<VerifyingKey>> {
        None
    }
}

#[async_trait]
impl KeySource for UnavailableKeys {
    async fn prepare(&self, _kid: &str) -> Result<(), ReceiverError> {
        Err(ReceiverError::JwksUnavailable("no key set".into()))
    }
}

/// The `alg` and `kid` of a compact token's JOSE header, read without verification to decide
/// whether keys must be fetched; the `kid` is empty when the header has none. `None` when the
/// header cannot be read or has no `alg` (the verifier then rejects the token with the right
/// `err` without any key).
pub(crate) fn peek_header(token: &[u8]) -> Option<(Algorithm, String)> {
    let end = token.iter().position(|b| *b == b'.')?;
    let bytes = URL_SAFE_NO_PAD.decode(&token[..end]).ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    let alg = Algorithm::from(header.get("alg")?.as_str()?);
    let kid = match header.get("kid") {
        None => "",
        Some(kid) => kid.as_str()?,
    };
    Some((alg, kid.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn header_peek_reads_alg_and_kid_only_when_present() {
        let token = format!(
            "{}.e30.sig",
            b64(r#"{"alg":"RS256","kid":"k1","typ":"secevent+jwt"}"#)
        );
        assert_eq!(
            peek_header(token.as_bytes()),
            Some((Algorithm::Rs256, "k1".to_owned()))
        );
        for header in [r#"{"alg":"RS256"}"#, r#"{"alg":"RS256","kid":""}"#] {
            let token = format!("{}.e30.sig", b64(header));
            assert_eq!(
                peek_header(token.as_bytes()),
                Some((Algorithm::Rs256, String::new())),
                "{header}"
            );
        }
        for header in [r#"{"kid":"k"}"#, r#"{"alg":"RS256","kid":1}"#, "[]"] {
            let token = format!("{}.e30.sig", b64(header));
            assert_eq!(peek_header(token.as_bytes()), None, "{header}");
        }
        assert_eq!(peek_header(b"not a jwt"), None);
        assert_eq!(peek_header(b"!!!.e30.x"), None);
    }

    #[tokio::test]
    async fn unavailable_keys_are_never_ready() {
        assert!(UnavailableKeys.prepare("k").await.is_err());
        assert!(UnavailableKeys.key("k").is_none());
        assert!(JwksSnapshot::default().prepare("k").await.is_ok());
    }
}
