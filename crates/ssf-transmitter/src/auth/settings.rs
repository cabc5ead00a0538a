//! The `[transmitter.auth]` settings: access-token lifetime, the OAuth clients of the built-in
//! token endpoint, and trusted external issuers.
//!
//! ```toml
//! [transmitter.auth]
//! access_token_ttl_secs = 600
//! # resource = "https://tx.example.com"   # `aud` of access tokens; default: the issuer
//!
//! [[transmitter.auth.clients]]
//! client_id = "receiver-1"
//! secret_hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! scopes = ["ssf.read", "ssf.manage"]
//! audience = "https://receiver-1.example.com"
//!
//! [[transmitter.auth.external_issuers]]
//! issuer = "https://idp.example.com"
//! jwks_uri = "https://idp.example.com/jwks"
//! audience = "https://tx.example.com"
//!
//! [transmitter.auth.http]                # ssf_http::ClientConfig for the JWKS fetches
//! connect_timeout = "5s"
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use ssf_http::ClientConfig;

/// Authorization settings of the transmitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AuthSettings {
    /// Lifetime of access tokens from `POST /oauth/token`, in seconds. Default 600.
    pub access_token_ttl_secs: u64,
    /// The `aud` of the access tokens this transmitter issues and accepts (its resource
    /// identifier). Default: the issuer.
    pub resource: Option<String>,
    /// Clock skew tolerated on `exp`/`iat` of external issuers' tokens, in seconds. Default 30.
    pub external_leeway_secs: u64,
    /// OAuth clients of the built-in token endpoint (receivers and event producers).
    pub clients: Vec<ClientSettings>,
    /// Authorization servers whose JWT access tokens are accepted too.
    pub external_issuers: Vec<ExternalIssuerSettings>,
    /// The outbound client that fetches external issuers' JWKS (SSRF guard, timeouts).
    pub http: ClientConfig,
}

impl AuthSettings {
    /// Checks what would make authentication misbehave: client ids unique and non-empty, secret
    /// hashes in the `sha256:<64 hex>` form, known scopes, external issuers with URLs.
    pub fn validate(&self) -> Result<(), String> {
        if self.access_token_ttl_secs == 0 {
            return Err("auth.access_token_ttl_secs must be at least 1".to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        for client in &self.clients {
            let id = &client.client_id;
            if id.is_empty() || !seen.insert(id.as_str()) {
                return Err(format!(
                    "auth.clients: client_id `{id}` is empty or repeated"
                ));
            }
            if !super::is_valid_hash(&client.secret_hash) {
                return Err(format!(
                    "auth.clients `{id}`: secret_hash must be `sha256:<64 hex digits>`"
                ));
            }
            if let Some(scope) = client
                .scopes
                .iter()
                .find(|s| super::Scope::parse(s).is_none())
            {
                return Err(format!("auth.clients `{id}`: unknown scope `{scope}`"));
            }
        }
        for issuer in &self.external_issuers {
            for (name, value) in [("issuer", &issuer.issuer), ("jwks_uri", &issuer.jwks_uri)] {
                if url::Url::parse(value).is_err() {
                    return Err(format!(
                        "auth.external_issuers: {name} `{value}` is not a URL"
                    ));
                }
            }
            if issuer.audience.is_empty() {
                return Err(format!(
                    "auth.external_issuers `{}`: audience is empty",
                    issuer.issuer
                ));
            }
        }
        Ok(())
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 600,
            resource: None,
            external_leeway_secs: 30,
            clients: Vec::new(),
            external_issuers: Vec::new(),
            http: ClientConfig::default(),
        }
    }
}

/// One OAuth client of the built-in token endpoint
/// ([RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientSettings {
    /// The client id; the streams the client creates belong to it (SSF-AUTH-02).
    pub client_id: String,
    /// `sha256:<hex>` of the client secret; make it with [`hash_secret`](super::hash_secret)
    /// from a secret of [`generate_secret`](super::generate_secret). The secret itself is never
    /// stored.
    pub secret_hash: String,
    /// Scopes the client may obtain: `ssf.read`, `ssf.manage`, `ssf.events.publish`.
    pub scopes: Vec<String>,
    /// The `aud` of the SETs on this client's streams (decision D-12). Default: the client id.
    #[serde(default)]
    pub audience: Option<String>,
}

impl ClientSettings {
    /// A client with the given secret hash and scopes, whose SET audience is its client id.
    pub fn new(
        client_id: impl Into<String>,
        secret_hash: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            secret_hash: secret_hash.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            audience: None,
        }
    }

    /// This client with an explicit SET audience.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("client_id", &self.client_id)
            .field("secret_hash", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .finish()
    }
}

/// An external OAuth authorization server whose JWT access tokens
/// ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)) this transmitter accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExternalIssuerSettings {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Where its signing keys are published (fetched with the guarded client of
    /// `[transmitter.auth.http]`, cached).
    pub jwks_uri: String,
    /// The `aud` its tokens must carry for this transmitter.
    pub audience: String,
    /// The claim naming the client; default: `client_id`, then `azp`, then `sub`.
    #[serde(default)]
    pub client_id_claim: Option<String>,
    /// The SET audience of streams created with these tokens; default: the client id.
    #[serde(default)]
    pub set_audience: Option<String>,
    /// How long a fetched JWKS is used before it is fetched again, in seconds. Default 300. An
    /// unknown `kid` refetches at most once per 30 seconds.
    #[serde(default = "default_jwks_ttl")]
    pub jwks_cache_secs: u64,
}

impl ExternalIssuerSettings {
    /// An external issuer with default claim mapping and cache lifetime.
    pub fn new(
        issuer: impl Into<String>,
        jwks_uri: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri: jwks_uri.into(),
            audience: audience.into(),
            client_id_claim: None,
            set_audience: None,
            jwks_cache_secs: default_jwks_ttl(),
        }
    }
}

fn default_jwks_ttl() -> u64 {
    300
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_catches_bad_clients() {
        let good = ClientSettings::new("rx", crate::auth::hash_secret("s"), ["ssf.read"]);
        let settings = |clients: Vec<ClientSettings>| AuthSettings {
            clients,
            ..AuthSettings::default()
        };
        assert!(settings(vec![good.clone()]).validate().is_ok());
        assert!(
            settings(vec![good.clone(), good.clone()])
                .validate()
                .is_err(),
            "repeated id"
        );
        let mut plain = good.clone();
        plain.secret_hash = "s".to_owned();
        assert!(settings(vec![plain]).validate().is_err(), "a plain secret");
        let mut scope = good;
        scope.scopes.push("admin".to_owned());
        assert!(settings(vec![scope]).validate().is_err(), "unknown scope");
    }

    #[test]
    fn toml_example_parses() {
        let text = r#"
            access_token_ttl_secs = 300
            [[clients]]
            client_id = "receiver-1"
            secret_hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            scopes = ["ssf.read", "ssf.manage"]
            audience = "https://receiver-1.example.com"
            [[external_issuers]]
            issuer = "https://idp.example.com"
            jwks_uri = "https://idp.example.com/jwks"
            audience = "https://tx.example.com"
        "#;
        let settings: AuthSettings = toml::from_str(text).unwrap();
        assert_eq!(
            settings.clients[0].audience.as_deref(),
            Some("https://receiver-1.example.com")
        );
        assert!(settings.validate().is_ok());
        assert!(
            toml::from_str::<AuthSettings>("tokens = 1").is_err(),
            "unknown keys refused"
        );
        assert!(
            !format!("{:?}", settings.clients[0]).contains("9f86d0"),
            "hash redacted"
        );
    }
}
