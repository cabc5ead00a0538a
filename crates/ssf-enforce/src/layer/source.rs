//! Where a [`TokenVerifier`](super::TokenVerifier) gets fresh keys: a [`JwksSource`], so an IdP
//! key rotation is picked up without a restart.
//!
//! The verifier asks the source for the set in force on each verification (a source answers from
//! its cache while the set is fresh) and, when a token names a `kid` it does not know, asks once
//! more with that `kid`: the source refetches at most once per window, so tokens with made-up
//! `kid`s cannot make it fetch for each (the same rule as SSF-SIG-06 for SETs). If the source
//! fails (the JWKS endpoint is down), the verifier keeps the keys it has.
//!
//! With feature `receiver`, [`ssf_receiver::jwks::JwksCache`] is a source: `Cache-Control`
//! bounded lifetimes, the unknown-`kid` window, coalesced fetches, through the HTTP client the
//! caller gave it (this crate never opens a connection itself).

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use serde_json::Value;

/// A JWKS document and its generation: a number that changes whenever the document does, so the
/// verifier re-reads keys only then.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySet {
    /// Changes with every new document.
    pub generation: u64,
    /// The JWKS document (`{"keys": [...]}`).
    pub jwks: Arc<Value>,
}

/// What a [`JwksSource`] returns: a key set, or why none could be had.
pub type SourceFuture<'a> = Pin<Box<dyn Future<Output = Result<KeySet, String>> + Send + 'a>>;

/// Hands a [`TokenVerifier`](super::TokenVerifier) the current keys of an issuer.
pub trait JwksSource: Send + Sync + fmt::Debug {
    /// The set in force: cached while fresh, fetched when expired or never fetched.
    fn current(&self) -> SourceFuture<'_>;

    /// The set after looking for `kid`: refetched if `kid` is unknown and the source's
    /// unknown-`kid` window allows (at most one fetch per window), else the set in force.
    fn refresh<'a>(&'a self, kid: &'a str) -> SourceFuture<'a>;
}

#[cfg(feature = "receiver")]
impl JwksSource for ssf_receiver::jwks::JwksCache {
    fn current(&self) -> SourceFuture<'_> {
        Box::pin(async move {
            self.snapshot().await.map_err(|e| e.to_string())?;
            document(self)
        })
    }

    fn refresh<'a>(&'a self, kid: &'a str) -> SourceFuture<'a> {
        Box::pin(async move {
            self.resolve(kid).await.map_err(|e| e.to_string())?;
            document(self)
        })
    }
}

#[cfg(feature = "receiver")]
fn document(cache: &ssf_receiver::jwks::JwksCache) -> Result<KeySet, String> {
    cache
        .document()
        .map(|(generation, jwks)| KeySet { generation, jwks })
        .ok_or_else(|| format!("no JWKS could be fetched from {}", cache.jwks_uri()))
}
