//! Transmitter discovery ([SSF 1.0 §7.2](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-7.2)):
//! fetch `/.well-known/ssf-configuration` with the issuer's path inserted after the host
//! (SSF-META-01/02), check that the document's `issuer` is identical to the configured one
//! (SSF-META-07) and that its values follow the rules (SSF-META-25), or refuse it.
//!
//! Legacy peers only (checklist §13): when `ssf-configuration` answers `404`, try the ID1
//! `sse-configuration` and then `risc-configuration` (SSF-META-05). A strict peer never falls
//! back, and no fallback happens on any other status or on an issuer mismatch.
//!
//! Also the OAuth side: [`discover_token_endpoint`] reads an authorization server's
//! [RFC 8414](https://www.rfc-editor.org/rfc/rfc8414) metadata for client credentials.

use ssf_http::{
    GuardedClient, Url,
    reqwest::{StatusCode, header::ACCEPT},
};
use ssf_types::{
    BodyError, DiscoveryFlavor, Issuer, ParseMode, TransmitterMetadata, discovery_url,
};

use crate::{
    error::ReceiverError,
    wire::{ACCEPT_JSON, MAX_JSON_BODY, parse_url, read_json},
};

/// Metadata that passed every check, with where it was found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Discovered {
    /// The validated metadata; its `issuer` equals the configured issuer.
    pub metadata: TransmitterMetadata,
    /// The URL it was read from.
    pub url: Url,
    /// Which well-known document answered (always [`DiscoveryFlavor::Ssf`] for strict peers).
    pub flavor: DiscoveryFlavor,
}

/// Discovers the transmitter `issuer`.
///
/// - The issuer must be `https` (SSF-META-06) unless `http` allows plain http (dev only).
/// - `legacy` enables the `sse-`/`risc-configuration` fallbacks on `404` and the legacy parse
///   mode.
/// - A document whose `issuer` differs is refused with [`ReceiverError::IssuerMismatch`]
///   (SSF-META-07; CONF `OIDSSFCheckTransmitterMetadataIssuer`); one that breaks a value rule
///   with [`ReceiverError::InvalidMetadata`] (SSF-META-25).
pub async fn discover(
    http: &GuardedClient,
    issuer: &str,
    legacy: bool,
) -> Result<Discovered, ReceiverError> {
    require_https(http, issuer, "issuer")?;
    let expected = Issuer::new(issuer);
    let mode = if legacy {
        ParseMode::Legacy
    } else {
        ParseMode::Strict
    };
    let flavors: &[DiscoveryFlavor] = if legacy {
        &[
            DiscoveryFlavor::Ssf,
            DiscoveryFlavor::LegacySse,
            DiscoveryFlavor::LegacyRisc,
        ]
    } else {
        &[DiscoveryFlavor::Ssf]
    };
    let mut last_not_found = None;
    for &flavor in flavors {
        let url = discovery_url(issuer, flavor)
            .map_err(|e| ReceiverError::config("issuer", e.to_string()))?;
        let url = parse_url(&url, "discovery")?;
        let response = http
            .get(url.clone())?
            .header(ACCEPT, ACCEPT_JSON)
            .send()
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            tracing::debug!(%url, "no transmitter metadata here");
            last_not_found = Some(url);
            continue;
        }
        if status != StatusCode::OK {
            return Err(ReceiverError::DiscoveryFailed {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let body = read_json(response, MAX_JSON_BODY, "discovery").await?;
        let metadata = TransmitterMetadata::from_json(&body, mode)
            .map_err(|e| ReceiverError::InvalidMetadata(e.into()))?;
        check_metadata(&metadata, &expected, http.config().allow_http)?;
        if flavor != DiscoveryFlavor::Ssf {
            tracing::warn!(%url, "transmitter found at a legacy discovery path");
        }
        return Ok(Discovered {
            metadata,
            url,
            flavor,
        });
    }
    Err(ReceiverError::DiscoveryFailed {
        url: last_not_found.map(|u| u.to_string()).unwrap_or_default(),
        status: 404,
    })
}

/// The checks of SSF 1.0 §7.2.4 on a parsed document: first the issuer (SSF-META-07), then the
/// value rules (SSF-META-11/20/21/24). With `allow_http`, `http` URLs pass the https rule (the
/// client refuses them anyway unless the same dev flag is set).
pub fn check_metadata(
    metadata: &TransmitterMetadata,
    expected: &Issuer,
    allow_http: bool,
) -> Result<(), ReceiverError> {
    if metadata.check_issuer(expected).is_err() {
        return Err(ReceiverError::IssuerMismatch {
            document: "ssf-configuration",
            found: metadata.issuer.as_str().to_owned(),
        });
    }
    let result = if allow_http {
        as_https(metadata).validate()
    } else {
        metadata.validate()
    };
    result.map_err(|e: BodyError| ReceiverError::InvalidMetadata(e.into()))
}

/// A copy whose `http://` URLs read `https://`, so the remaining rules still apply in dev mode.
fn as_https(metadata: &TransmitterMetadata) -> TransmitterMetadata {
    fn fix(value: &str) -> String {
        match value.strip_prefix("http://") {
            Some(rest) => format!("https://{rest}"),
            None => value.to_owned(),
        }
    }
    let mut m = metadata.clone();
    m.issuer = Issuer::new(fix(m.issuer.as_str()));
    for url in [
        &mut m.jwks_uri,
        &mut m.configuration_endpoint,
        &mut m.status_endpoint,
        &mut m.add_subject_endpoint,
        &mut m.remove_subject_endpoint,
        &mut m.verification_endpoint,
    ]
    .into_iter()
    .flatten()
    {
        *url = fix(url);
    }
    m
}

/// Refuses a non-https URL unless the client allows http (SSF-META-06, SSF-SEC-01).
pub(crate) fn require_https(
    http: &GuardedClient,
    value: &str,
    what: &'static str,
) -> Result<(), ReceiverError> {
    let url = parse_url(value, what)?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if http.config().allow_http => Ok(()),
        _ => Err(ReceiverError::InvalidUrl {
            what,
            reason: "must use https".to_owned(),
        }),
    }
}

/// The token endpoint of the OAuth authorization server `issuer`, from its
/// [RFC 8414 §3](https://www.rfc-editor.org/rfc/rfc8414#section-3) metadata at
/// `/.well-known/oauth-authorization-server` (path inserted like SSF discovery), falling back to
/// OpenID Connect's `{issuer}/.well-known/openid-configuration` on `404`. The document's
/// `issuer` must be identical to `issuer` (RFC 8414 §3.3).
pub async fn discover_token_endpoint(
    http: &GuardedClient,
    issuer: &str,
) -> Result<Url, ReceiverError> {
    require_https(http, issuer, "authorization_server")?;
    let parsed = parse_url(issuer, "authorization_server")?;
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ];
    for candidate in candidates {
        let url = parse_url(&candidate, "authorization server metadata")?;
        let response = http
            .get(url.clone())?
            .header(ACCEPT, ACCEPT_JSON)
            .send()
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            continue;
        }
        if response.status() != StatusCode::OK {
            return Err(ReceiverError::DiscoveryFailed {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let body = read_json(response, MAX_JSON_BODY, "authorization server discovery").await?;
        let found = body.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
        if found != issuer {
            return Err(ReceiverError::IssuerMismatch {
                document: "oauth-authorization-server",
                found: found.to_owned(),
            });
        }
        let endpoint = body
            .get("token_endpoint")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ReceiverError::InvalidMetadata(
                    "the authorization server metadata has no token_endpoint".into(),
                )
            })?;
        require_https(http, endpoint, "token_endpoint")?;
        return parse_url(endpoint, "token_endpoint");
    }
    Err(ReceiverError::DiscoveryFailed {
        url: format!("{origin}/.well-known/oauth-authorization-server{path}"),
        status: 404,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(v: serde_json::Value) -> TransmitterMetadata {
        TransmitterMetadata::from_json(&v, ParseMode::Strict).unwrap()
    }

    #[test]
    fn issuer_must_be_identical_ssf_meta_07() {
        let m = metadata(json!({"issuer": "https://tr.example.com/"}));
        let err = check_metadata(&m, &Issuer::new("https://tr.example.com"), false).unwrap_err();
        assert!(matches!(err, ReceiverError::IssuerMismatch { .. }), "{err}");
    }

    #[test]
    fn http_urls_pass_only_in_dev_mode_ssf_meta_24() {
        let m = metadata(json!({"issuer": "http://127.0.0.1:1/t",
                                 "configuration_endpoint": "http://127.0.0.1:1/s"}));
        let iss = Issuer::new("http://127.0.0.1:1/t");
        assert!(check_metadata(&m, &iss, true).is_ok());
        assert!(matches!(
            check_metadata(&m, &iss, false),
            Err(ReceiverError::InvalidMetadata(_))
        ));
        let bad = metadata(json!({"issuer": "http://127.0.0.1:1/t", "default_subjects": "SOME"}));
        assert!(check_metadata(&bad, &iss, true).is_err());
    }
}
