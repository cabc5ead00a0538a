//! Transmitter Configuration Metadata and its discovery URL
//! ([SSF 1.0 §7](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7)).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    body::{self, deserialize_via_from_json},
    error::BodyError,
    ids::Issuer,
    mode::ParseMode,
    stream::DeliveryMethod,
    subject::Extra,
};

crate::open_enum! {
    /// `spec_version` (SSF 1.0 §7.1, SSF-META-10).
    pub enum SpecVersion {
        /// The final 1.0 specification.
        V1_0 = "1_0",
        /// Implementer's Draft 1 (SSE, 2021).
        Id1 = "1_0-ID1",
        /// Implementer's Draft 2 (2023).
        Id2 = "1_0-ID2",
        /// Implementer's Draft 3 (2024).
        Id3 = "1_0-ID3",
    }
}

crate::open_enum! {
    /// `default_subjects` (SSF 1.0 §7.1, SSF-META-21, SSF-META-27): any other value is invalid.
    pub enum DefaultSubjects {
        /// Every appropriate subject is on a new stream (D-15, our default).
        All = "ALL",
        /// Only subjects added with Add Subject.
        None = "NONE",
    }
}

/// An entry of `authorization_schemes` (SSF 1.0 §7.1.1, SSF-META-20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationScheme {
    /// `spec_urn` (REQUIRED), e.g. [`Self::OAUTH2`].
    pub spec_urn: String,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl AuthorizationScheme {
    /// OAuth 2.0 (RFC 6749); required by CAEPIOP (IOP-01).
    pub const OAUTH2: &'static str = "urn:ietf:rfc:6749";
    /// OAuth 2.0 mutual TLS (RFC 8705).
    pub const MTLS: &'static str = "urn:ietf:rfc:8705";

    /// A scheme with this `spec_urn`.
    pub fn new(spec_urn: impl Into<String>) -> Self {
        Self {
            spec_urn: spec_urn.into(),
            extra: Extra::new(),
        }
    }
}

/// Transmitter Configuration Metadata ([SSF 1.0 §7.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7.1)).
/// Empty arrays are omitted when serializing (SSF-META-22); unknown members are kept
/// (SSF-META-23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TransmitterMetadata {
    /// `spec_version` (SSF-META-10); absent means ID1, see [`Self::effective_spec_version`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<SpecVersion>,
    /// `issuer` (REQUIRED, SSF-META-11).
    pub issuer: Issuer,
    /// `jwks_uri` (SSF-META-12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `delivery_methods_supported` (SSF-META-13).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery_methods_supported: Vec<DeliveryMethod>,
    /// `configuration_endpoint` (SSF-META-14).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_endpoint: Option<String>,
    /// `status_endpoint` (SSF-META-15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_endpoint: Option<String>,
    /// `add_subject_endpoint` (SSF-META-16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_subject_endpoint: Option<String>,
    /// `remove_subject_endpoint` (SSF-META-17).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_subject_endpoint: Option<String>,
    /// `verification_endpoint` (SSF-META-18).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_endpoint: Option<String>,
    /// `critical_subject_members` (SSF-META-19).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub critical_subject_members: Vec<String>,
    /// `authorization_schemes` (SSF-META-20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_schemes: Vec<AuthorizationScheme>,
    /// `default_subjects` (SSF-META-21).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_subjects: Option<DefaultSubjects>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_via_from_json!(TransmitterMetadata);

impl TransmitterMetadata {
    /// Metadata for `issuer` with `spec_version` `1_0` and nothing else set.
    pub fn new(issuer: Issuer) -> Self {
        Self {
            spec_version: Some(SpecVersion::V1_0),
            issuer,
            jwks_uri: None,
            delivery_methods_supported: Vec::new(),
            configuration_endpoint: None,
            status_endpoint: None,
            add_subject_endpoint: None,
            remove_subject_endpoint: None,
            verification_endpoint: None,
            critical_subject_members: Vec::new(),
            authorization_schemes: Vec::new(),
            default_subjects: None,
            extra: Extra::new(),
        }
    }

    /// Parses metadata; `issuer` is required, other members are type-checked. Use
    /// [`Self::validate`] and [`Self::check_issuer`] before relying on it (SSF-META-25).
    pub fn from_json(value: &Value, _mode: ParseMode) -> Result<Self, BodyError> {
        let mut map = body::object(value, "transmitter metadata")?;
        Ok(Self {
            spec_version: body::take(&mut map, "spec_version")?,
            issuer: body::require(&mut map, "issuer")?,
            jwks_uri: body::take(&mut map, "jwks_uri")?,
            delivery_methods_supported: body::take(&mut map, "delivery_methods_supported")?
                .unwrap_or_default(),
            configuration_endpoint: body::take(&mut map, "configuration_endpoint")?,
            status_endpoint: body::take(&mut map, "status_endpoint")?,
            add_subject_endpoint: body::take(&mut map, "add_subject_endpoint")?,
            remove_subject_endpoint: body::take(&mut map, "remove_subject_endpoint")?,
            verification_endpoint: body::take(&mut map, "verification_endpoint")?,
            critical_subject_members: body::take(&mut map, "critical_subject_members")?
                .unwrap_or_default(),
            authorization_schemes: body::take(&mut map, "authorization_schemes")?
                .unwrap_or_default(),
            default_subjects: body::take(&mut map, "default_subjects")?,
            extra: body::rest(map),
        })
    }

    /// The version to assume: `spec_version`, or `1_0-ID1` when absent (SSF 1.0 §7.1; but see
    /// B-12: a document found at `ssf-configuration` without it is in practice ID2/ID3).
    pub fn effective_spec_version(&self) -> SpecVersion {
        self.spec_version.clone().unwrap_or(SpecVersion::Id1)
    }

    /// Whether `method` is listed, comparing final forms (a legacy RISC URI counts as its RFC
    /// method).
    pub fn supports(&self, method: &DeliveryMethod) -> bool {
        self.delivery_methods_supported
            .iter()
            .any(|m| m.canonical() == method.canonical())
    }

    /// The rules on values: `issuer` an https URL with no query or fragment (SSF-META-11), every
    /// endpoint and `jwks_uri` https (SSF-META-24), `default_subjects` `ALL` or `NONE`
    /// (SSF-META-21), every `spec_urn` non-empty (SSF-META-20).
    pub fn validate(&self) -> Result<(), BodyError> {
        let issuer = url::Url::parse(self.issuer.as_str()).ok();
        if !issuer
            .is_some_and(|u| u.scheme() == "https" && u.query().is_none() && u.fragment().is_none())
        {
            return Err(BodyError::NotHttps("issuer"));
        }
        let endpoints = [
            ("jwks_uri", &self.jwks_uri),
            ("configuration_endpoint", &self.configuration_endpoint),
            ("status_endpoint", &self.status_endpoint),
            ("add_subject_endpoint", &self.add_subject_endpoint),
            ("remove_subject_endpoint", &self.remove_subject_endpoint),
            ("verification_endpoint", &self.verification_endpoint),
        ];
        for (name, value) in endpoints {
            if let Some(value) = value
                && !url::Url::parse(value).is_ok_and(|u| u.scheme() == "https")
            {
                return Err(BodyError::NotHttps(name));
            }
        }
        if let Some(d) = &self.default_subjects
            && !d.is_known()
        {
            return Err(BodyError::InvalidField {
                field: "default_subjects",
                reason: format!("`{d}` is neither ALL nor NONE"),
            });
        }
        if self
            .authorization_schemes
            .iter()
            .any(|s| s.spec_urn.is_empty())
        {
            return Err(BodyError::InvalidField {
                field: "authorization_schemes",
                reason: "`spec_urn` is empty".to_owned(),
            });
        }
        Ok(())
    }

    /// SSF-META-07 (SSF 1.0 §7.2.4): the `issuer` must be identical to the issuer the discovery
    /// URL was built from; otherwise the metadata must not be used.
    pub fn check_issuer(&self, expected: &Issuer) -> Result<(), BodyError> {
        if &self.issuer == expected {
            Ok(())
        } else {
            Err(BodyError::IssuerMismatch)
        }
    }
}

/// Which well-known document [`discovery_url`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DiscoveryFlavor {
    /// `/.well-known/ssf-configuration` (SSF 1.0 §7.2, SSF-META-01).
    #[default]
    Ssf,
    /// `/.well-known/sse-configuration` (ID1, legacy).
    LegacySse,
    /// `/.well-known/risc-configuration` (existing RISC transmitters, SSF 1.0 §7.2.2,
    /// SSF-META-05).
    LegacyRisc,
}

impl DiscoveryFlavor {
    /// The well-known name, e.g. `ssf-configuration`.
    pub fn well_known_name(self) -> &'static str {
        match self {
            Self::Ssf => "ssf-configuration",
            Self::LegacySse => "sse-configuration",
            Self::LegacyRisc => "risc-configuration",
        }
    }
}

/// The metadata URL of `issuer` (SSF 1.0 §7.2.1, SSF-META-01/02, TV-META-02): the well-known
/// path goes between the host and the issuer's path, after any trailing `/` of that path is
/// stripped. `https://tr.example.com/issuer1/` ->
/// `https://tr.example.com/.well-known/ssf-configuration/issuer1`.
///
/// Refuses an issuer that is not an absolute http(s) URL or has a query or fragment. It does not
/// insist on https, so loopback tests work; a receiver requires https itself (SSF-META-06).
pub fn discovery_url(issuer: &str, flavor: DiscoveryFlavor) -> Result<String, BodyError> {
    let (origin, path) = split_issuer(issuer)?;
    Ok(format!(
        "{origin}/.well-known/{}{path}",
        flavor.well_known_name()
    ))
}

/// The path part of [`discovery_url`], for a transmitter's router: `/.well-known/<name><path>`.
pub fn discovery_path(issuer: &str, flavor: DiscoveryFlavor) -> Result<String, BodyError> {
    let (_, path) = split_issuer(issuer)?;
    Ok(format!("/.well-known/{}{path}", flavor.well_known_name()))
}

fn split_issuer(issuer: &str) -> Result<(String, String), BodyError> {
    let invalid = |reason: &str| BodyError::InvalidField {
        field: "issuer",
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") || !url.has_host() {
        return Err(invalid("not an absolute http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("has a query or fragment"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    Ok((url.origin().ascii_serialization(), path))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn path_insertion_ssf_meta_01_02() {
        let u = |i: &str| discovery_url(i, DiscoveryFlavor::Ssf).unwrap();
        assert_eq!(
            u("https://tr.example.com"),
            "https://tr.example.com/.well-known/ssf-configuration"
        );
        assert_eq!(
            u("https://tr.example.com/a/b/"),
            "https://tr.example.com/.well-known/ssf-configuration/a/b"
        );
        assert_eq!(
            u("https://tr.example.com:8443/x"),
            "https://tr.example.com:8443/.well-known/ssf-configuration/x"
        );
        assert_eq!(
            discovery_url("http://127.0.0.1:9000", DiscoveryFlavor::LegacySse).unwrap(),
            "http://127.0.0.1:9000/.well-known/sse-configuration"
        );
        assert_eq!(
            discovery_path("https://t/i1/", DiscoveryFlavor::Ssf).unwrap(),
            "/.well-known/ssf-configuration/i1"
        );
        for bad in [
            "tr.example.com",
            "https://t/?q=1",
            "https://t/#f",
            "mailto:a@b",
            "",
        ] {
            assert!(discovery_url(bad, DiscoveryFlavor::Ssf).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_arrays_are_omitted_ssf_meta_22() {
        let mut m = TransmitterMetadata::new(Issuer::new("https://tr.example.com"));
        m.critical_subject_members = Vec::new();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"spec_version": "1_0", "issuer": "https://tr.example.com"})
        );
        let parsed = TransmitterMetadata::from_json(
            &json!({"issuer": "https://t", "authorization_schemes": [], "x-vendor": 1}),
            ParseMode::Strict,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            json!({"issuer": "https://t", "x-vendor": 1})
        );
        assert_eq!(parsed.effective_spec_version(), SpecVersion::Id1);
    }

    #[test]
    fn value_rules_ssf_meta_07_11_21_24() {
        let base = json!({"issuer": "https://t", "configuration_endpoint": "https://t/s"});
        let m = TransmitterMetadata::from_json(&base, ParseMode::Strict).unwrap();
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(
            m.check_issuer(&Issuer::new("https://t/")),
            Err(BodyError::IssuerMismatch)
        );
        let mut bad = m.clone();
        bad.status_endpoint = Some("http://t/status".into());
        assert_eq!(bad.validate(), Err(BodyError::NotHttps("status_endpoint")));
        let mut bad = m.clone();
        bad.default_subjects = Some(DefaultSubjects::from("SOME"));
        assert!(bad.validate().is_err());
        let mut bad = m;
        bad.issuer = Issuer::new("https://t/?x=1");
        assert_eq!(bad.validate(), Err(BodyError::NotHttps("issuer")));
        assert!(TransmitterMetadata::from_json(&json!({}), ParseMode::Strict).is_err());
    }
}
