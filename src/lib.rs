//! Switchboard: one XMPP account, every chat network.
//!
//! The core speaks XMPP as XEP-0114 components (one per network domain) and
//! drives network bridges through the contract in `switchboard-bridge-api`.
//! Follow a message: [`component`] (socket, framing) → [`gateway`] (routing by
//! user, sessions) → the bridge; and back: bridge event → [`gateway`] →
//! stanzas → [`component`].

pub mod app;
pub mod archive;
pub mod bridge_settings;
pub mod bridges;
pub mod component;
pub mod config;
pub mod crypto;
pub mod gateway;
pub mod memory;
pub mod store;
pub mod xmpp;
