//! [`TokenVerifier`]: checks the app's own bearer access tokens (JWT,
//! [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)) before the engine judges them.
//!
//! The keys come from the caller as a JWKS document (fetched from the IdP's `jwks_uri`, read from
//! a file, or built in process): this crate never reads the network. [`TokenVerifier::set_jwks`]
//! replaces them at run time; with a [`JwksSource`] ([`TokenVerifier::with_source`], e.g. the
//! receiver's JWKS cache) [`TokenVerifier::verify_fresh`] follows key rotation by itself: an
//! expired set is refetched, and an unknown `kid` refetches at most once per window. Only asymmetric algorithms are accepted (RS256 by
//! default); `none` and HMAC never. `exp` is required and checked, like `nbf`, against the
//! injected [`Clock`].

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use serde_json::{Map, Value};
use ssf_jose::{JwtError, JwtKeySet, JwtRules, jwt_kid, verify_jwt};
use ssf_types::Clock;

use crate::error::EnforceError;

use super::source::{JwksSource, KeySet};

/// Verifies bearer JWTs against an issuer, optional audiences and a key set, with
/// [`ssf_jose::verify_jwt`] (the JWT core the transmitter uses too). Cheap to clone (the keys
/// are shared, so [`set_jwks`](Self::set_jwks) on one clone changes all).
#[derive(Clone)]
pub struct TokenVerifier {
    rules: JwtRules,
    keys: Arc<RwLock<JwtKeySet>>,
    clock: Arc<dyn Clock>,
    source: Option<Arc<dyn JwksSource>>,
    /// The generation of the source's set the keys come from.
    installed: Arc<Mutex<Option<u64>>>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.rules.issuer())
            .field("audiences", &self.rules.audiences())
            .field(
                "algorithms",
                &self.rules.algorithm_names().unwrap_or_default(),
            )
            .field("kids", &self.kids())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The keys of a JWKS document; one that is not a JWKS is [`EnforceError::Jwks`].
fn parse_keys(jwks: &Value) -> Result<JwtKeySet, EnforceError> {
    JwtKeySet::from_jwks(jwks).map_err(EnforceError::Jwks)
}

impl TokenVerifier {
    /// A verifier for tokens from `issuer`, signed by a key of `jwks` (a JWKS document,
    /// `{"keys": [...]}`). Accepts RS256 only until [`algorithms`](Self::algorithms) says
    /// otherwise, and any audience until [`audience`](Self::audience) names one.
    pub fn new(
        issuer: impl Into<String>,
        jwks: &Value,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EnforceError> {
        // jsonwebtoken >= 10 needs a process-wide provider; an already installed one stays.
        ssf_jose::install_crypto_provider();
        let rules = JwtRules::new(issuer)
            .algorithms(["RS256"])
            .map_err(EnforceError::Jwks)?
            .check_time(30);
        Ok(Self {
            rules,
            keys: Arc::new(RwLock::new(parse_keys(jwks)?)),
            clock,
            source: None,
            installed: Arc::new(Mutex::new(None)),
        })
    }

    /// A verifier whose keys come from `source` (e.g. the receiver's
    /// [`JwksCache`](ssf_receiver::jwks::JwksCache) for the IdP's `jwks_uri`): fetches the set now
    /// and fails when it cannot be had. Verify with [`verify_fresh`](Self::verify_fresh).
    pub async fn from_source(
        issuer: impl Into<String>,
        source: Arc<dyn JwksSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EnforceError> {
        let set = source
            .current()
            .await
            .map_err(EnforceError::JwksUnavailable)?;
        let verifier = Self::new(issuer, &set.jwks, clock)?.with_source(source);
        *verifier.installed_generation() = Some(set.generation);
        Ok(verifier)
    }

    /// Follow `source` for key rotation in [`verify_fresh`](Self::verify_fresh). The keys given
    /// so far stay until the source hands out a set.
    #[must_use]
    pub fn with_source(mut self, source: Arc<dyn JwksSource>) -> Self {
        self.source = Some(source);
        self
    }

    fn installed_generation(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.installed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs `set` unless it is the one in use; `true` if the keys changed. A set that cannot
    /// be read keeps the old keys.
    fn install(&self, set: &KeySet) -> bool {
        let mut installed = self.installed_generation();
        if *installed == Some(set.generation) {
            return false;
        }
        match parse_keys(&set.jwks) {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
                *installed = Some(set.generation);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, issuer = %self.rules.issuer(), "the new JWKS could not be read; keeping the old keys");
                false
            }
        }
    }

    /// [`verify`](Self::verify), with the keys brought up to date from the
    /// [source](Self::with_source) first: the set in force (refetched when expired), and, for a
    /// token whose `kid` is unknown, one refetch if the source's window allows. A token whose
    /// `kid` is still unknown gets [`EnforceError::TokenKeyUnknown`]. When the source fails (JWKS
    /// endpoint down), the keys already held are used. Without a source: [`verify`](Self::verify).
    pub async fn verify_fresh(&self, token: &str) -> Result<Map<String, Value>, EnforceError> {
        let Some(source) = &self.source else {
            return self.verify(token);
        };
        match source.current().await {
            Ok(set) => {
                self.install(&set);
            }
            Err(reason) => {
                tracing::warn!(%reason, issuer = %self.rules.issuer(), "JWKS unavailable; verifying with the keys held");
            }
        }
        let first = self.verify(token);
        if !matches!(first, Err(EnforceError::TokenKeyUnknown)) {
            return first;
        }
        let kid = jwt_kid(token).ok_or(EnforceError::TokenKeyUnknown)?;
        match source.refresh(&kid).await {
            Ok(set) if self.install(&set) => self.verify(token),
            Ok(_) => {
                tracing::info!(%kid, issuer = %self.rules.issuer(), "access token refused: its kid is not in the issuer's JWKS");
                Err(EnforceError::TokenKeyUnknown)
            }
            Err(reason) => {
                tracing::warn!(%kid, %reason, issuer = %self.rules.issuer(), "JWKS refetch for an unknown kid failed");
                Err(EnforceError::TokenKeyUnknown)
            }
        }
    }

    /// Accept only tokens whose `aud` holds `audience` (may be called several times).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.rules = self.rules.audience(audience);
        self
    }

    /// The accepted algorithms by JOSE name (`RS256`, `PS256`, `ES256`, `EdDSA`, ...).
    /// HMAC and `none` are refused.
    pub fn algorithms<'a>(
        mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, EnforceError> {
        self.rules = self
            .rules
            .clone()
            .algorithms(names)
            .map_err(EnforceError::Jwks)?;
        Ok(self)
    }

    /// The allowed clock skew for `exp` and `nbf`, in seconds (default 30).
    #[must_use]
    pub fn leeway_secs(mut self, secs: i64) -> Self {
        self.rules = self.rules.check_time(secs.max(0));
        self
    }

    /// Replaces the keys (rotation); returns how many are usable.
    pub fn set_jwks(&self, jwks: &Value) -> Result<usize, EnforceError> {
        let keys = parse_keys(jwks)?;
        let n = keys.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(n)
    }

    /// The ids of the usable keys.
    pub fn kids(&self) -> Vec<String> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .kids()
    }

    /// The issuer tokens must carry.
    pub fn issuer(&self) -> &str {
        self.rules.issuer()
    }

    /// Verifies `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, EnforceError> {
        let now = self.clock.now().as_secs();
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        match verify_jwt::<Map<String, Value>>(token, &*keys, &self.rules, now) {
            Ok(verified) => Ok(verified.claims),
            Err(JwtError::Malformed) => Err(EnforceError::TokenMalformed),
            Err(JwtError::UnknownKey) => Err(EnforceError::TokenKeyUnknown),
            Err(JwtError::Algorithm) => Err(EnforceError::TokenAlgorithm),
            Err(JwtError::MissingExp | JwtError::Expired | JwtError::NotYetValid) => {
                Err(EnforceError::TokenExpired)
            }
            Err(_) => Err(EnforceError::TokenInvalid),
        }
    }
}
