//! The IRC bridge, configured from `[networks.irc.settings]`:
//!
//! ```toml
//! [networks.irc.settings]
//! flood_control = true
//! [networks.irc.settings.servers]
//! "irc.localhost" = "127.0.0.1:6667"                      # plain TCP
//! "irc.example.net" = { address = "irc.example.net:6697", tls = true }
//! ```

use anyhow::{bail, Context as _};
use std::sync::Arc;
use switchboard_bridge_api::Bridge;
use switchboard_irc::{IrcBridge, IrcConfig, ServerAddress};

/// Builds the IRC bridge from its settings table.
pub fn build(settings: &toml::Table) -> anyhow::Result<Arc<dyn Bridge>> {
    let mut config = IrcConfig::default();
    for (key, value) in settings {
        match (key.as_str(), value) {
            ("flood_control", toml::Value::Boolean(b)) => config.flood_control = *b,
            ("servers", toml::Value::Table(servers)) => {
                for (host, v) in servers {
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
                                .with_context(|| {
                                    format!("networks.irc.settings.servers.{host}.address is missing")
                                })?
                                .to_owned(),
                            tls: t.get("tls").and_then(|t| t.as_bool()).unwrap_or(true),
                        },
                        _ => bail!("networks.irc.settings.servers.{host}: give \"host:port\" or {{ address, tls }}"),
                    };
                    config.servers.insert(host.clone(), address);
                }
            }
            (other, _) => bail!("networks.irc.settings.{other}: unknown key or wrong type"),
        }
    }
    Ok(Arc::new(IrcBridge::new(config)))
}
