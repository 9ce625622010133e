//! Switchboard core.
