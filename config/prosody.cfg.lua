-- Add to /etc/prosody/prosody.cfg.lua (or a file in conf.d/), then reload Prosody.
-- The secret must match [networks.irc].secret in switchboard.toml.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

Component "irc.example.org"
    component_secret = "change-me"

-- Optional, XEP-0356: contacts in the users' rosters (group named after the
-- network) and carbons of what they write from the network's own apps.
-- Needs mod_privilege (Debian: prosody-modules). Add "privilege" to the
-- global modules_enabled, and in the users' VirtualHost section:
--     privileged_entities = {
--         ["irc.example.org"] = { roster = "both"; message = "outgoing";
--             -- and for the users' persistent rooms in their XEP-0402
--             -- bookmarks (needs mod_pep):
--             iq = { ["http://jabber.org/protocol/pubsub"] = "both" }; };
--     }
-- and to the Component section above:
--     modules_enabled = { "privilege" }
-- Without it the gateway asks for subscriptions instead (XEP-0100).
