//! Which addresses are public: the one rule every bridge applies before it
//! connects where a user said (an IRC server, a Matrix homeserver), so that
//! a user cannot make the gateway reach its own host or network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of non-public address this is; `None` for a public one.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (this network)",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, b, _) if (16..32).contains(&b) => "private",
        (100, b, _) if (64..128).contains(&b) => "shared address space (CGNAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "reserved for protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved for documentation",
        (192, 88, 99) => "reserved (6to4 relay)",
        (198, b, _) if b & 0xfe == 18 => "reserved for benchmarking",
        (224..=239, _, _) => "multicast",
        _ if ip == Ipv4Addr::BROADCAST => "broadcast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    match s {
        // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d):
        // judged as the IPv4 address they carry.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => {
            return non_public_v4(embedded_v4(hi, lo));
        }
        // NAT64 (64:ff9b::a.b.c.d) likewise; its local-use range is local.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return non_public_v4(embedded_v4(hi, lo)),
        [0x64, 0xff9b, 1, ..] => return Some("local-use NAT64"),
        // 6to4 (2002:a.b.c.d::) carries an IPv4 address too.
        [0x2002, hi, lo, ..] => return non_public_v4(embedded_v4(hi, lo)),
        _ => {}
    }
    Some(match s[0] {
        0x0100 if s[1..4] == [0, 0, 0] => "reserved for discarding",
        0x2001 if s[1] < 0x200 => "reserved for protocol assignments",
        0x2001 if s[1] == 0x0db8 => "reserved for documentation",
        0x3fff if s[1] < 0x1000 => "reserved for documentation",
        x if x & 0xfe00 == 0xfc00 => "unique-local",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xffc0 == 0xfec0 => "site-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        // Anything else outside 2000::/3 is not handed out.
        x if x & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    })
}
