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
//! secret_hash = "sha256:<hex SHA-256 of the secret>"
//! scopes = ["ssf.read", "ssf.manage"]
//! audience = "https://receiver-1.example.com"
//!
//! [[transmitter.auth.clients]]             # an event producer: only what it needs (D-TX-15)
//! client_id = "ticket-bridge"
//! secret_hash = "sha256:…"
//! scopes = ["ssf.events.publish"]
//! events = ["token-claims-change"]
//! claims = ["customer_id", "access_allowed", "expires_at"]
//!
//! [[transmitter.auth.external_issuers]]
//! issuer = "https://idp.example.com"
//! jwks_uri = "https://idp.example.com/jwks"
//! audience = "https://tx.example.com"
//! events = ["session-revoked"]              # for every client of this issuer …
//!
//! [[transmitter.auth.external_issuers.producers]]
//! client_id = "risk-engine"                 # … except those listed here
//! events = ["session-revoked", "risk-level-change"]
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
    /// hashes in the `sha256:<64 hex>` form, known scopes, external issuers with URLs, and
    /// producers' `events` (known types, none of the transmitter's own) and `claims` (only with
    /// `token-claims-change` allowed).
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
            if !crate::auth::is_valid_hash(&client.secret_hash) {
                return Err(format!(
                    "auth.clients `{id}`: secret_hash must be `sha256:<64 hex digits>`, the SHA-256 \
                     of the client's secret (make one: `SECRET=$(openssl rand -hex 32)`, then \
                     `printf 'sha256:%s' \"$(printf %s \"$SECRET\" | sha256sum | cut -d' ' -f1)\"`)"
                ));
            }
            if let Some(scope) = client
                .scopes
                .iter()
                .find(|s| crate::auth::Scope::parse(s).is_none())
            {
                return Err(format!("auth.clients `{id}`: unknown scope `{scope}`"));
            }
            crate::auth::publish::validate_settings(
                &format!("auth.clients `{id}`"),
                client.events.as_deref(),
                client.claims.as_deref(),
            )?;
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
            let at = format!("auth.external_issuers `{}`", issuer.issuer);
            crate::auth::publish::validate_settings(
                &at,
                issuer.events.as_deref(),
                issuer.claims.as_deref(),
            )?;
            let mut producers = std::collections::BTreeSet::new();
            for producer in &issuer.producers {
                let id = &producer.client_id;
                if id.is_empty() || !producers.insert(id.as_str()) {
                    return Err(format!(
                        "{at}: producers: client_id `{id}` is empty or repeated"
                    ));
                }
                crate::auth::publish::validate_settings(
                    &format!("{at}: producers `{id}`"),
                    producer.events.as_deref(),
                    producer.claims.as_deref(),
                )?;
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
    /// `sha256:<hex>` of the client secret; make it with [`hash_secret`](crate::auth::hash_secret)
    /// from a secret of [`generate_secret`](crate::auth::generate_secret). The secret itself is never
    /// stored.
    pub secret_hash: String,
    /// Scopes the client may obtain: `ssf.read`, `ssf.manage`, `ssf.events.publish`.
    pub scopes: Vec<String>,
    /// The `aud` of the SETs on this client's streams (decision D-12). Default: the client id.
    #[serde(default)]
    pub audience: Option<String>,
    /// The event types this producer may publish through `POST /events`: event-type URIs or
    /// short names (`session-revoked`, `token-claims-change`, `account-disabled`; see
    /// [`EventType::from_name`](ssf_types::EventType::from_name)). Absent: any type, as before
    /// this setting existed; production configurations set it (least privilege, D-TX-15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// The claim names this producer may set in a CAEP `token-claims-change`'s `claims`
    /// ([CAEP 1.0 §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2)); a claims
    /// change carrying any other name is refused. Absent: any claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<String>>,
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
            events: None,
            claims: None,
        }
    }

    /// This client allowed to publish only these event types (URIs or short names).
    #[must_use]
    pub fn with_events(mut self, events: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.events = Some(events.into_iter().map(Into::into).collect());
        self
    }

    /// This client allowed to set only these claim names in a `token-claims-change`.
    #[must_use]
    pub fn with_claims(mut self, claims: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.claims = Some(claims.into_iter().map(Into::into).collect());
        self
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
            .field("events", &self.events)
            .field("claims", &self.claims)
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
    /// The event types every client of this issuer may publish (as
    /// [`ClientSettings::events`]), unless it is listed in `producers`. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// The claim names every client of this issuer may set in a `token-claims-change` (as
    /// [`ClientSettings::claims`]), unless it is listed in `producers`. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<String>>,
    /// Per-client allow lists, matched on the client id the token speaks for
    /// (`client_id_claim`, else `client_id`, `azp`, `sub`); a listed client gets its own
    /// `events`/`claims` instead of the issuer's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub producers: Vec<ProducerSettings>,
}

/// The allow lists of one client of an external issuer
/// (`[[transmitter.auth.external_issuers.producers]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProducerSettings {
    /// The client id, as the token's client claim names it.
    pub client_id: String,
    /// As [`ClientSettings::events`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// As [`ClientSettings::claims`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<String>>,
}

impl ProducerSettings {
    /// A client of an external issuer with no allow lists yet (see
    /// [`ClientSettings::with_events`]-style fields).
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            events: None,
            claims: None,
        }
    }
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
            events: None,
            claims: None,
            producers: Vec::new(),
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
    fn producer_allow_lists_are_validated_d_tx_15() {
        let producer = |events: Option<&[&str]>, claims: Option<&[&str]>| {
            let mut c =
                ClientSettings::new("p", crate::auth::hash_secret("s"), ["ssf.events.publish"]);
            c.events = events.map(|e| e.iter().map(|s| (*s).to_owned()).collect());
            c.claims = claims.map(|e| e.iter().map(|s| (*s).to_owned()).collect());
            AuthSettings {
                clients: vec![c],
                ..AuthSettings::default()
            }
            .validate()
        };
        assert!(producer(Some(&["session-revoked", "account-disabled"]), None).is_ok());
        assert!(producer(Some(&["token-claims-change"]), Some(&["customer_id"])).is_ok());
        let e = producer(Some(&["session-revoked", "sesion-revoked"]), None).unwrap_err();
        assert!(
            e.starts_with("auth.clients `p`: events: unknown event type `sesion-revoked`"),
            "{e}"
        );
        let e = producer(Some(&["session-revoked"]), Some(&["customer_id"])).unwrap_err();
        assert!(
            e.starts_with(
                "auth.clients `p`: claims is set but events does not allow token-claims-change"
            ),
            "{e}"
        );

        let mut issuer =
            ExternalIssuerSettings::new("https://idp.example", "https://idp.example/jwks", "tx");
        let mut bad = ProducerSettings::new("ext");
        bad.events = Some(vec!["stream-updated".to_owned()]);
        issuer.producers = vec![bad];
        let e = AuthSettings {
            external_issuers: vec![issuer],
            ..AuthSettings::default()
        }
        .validate()
        .unwrap_err();
        assert!(
            e.starts_with("auth.external_issuers `https://idp.example`: producers `ext`: events:"),
            "{e}"
        );
    }

    #[test]
    fn producer_allow_lists_parse_from_toml() {
        let text = r#"
            [[clients]]
            client_id = "ticket-bridge"
            secret_hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            scopes = ["ssf.events.publish"]
            events = ["token-claims-change"]
            claims = ["customer_id", "access_allowed", "expires_at"]
            [[external_issuers]]
            issuer = "https://idp.example.com"
            jwks_uri = "https://idp.example.com/jwks"
            audience = "https://tx.example.com"
            events = ["session-revoked"]
            [[external_issuers.producers]]
            client_id = "risk-engine"
            events = ["session-revoked", "risk-level-change"]
        "#;
        let settings: AuthSettings = toml::from_str(text).unwrap();
        assert!(settings.validate().is_ok());
        assert_eq!(settings.clients[0].claims.as_ref().map(Vec::len), Some(3));
        assert_eq!(
            settings.external_issuers[0].producers[0].client_id,
            "risk-engine"
        );
        let typo = text.replace("claims = [", "claim = [");
        assert!(
            toml::from_str::<AuthSettings>(&typo).is_err(),
            "unknown keys refused"
        );
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
