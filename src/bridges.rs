//! The network kinds compiled into this build (each behind its cargo
//! feature), and how each kind's `[networks.NAME.settings]` becomes a bridge.
//! The bridge crates parse their own settings (serde); the core only maps a
//! kind to its constructor.

use std::sync::Arc;
use switchboard_bridge_api::Bridge;

use crate::app::Bridges;
use crate::config::{Config, ConfigError, ConfigErrors};

/// Builds a bridge from its settings; mistakes are named under the prefix
/// given (`networks.NAME.settings`).
type Build = fn(&str, &toml::Table) -> Result<Arc<dyn Bridge>, Vec<ConfigError>>;

/// The kinds this build has, by the name a `kind` key gives.
const KINDS: &[(&str, Build)] = &[
    #[cfg(feature = "irc")]
    ("irc", irc),
    #[cfg(feature = "discord")]
    (switchboard_discord::NAME, discord),
    #[cfg(feature = "matrix")]
    (switchboard_matrix::NAME, matrix),
    #[cfg(feature = "test-network")]
    (switchboard_testnet::NAME, testnet),
];

/// Log directives the compiled bridges ask for: crates whose logs could
/// hold a secret, kept quiet (see each bridge's `LOG_DIRECTIVE`).
const LOG_DIRECTIVES: &[&str] = &[
    #[cfg(feature = "discord")]
    switchboard_discord::LOG_DIRECTIVE,
];

/// The operator's log filter with each bridge's directive added, unless
/// the filter names that directive's crate itself.
pub fn log_filter(level: &str) -> String {
    let mut filter = level.to_owned();
    for directive in LOG_DIRECTIVES {
        let target = directive.split('=').next().unwrap_or(directive);
        if !level.contains(target) {
            filter.push(',');
            filter.push_str(directive);
        }
    }
    filter
}

/// The names of the kinds this build has (`irc`, …).
pub fn kinds() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|(name, _)| *name)
}

fn builder(kind: &str) -> Option<Build> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, b)| *b)
}

/// Every mistake in a network's settings, each by its full key; none for a
/// kind this build lacks (the configuration names that).
pub fn check(name: &str, kind: &str, settings: &toml::Table) -> Vec<ConfigError> {
    match builder(kind) {
        Some(build) => build(&format!("networks.{name}.settings"), settings).err(),
        None => None,
    }
    .unwrap_or_default()
}

/// Builds the bridge of every enabled network, by its name.
pub fn compiled(config: &Config) -> Result<Bridges, ConfigErrors> {
    let mut bridges = Bridges::new();
    let mut errors = Vec::new();
    for net in config.networks.values() {
        let prefix = format!("networks.{}.settings", net.name);
        match builder(&net.kind).map(|build| build(&prefix, &net.settings)) {
            Some(Ok(bridge)) => {
                bridges.insert(net.name.clone(), bridge);
            }
            Some(Err(e)) => errors.extend(e),
            None => errors.push(ConfigError {
                key: format!("networks.{}.kind", net.name),
                reason: format!("{:?} is not compiled into this build", net.kind),
            }),
        }
    }
    if errors.is_empty() {
        Ok(bridges)
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(feature = "irc")]
fn irc(prefix: &str, settings: &toml::Table) -> Result<Arc<dyn Bridge>, Vec<ConfigError>> {
    let settings: switchboard_irc::IrcSettings = crate::bridge_settings::read(prefix, settings)?;
    let config = settings.into_config().map_err(|reason| {
        vec![ConfigError {
            key: prefix.to_owned(),
            reason,
        }]
    })?;
    Ok(Arc::new(switchboard_irc::IrcBridge::new(config)))
}

/// Discord, through each user's bot (`bridges/discord`).
#[cfg(feature = "discord")]
fn discord(prefix: &str, settings: &toml::Table) -> Result<Arc<dyn Bridge>, Vec<ConfigError>> {
    let settings: switchboard_discord::Settings = crate::bridge_settings::read(prefix, settings)?;
    let bridge = switchboard_discord::DiscordBridge::new(settings).map_err(|e| {
        vec![ConfigError {
            key: prefix.to_owned(),
            reason: e.to_string(),
        }]
    })?;
    Ok(Arc::new(bridge))
}

/// Matrix homeservers, as an ordinary client of each (`bridges/matrix`).
#[cfg(feature = "matrix")]
fn matrix(prefix: &str, settings: &toml::Table) -> Result<Arc<dyn Bridge>, Vec<ConfigError>> {
    let settings: switchboard_matrix::MatrixSettings =
        crate::bridge_settings::read(prefix, settings)?;
    let bridge = switchboard_matrix::MatrixBridge::new(settings).map_err(|e| {
        vec![ConfigError {
            key: prefix.to_owned(),
            reason: e.to_string(),
        }]
    })?;
    Ok(Arc::new(bridge))
}

/// The in-memory network of the tests (`bridges/testnet`).
#[cfg(feature = "test-network")]
fn testnet(prefix: &str, settings: &toml::Table) -> Result<Arc<dyn Bridge>, Vec<ConfigError>> {
    let settings: switchboard_testnet::Settings = crate::bridge_settings::read(prefix, settings)?;
    let bridge = switchboard_testnet::TestnetBridge::new(settings).map_err(|e| {
        vec![ConfigError {
            key: prefix.to_owned(),
            reason: e.to_string(),
        }]
    })?;
    Ok(Arc::new(bridge))
}
