-- Add to /etc/prosody/prosody.cfg.lua (or a file in conf.d/), then reload Prosody.
-- The secret must match [networks.irc].secret in switchboard.toml.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

Component "irc.example.org"
    component_secret = "change-me"
