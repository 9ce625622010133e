//! The IRC bridge, configured from `[networks.irc.settings]`.

use std::sync::Arc;
use switchboard_bridge_api::Bridge;

/// Builds the IRC bridge from its settings table.
pub fn build(_settings: &toml::Table) -> anyhow::Result<Arc<dyn Bridge>> {
    anyhow::bail!("the IRC bridge is not ready yet")
}
