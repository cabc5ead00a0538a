//! Settings of the outbound client, as they appear in `ssf.toml`.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::{BlockedRange, blocked_range};

/// `ssf/<crate version>`, the default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("ssf/", env!("CARGO_PKG_VERSION"));

const LOOPBACK_V4: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8);
const LOOPBACK_V6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128);

/// Outbound HTTP client settings. Unknown keys are rejected; every key has a safe default.
///
/// The defaults follow the security defaults of the design: https only, and no loopback,
/// private or link-local destinations (checklist PUSH-20, SSF-SEC-16), so a receiver cannot
/// point a transmitter's push delivery at the transmitter's own network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Time allowed to open a TCP connection and finish the TLS handshake. Default 5 s.
    #[serde(with = "crate::duration_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, from connect to the end of the response body.
    /// Default 10 s.
    #[serde(with = "crate::duration_serde")]
    pub request_timeout: Duration,
    /// How long an idle pooled connection is kept. Default 90 s.
    #[serde(with = "crate::duration_serde")]
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host. Default 32.
    pub pool_max_idle_per_host: usize,
    /// TCP keepalive interval on pooled connections. Default 60 s.
    #[serde(with = "crate::duration_serde")]
    pub tcp_keepalive: Duration,
    /// Allow plain `http` URLs. Default false: RFC 8935 §3 requires TLS for push. Dev only.
    pub allow_http: bool,
    /// Allow every non-global destination (loopback, RFC 1918, link-local, ...). Default false.
    /// Dev only; prefer a narrow [`allowed_networks`](Self::allowed_networks) entry.
    pub allow_private_networks: bool,
    /// Networks reachable even though they are not global, e.g. `127.0.0.0/8` for a demo on
    /// loopback or `10.20.0.0/16` for receivers inside the same private network. Default empty.
    pub allowed_networks: Vec<IpNet>,
    /// `User-Agent` sent with every request. Default [`DEFAULT_USER_AGENT`].
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            tcp_keepalive: Duration::from_secs(60),
            allow_http: false,
            allow_private_networks: false,
            allowed_networks: Vec::new(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl ClientConfig {
    /// The settings for a demo or test on loopback: plain http allowed, and `127.0.0.0/8` and
    /// `::1/128` allow-listed. Everything else keeps its default, so private networks stay refused.
    pub fn dev_loopback() -> Self {
        Self {
            allow_http: true,
            allowed_networks: vec![IpNet::V4(LOOPBACK_V4), IpNet::V6(LOOPBACK_V6)],
            ..Self::default()
        }
    }

    /// Whether this configuration lets a request reach `ip`: `Err` carries the range that refuses
    /// it. Allow-listed networks and `allow_private_networks` win over the classifier.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), BlockedRange> {
        let Some(range) = blocked_range(ip) else {
            return Ok(());
        };
        if self.allow_private_networks || self.is_allow_listed(ip) {
            return Ok(());
        }
        Err(range)
    }

    fn is_allow_listed(&self, ip: IpAddr) -> bool {
        // `::ffff:127.0.0.1` counts as 127.0.0.1 for the allow-list too.
        let canonical = ip.to_canonical();
        self.allowed_networks
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = ClientConfig::default();
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.pool_idle_timeout, Duration::from_secs(90));
        assert_eq!(c.pool_max_idle_per_host, 32);
        assert!(!c.allow_http && !c.allow_private_networks && c.allowed_networks.is_empty());
        assert!(c.user_agent.starts_with("ssf/"));
    }

    #[test]
    fn toml_round_trip_and_unknown_keys_rejected() {
        let c: ClientConfig = toml::from_str(
            "request_timeout = \"2s\"\nconnect_timeout = 3\nallowed_networks = [\"10.1.0.0/16\"]\n",
        )
        .unwrap();
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(
            c.allowed_networks,
            vec!["10.1.0.0/16".parse::<IpNet>().unwrap()]
        );
        let back: ClientConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);

        let err = toml::from_str::<ClientConfig>("allow_htp = true").unwrap_err();
        assert!(err.to_string().contains("allow_htp"), "{err}");
    }

    #[test]
    fn allow_list_and_flag_override_the_classifier() {
        let mut c = ClientConfig::default();
        let ten: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(c.check_ip(ten), Err(BlockedRange::Private));
        assert_eq!(c.check_ip("8.8.8.8".parse().unwrap()), Ok(()));

        c.allowed_networks = vec!["10.1.0.0/16".parse().unwrap()];
        assert_eq!(c.check_ip(ten), Ok(()));
        assert_eq!(c.check_ip("::ffff:10.1.9.9".parse().unwrap()), Ok(()));
        assert_eq!(
            c.check_ip("10.2.0.1".parse().unwrap()),
            Err(BlockedRange::Private)
        );

        c.allowed_networks.clear();
        c.allow_private_networks = true;
        assert_eq!(c.check_ip("169.254.169.254".parse().unwrap()), Ok(()));
    }

    #[test]
    fn dev_loopback_allows_loopback_only() {
        let c = ClientConfig::dev_loopback();
        assert!(c.allow_http);
        assert_eq!(c.check_ip("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(c.check_ip("127.9.9.9".parse().unwrap()), Ok(()));
        assert_eq!(c.check_ip("::1".parse().unwrap()), Ok(()));
        assert_eq!(
            c.check_ip("10.0.0.1".parse().unwrap()),
            Err(BlockedRange::Private)
        );
    }
}
