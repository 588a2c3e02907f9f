//! Which addresses an agent's traffic may reach without naming them: public unicast only.
//!
//! A granted host name that resolves to loopback, a private or shared range, link-local, a cloud
//! metadata service or anything else that is not public unicast is refused — the classic way to
//! turn a proxy into a door to the internal network (SSRF, DNS rebinding). IPv6 forms that carry
//! an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address this is, for the refusal message and the audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Public unicast: reachable without a grant that names it.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918, shared address space (`100.64.0.0/10`), IPv6 unique-local and site-local.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud instance metadata service (AWS, GCP, Azure, ECS, Alibaba, Oracle).
    Metadata,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// Multicast and broadcast.
    Multicast,
    /// Documentation, benchmarking, reserved and other special-purpose ranges.
    Reserved,
}

impl Class {
    /// How the class reads in a message.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Metadata => "cloud metadata",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        }
    }
}

/// The class of an address.
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];

/// AWS's IPv6 instance metadata endpoint.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if METADATA_V4.contains(&ip) {
        return Class::Metadata;
    }
    match (a, b, c) {
        (0, _, _) => Class::Unspecified,
        (127, _, _) => Class::Loopback,
        (10, _, _) | (192, 168, _) => Class::Private,
        (172, 16..=31, _) | (100, 64..=127, _) => Class::Private,
        (169, 254, _) => Class::LinkLocal,
        (224..=239, _, _) => Class::Multicast,
        _ if ip.is_broadcast() => Class::Multicast,
        // IETF protocol assignments, documentation, benchmarking, 6to4 relay, reserved.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (192, 88, 99) => {
            Class::Reserved
        }
        (198, 18..=19, _) | (240..=255, _, _) => Class::Reserved,
        _ => Class::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if ip == METADATA_V6 {
        return Class::Metadata;
    }
    if ip.is_unspecified() {
        return Class::Unspecified;
    }
    if ip.is_loopback() {
        return Class::Loopback;
    }
    let s = ip.segments();
    let [s0, s1, s2, s3, s4, s5, s6, s7] = s;
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d).
    if s0 == 0 && s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0 && (s5 == 0xffff || s5 == 0) {
        return classify_v4(v4(s6, s7));
    }
    // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
    if s0 == 0x64 && s1 == 0xff9b && s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 {
        return classify_v4(v4(s6, s7));
    }
    // 6to4 (2002::/16) embeds an IPv4 address in the next 32 bits.
    if s0 == 0x2002 {
        return classify_v4(v4(s1, s2));
    }
    match s0 {
        0xfe80..=0xfebf => Class::LinkLocal,
        0xfec0..=0xfeff | 0xfc00..=0xfdff => Class::Private,
        0xff00..=0xffff => Class::Multicast,
        // Documentation (2001:db8::/32), ORCHID and other IETF special-purpose blocks in 2001::/23.
        0x2001 if s1 == 0x0db8 || s1 < 0x0200 => Class::Reserved,
        // Discard-only (100::/64) and the rest of ::/8 not handled above.
        0x0000..=0x0100 => Class::Reserved,
        // Only 2000::/3 is global unicast.
        0x2000..=0x3fff => Class::Public,
        _ => Class::Reserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn class(s: &str) -> Class {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classes() {
        for (ip, want) in [
            ("93.184.216.34", Class::Public),
            ("8.8.8.8", Class::Public),
            ("127.0.0.1", Class::Loopback),
            ("127.255.0.9", Class::Loopback),
            ("10.1.2.3", Class::Private),
            ("172.16.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("172.32.0.1", Class::Public),
            ("192.168.1.1", Class::Private),
            ("100.64.0.1", Class::Private),
            ("169.254.169.254", Class::Metadata),
            ("169.254.170.2", Class::Metadata),
            ("100.100.100.200", Class::Metadata),
            ("169.254.1.1", Class::LinkLocal),
            ("0.0.0.0", Class::Unspecified),
            ("224.0.0.1", Class::Multicast),
            ("255.255.255.255", Class::Multicast),
            ("192.0.2.10", Class::Reserved),
            ("240.0.0.1", Class::Reserved),
            ("::1", Class::Loopback),
            ("::", Class::Unspecified),
            ("fe80::1", Class::LinkLocal),
            ("fd12:3456::1", Class::Private),
            ("fd00:ec2::254", Class::Metadata),
            ("ff02::1", Class::Multicast),
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:169.254.169.254", Class::Metadata),
            ("::ffff:8.8.8.8", Class::Public),
            ("64:ff9b::10.0.0.1", Class::Private),
            ("64:ff9b::8.8.8.8", Class::Public),
            ("2002:7f00:1::", Class::Loopback),
            ("2001:db8::1", Class::Reserved),
            ("2606:4700:4700::1111", Class::Public),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    proptest! {
        /// The standard library's own predicates never call public what it knows is local.
        #[test]
        fn agrees_with_std_on_local_addresses(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            if ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified()
                || ip.is_multicast() || ip.is_broadcast() || ip.is_documentation()
            {
                prop_assert_ne!(classify_v4(ip), Class::Public, "{}", ip);
            }
            // Every IPv4 address gets the same class through an IPv4-mapped IPv6 address.
            prop_assert_eq!(classify_v6(ip.to_ipv6_mapped()), classify_v4(ip));
        }

        #[test]
        fn v6_local_ranges_are_never_public(bits in any::<u128>()) {
            let ip = Ipv6Addr::from(bits);
            if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast()
                || ip.is_unicast_link_local() || ip.is_unique_local()
            {
                prop_assert_ne!(classify_v6(ip), Class::Public, "{}", ip);
            }
        }
    }
}
