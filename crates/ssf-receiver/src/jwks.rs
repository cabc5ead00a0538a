//! The per-issuer JWKS cache: the transmitter's signing keys, fetched from its metadata
//! `jwks_uri` ([SSF 1.0 §7.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7.1))
//! through the guarded client.
//!
//! - A fetched set is kept for `Cache-Control: max-age`, bounded to
//!   [`min_ttl`, `max_ttl`](JwksSettings) (default 1 min … 24 h), or `default_ttl` (15 min)
//!   without one.
//! - An unknown `kid` refetches the set at most once per `unknown_kid_window` (default 30 s),
//!   so SETs with made-up `kid`s cannot force a fetch each (checklist SSF-SIG-06); after that the
//!   key is unknown and the SET fails with `invalid_key`.
//! - Concurrent refreshes are coalesced: one request, everyone waits for it.
//! - When no usable set can be had, [`ReceiverError::JwksUnavailable`] says so; the push endpoint
//!   answers `503` ([`ReceiverError::push_status`]) and the poller leaves the SET unacknowledged,
//!   so the transmitter retries. A SET is never accepted unverified. After a set expired and a
//!   refetch failed, the old keys stay in use for `stale_if_error` at most.
//! - Metric: `ssf_receiver_jwks_fetches_total{result}` with `result` `ok` or `error`.
//!
//! [`JwksCache`] is a [`KeyResolver`] (the set in force now) for [`ssf_jose::SetVerifier`]; call
//! [`JwksCache::prepare`] with the token first, so an expired set or an unknown `kid` is
//! refreshed before the synchronous verification looks the key up. It serves other verifiers
//! too (e.g. `ssf_enforce`'s access-token verifier): [`JwksCache::document`] is the fetched JWKS
//! as JSON with a generation that changes on every successful fetch.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use ssf_http::{
    GuardedClient, Url, read_body_limited,
    reqwest::{
        StatusCode,
        header::{ACCEPT, CACHE_CONTROL, HeaderMap, HeaderValue},
    },
};
use ssf_jose::{Jwks, JwksSnapshot, KeyResolver, VerifyingKey, decode_unverified};
use ssf_types::{Clock, TransmitterMetadata, UnixMillis};
use tokio::sync::Mutex;

use crate::{
    config::JwksSettings,
    discovery::require_https,
    error::{Cause, ReceiverError},
    wire::parse_url,
};

/// A cached JWKS of one transmitter. Share it behind an `Arc`.
#[derive(Debug)]
pub struct JwksCache {
    http: GuardedClient,
    uri: Url,
    settings: JwksSettings,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<Entry>>>,
    fetch: Mutex<FetchState>,
}

#[derive(Debug)]
struct Entry {
    snapshot: Arc<JwksSnapshot>,
    /// The fetched document as JSON, for verifiers with their own key types.
    document: Arc<serde_json::Value>,
    fresh_until: UnixMillis,
    generation: u64,
}

#[derive(Debug, Default)]
struct FetchState {
    generation: u64,
    last_forced: Option<UnixMillis>,
}

impl JwksCache {
    /// A cache for the set at `jwks_uri` (https unless the client allows http). Nothing is
    /// fetched until the first use.
    pub fn new(
        http: GuardedClient,
        jwks_uri: &str,
        settings: JwksSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ReceiverError> {
        require_https(&http, jwks_uri, "jwks_uri")?;
        Ok(Self {
            uri: parse_url(jwks_uri, "jwks_uri")?,
            http,
            settings,
            clock,
            current: RwLock::new(None),
            fetch: Mutex::new(FetchState::default()),
        })
    }

    /// A cache for the `jwks_uri` of discovered `metadata` (SSF-META-12: required when SETs are
    /// signed).
    pub fn from_metadata(
        http: GuardedClient,
        metadata: &TransmitterMetadata,
        settings: JwksSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ReceiverError> {
        let uri = metadata
            .jwks_uri
            .as_deref()
            .ok_or(ReceiverError::MissingEndpoint("jwks_uri"))?;
        Self::new(http, uri, settings, clock)
    }

    /// The URL the keys come from.
    pub fn jwks_uri(&self) -> &Url {
        &self.uri
    }

    /// The set in force, without fetching (`None` before the first successful fetch).
    pub fn current(&self) -> Option<Arc<JwksSnapshot>> {
        self.entry().map(|e| Arc::clone(&e.snapshot))
    }

    /// The JWKS document in force as JSON, with its generation (a number that grows with every
    /// successful fetch, so a caller re-reads keys only when it changed). Does not fetch: call
    /// [`snapshot`](Self::snapshot) or [`resolve`](Self::resolve) first.
    pub fn document(&self) -> Option<(u64, Arc<serde_json::Value>)> {
        self.entry()
            .map(|e| (e.generation, Arc::clone(&e.document)))
    }

    /// A usable set: the cached one while fresh, else a new one. If the refetch fails, the
    /// expired set is used for at most `stale_if_error`; after that, or when nothing was ever
    /// fetched, [`ReceiverError::JwksUnavailable`].
    pub async fn snapshot(&self) -> Result<Arc<JwksSnapshot>, ReceiverError> {
        let now = self.clock.now();
        if let Some(entry) = self.entry()
            && now < entry.fresh_until
        {
            return Ok(Arc::clone(&entry.snapshot));
        }
        let mut state = self.fetch.lock().await;
        // Someone else may have refreshed while we waited for the lock.
        if let Some(entry) = self.entry()
            && self.clock.now() < entry.fresh_until
        {
            return Ok(Arc::clone(&entry.snapshot));
        }
        match self.fetch_locked(&mut state).await {
            Ok(entry) => Ok(Arc::clone(&entry.snapshot)),
            Err(error) => {
                let stale = millis(self.settings.stale_if_error);
                match self.entry() {
                    Some(entry) if self.clock.now() < entry.fresh_until.plus_millis(stale) => {
                        tracing::warn!(jwks_uri = %self.uri, %error, "JWKS refetch failed; using the expired set for now");
                        Ok(Arc::clone(&entry.snapshot))
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// The key `kid`, refetching the set once if `kid` is unknown and the unknown-`kid` window
    /// allows it (SSF-SIG-06). `Ok(None)`: the key is unknown (the SET fails with `invalid_key`).
    pub async fn resolve(&self, kid: &str) -> Result<Option<Arc<VerifyingKey>>, ReceiverError> {
        let observed = self.snapshot().await?;
        if let Some(key) = observed.key(kid) {
            return Ok(Some(key));
        }
        let observed_generation = self.entry().map_or(0, |e| e.generation);
        let mut state = self.fetch.lock().await;
        if let Some(key) = self.entry().and_then(|e| e.snapshot.key(kid)) {
            return Ok(Some(key));
        }
        if let Some(entry) = self.entry()
            && entry.generation != observed_generation
        {
            // A fetch finished while we waited: that is the refetch this kid gets.
            return Ok(entry.snapshot.key(kid));
        }
        let now = self.clock.now();
        let window = millis(self.settings.unknown_kid_window);
        if state
            .last_forced
            .is_some_and(|at| now < at.plus_millis(window))
        {
            tracing::debug!(jwks_uri = %self.uri, "unknown kid; refetch window not over");
            return Ok(None);
        }
        state.last_forced = Some(now);
        tracing::info!(jwks_uri = %self.uri, "unknown kid; refetching the JWKS");
        match self.fetch_locked(&mut state).await {
            Ok(entry) => Ok(entry.snapshot.key(kid)),
            // The set we have is still fresh: the key is simply unknown.
            Err(error) => {
                tracing::warn!(jwks_uri = %self.uri, %error, "JWKS refetch for an unknown kid failed");
                Ok(None)
            }
        }
    }

    /// Makes sure the set in force can judge `token`: fresh (or fetched), and refetched for an
    /// unknown `kid` when the window allows. Call it before [`ssf_jose::SetVerifier::verify`]
    /// with this cache as the resolver. A token whose header cannot be read passes through:
    /// the verifier rejects it with the right `err`.
    pub async fn prepare(&self, token: &[u8]) -> Result<(), ReceiverError> {
        let kid = decode_unverified(token).ok().and_then(|set| {
            set.header
                .get("kid")
                .and_then(|k| k.as_str().map(str::to_owned))
        });
        match kid {
            Some(kid) if !kid.is_empty() => self.resolve(&kid).await.map(|_| ()),
            _ => self.snapshot().await.map(|_| ()),
        }
    }

    fn entry(&self) -> Option<Arc<Entry>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches and installs a new set; the caller holds the fetch lock.
    async fn fetch_locked(&self, state: &mut FetchState) -> Result<Arc<Entry>, ReceiverError> {
        let result = self.fetch_once().await;
        metrics::counter!(
            "ssf_receiver_jwks_fetches_total",
            "result" => if result.is_ok() { "ok" } else { "error" }
        )
        .increment(1);
        let (snapshot, document, ttl) = result?;
        state.generation += 1;
        let entry = Arc::new(Entry {
            snapshot: Arc::new(snapshot),
            document: Arc::new(document),
            fresh_until: self.clock.now().plus_millis(millis(ttl)),
            generation: state.generation,
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&entry));
        Ok(entry)
    }

    async fn fetch_once(
        &self,
    ) -> Result<(JwksSnapshot, serde_json::Value, Duration), ReceiverError> {
        let unavailable = |cause: Cause| ReceiverError::JwksUnavailable(cause);
        let response = self
            .http
            .get(self.uri.clone())?
            .header(
                ACCEPT,
                HeaderValue::from_static("application/jwk-set+json, application/json"),
            )
            .send()
            .await
            .map_err(|e| unavailable(e.into()))?;
        if response.status() != StatusCode::OK {
            return Err(unavailable(
                format!("HTTP {}", response.status().as_u16()).into(),
            ));
        }
        let ttl = self.ttl(response.headers());
        let body = read_body_limited(response, self.settings.max_bytes)
            .await
            .map_err(|e| unavailable(e.into()))?;
        let jwks = Jwks::from_json(&body).map_err(|e| unavailable(e.into()))?;
        let document = serde_json::from_slice(&body).map_err(|e| unavailable(e.into()))?;
        let snapshot = JwksSnapshot::new(&jwks);
        for skipped in snapshot.skipped() {
            tracing::warn!(jwks_uri = %self.uri, kid = ?skipped.kid, reason = skipped.reason, "JWK skipped");
        }
        if snapshot.is_empty() {
            return Err(unavailable("the JWKS holds no usable key".into()));
        }
        Ok((snapshot, document, ttl))
    }

    /// The lifetime from `Cache-Control` (RFC 9111 §5.2.2.1 `max-age`; `no-store`/`no-cache`
    /// count as zero), bounded to [`min_ttl`, `max_ttl`].
    fn ttl(&self, headers: &HeaderMap) -> Duration {
        let s = &self.settings;
        max_age(headers)
            .unwrap_or(s.default_ttl)
            .clamp(s.min_ttl, s.max_ttl.max(s.min_ttl))
    }
}

impl KeyResolver for JwksCache {
    fn key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.entry().and_then(|e| e.snapshot.key(kid))
    }

    fn only_key(&self, alg: &ssf_jose::Algorithm) -> Option<Arc<VerifyingKey>> {
        self.entry().and_then(|e| e.snapshot.only_key(alg))
    }
}

/// The `max-age` of the `Cache-Control` headers, if any.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim().to_ascii_lowercase();
            match name.as_str() {
                "no-store" | "no-cache" => return Some(Duration::ZERO),
                "max-age" => {
                    let arg = arg.trim().trim_matches('"');
                    if let Ok(secs) = arg.parse::<u64>() {
                        found = Some(Duration::from_secs(secs));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age(&headers(&["public, max-age=600"])),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age(&headers(&["Max-Age=\"5\""])),
            Some(Duration::from_secs(5))
        );
        assert_eq!(max_age(&headers(&["no-store"])), Some(Duration::ZERO));
        assert_eq!(
            max_age(&headers(&["max-age=60", "no-cache"])),
            Some(Duration::ZERO)
        );
        assert_eq!(max_age(&headers(&["public"])), None);
        assert_eq!(max_age(&headers(&["max-age=soon"])), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
