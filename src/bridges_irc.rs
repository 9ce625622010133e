//! The IRC bridge, configured from `[networks.irc.settings]`:
//!
//! ```toml
//! [networks.irc.settings]
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
//! [networks.irc.settings.servers]
//! "irc.localhost" = "127.0.0.1:6667"                      # plain TCP
//! "irc.example.net" = { address = "irc.example.net:6697", tls = true }
//! ```

use anyhow::{bail, Context as _};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bridge_api::Bridge;
use switchboard_irc::{normalise_host, IrcBridge, IrcConfig, ServerAddress};

const PREFIX: &str = "networks.irc.settings";

/// Builds the IRC bridge from its settings table.
pub fn build(settings: &toml::Table) -> anyhow::Result<Arc<dyn Bridge>> {
    let mut config = IrcConfig::default();
    for (key, value) in settings {
        let name = format!("{PREFIX}.{key}");
        match (key.as_str(), value) {
            ("flood_control", toml::Value::Boolean(b)) => config.flood_control = *b,
            ("flood_control_optional", toml::Value::Boolean(b)) => config.flood.optional = *b,
            ("flood_burst", v) => config.flood.burst = lines(&name, v)?,
            ("flood_max_burst", v) => config.flood.max_burst = lines(&name, v)?,
            ("flood_rate", v) => config.flood.rate = rate(&name, v)?,
            ("flood_max_rate", v) => config.flood.max_rate = rate(&name, v)?,
            ("tls_ca_file", toml::Value::String(path)) => {
                config.extra_ca_certs = switchboard_irc::read_ca_file(path.as_ref())
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?
            }
            ("servers", toml::Value::Table(servers)) => {
                for (host, v) in servers {
                    config
                        .servers
                        .insert(host.clone(), server_address(host, v)?);
                }
            }
            ("allowed_servers", toml::Value::Array(list)) => {
                config.policy.allowed_servers = list
                    .iter()
                    .map(|v| server_pattern(&name, v))
                    .collect::<anyhow::Result<_>>()?;
            }
            ("allow_private_addresses", toml::Value::Boolean(b)) => {
                config.policy.allow_private_addresses = *b
            }
            ("allowed_ports", toml::Value::Array(list)) => {
                config.policy.allowed_ports = list
                    .iter()
                    .map(|v| port_range(&name, v))
                    .collect::<anyhow::Result<_>>()?;
            }
            ("connect_timeout_secs", v) => config.timeouts.connect = seconds(&name, v)?,
            ("tls_timeout_secs", v) => config.timeouts.tls = seconds(&name, v)?,
            ("registration_timeout_secs", v) => config.timeouts.registration = seconds(&name, v)?,
            ("max_servers_per_user", v) => config.limits.max_servers_per_user = count(&name, v)?,
            ("max_rooms_per_user", v) => config.limits.max_rooms_per_user = count(&name, v)?,
            ("max_pending_commands", v) => config.limits.max_pending_commands = count(&name, v)?,
            (_, _) => bail!("{name}: unknown key or wrong type"),
        }
    }
    config
        .flood
        .check()
        .map_err(|e| anyhow::anyhow!("{PREFIX}.{e}"))?;
    Ok(Arc::new(IrcBridge::new(config)))
}

/// One of `[servers]`: `"host:port"` (plain TCP) or `{ address, tls }`.
fn server_address(host: &str, v: &toml::Value) -> anyhow::Result<ServerAddress> {
    let address = match v {
        // A bare address means plain TCP: a local or test server.
        toml::Value::String(a) => ServerAddress {
            address: a.clone(),
            tls: false,
        },
        toml::Value::Table(t) => ServerAddress {
            address: t
                .get("address")
                .and_then(|a| a.as_str())
                .with_context(|| format!("{PREFIX}.servers.{host}.address is missing"))?
                .to_owned(),
            tls: t.get("tls").and_then(|t| t.as_bool()).unwrap_or(true),
        },
        _ => bail!("{PREFIX}.servers.{host}: give \"host:port\" or {{ address, tls }}"),
    };
    if !address
        .address
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
    {
        bail!("{PREFIX}.servers.{host}: the address must be \"host:port\"");
    }
    Ok(address)
}

/// A server name, an address, or `*.example.net`, in the spelling room ids use.
fn server_pattern(key: &str, v: &toml::Value) -> anyhow::Result<String> {
    let raw = v
        .as_str()
        .with_context(|| format!("{key}: give server names as strings"))?;
    let (wild, name) = match raw.strip_prefix("*.") {
        Some(rest) => ("*.", rest),
        None => ("", raw),
    };
    let host = normalise_host(name).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
    Ok(format!("{wild}{host}"))
}

/// A port (`6697`) or a range (`"6660-6669"`).
fn port_range(key: &str, v: &toml::Value) -> anyhow::Result<RangeInclusive<u16>> {
    let port = |p: i64| -> anyhow::Result<u16> {
        u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .with_context(|| format!("{key}: {p} is not a port (1 to 65535)"))
    };
    match v {
        toml::Value::Integer(p) => {
            let p = port(*p)?;
            Ok(p..=p)
        }
        toml::Value::String(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let parse = |x: &str| -> anyhow::Result<u16> {
                port(
                    x.trim()
                        .parse()
                        .with_context(|| format!("{key}: {s:?} is not a port or a range"))?,
                )
            };
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                bail!("{key}: the range {s:?} is empty");
            }
            Ok(a..=b)
        }
        _ => bail!("{key}: give ports as numbers or \"first-last\" ranges"),
    }
}

/// A duration in seconds (fractions allowed), more than zero.
fn seconds(key: &str, v: &toml::Value) -> anyhow::Result<Duration> {
    let secs = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => bail!("{key}: give a number of seconds"),
    };
    if !(secs > 0.0 && secs <= 3600.0) {
        bail!("{key}: give a number of seconds above 0 and at most 3600");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Lines of a flood bucket: a count from 1 to 1000.
fn lines(key: &str, v: &toml::Value) -> anyhow::Result<u32> {
    match v {
        toml::Value::Integer(i) if (1..=1000).contains(i) => Ok(*i as u32),
        _ => bail!("{key}: give a whole number from 1 to 1000"),
    }
}

/// Lines a second: above 0, at most 1000.
fn rate(key: &str, v: &toml::Value) -> anyhow::Result<f64> {
    let r = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => bail!("{key}: give lines a second"),
    };
    if !(r > 0.0 && r <= 1000.0) {
        bail!("{key}: give lines a second, above 0 and at most 1000");
    }
    Ok(r)
}

/// A count, at least one.
fn count(key: &str, v: &toml::Value) -> anyhow::Result<usize> {
    match v {
        toml::Value::Integer(i) if *i >= 1 => Ok(*i as usize),
        _ => bail!("{key}: give a whole number, at least 1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn policy_keys_are_read_and_mistakes_named() {
        assert!(build(&table(
            "allowed_servers = [\"IRC.Libera.Chat.\", \"*.oftc.net\"]\n\
             allow_private_addresses = true\nallowed_ports = [6697, \"6660-6669\"]\n\
             connect_timeout_secs = 0.5\ntls_timeout_secs = 2\nregistration_timeout_secs = 3\n\
             max_servers_per_user = 2\nmax_rooms_per_user = 5\nmax_pending_commands = 8\n\
             flood_burst = 3\nflood_rate = 0.5\nflood_max_burst = 4\nflood_max_rate = 1\n\
             flood_control_optional = true\n"
        ))
        .is_ok());
        for (bad, key) in [
            ("allowed_ports = [0]", "allowed_ports"),
            ("allowed_ports = [\"7000-6000\"]", "allowed_ports"),
            ("allowed_servers = [\"a b\"]", "allowed_servers"),
            ("connect_timeout_secs = 0", "connect_timeout_secs"),
            ("max_rooms_per_user = 0", "max_rooms_per_user"),
            ("flood_burst = 0", "flood_burst"),
            ("flood_burst = 30", "flood_burst"),
            ("flood_rate = 2\nflood_max_rate = 1", "flood_rate"),
            ("tls_ca_file = \"/nonexistent.pem\"", "tls_ca_file"),
            ("allow_private = true", "allow_private"),
            (
                "[servers]\n\"x.example\" = \"x.example\"",
                "servers.x.example",
            ),
        ] {
            let e = build(&table(bad)).err().expect(bad).to_string();
            assert!(e.contains(&format!("{PREFIX}.{key}")), "{bad}: {e}");
        }
    }
}
