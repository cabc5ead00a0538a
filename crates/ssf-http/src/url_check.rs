//! Configuration-time URL checks (checklist PUSH-05, PUSH-20, SSF-SEC-16).

use std::net::IpAddr;

use url::{Host, Url};

use crate::{BlockedRange, ClientConfig};

/// Why a URL is refused before any request is made. Each message names the URL (without
/// credentials or query) and says what the operator can change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// `http` while `allow_http` is off. Push delivery requires TLS
    /// ([RFC 8935 §3](https://www.rfc-editor.org/rfc/rfc8935#section-3), checklist PUSH-05).
    #[error(
        "{url} refused: plain http is only allowed with `allow_http = true` (dev only); use an https URL"
    )]
    PlainHttp {
        /// The URL, redacted for logs.
        url: String,
    },
    /// A scheme other than `https` or `http`.
    #[error("{url} refused: scheme `{scheme}` is not supported; use an https URL")]
    UnsupportedScheme {
        /// The URL, redacted for logs.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// `user:password@` in the URL: credentials would end up in logs and stored configuration.
    #[error(
        "{url} refused: credentials in the URL (user:password@host) are not allowed; send them in an Authorization header (for push delivery: the stream's `authorization_header`)"
    )]
    UserInfo {
        /// The URL, redacted for logs.
        url: String,
    },
    /// No host, so nothing to connect to.
    #[error("{url} refused: the URL has no host")]
    NoHost {
        /// The URL, redacted for logs.
        url: String,
    },
    /// An IP-literal host in a refused range.
    #[error(
        "{url} refused: {ip} is {range}; if this destination is intended, add its network to `allowed_networks` (or set `allow_private_networks = true`, dev only)"
    )]
    BlockedAddress {
        /// The URL, redacted for logs.
        url: String,
        /// The literal address.
        ip: IpAddr,
        /// The range that refuses it.
        range: BlockedRange,
    },
}

/// Checks a URL against the client settings before it is stored or used: scheme `https` (or
/// `http` with `allow_http`), no userinfo, a host, and an IP-literal host outside the refused
/// ranges unless allow-listed.
///
/// Use it when a receiver registers a push endpoint
/// ([SSF 1.0 §8.1.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.1))
/// so the mistake is reported at once. Host *names* are judged only after DNS resolution, at
/// request time, so a name that resolves to a refused address passes here and fails in
/// [`GuardedClient`](crate::GuardedClient).
pub fn validate_url(url: &Url, config: &ClientConfig) -> Result<(), UrlError> {
    match url.scheme() {
        "https" => {}
        "http" if config.allow_http => {}
        "http" => return Err(UrlError::PlainHttp { url: redact(url) }),
        other => {
            return Err(UrlError::UnsupportedScheme {
                url: redact(url),
                scheme: other.to_owned(),
            });
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::UserInfo { url: redact(url) });
    }
    let ip = match url.host() {
        None => return Err(UrlError::NoHost { url: redact(url) }),
        Some(Host::Domain("")) => {
            return Err(UrlError::NoHost { url: redact(url) });
        }
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    config
        .check_ip(ip)
        .map_err(|range| UrlError::BlockedAddress {
            url: redact(url),
            ip,
            range,
        })
}

/// The URL as safe to log: scheme, host, port and path; userinfo dropped and any query shown
/// as `?…` (push URLs sometimes carry tokens there).
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = format!("{}://", url.scheme());
    match url.host_str() {
        Some(host) => shown.push_str(host),
        None => shown.push_str("<no host>"),
    }
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, config: &ClientConfig) -> Result<(), UrlError> {
        validate_url(&Url::parse(url).unwrap(), config)
    }

    // PUSH-05 / PUSH-20: https only unless the dev flag is set.
    #[test]
    fn push_20_plain_http_needs_the_dev_flag() {
        let mut c = ClientConfig::default();
        let err = check("http://rx.example/events", &c).unwrap_err();
        assert!(matches!(err, UrlError::PlainHttp { .. }));
        assert_eq!(
            err.to_string(),
            "http://rx.example/events refused: plain http is only allowed with \
             `allow_http = true` (dev only); use an https URL"
        );
        assert_eq!(check("https://rx.example/events", &c), Ok(()));
        c.allow_http = true;
        assert_eq!(check("http://rx.example/events", &c), Ok(()));
    }

    #[test]
    fn other_schemes_are_refused() {
        let c = ClientConfig {
            allow_http: true,
            ..ClientConfig::default()
        };
        for url in [
            "ftp://rx.example/",
            "file:///etc/passwd",
            "ws://rx.example/",
        ] {
            assert!(
                matches!(check(url, &c), Err(UrlError::UnsupportedScheme { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn userinfo_is_refused_and_never_echoed() {
        let c = ClientConfig::default();
        for url in [
            "https://user:s3cret@rx.example/",
            "https://user@rx.example/",
        ] {
            let err = check(url, &c).unwrap_err();
            assert!(matches!(err, UrlError::UserInfo { .. }), "{url}");
            assert!(!err.to_string().contains("s3cret") && !err.to_string().contains("user@"));
            assert!(err.to_string().contains("Authorization header"));
        }
    }

    #[test]
    fn query_is_not_echoed() {
        let err = check(
            "http://rx.example:8443/p?token=abc",
            &ClientConfig::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("http://rx.example:8443/p?… refused"),
            "{err}"
        );
    }

    // PUSH-20: IP literals are judged at configuration time too.
    #[test]
    fn push_20_blocked_ip_literals() {
        let c = ClientConfig::default();
        for url in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[fd00::1]/",
            "https://2130706433/", // 127.0.0.1 in decimal, normalised by the URL parser
            "https://0x7f.1/",
        ] {
            let err = check(url, &c).unwrap_err();
            assert!(
                matches!(err, UrlError::BlockedAddress { .. }),
                "{url}: {err}"
            );
            assert!(err.to_string().contains("allowed_networks"), "{err}");
        }
        assert_eq!(check("https://93.184.215.14/", &c), Ok(()));
        assert_eq!(check("https://[2606:4700::1111]/", &c), Ok(()));
    }

    #[test]
    fn allow_listed_literal_passes() {
        let c = ClientConfig::dev_loopback();
        assert_eq!(check("http://127.0.0.1:8080/", &c), Ok(()));
        assert_eq!(check("http://[::1]:8080/", &c), Ok(()));
        assert!(check("http://192.168.0.1/", &c).is_err());
    }

    #[test]
    fn names_pass_until_resolved() {
        assert_eq!(
            check("https://localhost/", &ClientConfig::default()),
            Ok(())
        );
    }
}
