//! The client's address behind reverse proxies (`[server] trusted_proxies`, decision D-SRV-03).
//!
//! A request's client is its TCP peer, unless that peer is a trusted proxy: then `X-Forwarded-For`
//! names the hops, each proxy appending the address it received the request from. Read from the
//! right, the first address that is not a trusted proxy is the client; everything left of it was
//! written by the client itself and is never believed. Without trusted proxies (the default) the
//! header is ignored, so a client cannot choose its address.

use std::{fmt, net::IpAddr, str::FromStr};

use axum::http::{HeaderMap, header::HeaderName};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, de};

/// `X-Forwarded-For`, as nginx, HAProxy, Envoy and the cloud load balancers write it.
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What start-up and `--check` say of a `/0` range.
pub(crate) const TRUSTS_EVERYONE: &str = "server.trusted_proxies trusts every address: any \
    client can name its own address in X-Forwarded-For and escape the authentication throttle; \
    list only your proxies";

/// The reverse proxies whose `X-Forwarded-For` is believed: addresses and CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

/// Why a `trusted_proxies` entry was refused.
#[derive(Debug)]
pub(crate) struct BadProxyEntry(String);

impl fmt::Display for BadProxyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is neither an IP address nor a CIDR range: write e.g. \"10.0.0.7\", \
             \"10.0.0.0/8\" or \"fd00::/8\"",
            self.0
        )
    }
}

impl FromStr for TrustedProxies {
    type Err = BadProxyEntry;

    /// A comma-separated list, as the environment gives it (`SSF_SERVER__TRUSTED_PROXIES`).
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, BadProxyEntry> {
    entry
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| BadProxyEntry(entry.to_owned()))
}

impl<'de> Deserialize<'de> for TrustedProxies {
    /// A list of strings (`["10.0.0.0/8", "192.0.2.7"]`), or one comma-separated string.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            One(String),
        }
        let entries = match Raw::deserialize(deserializer)? {
            Raw::List(entries) => entries,
            Raw::One(list) => return list.parse().map_err(de::Error::custom),
        };
        entries
            .iter()
            .map(|entry| parse_entry(entry.trim()))
            .collect::<Result<_, _>>()
            .map(Self)
            .map_err(de::Error::custom)
    }
}

impl fmt::Display for TrustedProxies {
    /// What `ssf serve --check` says the client address is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the TCP peer (server.trusted_proxies is empty)");
        }
        let list: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        write!(
            f,
            "X-Forwarded-For when the TCP peer is one of {}",
            list.join(", ")
        )
    }
}

impl TrustedProxies {
    /// Whether a range trusts every address of its family (`0.0.0.0/0`, `::/0`): then any
    /// client can name its own address.
    pub(crate) fn trusts_everyone(&self) -> bool {
        self.0.iter().any(|net| net.prefix_len() == 0)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from TCP peer `peer` with `headers`.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Every `X-Forwarded-For` line in order is one list; walk it from the right.
        let hops: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .flat_map(|value| value.to_str().map_or(vec![""], |v| v.split(',').collect()))
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(addr) = parse_hop(hop.trim()) else {
                // What a trusted proxy received cannot be read: stop at the last known hop.
                return client;
            };
            client = addr;
            if !self.trusts(addr) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|addr| addr.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(&X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            none.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_client() {
        let trusted = proxies("10.0.0.0/8");
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.0.2.7");
        // The client wrote a fake first entry; the proxies appended what they saw.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9, 10.1.1.1"]);
        assert_eq!(trusted.client(ip("192.0.2.7"), &headers), ip("203.0.113.9"));
        // The same list split over several header lines.
        let lines = forwarded(&["1.2.3.4", "203.0.113.9", "10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &lines), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let trusted = proxies("127.0.0.1");
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn only_trusted_hops_give_the_leftmost() {
        let trusted = proxies("10.0.0.0/8");
        let headers = forwarded(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("10.9.9.9"));
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_last_known_one() {
        let trusted = proxies("10.0.0.0/8");
        let headers = forwarded(&["203.0.113.9, unknown, 10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("10.1.1.1"));
        let empty = forwarded(&[""]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &empty), ip("10.0.0.1"));
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let trusted = proxies("10.0.0.0/8, fd00::/8");
        let headers = forwarded(&["[2001:db8::1]:4711, 203.0.113.9:80"]);
        assert_eq!(trusted.client(ip("fd00::1"), &headers), ip("203.0.113.9"));
        // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses.
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            trusted.client(ip("::ffff:10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn entries_are_addresses_or_ranges() {
        let list: TrustedProxies =
            serde_json::from_value(serde_json::json!(["10.0.0.0/8", "192.0.2.7", " ::1 "]))
                .unwrap();
        assert!(list.trusts(ip("10.200.0.1")) && list.trusts(ip("192.0.2.7")));
        assert!(list.trusts(ip("::1")) && !list.trusts(ip("192.0.2.8")));
        assert!(!list.trusts_everyone());
        // Host bits in a range are allowed, as written in many configurations.
        assert!(proxies("10.1.2.3/8").trusts(ip("10.9.9.9")));
        assert!(proxies("0.0.0.0/0").trusts_everyone());
        let err = serde_json::from_value::<TrustedProxies>(serde_json::json!(["10.0.0/8"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"10.0.0/8\" is neither") && err.contains("10.0.0.0/8"),
            "{err}"
        );
    }
}
