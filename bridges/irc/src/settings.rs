//! The operator's `[networks.NAME.settings]` for an IRC network, read with
//! serde from whatever format the core hands over (TOML there):
//!
//! ```toml
//! flood_control = true          # flood_burst = 5, flood_rate = 2.0 (lines a second)
//! flood_max_burst = 20           # flood_max_rate = 10.0; flood_control_optional = false
//! tls_ca_file = "/etc/switchboard/irc-ca.pem"
//! allowed_servers = ["irc.libera.chat", "*.oftc.net"]   # empty: any public server
//! allow_private_addresses = false
//! allowed_ports = [6697, "6660-6669", 7000]
//! connect_timeout_secs = 15
//! tls_timeout_secs = 15
//! registration_timeout_secs = 60
//! max_servers_per_user = 10
//! max_rooms_per_user = 100
//! max_pending_commands = 256
//! [servers]
//! "irc.localhost" = "127.0.0.1:6667"                      # plain TCP
//! "irc.example.net" = { address = "irc.example.net:6697", tls = true }
//! ```
//!
//! Each value is checked as it is read, so a mistake comes back as a serde
//! error at its key. Unknown keys are left to the caller, which sees them
//! as ignored (the core names every one). A new key is one field here and
//! one line in [`IrcSettings::into_config`].

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::{host, IrcConfig, ServerAddress};

/// The IRC bridge's settings as the operator wrote them; absent keys keep
/// [`IrcConfig::default`]'s values.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IrcSettings {
    /// Flood control towards servers.
    pub flood_control: Option<bool>,
    /// Whether users may turn flood control off for a server.
    pub flood_control_optional: Option<bool>,
    /// Lines sent at once before the rate applies (users' default).
    pub flood_burst: Option<Lines>,
    /// The most a user may set `flood_burst` to.
    pub flood_max_burst: Option<Lines>,
    /// Lines a second after the burst (users' default).
    pub flood_rate: Option<Rate>,
    /// The most a user may set `flood_rate` to.
    pub flood_max_rate: Option<Rate>,
    /// Extra certificate authorities trusted for TLS to IRC servers (PEM).
    pub tls_ca_file: Option<CaFile>,
    /// The operator's servers, by the name used in room ids.
    pub servers: BTreeMap<String, Server>,
    /// Server names, address literals or `*.suffix` users may join rooms on.
    pub allowed_servers: Option<Vec<ServerPattern>>,
    /// Whether non-public addresses may be connected to.
    pub allow_private_addresses: Option<bool>,
    /// Ports (`6697`) and ranges (`"6660-6669"`) users may connect to.
    pub allowed_ports: Option<Vec<PortRange>>,
    /// Name resolution and TCP connect.
    pub connect_timeout_secs: Option<Seconds>,
    /// TLS handshake.
    pub tls_timeout_secs: Option<Seconds>,
    /// From the connection to the server's welcome.
    pub registration_timeout_secs: Option<Seconds>,
    /// IRC servers one user may be connected to at once.
    pub max_servers_per_user: Option<Count>,
    /// Rooms one user may be in at once.
    pub max_rooms_per_user: Option<Count>,
    /// Commands kept per server while it is not connected yet.
    pub max_pending_commands: Option<Count>,
}

impl IrcSettings {
    /// The bridge's configuration: these settings over the defaults; an
    /// error when the flood settings contradict each other.
    pub fn into_config(self) -> Result<IrcConfig, String> {
        let mut c = IrcConfig::default();
        if let Some(b) = self.flood_control {
            c.flood_control = b;
        }
        if let Some(b) = self.flood_control_optional {
            c.flood.optional = b;
        }
        let set = |slot: &mut u32, v: Option<Lines>| v.into_iter().for_each(|v| *slot = v.0);
        set(&mut c.flood.burst, self.flood_burst);
        set(&mut c.flood.max_burst, self.flood_max_burst);
        let set = |slot: &mut f64, v: Option<Rate>| v.into_iter().for_each(|v| *slot = v.0);
        set(&mut c.flood.rate, self.flood_rate);
        set(&mut c.flood.max_rate, self.flood_max_rate);
        c.flood.check()?;
        if let Some(ca) = self.tls_ca_file {
            c.extra_ca_certs = ca.0;
        }
        c.servers = self
            .servers
            .into_iter()
            .map(|(name, s)| (name, s.0))
            .collect();
        if let Some(list) = self.allowed_servers {
            c.policy.allowed_servers = list.into_iter().map(|p| p.0).collect();
        }
        if let Some(b) = self.allow_private_addresses {
            c.policy.allow_private_addresses = b;
        }
        if let Some(list) = self.allowed_ports {
            c.policy.allowed_ports = list.into_iter().map(|p| p.0).collect();
        }
        let set = |slot: &mut Duration, v: Option<Seconds>| v.into_iter().for_each(|v| *slot = v.0);
        set(&mut c.timeouts.connect, self.connect_timeout_secs);
        set(&mut c.timeouts.tls, self.tls_timeout_secs);
        set(&mut c.timeouts.registration, self.registration_timeout_secs);
        let set = |slot: &mut usize, v: Option<Count>| v.into_iter().for_each(|v| *slot = v.0);
        set(
            &mut c.limits.max_servers_per_user,
            self.max_servers_per_user,
        );
        set(&mut c.limits.max_rooms_per_user, self.max_rooms_per_user);
        set(
            &mut c.limits.max_pending_commands,
            self.max_pending_commands,
        );
        Ok(c)
    }
}

/// One of `[servers]`: `"host:port"` (plain TCP: a local or test server) or
/// `{ address = "host:port", tls = true }` (TLS unless `tls = false`).
#[derive(Debug)]
pub struct Server(pub ServerAddress);

#[derive(Deserialize)]
struct ServerTable {
    address: String,
    #[serde(default = "yes")]
    tls: bool,
}

fn yes() -> bool {
    true
}

impl<'de> Deserialize<'de> for Server {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerAddress;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"host:port\" or { address = \"host:port\", tls = true }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ServerAddress, E> {
                Ok(ServerAddress {
                    address: s.to_owned(),
                    tls: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ServerAddress, A::Error> {
                let t = ServerTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ServerAddress {
                    address: t.address,
                    tls: t.tls,
                })
            }
        }
        let a = d.deserialize_any(V)?;
        let ok = a
            .address
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(de::Error::custom(format!(
                "{:?}: the address must be \"host:port\"",
                a.address
            )));
        }
        Ok(Server(a))
    }
}

/// A server name, an address literal, or `*.example.net`, in the spelling
/// room ids use.
#[derive(Debug)]
pub struct ServerPattern(pub String);

impl<'de> Deserialize<'de> for ServerPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let (wild, name) = match raw.strip_prefix("*.") {
            Some(rest) => ("*.", rest),
            None => ("", raw.as_str()),
        };
        let host = host::normalise(name).map_err(de::Error::custom)?;
        Ok(ServerPattern(format!("{wild}{host}")))
    }
}

/// A port (`6697`) or a range (`"6660-6669"`).
#[derive(Debug)]
pub struct PortRange(pub RangeInclusive<u16>);

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn port<E: de::Error>(p: i64) -> Result<u16, E> {
            u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| E::custom(format!("{p} is not a port (1 to 65535)")))
        }
        impl Visitor<'_> for V {
            type Value = RangeInclusive<u16>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number or a \"first-last\" range")
            }
            fn visit_i64<E: de::Error>(self, p: i64) -> Result<Self::Value, E> {
                let p = port(p)?;
                Ok(p..=p)
            }
            fn visit_u64<E: de::Error>(self, p: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(p).unwrap_or(-1))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                let (a, b) = s.split_once('-').unwrap_or((s, s));
                let parse = |x: &str| match x.trim().parse::<i64>() {
                    Ok(p) => port(p),
                    Err(_) => Err(E::custom(format!("{s:?} is not a port or a range"))),
                };
                let (a, b) = (parse(a)?, parse(b)?);
                if a > b {
                    return Err(E::custom(format!("the range {s:?} is empty")));
                }
                Ok(a..=b)
            }
        }
        d.deserialize_any(V).map(PortRange)
    }
}

/// A duration in seconds (fractions allowed), above 0 and at most 3600.
#[derive(Debug)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        if !(secs > 0.0 && secs <= 3600.0) {
            return Err(de::Error::custom(format!(
                "{secs} is not a number of seconds above 0 and at most 3600"
            )));
        }
        Ok(Seconds(Duration::from_secs_f64(secs)))
    }
}

/// A count, at least one.
#[derive(Debug)]
pub struct Count(pub usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .map(Count)
            .ok_or_else(|| de::Error::custom(format!("{n} is not a whole number of at least 1")))
    }
}

/// Lines of a flood bucket: a whole number from 1 to 1000.
#[derive(Debug)]
pub struct Lines(pub u32);

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .map(Lines)
            .ok_or_else(|| de::Error::custom(format!("{n} is not a whole number from 1 to 1000")))
    }
}

/// Lines a second: above 0, at most 1000.
#[derive(Debug)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = f64::deserialize(d)?;
        if !(r > 0.0 && r <= 1000.0) {
            return Err(de::Error::custom(format!(
                "{r} is not a number of lines a second above 0 and at most 1000"
            )));
        }
        Ok(Rate(r))
    }
}

/// The certificates of a PEM file, read when the settings are.
#[derive(Debug)]
pub struct CaFile(pub Vec<Vec<u8>>);

impl<'de> Deserialize<'de> for CaFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = String::deserialize(d)?;
        crate::read_ca_file(path.as_ref())
            .map(CaFile)
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<IrcConfig, String> {
        // As the core hands the settings over: a table already parsed.
        let table: toml::Table = s.parse().unwrap();
        IrcSettings::deserialize(toml::Value::Table(table))
            .map_err(|e| e.to_string())
            .and_then(IrcSettings::into_config)
    }

    #[test]
    fn every_accepted_form_is_read() {
        let c = parse(
            "flood_control = false\n\
             allowed_servers = [\"IRC.Libera.Chat.\", \"*.oftc.net\"]\n\
             allow_private_addresses = true\nallowed_ports = [6697, \"6660-6669\"]\n\
             connect_timeout_secs = 0.5\ntls_timeout_secs = 2\nregistration_timeout_secs = 3\n\
             max_servers_per_user = 2\nmax_rooms_per_user = 5\nmax_pending_commands = 8\n\
             [servers]\n\"irc.localhost\" = \"127.0.0.1:6667\"\n\
             \"irc.example.net\" = { address = \"irc.example.net:6697\" }\n\
             \"plain.example.net\" = { address = \"plain.example.net:6667\", tls = false }\n",
        )
        .unwrap();
        assert!(!c.flood_control);
        assert_eq!(c.policy.allowed_servers, ["irc.libera.chat", "*.oftc.net"]);
        assert!(c.policy.allow_private_addresses);
        assert_eq!(c.policy.allowed_ports, [6697..=6697, 6660..=6669]);
        assert_eq!(c.timeouts.connect, Duration::from_millis(500));
        assert_eq!(c.timeouts.tls, Duration::from_secs(2));
        assert_eq!(c.timeouts.registration, Duration::from_secs(3));
        assert_eq!(
            (
                c.limits.max_servers_per_user,
                c.limits.max_rooms_per_user,
                c.limits.max_pending_commands
            ),
            (2, 5, 8)
        );
        let tls: Vec<(&str, &str, bool)> = c
            .servers
            .iter()
            .map(|(k, a)| (k.as_str(), a.address.as_str(), a.tls))
            .collect();
        assert_eq!(
            tls,
            [
                ("irc.example.net", "irc.example.net:6697", true),
                ("irc.localhost", "127.0.0.1:6667", false),
                ("plain.example.net", "plain.example.net:6667", false),
            ]
        );
    }

    #[test]
    fn absent_keys_keep_the_defaults() {
        let c = parse("").unwrap();
        let d = IrcConfig::default();
        assert_eq!(c.flood_control, d.flood_control);
        assert_eq!(c.policy.allowed_ports, crate::default_ports());
        assert_eq!(c.timeouts.connect, d.timeouts.connect);
        assert_eq!(c.limits.max_rooms_per_user, d.limits.max_rooms_per_user);
    }

    #[test]
    fn a_wrong_value_is_named_with_its_key() {
        for (bad, key, says) in [
            ("allowed_ports = [0]", "allowed_ports", "0 is not a port"),
            ("allowed_ports = [\"7000-6000\"]", "allowed_ports", "empty"),
            ("allowed_ports = [true]", "allowed_ports", "invalid type"),
            (
                "allowed_servers = [\"a b\"]",
                "allowed_servers",
                "not a server",
            ),
            (
                "connect_timeout_secs = 0",
                "connect_timeout_secs",
                "above 0",
            ),
            ("max_rooms_per_user = 0", "max_rooms_per_user", "at least 1"),
            ("flood_control = 1", "flood_control", "invalid type"),
            (
                "[servers]\n\"x.example\" = \"x.example\"",
                "servers.x.example",
                "host:port",
            ),
            (
                "[servers]\n\"x.example\" = { tls = true }",
                "servers.x.example",
                "address",
            ),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(says) && e.contains(key), "{bad}: {e}");
        }
    }
}
