//! Access-token verification: this transmitter's own tokens and those of trusted external
//! issuers ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068), CAEP interop §2.7.3).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ssf_http::{ClientConfig, GuardedClient};
use ssf_jose::{JwtError, JwtRules, TypRule, verify_jwt};

use super::{Principal, PublishRights, Scope, external::ExternalIssuer, secret};
use crate::{
    config::{AuthSettings, ClientSettings, TransmitterConfig},
    error::ApiError,
    state::AppState,
};

/// Claims of the access tokens this transmitter issues (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessTokenClaims {
    /// The transmitter's issuer.
    pub iss: String,
    /// The client id (RFC 9068 §2.2: `sub` of a client-credentials token is the client).
    pub sub: String,
    /// The transmitter's resource identifier (`AuthService::resource`).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The client id.
    pub client_id: String,
}

/// Verifies bearer tokens and knows the OAuth clients. Built once from the configuration and
/// kept in [`AppState`].
#[derive(Debug)]
pub(crate) struct AuthService {
    issuer: String,
    resource: String,
    ttl_secs: u64,
    clients: BTreeMap<String, ClientSettings>,
    rights: BTreeMap<String, PublishRights>,
    external: Vec<ExternalIssuer>,
    http_config: ClientConfig,
    http: OnceLock<Result<GuardedClient, String>>,
}

impl AuthService {
    /// The service for `config` (its `issuer` and `auth` section). Clients whose `secret_hash`
    /// is malformed are kept but can never authenticate (logged).
    pub(crate) fn new(config: &TransmitterConfig) -> Self {
        let settings: &AuthSettings = &config.auth;
        let clients = settings
            .clients
            .iter()
            .inspect(|c| {
                if !secret::is_valid_hash(&c.secret_hash) {
                    tracing::warn!(client_id = %c.client_id, "client secret_hash is not `sha256:<64 hex>`; the client cannot authenticate");
                }
            })
            .map(|c| (c.client_id.clone(), c.clone()))
            .collect();
        let rights = settings
            .clients
            .iter()
            .map(|c| {
                let rights = PublishRights::from_settings(c.events.as_deref(), c.claims.as_deref());
                (c.client_id.clone(), rights)
            })
            .collect();
        let leeway = i64::try_from(settings.external_leeway_secs).unwrap_or(30);
        Self {
            issuer: config.issuer.clone(),
            resource: settings
                .resource
                .clone()
                .unwrap_or_else(|| config.issuer.clone()),
            ttl_secs: settings.access_token_ttl_secs.max(1),
            clients,
            rights,
            external: settings
                .external_issuers
                .iter()
                .map(|s| ExternalIssuer::new(s.clone(), leeway))
                .collect(),
            http_config: settings.http.clone(),
            http: OnceLock::new(),
        }
    }

    /// The `aud` of this transmitter's access tokens: its resource identifier.
    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }

    /// Access-token lifetime in seconds.
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// A configured client.
    pub(crate) fn client(&self, client_id: &str) -> Option<&ClientSettings> {
        self.clients.get(client_id)
    }

    /// The guarded outbound client (built on first use from `[transmitter.auth.http]`).
    pub(crate) fn http(&self) -> Result<&GuardedClient, ApiError> {
        self.http
            .get_or_init(|| ssf_http::build_client(&self.http_config).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| ApiError::Internal(format!("outbound HTTP client: {e}").into()))
    }

    /// Verifies a bearer token and returns who it speaks for (SSF-AUTH-10): signature, `typ`,
    /// `iss`, `aud` and `exp`, and, for this transmitter's own tokens, that the client still
    /// exists (removing a client revokes its tokens) and still holds the scopes.
    pub(crate) async fn authenticate(
        &self,
        state: &AppState,
        token: &str,
    ) -> Result<Principal, ApiError> {
        let invalid = || ApiError::Unauthorized("the access token is invalid".to_owned());
        let payload = ssf_jose::peek_jwt_claims(token).map_err(|_| invalid())?;
        let iss = payload
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let now = state.clock.now().as_secs();
        if iss == self.issuer {
            return self.authenticate_own(state, token, now);
        }
        let Some(external) = self.external.iter().find(|e| e.issuer() == iss) else {
            return Err(invalid());
        };
        let claims = external.verify(self, token, now).await?;
        let client_id = external.client_id(&claims).ok_or_else(invalid)?;
        Ok(Principal {
            audience: external.set_audience().unwrap_or(&client_id).to_owned(),
            scopes: scopes_of(&claims),
            publish: external.publish_rights(&client_id),
            client_id,
        })
    }

    fn authenticate_own(
        &self,
        state: &AppState,
        token: &str,
        now: i64,
    ) -> Result<Principal, ApiError> {
        let invalid = |why: &str| ApiError::Unauthorized(format!("the access token {why}"));
        let jwks = state
            .signer
            .store()
            .jwks()
            .map_err(|e| ApiError::Internal(format!("key store: {e}").into()))?;
        // Own tokens never carry `nbf`; `exp` is checked without leeway (we are the clock).
        let rules = JwtRules::new(&self.issuer)
            .audience(&self.resource)
            .typ(TypRule::AccessToken)
            .check_time(0);
        let claims = match verify_jwt::<AccessTokenClaims>(token, &jwks, &rules, now) {
            Ok(verified) => verified.claims,
            Err(JwtError::WrongTyp) => return Err(invalid("is not an access token")),
            Err(JwtError::Expired | JwtError::NotYetValid) => return Err(invalid("has expired")),
            Err(_) => return Err(invalid("is invalid")),
        };
        let client = self
            .client(&claims.client_id)
            .ok_or_else(|| invalid("is invalid"))?;
        let allowed: BTreeSet<Scope> = client
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect();
        let scopes = claims
            .scope
            .split_ascii_whitespace()
            .filter_map(Scope::parse)
            .filter(|s| allowed.contains(s))
            .collect();
        Ok(Principal {
            audience: client
                .audience
                .clone()
                .unwrap_or_else(|| client.client_id.clone()),
            publish: self
                .rights
                .get(&client.client_id)
                .cloned()
                .unwrap_or_default(),
            client_id: claims.client_id,
            scopes,
        })
    }
}

/// Scopes from `scope` (space-separated, RFC 9068 §2.2.3) or `scp` (an array some servers use).
fn scopes_of(claims: &Map<String, Value>) -> BTreeSet<Scope> {
    let mut scopes = BTreeSet::new();
    if let Some(s) = claims.get("scope").and_then(Value::as_str) {
        scopes.extend(s.split_ascii_whitespace().filter_map(Scope::parse));
    }
    if let Some(list) = claims.get("scp").and_then(Value::as_array) {
        scopes.extend(
            list.iter()
                .filter_map(Value::as_str)
                .filter_map(Scope::parse),
        );
    }
    scopes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scopes_from_scope_or_scp() {
        let claims = json!({"scope": "openid ssf.read", "scp": ["ssf.manage", 3]});
        let scopes = scopes_of(claims.as_object().unwrap());
        assert_eq!(scopes, [Scope::Read, Scope::Manage].into_iter().collect());
    }
}
