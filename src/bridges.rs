//! The bridges compiled into this build, each behind its cargo feature.

use crate::app::Bridges;
use crate::config::Config;

/// Builds the bridge of every enabled network this build has.
pub fn compiled(config: &Config) -> anyhow::Result<Bridges> {
    #[allow(unused_mut)]
    let mut bridges = Bridges::new();
    for net in config.networks.values() {
        match net.name.as_str() {
            #[cfg(feature = "irc")]
            "irc" => {
                bridges.insert(net.name.clone(), crate::bridges_irc::build(&net.settings)?);
            }
            #[cfg(feature = "test-network")]
            switchboard_testnet::NAME => {
                let bad =
                    |e: &dyn std::fmt::Display| anyhow::anyhow!("networks.testnet.settings: {e}");
                let settings = toml::Value::Table(net.settings.clone())
                    .try_into()
                    .map_err(|e| bad(&e))?;
                let bridge =
                    switchboard_testnet::TestnetBridge::new(settings).map_err(|e| bad(&e))?;
                bridges.insert(net.name.clone(), std::sync::Arc::new(bridge));
            }
            other => anyhow::bail!("network {other} is not compiled into this build"),
        }
    }
    Ok(bridges)
}
