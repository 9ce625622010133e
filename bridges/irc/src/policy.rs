//! The operator's policy on where users' connections may go, and the
//! limits and timeouts that keep one user from holding too much.
//!
//! Checked twice: on the server as named (before any connection task
//! exists), and on every address the name resolves to, at every connect,
//! so that a name which later resolves elsewhere (DNS rebinding) is caught.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::host::Host;
pub use switchboard_bridge_api::address::non_public;

/// Which servers, addresses and ports users may connect to.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Server names users may join rooms on: exact names or address
    /// literals, and `*.example.net` for any name under `example.net`.
    /// Empty: any server with a public address.
    pub allowed_servers: Vec<String>,
    /// Whether loopback, private, link-local and other non-public
    /// addresses may be connected to.
    pub allow_private_addresses: bool,
    /// Ports users may connect to.
    pub allowed_ports: Vec<RangeInclusive<u16>>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_servers: Vec::new(),
            allow_private_addresses: false,
            allowed_ports: default_ports(),
        }
    }
}

/// The IRC ports: 6660-6669 and 7000 (plain), 6697 (TLS).
pub fn default_ports() -> Vec<RangeInclusive<u16>> {
    vec![6660..=6669, 6697..=6697, 7000..=7000]
}

/// How much one user may hold open or waiting.
#[derive(Debug, Clone)]
pub struct Limits {
    /// IRC servers connected (or connecting) at once.
    pub max_servers_per_user: usize,
    /// Rooms joined (or being joined) at once, on all servers together.
    pub max_rooms_per_user: usize,
    /// Commands kept for one server while it is not connected yet.
    pub max_pending_commands: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_servers_per_user: 10,
            max_rooms_per_user: 100,
            max_pending_commands: 256,
        }
    }
}

/// How long each step of connecting may take; each that runs out is a
/// failed attempt, retried after the backoff.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Name resolution and TCP connect.
    pub connect: Duration,
    /// TLS handshake.
    pub tls: Duration,
    /// From the connection to the server's welcome (001).
    pub registration: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(15),
            tls: Duration::from_secs(15),
            registration: Duration::from_secs(60),
        }
    }
}

/// The start of every refusal, so that users know who decided.
pub const REFUSED: &str = "refused by this gateway's IRC server policy (set by its operator)";

impl Policy {
    /// Whether users may ask for this server (by its name, not yet its
    /// addresses); the error is the text for the user.
    pub fn check_server(&self, host: &Host) -> Result<(), String> {
        if !self.allowed_servers.is_empty() && !self.server_listed(host) {
            return Err(format!(
                "{host}: {REFUSED}: allowed servers are {}",
                self.allowed_servers.join(", ")
            ));
        }
        if let Host::Ip(ip) = host {
            self.check_address(&host.to_string(), *ip)?;
        }
        Ok(())
    }

    fn server_listed(&self, host: &Host) -> bool {
        let name = host.to_string();
        self.allowed_servers
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => name
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => *pattern == name,
            })
    }

    /// Whether this port may be connected to.
    pub fn check_port(&self, name: &str, port: u16) -> Result<(), String> {
        if self.allowed_ports.iter().any(|r| r.contains(&port)) {
            return Ok(());
        }
        Err(format!(
            "{name}: {REFUSED}: port {port} is not allowed (allowed: {})",
            ports_text(&self.allowed_ports)
        ))
    }

    /// Whether an address (as named, or as resolved) may be connected to.
    pub fn check_address(&self, name: &str, ip: IpAddr) -> Result<(), String> {
        match (self.allow_private_addresses, non_public(ip)) {
            (false, Some(kind)) => Err(format!(
                "{name}: {REFUSED}: its address {ip} is {kind}, not a public address"
            )),
            _ => Ok(()),
        }
    }
}

/// Ports as `6660-6669, 6697`.
fn ports_text(ports: &[RangeInclusive<u16>]) -> String {
    ports
        .iter()
        .map(|r| {
            if r.start() == r.end() {
                r.start().to_string()
            } else {
                format!("{}-{}", r.start(), r.end())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::normalise;

    fn kind(ip: &str) -> Option<&'static str> {
        non_public(ip.parse().unwrap())
    }

    #[test]
    fn non_public_ipv4_ranges() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(kind(ip).is_some(), "{ip} taken for public");
        }
        assert_eq!(kind("127.0.0.1"), Some("loopback"));
        assert_eq!(kind("255.255.255.255"), Some("broadcast"));
        assert_eq!(kind("169.254.169.254"), Some("link-local"));
    }

    #[test]
    fn public_ipv4_addresses() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.167.1.1",
            "198.17.0.1",
            "198.20.0.1",
            "223.255.255.255",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn non_public_ipv6_ranges_and_embedded_ipv4() {
        for ip in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::192.168.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "3fff::1",
            "4000::1",
        ] {
            assert!(kind(ip).is_some(), "{ip} taken for public");
        }
        for ip in [
            "2a01:4f8::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn servers_ports_and_addresses() {
        let host = |s| normalise(s).unwrap();
        let open = Policy::default();
        assert!(open.check_server(&host("irc.libera.chat")).is_ok());
        let e = open.check_server(&host("2130706433")).unwrap_err();
        assert!(e.contains(REFUSED) && e.contains("loopback"), "{e}");
        assert!(open.check_server(&host("[::ffff:7f00:1]")).is_err());
        assert!(open.check_port("a.example", 6697).is_ok());
        let e = open.check_port("a.example", 22).unwrap_err();
        assert!(e.contains("port 22") && e.contains("6660-6669"), "{e}");

        let listed = Policy {
            allowed_servers: vec!["irc.libera.chat".into(), "*.oftc.net".into()],
            ..Policy::default()
        };
        assert!(listed.check_server(&host("irc.libera.chat")).is_ok());
        assert!(listed.check_server(&host("irc.oftc.net")).is_ok());
        assert!(listed.check_server(&host("oftc.net")).is_err());
        assert!(listed.check_server(&host("evil-oftc.net")).is_err());
        assert!(listed.check_server(&host("irc.example.net")).is_err());

        let private = Policy {
            allow_private_addresses: true,
            ..Policy::default()
        };
        assert!(private.check_server(&host("127.0.0.1")).is_ok());
    }
}
