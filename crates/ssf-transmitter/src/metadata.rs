//! Discovery ([SSF 1.0 §7](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7)):
//! the Transmitter Configuration Metadata at `/.well-known/ssf-configuration` (with path
//! insertion, §7.2.1), the JWKS at `jwks_uri`, and the endpoint paths and URLs every other module
//! uses, defined here once.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use ssf_types::{
    Issuer, TransmitterMetadata,
    metadata::{AuthorizationScheme, DefaultSubjects},
    stream::DeliveryMethod,
};

use crate::{config::TransmitterConfig, error::ApiError, state::AppState};

/// Paths of every endpoint this transmitter serves (relative to the server root).
pub mod paths {
    /// SSF discovery (SSF 1.0 §7.2); the issuer's path is appended (§7.2.1).
    pub const SSF_CONFIGURATION: &str = "/.well-known/ssf-configuration";
    /// ID1 (SSE) discovery alias, behind `metadata.legacy_discovery`.
    pub const SSE_CONFIGURATION: &str = "/.well-known/sse-configuration";
    /// RISC discovery alias (SSF 1.0 §7.2.2), behind `metadata.legacy_discovery`.
    pub const RISC_CONFIGURATION: &str = "/.well-known/risc-configuration";
    /// OAuth 2.0 authorization server metadata (RFC 8414 §3); the issuer's path is appended.
    pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
    /// The JWKS (`jwks_uri`).
    pub const JWKS: &str = "/jwks.json";
    /// The token endpoint (RFC 6749 §3.2).
    pub const TOKEN: &str = "/oauth/token";
    /// `configuration_endpoint` (SSF 1.0 §8.1.1).
    pub const STREAMS: &str = "/ssf/streams";
    /// `status_endpoint` (SSF 1.0 §8.1.2).
    pub const STATUS: &str = "/ssf/status";
    /// `add_subject_endpoint` (SSF 1.0 §8.1.3.2).
    pub const ADD_SUBJECT: &str = "/ssf/subjects/add";
    /// `remove_subject_endpoint` (SSF 1.0 §8.1.3.3).
    pub const REMOVE_SUBJECT: &str = "/ssf/subjects/remove";
    /// `verification_endpoint` (SSF 1.0 §8.1.4.2).
    pub const VERIFICATION: &str = "/ssf/verify";
    /// Poll endpoints (RFC 8936), one per stream: this prefix followed by the `stream_id`
    /// (SSF-STREAM-19). Served by `crate::poll`.
    pub const POLL_PREFIX: &str = "/ssf/poll/";
    /// The poll route as axum spells it.
    pub const POLL_ROUTE: &str = "/ssf/poll/{stream_id}";
    /// Event ingest (served by `crate::ingest`).
    pub const EVENTS: &str = "/events";
    /// Prometheus metrics (served by `crate::metrics`).
    pub const METRICS: &str = "/metrics";
    /// Liveness.
    pub const HEALTHZ: &str = "/healthz";
    /// The OpenAPI document.
    pub const OPENAPI: &str = "/openapi.json";
}

/// Absolute URLs of this transmitter's endpoints, under the configured `base_url` (default:
/// the issuer's scheme, host and port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    base: String,
}

impl Endpoints {
    /// The endpoints for `config`.
    pub fn new(config: &TransmitterConfig) -> Self {
        let base = match &config.base_url {
            Some(base) => base.trim_end_matches('/').to_owned(),
            None => origin(&config.issuer),
        };
        Self { base }
    }

    /// The absolute URL of `path` (one of [`paths`]).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The poll URL of one stream, unique per stream (SSF-STREAM-19, TV-STREAM-05).
    pub(crate) fn poll_url(&self, stream_id: &str) -> String {
        format!("{}{}{stream_id}", self.base, paths::POLL_PREFIX)
    }
}

/// Checks the issuer and `base_url`: absolute http(s) URLs, the issuer without query or fragment
/// (SSF-META-11), and no plain-http endpoints under an https issuer (SSF-META-24).
pub fn validate_urls(config: &TransmitterConfig) -> Result<(), String> {
    let issuer = url::Url::parse(&config.issuer)
        .map_err(|e| format!("issuer `{}` is not a URL: {e}", config.issuer))?;
    if !matches!(issuer.scheme(), "https" | "http") || !issuer.has_host() {
        return Err(format!(
            "issuer `{}` must be an absolute https URL",
            config.issuer
        ));
    }
    if issuer.query().is_some() || issuer.fragment().is_some() {
        return Err(format!(
            "issuer `{}` must have no query or fragment",
            config.issuer
        ));
    }
    if let Some(base) = &config.base_url {
        let base = url::Url::parse(base).map_err(|e| format!("base_url `{base}`: {e}"))?;
        if issuer.scheme() == "https" && base.scheme() != "https" {
            return Err("base_url must be https when the issuer is https".to_owned());
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL (the whole string if it does not parse).
fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.trim_end_matches('/').to_owned(),
    }
}

/// The path of a well-known document for `issuer` with path insertion (SSF 1.0 §7.2.1, RFC 8414
/// §3.1): `/.well-known/<name>` followed by the issuer's path without its trailing `/`
/// (SSF-META-01, SSF-META-02, TV-META-02).
pub fn well_known_path(well_known: &str, issuer: &str) -> String {
    let path = url::Url::parse(issuer)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    let path = path.trim_end_matches('/');
    format!("{well_known}{path}")
}

/// The metadata member naming the event ingest endpoint (`POST /events`), an extension
/// ([SSF 1.0 §7.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7.1)
/// allows additional members; receivers ignore it): producers such as `ssf emit` find the
/// endpoint here when the issuer has a path or `base_url` differs from it (D-TX-17).
pub const EVENTS_ENDPOINT_MEMBER: &str = "events_endpoint";

/// The metadata document (SSF 1.0 §7.1, TV-META-01): `spec_version` `1_0`, every endpoint
/// served, push and poll, OAuth 2.0 as the authorization scheme (SSF-META-20),
/// `default_subjects` (D-15) and the ingest endpoint ([`EVENTS_ENDPOINT_MEMBER`]). Empty
/// arrays are omitted (SSF-META-22) by [`TransmitterMetadata`].
pub(crate) fn transmitter_metadata(config: &TransmitterConfig) -> TransmitterMetadata {
    let ep = Endpoints::new(config);
    let mut doc = TransmitterMetadata::new(Issuer::new(config.issuer.as_str()));
    doc.jwks_uri = Some(ep.url(paths::JWKS));
    doc.delivery_methods_supported = vec![DeliveryMethod::Push, DeliveryMethod::Poll];
    doc.configuration_endpoint = Some(ep.url(paths::STREAMS));
    doc.status_endpoint = Some(ep.url(paths::STATUS));
    doc.add_subject_endpoint = Some(ep.url(paths::ADD_SUBJECT));
    doc.remove_subject_endpoint = Some(ep.url(paths::REMOVE_SUBJECT));
    doc.verification_endpoint = Some(ep.url(paths::VERIFICATION));
    doc.critical_subject_members = config.metadata.critical_subject_members.clone();
    doc.authorization_schemes = vec![AuthorizationScheme::new(AuthorizationScheme::OAUTH2)];
    doc.default_subjects = Some(DefaultSubjects::from(
        config.streams.default_subjects.as_str(),
    ));
    doc.extra.insert(
        EVENTS_ENDPOINT_MEMBER.to_owned(),
        Value::String(ep.url(paths::EVENTS)),
    );
    doc
}

/// `GET /.well-known/ssf-configuration[/<issuer path>]` (and the legacy aliases when enabled):
/// `200`, `application/json` (SSF-META-03). Readable without authentication (SSF-META-20).
pub(crate) async fn ssf_configuration(State(state): State<AppState>) -> Result<Response, ApiError> {
    let doc = serde_json::to_value(transmitter_metadata(&state.config))
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(json_response(doc))
}

/// `GET /jwks.json`: every published key, current, next and previous (SSF-SEC-13), read from the
/// key store on each request so a rotation is visible at once.
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jwks = state
        .signer
        .store()
        .jwks()
        .map_err(|e| ApiError::Internal(format!("key store: {e}").into()))?;
    let body = serde_json::to_value(&jwks).map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = json_response(body);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

/// A `200` JSON response with `Content-Type: application/json`.
fn json_response(body: Value) -> Response {
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_insertion_tv_meta_02() {
        let p = |issuer| well_known_path(paths::SSF_CONFIGURATION, issuer);
        assert_eq!(
            p("https://tr.example.com"),
            "/.well-known/ssf-configuration"
        );
        assert_eq!(
            p("https://tr.example.com/"),
            "/.well-known/ssf-configuration"
        );
        assert_eq!(
            p("https://tr.example.com/issuer1"),
            "/.well-known/ssf-configuration/issuer1"
        );
        assert_eq!(
            p("https://tr.example.com/issuer1/"),
            "/.well-known/ssf-configuration/issuer1"
        );
        assert_eq!(
            p("https://tr.example.com/a/b"),
            "/.well-known/ssf-configuration/a/b"
        );
    }

    #[test]
    fn url_validation() {
        let with = |issuer: &str, base: Option<&str>| TransmitterConfig {
            issuer: issuer.to_owned(),
            base_url: base.map(str::to_owned),
            ..TransmitterConfig::default()
        };
        assert!(validate_urls(&with("https://tx.example/t1", None)).is_ok());
        assert!(validate_urls(&with("https://tx.example/?a=1", None)).is_err());
        assert!(validate_urls(&with("tx.example", None)).is_err());
        assert!(validate_urls(&with("https://tx.example", Some("http://10.0.0.1"))).is_err());
    }

    #[test]
    fn path_insertion_agrees_with_ssf_types() {
        use ssf_types::{DiscoveryFlavor, metadata::discovery_path};
        for issuer in [
            "https://a.example",
            "https://a.example/x/",
            "http://127.0.0.1:8080/a/b",
        ] {
            assert_eq!(
                well_known_path(paths::SSF_CONFIGURATION, issuer),
                discovery_path(issuer, DiscoveryFlavor::Ssf).unwrap()
            );
        }
    }

    #[test]
    fn metadata_names_the_ingest_endpoint_d_tx_17() {
        let config = TransmitterConfig {
            issuer: "https://tr.example.com/tenant".to_owned(),
            ..TransmitterConfig::default()
        };
        let doc = serde_json::to_value(transmitter_metadata(&config)).unwrap();
        assert_eq!(doc["events_endpoint"], "https://tr.example.com/events");
    }

    #[test]
    fn metadata_omits_empty_arrays_ssf_meta_22() {
        let config = TransmitterConfig::default();
        let doc = serde_json::to_value(transmitter_metadata(&config)).unwrap();
        assert!(doc.get("critical_subject_members").is_none());
        assert_eq!(doc["default_subjects"], "ALL");
        assert_eq!(
            doc["authorization_schemes"][0]["spec_urn"],
            "urn:ietf:rfc:6749"
        );
    }

    #[test]
    fn endpoints_default_to_the_issuer_origin() {
        let config = TransmitterConfig {
            issuer: "https://tr.example.com:8443/issuer1".to_owned(),
            ..TransmitterConfig::default()
        };
        let ep = Endpoints::new(&config);
        assert_eq!(
            ep.url(paths::STREAMS),
            "https://tr.example.com:8443/ssf/streams"
        );
        assert_eq!(
            ep.poll_url("abc"),
            "https://tr.example.com:8443/ssf/poll/abc"
        );
        let config = TransmitterConfig {
            base_url: Some("https://proxy.example/tx/".to_owned()),
            ..config
        };
        assert_eq!(
            Endpoints::new(&config).url(paths::JWKS),
            "https://proxy.example/tx/jwks.json"
        );
    }
}
