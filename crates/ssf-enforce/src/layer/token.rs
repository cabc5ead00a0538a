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
    collections::{BTreeMap, HashSet},
    fmt,
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Map, Value};
use ssf_types::Clock;

use crate::error::EnforceError;

use super::source::{JwksSource, KeySet};

#[derive(Clone)]
struct KeyEntry {
    key: DecodingKey,
    /// The JWK's own `alg`, when it names one.
    alg: Option<Algorithm>,
}

/// Verifies bearer JWTs against an issuer, optional audiences and a key set. Cheap to clone
/// (the keys are shared, so [`set_jwks`](Self::set_jwks) on one clone changes all).
#[derive(Clone)]
pub struct TokenVerifier {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway_secs: i64,
    keys: Arc<RwLock<BTreeMap<String, KeyEntry>>>,
    clock: Arc<dyn Clock>,
    source: Option<Arc<dyn JwksSource>>,
    /// The generation of the source's set the keys come from.
    installed: Arc<Mutex<Option<u64>>>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("kids", &self.kids())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Whether jsonwebtoken may verify `alg` with a JWK of `kty`: asymmetric families only.
fn fits(alg: Algorithm, kty: &str) -> bool {
    use Algorithm as A;
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

fn parse_keys(jwks: &Value) -> Result<BTreeMap<String, KeyEntry>, EnforceError> {
    let set: JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| EnforceError::Jwks(e.to_string()))?;
    let mut keys = BTreeMap::new();
    for (jwk, raw) in set.keys.iter().zip(
        jwks.get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    ) {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        // Encryption keys and symmetric keys are never used to verify access tokens.
        let enc = raw.get("use").and_then(Value::as_str) == Some("enc");
        let kty = raw.get("kty").and_then(Value::as_str).unwrap_or_default();
        if enc || kty == "oct" {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let alg = raw
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Algorithm>().ok());
        keys.insert(kid, KeyEntry { key, alg });
    }
    Ok(keys)
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
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        Ok(Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms: vec![Algorithm::RS256],
            leeway_secs: 30,
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
        let set = source.current().await.map_err(EnforceError::Jwks)?;
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
                tracing::warn!(error = %e, issuer = %self.issuer, "the new JWKS could not be read; keeping the old keys");
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
                tracing::warn!(%reason, issuer = %self.issuer, "JWKS unavailable; verifying with the keys held");
            }
        }
        let first = self.verify(token);
        if !matches!(first, Err(EnforceError::TokenKeyUnknown)) {
            return first;
        }
        let kid = jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .ok_or(EnforceError::TokenKeyUnknown)?;
        match source.refresh(&kid).await {
            Ok(set) if self.install(&set) => self.verify(token),
            Ok(_) => {
                tracing::info!(%kid, issuer = %self.issuer, "access token refused: its kid is not in the issuer's JWKS");
                Err(EnforceError::TokenKeyUnknown)
            }
            Err(reason) => {
                tracing::warn!(%kid, %reason, issuer = %self.issuer, "JWKS refetch for an unknown kid failed");
                Err(EnforceError::TokenKeyUnknown)
            }
        }
    }

    /// Accept only tokens whose `aud` holds `audience` (may be called several times).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The accepted algorithms by JOSE name (`RS256`, `PS256`, `ES256`, `EdDSA`, ...).
    /// HMAC and `none` are refused.
    pub fn algorithms<'a>(
        mut self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, EnforceError> {
        let mut algs = Vec::new();
        for name in names {
            let alg = name
                .parse::<Algorithm>()
                .map_err(|_| EnforceError::Jwks(format!("unknown algorithm {name:?}")))?;
            if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                return Err(EnforceError::Jwks(format!("{name} is not accepted")));
            }
            algs.push(alg);
        }
        self.algorithms = algs;
        Ok(self)
    }

    /// The allowed clock skew for `exp` and `nbf`, in seconds (default 30).
    #[must_use]
    pub fn leeway_secs(mut self, secs: i64) -> Self {
        self.leeway_secs = secs.max(0);
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
            .keys()
            .cloned()
            .collect()
    }

    /// The issuer tokens must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, EnforceError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| EnforceError::TokenMalformed)?;
        if header.crit.is_some() {
            return Err(EnforceError::TokenMalformed);
        }
        let kid = header.kid.as_deref().ok_or(EnforceError::TokenKeyUnknown)?;
        let entry = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
            .ok_or(EnforceError::TokenKeyUnknown)?;
        let alg = header.alg;
        let kty = match entry.key.family() {
            jsonwebtoken::AlgorithmFamily::Rsa => "RSA",
            jsonwebtoken::AlgorithmFamily::Ec => "EC",
            jsonwebtoken::AlgorithmFamily::Ed => "OKP",
            _ => "oct",
        };
        if !self.algorithms.contains(&alg)
            || !fits(alg, kty)
            || entry.alg.is_some_and(|own| own != alg)
        {
            return Err(EnforceError::TokenAlgorithm);
        }
        let mut validation = Validation::new(alg);
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = !self.audiences.is_empty();
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        if !self.audiences.is_empty() {
            validation.set_audience(&self.audiences);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &entry.key, &validation)
            .map_err(|_| EnforceError::TokenInvalid)?;
        let claims = data.claims;
        let now = self.clock.now().as_secs();
        let num = |name: &str| claims.get(name).and_then(Value::as_i64);
        match num("exp") {
            Some(exp) if exp + self.leeway_secs > now => {}
            _ => return Err(EnforceError::TokenExpired),
        }
        if num("nbf").is_some_and(|nbf| nbf - self.leeway_secs > now) {
            return Err(EnforceError::TokenExpired);
        }
        Ok(claims)
    }
}
