//! Which IP addresses an outbound request may reach: the SSRF address classifier
//! (checklist PUSH-20, SSF-SEC-16).
//!
//! A push endpoint is chosen by the receiver, so a transmitter that POSTs wherever it is told
//! could be pointed at its own loopback, its cloud metadata service (169.254.169.254) or the
//! private network behind it. Everything that is not globally routable unicast is refused here,
//! following the IANA special-purpose registries
//! ([IPv4](https://www.iana.org/assignments/iana-ipv4-special-registry/),
//! [IPv6](https://www.iana.org/assignments/iana-ipv6-special-registry/)). IPv6 forms that embed
//! an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the address they embed.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::{Ipv4Net, Ipv6Net};

/// Why an address is refused: the special-purpose range it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockedRange {
    /// "This network" 0.0.0.0/8 or the IPv6 unspecified address `::`.
    Unspecified,
    /// 127.0.0.0/8 or `::1` ([RFC 1122 §3.2.1.3](https://www.rfc-editor.org/rfc/rfc1122#section-3.2.1.3),
    /// [RFC 4291 §2.5.3](https://www.rfc-editor.org/rfc/rfc4291#section-2.5.3)).
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 ([RFC 1918](https://www.rfc-editor.org/rfc/rfc1918)).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT ([RFC 6598](https://www.rfc-editor.org/rfc/rfc6598)).
    SharedAddressSpace,
    /// 169.254.0.0/16 (including the cloud metadata address 169.254.169.254) or fe80::/10
    /// ([RFC 3927](https://www.rfc-editor.org/rfc/rfc3927), [RFC 4291](https://www.rfc-editor.org/rfc/rfc4291#section-2.5.6)).
    LinkLocal,
    /// fc00::/7, unique local IPv6 ([RFC 4193](https://www.rfc-editor.org/rfc/rfc4193)).
    UniqueLocal,
    /// fec0::/10, deprecated site-local IPv6 ([RFC 3879](https://www.rfc-editor.org/rfc/rfc3879)).
    SiteLocal,
    /// 224.0.0.0/4 or ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
    /// ([RFC 5737](https://www.rfc-editor.org/rfc/rfc5737), [RFC 3849](https://www.rfc-editor.org/rfc/rfc3849),
    /// [RFC 9637](https://www.rfc-editor.org/rfc/rfc9637)).
    Documentation,
    /// 198.18.0.0/15 or 2001:2::/48 ([RFC 2544](https://www.rfc-editor.org/rfc/rfc2544),
    /// [RFC 5180](https://www.rfc-editor.org/rfc/rfc5180)).
    Benchmarking,
    /// Other special-purpose space: 192.0.0.0/24, 240.0.0.0/4, the IPv6 discard prefix,
    /// deprecated IPv4-compatible `::/96`, Teredo, ORCHID, local-use NAT64, and all IPv6 outside
    /// the global unicast prefix 2000::/3.
    Reserved,
}

impl fmt::Display for BlockedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "an unspecified (\"this network\") address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private (RFC 1918) address",
            Self::SharedAddressSpace => "a carrier-grade NAT (RFC 6598, 100.64.0.0/10) address",
            Self::LinkLocal => "a link-local address (this range holds cloud metadata services)",
            Self::UniqueLocal => "a unique local IPv6 (fc00::/7) address",
            Self::SiteLocal => "a deprecated site-local IPv6 (fec0::/10) address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation-only address",
            Self::Benchmarking => "a benchmarking-only address",
            Self::Reserved => "a reserved special-purpose address",
        })
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// IPv4 ranges that are never reachable by default. Order matters only for overlaps
/// (broadcast before 240/4).
const V4_BLOCKED: &[(Ipv4Net, BlockedRange)] = &[
    (v4(0, 0, 0, 0, 8), BlockedRange::Unspecified),
    (v4(10, 0, 0, 0, 8), BlockedRange::Private),
    (v4(100, 64, 0, 0, 10), BlockedRange::SharedAddressSpace),
    (v4(127, 0, 0, 0, 8), BlockedRange::Loopback),
    (v4(169, 254, 0, 0, 16), BlockedRange::LinkLocal),
    (v4(172, 16, 0, 0, 12), BlockedRange::Private),
    (v4(192, 0, 0, 0, 24), BlockedRange::Reserved),
    (v4(192, 0, 2, 0, 24), BlockedRange::Documentation),
    (v4(192, 168, 0, 0, 16), BlockedRange::Private),
    (v4(198, 18, 0, 0, 15), BlockedRange::Benchmarking),
    (v4(198, 51, 100, 0, 24), BlockedRange::Documentation),
    (v4(203, 0, 113, 0, 24), BlockedRange::Documentation),
    (v4(224, 0, 0, 0, 4), BlockedRange::Multicast),
    (v4(255, 255, 255, 255, 32), BlockedRange::Broadcast),
    (v4(240, 0, 0, 0, 4), BlockedRange::Reserved),
];

/// IPv6 ranges that are never reachable by default, except those embedding IPv4 (handled first).
const V6_BLOCKED: &[(Ipv6Net, BlockedRange)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), BlockedRange::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), BlockedRange::Loopback),
    // Deprecated IPv4-compatible addresses (RFC 4291 §2.5.5.1).
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 96), BlockedRange::Reserved),
    // Local-use NAT64 (RFC 8215): translates to whatever the local gateway chooses.
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        BlockedRange::Reserved,
    ),
    // Discard-only (RFC 6666).
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), BlockedRange::Reserved),
    // Teredo (RFC 4380) embeds an obfuscated IPv4 address; ORCHIDv1/v2 are not routable.
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        BlockedRange::Reserved,
    ),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        BlockedRange::Benchmarking,
    ),
    (
        v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
        BlockedRange::Reserved,
    ),
    (
        v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),
        BlockedRange::Reserved,
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        BlockedRange::Documentation,
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        BlockedRange::Documentation,
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        BlockedRange::UniqueLocal,
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        BlockedRange::LinkLocal,
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        BlockedRange::SiteLocal,
    ),
    (
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        BlockedRange::Multicast,
    ),
];

const V4_MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// The special-purpose range `ip` falls in, or `None` when it is globally routable unicast and
/// may be reached without an allow-list entry.
///
/// IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`, [RFC 6052]) and 6to4
/// (`2002:aabb:ccdd::/48`, [RFC 3056]) addresses are judged by the IPv4 address they carry, so
/// `::ffff:10.0.0.1` is private and `::ffff:169.254.169.254` is link-local.
///
/// [RFC 6052]: https://www.rfc-editor.org/rfc/rfc6052
/// [RFC 3056]: https://www.rfc-editor.org/rfc/rfc3056
pub fn blocked_range(ip: IpAddr) -> Option<BlockedRange> {
    match ip {
        IpAddr::V4(ip) => blocked_v4(ip),
        IpAddr::V6(ip) => blocked_v6(ip),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<BlockedRange> {
    V4_BLOCKED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, range)| range)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<BlockedRange> {
    if let Some(embedded) = embedded_v4(ip) {
        return blocked_v4(embedded);
    }
    let listed = V6_BLOCKED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, range)| range);
    // Outside 2000::/3 nothing is global unicast (RFC 4291 §2.4), whatever IANA assigns later.
    listed.or_else(|| (!GLOBAL_UNICAST.contains(&ip)).then_some(BlockedRange::Reserved))
}

/// The IPv4 address an IPv6 address stands for, when it is a translation or tunnelling form.
pub(crate) fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if V4_MAPPED.contains(&ip) || NAT64.contains(&ip) {
        // The low 32 bits are the IPv4 address.
        return Some(Ipv4Addr::from(bits as u32));
    }
    if SIX_TO_FOUR.contains(&ip) {
        // Bits 16..48 are the IPv4 address (RFC 3056 §2).
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Option<BlockedRange> {
        blocked_range(s.parse().unwrap())
    }

    // PUSH-20: every refused IPv4 range, at its edges.
    #[test]
    fn push_20_blocked_v4_ranges() {
        use BlockedRange::*;
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.255.255.255", Unspecified),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.254", SharedAddressSpace),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Documentation),
            ("192.168.1.1", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        for (ip, want) in cases {
            assert_eq!(range(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn global_v4_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.255.255",
            "192.167.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    // PUSH-20: IPv6 ranges, and IPv4 addresses hidden in IPv6 forms.
    #[test]
    fn push_20_blocked_v6_ranges() {
        use BlockedRange::*;
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:0.0.0.0", Unspecified),
            ("64:ff9b::10.1.2.3", Private),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b:1::1", Reserved),
            ("2002:7f00:1::1", Loopback),
            ("2002:c0a8:101::1", Private),
            ("::10.0.0.1", Reserved),
            ("100::1", Reserved),
            ("2001::1", Reserved),
            ("2001:2::1", Benchmarking),
            ("2001:10::1", Reserved),
            ("2001:20::1", Reserved),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("fc00::1", UniqueLocal),
            ("fd12:3456:789a::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
            ("fbff::1", Reserved),
            ("4000::1", Reserved),
        ];
        for (ip, want) in cases {
            assert_eq!(range(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn global_v6_addresses_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2a00:1450::1",
            "3ffe::1",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn messages_name_the_range() {
        assert!(BlockedRange::Private.to_string().contains("RFC 1918"));
        assert!(BlockedRange::LinkLocal.to_string().contains("metadata"));
    }
}
