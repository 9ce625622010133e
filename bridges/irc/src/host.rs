//! Server names in one spelling each: the key of a connection and the host
//! part of ids. `IRC.Example.NET.` is `irc.example.net`; `127.1`,
//! `2130706433`, `0x7f.1` and `127.0.0.01` are all `127.0.0.1` (read as
//! `inet_aton` reads them, since that is what a resolver would connect to);
//! `[0:0::1]` is `[::1]`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A server, by name or by address, in its one accepted spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name: lower case, no trailing dot, valid labels.
    Name(String),
    /// An address literal.
    Ip(IpAddr),
}

impl Host {
    /// What to give the resolver: the name, or the address without brackets.
    pub fn lookup_name(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Host {
    /// The canonical spelling: the name, `a.b.c.d`, or `[v6]` (RFC 5952).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
        }
    }
}

/// Reads a server name as a user wrote it; an error says why it is not one.
pub fn normalise(raw: &str) -> Result<Host, String> {
    let lower = raw.to_ascii_lowercase();
    let s = lower.strip_suffix('.').unwrap_or(&lower);
    if s.is_empty() || s.len() > 253 {
        return Err(format!("{raw:?} is not a server name"));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(|v6| Host::Ip(IpAddr::V6(v6)))
            .map_err(|_| format!("{raw} is not an IPv6 address"));
    }
    if s.contains(':') {
        return s
            .parse::<Ipv6Addr>()
            .map(|v6| Host::Ip(IpAddr::V6(v6)))
            .map_err(|_| format!("{raw} is not a server name"));
    }
    let labels: Vec<&str> = s.split('.').collect();
    // A name whose last label is a number is an IPv4 address to a resolver
    // (as in the WHATWG URL standard): read it as one, or refuse it.
    if labels.last().is_some_and(|l| parse_number(l).is_some()) {
        return ipv4_any_form(&labels)
            .map(|v4| Host::Ip(IpAddr::V4(v4)))
            .ok_or_else(|| format!("{raw} is not a valid IPv4 address"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(format!(
                "{raw} is not a server name (letters, digits, '-' and dots; \
                 international names in their xn-- form)"
            ));
        }
    }
    Ok(Host::Name(s.to_owned()))
}

/// One part of a numeric IPv4 form: decimal, `0x` hex or `0` octal.
fn parse_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = part.strip_prefix("0x") {
        (h, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // `0x` alone is zero, as inet_aton reads it.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `inet_aton`'s forms: `a`, `a.b`, `a.b.c`, `a.b.c.d`, each part any base;
/// the last part fills the remaining bytes.
fn ipv4_any_form(labels: &[&str]) -> Option<Ipv4Addr> {
    if labels.is_empty() || labels.len() > 4 {
        return None;
    }
    let parts: Vec<u64> = labels
        .iter()
        .map(|l| parse_number(l))
        .collect::<Option<_>>()?;
    let (last, first) = parts.split_last()?;
    if first.iter().any(|&p| p > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - first.len() as u32);
    if *last >= 1u64 << rest_bits {
        return None;
    }
    let mut value: u64 = 0;
    for (i, &p) in first.iter().enumerate() {
        value |= p << (24 - 8 * i as u32);
    }
    value |= last;
    Some(Ipv4Addr::from(value as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> String {
        normalise(raw).unwrap().to_string()
    }

    #[test]
    fn names_are_lower_case_without_the_trailing_dot() {
        assert_eq!(key("IRC.Libera.Chat."), "irc.libera.chat");
        assert_eq!(key("localhost"), "localhost");
        assert_eq!(key("xn--bcher-kva.example"), "xn--bcher-kva.example");
    }

    #[test]
    fn every_spelling_of_loopback_is_one_address() {
        for raw in [
            "127.0.0.1",
            "127.0.0.01",
            "127.000.000.001",
            "0177.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "0X7F.0.0.1",
            "127.0.0.1.",
        ] {
            assert_eq!(key(raw), "127.0.0.1", "{raw}");
        }
    }

    #[test]
    fn ipv6_literals_are_canonical() {
        assert_eq!(key("[::1]"), "[::1]");
        assert_eq!(key("[0:0:0:0:0:0:0:1]"), "[::1]");
        assert_eq!(key("::1"), "[::1]");
        assert_eq!(key("[::FFFF:127.0.0.1]"), "[::ffff:127.0.0.1]");
    }

    #[test]
    fn bad_names_are_refused() {
        for raw in [
            "",
            ".",
            "a..b",
            "-a.example",
            "a_b.example",
            "irc.example.net:6667",
            "256.0.0.1",
            "1.2.3.4.5",
            "4294967296",
            "1.2.3.0x100",
            "08.0.0.1",
            "[::1",
            "[nope]",
            "bücher.example",
            "a b.example",
        ] {
            assert!(normalise(raw).is_err(), "{raw:?} accepted");
        }
    }
}
