//! Tokens of a trusted external authorization server: its JWKS fetched through the guarded
//! client, cached, and refetched at most once per window when a token names an unknown `kid`.

use std::sync::RwLock;

use serde_json::{Map, Value};
use ssf_http::{Url, read_body_limited, reqwest::StatusCode};
use ssf_jose::{Jwks, JwtError, JwtRules, TypRule, verify_jwt};

use super::{PublishRights, service::AuthService};
use crate::config::ExternalIssuerSettings;
use crate::error::ApiError;

/// Largest JWKS document read from an external issuer.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// An unknown `kid` refetches the JWKS at most this often (seconds).
const REFETCH_WINDOW_SECS: i64 = 30;

#[derive(Debug, Default)]
struct Cache {
    jwks: Option<Jwks>,
    fetched_at: i64,
    last_forced: Option<i64>,
}

/// One configured external issuer and its cached keys.
#[derive(Debug)]
pub(crate) struct ExternalIssuer {
    settings: ExternalIssuerSettings,
    leeway: i64,
    cache: RwLock<Cache>,
    fetch: tokio::sync::Mutex<()>,
}

impl ExternalIssuer {
    pub(crate) fn new(settings: ExternalIssuerSettings, leeway: i64) -> Self {
        Self {
            settings,
            leeway,
            cache: RwLock::default(),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub(crate) fn set_audience(&self) -> Option<&str> {
        self.settings.set_audience.as_deref()
    }

    /// What `client_id` may publish (D-TX-15): its `producers` entry, else the issuer's lists.
    pub(crate) fn publish_rights(&self, client_id: &str) -> PublishRights {
        let s = &self.settings;
        match s.producers.iter().find(|p| p.client_id == client_id) {
            Some(p) => PublishRights::from_settings(p.events.as_deref(), p.claims.as_deref()),
            None => PublishRights::from_settings(s.events.as_deref(), s.claims.as_deref()),
        }
    }

    /// The client the token speaks for: the configured claim, else `client_id`, `azp`, `sub`.
    pub(crate) fn client_id(&self, claims: &Map<String, Value>) -> Option<String> {
        let names: Vec<&str> = match &self.settings.client_id_claim {
            Some(name) => vec![name.as_str()],
            None => vec!["client_id", "azp", "sub"],
        };
        names
            .into_iter()
            .find_map(|n| claims.get(n).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// Verifies signature, `iss`, `aud`, `typ` (anything but a SET's), `exp` (required) and
    /// `nbf`, with the configured leeway.
    pub(crate) async fn verify(
        &self,
        service: &AuthService,
        token: &str,
        now: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        let invalid = |why: &str| ApiError::Unauthorized(format!("the access token {why}"));
        let rules = JwtRules::new(&self.settings.issuer)
            .audience(&self.settings.audience)
            .typ(TypRule::NotSet)
            .check_time(self.leeway);
        let mut jwks = self.keys(service, now, false).await?;
        let mut result = verify_jwt::<Map<String, Value>>(token, &jwks, &rules, now);
        if matches!(result, Err(JwtError::UnknownKey)) && self.may_force(now) {
            jwks = self.keys(service, now, true).await?;
            result = verify_jwt(token, &jwks, &rules, now);
        }
        match result {
            Ok(verified) => Ok(verified.claims),
            Err(JwtError::WrongTyp) => Err(invalid("is not an access token")),
            Err(JwtError::MissingExp) => Err(invalid("has no exp")),
            Err(JwtError::Expired) => Err(invalid("has expired")),
            Err(JwtError::NotYetValid) => Err(invalid("is not valid yet")),
            Err(_) => Err(invalid("is invalid")),
        }
    }

    fn may_force(&self, now: i64) -> bool {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .last_forced
            .is_none_or(|t| now - t >= REFETCH_WINDOW_SECS)
    }

    /// The cached JWKS, fetched when missing, stale, or `force`d.
    async fn keys(&self, service: &AuthService, now: i64, force: bool) -> Result<Jwks, ApiError> {
        let ttl = i64::try_from(self.settings.jwks_cache_secs).unwrap_or(300);
        let fresh = |c: &Cache| {
            c.jwks
                .clone()
                .filter(|_| !force && now - c.fetched_at < ttl)
        };
        if let Some(jwks) = fresh(&self.read()) {
            return Ok(jwks);
        }
        let _one_fetch = self.fetch.lock().await;
        if let Some(jwks) = fresh(&self.read()) {
            return Ok(jwks);
        }
        match self.download(service).await {
            Ok(jwks) => {
                let mut cache = self
                    .cache
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.jwks = Some(jwks.clone());
                cache.fetched_at = now;
                if force {
                    cache.last_forced = Some(now);
                }
                Ok(jwks)
            }
            Err(err) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %err, "fetching the external issuer's JWKS failed");
                let mut cache = self
                    .cache
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if force {
                    cache.last_forced = Some(now);
                }
                // A stale copy is better than refusing every token while the issuer is down.
                cache.jwks.clone().ok_or_else(|| {
                    ApiError::Unavailable("the token issuer's keys are unavailable".into())
                })
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn download(&self, service: &AuthService) -> Result<Jwks, String> {
        let url = Url::parse(&self.settings.jwks_uri).map_err(|e| e.to_string())?;
        let response = service
            .http()
            .map_err(|e| e.to_string())?
            .get(url)
            .map_err(|e| e.to_string())?
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        let body = read_body_limited(response, MAX_JWKS_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Jwks::from_json(&body).map_err(|e| e.to_string())
    }
}
