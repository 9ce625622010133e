//! `[networks.NAME]` sections: each is an instance of a network kind (its
//! `kind` key, the name by default) with its own component domain, secret
//! and bridge settings, so one process can run several of one kind.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use xmpp_parsers::jid::BareJid;

use super::{check_address, err, ConfigError};

/// One network's component: an instance of a network kind.
#[derive(Clone)]
pub struct NetworkConfig {
    /// The instance's name (`irc`, `irc2`): its section, and the key of its
    /// registrations, settings and archive rows.
    pub name: String,
    /// The network kind, the bridge that runs it (`irc`); the name by default.
    pub kind: String,
    /// The component's domain.
    pub jid: BareJid,
    /// The XEP-0114 shared secret.
    pub secret: String,
    /// Override of the XMPP server's component address for this network.
    pub xmpp_server: Option<String>,
    /// This network's XEP-0363 upload service, over `[files]`'s.
    pub upload_service: Option<super::UploadService>,
    /// Network-specific settings, handed to the bridge as they are.
    pub settings: toml::Table,
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("jid", &self.jid)
            .field("secret", &"<redacted>")
            .field("xmpp_server", &self.xmpp_server)
            .finish_non_exhaustive()
    }
}

/// Keys every network section may hold, besides the bridge's own (`settings`).
const NETWORK_KEYS: &[&str] = &[
    "enabled",
    "kind",
    "jid",
    "secret",
    "xmpp_server",
    "upload_service",
    "settings",
];

/// The enabled networks of the `[networks]` table, by name; every mistake
/// in any section (enabled or not) goes to `errors`.
pub(super) fn check_networks(
    raw: BTreeMap<String, toml::Table>,
    env: impl Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, NetworkConfig> {
    let mut networks = BTreeMap::new();
    for (name, section) in raw {
        let key = |k: &str| format!("networks.{name}.{k}");
        if !valid_network_name(&name) {
            errors.push(err(
                &format!("networks.{name}"),
                "a network's name is lower-case letters, digits and _, starting \
                 with a letter (it names its database rows and SWITCHBOARD_<NAME>_SECRET)",
            ));
            continue;
        }
        for k in section.keys() {
            if !NETWORK_KEYS.contains(&k.as_str()) {
                errors.push(err(&key(k), "unknown key"));
            }
        }
        let enabled = match section.get("enabled") {
            None => true,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => {
                errors.push(err(&key("enabled"), "must be true or false"));
                false
            }
        };
        let kind = check_kind(&name, section.get("kind"), enabled, errors);
        let jid = match section.get("jid") {
            Some(toml::Value::String(s)) => match BareJid::from_str(s) {
                Ok(j) if j.node().is_none() => Some(j),
                _ => {
                    errors.push(err(
                        &key("jid"),
                        &format!("{s:?} is not a domain JID like {name}.example.org"),
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(err(&key("jid"), "must be a string"));
                None
            }
            None => {
                errors.push(err(&key("jid"), "missing: the component's domain"));
                None
            }
        };
        let env_name = format!("SWITCHBOARD_{}_SECRET", name.to_uppercase());
        let secret = match (env(&env_name), section.get("secret")) {
            (Some(s), _) if !s.is_empty() => Some(s),
            (_, Some(toml::Value::String(s))) if !s.is_empty() => Some(s.clone()),
            (_, Some(toml::Value::String(_))) | (_, None) => {
                errors.push(err(
                    &key("secret"),
                    &format!("missing: the component secret (or set {env_name})"),
                ));
                None
            }
            (_, Some(_)) => {
                errors.push(err(&key("secret"), "must be a string"));
                None
            }
        };
        let server = match section.get("xmpp_server") {
            Some(toml::Value::String(s)) => {
                check_address(&key("xmpp_server"), s, errors);
                Some(s.clone())
            }
            Some(_) => {
                errors.push(err(&key("xmpp_server"), "must be a string"));
                None
            }
            None => None,
        };
        let upload_service = match section.get("upload_service") {
            Some(toml::Value::String(s)) => Some(super::files::upload_service(
                &key("upload_service"),
                s,
                errors,
            )),
            Some(_) => {
                errors.push(err(&key("upload_service"), "must be a string"));
                None
            }
            None => None,
        };
        let settings = match section.get("settings") {
            Some(toml::Value::Table(t)) => t.clone(),
            Some(_) => {
                errors.push(err(&key("settings"), "must be a table"));
                toml::Table::new()
            }
            None => toml::Table::new(),
        };
        if let Some(kind) = &kind {
            errors.extend(crate::bridges::check(&name, kind, &settings));
        }
        if let (true, Some(kind), Some(jid), Some(secret)) = (enabled, kind, jid, secret) {
            networks.insert(
                name.clone(),
                NetworkConfig {
                    name,
                    kind,
                    jid,
                    secret,
                    xmpp_server: server,
                    upload_service,
                    settings,
                },
            );
        }
    }
    let mut seen = BTreeMap::new();
    for n in networks.values() {
        if let Some(other) = seen.insert(n.jid.clone(), n.name.clone()) {
            errors.push(err(
                &format!("networks.{}.jid", n.name),
                &format!("same domain as networks.{other}.jid"),
            ));
        }
    }
    networks
}

/// Instance names key database rows and name an environment variable.
fn valid_network_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A network's kind: its `kind` key, or its name; `None` when this build
/// has no such kind, a mistake unless the section is disabled (kept for a
/// build that has it).
fn check_kind(
    name: &str,
    value: Option<&toml::Value>,
    enabled: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let (key, kind) = match value {
        None => (format!("networks.{name}"), name.to_owned()),
        Some(toml::Value::String(k)) => (format!("networks.{name}.kind"), k.clone()),
        Some(_) => {
            errors.push(err(&format!("networks.{name}.kind"), "must be a string"));
            return None;
        }
    };
    if crate::bridges::kinds().any(|k| k == kind) {
        return Some(kind);
    }
    if !enabled {
        return None;
    }
    let known: Vec<&str> = crate::bridges::kinds().collect();
    let reason = match value {
        None => format!(
            "unknown network kind {kind:?} (the section's name, as no kind key is given); \
             this build has: {}",
            known.join(", ")
        ),
        Some(_) => format!(
            "unknown network kind {kind:?}; this build has: {}",
            known.join(", ")
        ),
    };
    errors.push(err(&key, &reason));
    None
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const USERS: &str = "[users]\nallowed_domains = [\"example.org\"]\n";

    fn parse(networks: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(&format!("{USERS}{networks}"), Path::new("/tmp"), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn several_instances_of_one_kind_each_with_their_own_component_and_settings() {
        let c = parse(
            "[networks.irc]\njid = \"irc.example.org\"\nsecret = \"one\"\n\
             [networks.irc.settings]\nmax_rooms_per_user = 5\n\
             [networks.oftc]\nkind = \"irc\"\njid = \"oftc.example.org\"\n\
             [networks.oftc.settings]\nallowed_servers = [\"irc.oftc.net\"]\n",
            &[("SWITCHBOARD_OFTC_SECRET", "two")],
        )
        .unwrap();
        let nets: Vec<(&str, &str, String, &str)> = c
            .networks
            .values()
            .map(|n| {
                (
                    n.name.as_str(),
                    n.kind.as_str(),
                    n.jid.to_string(),
                    n.secret.as_str(),
                )
            })
            .collect();
        assert_eq!(
            nets,
            [
                ("irc", "irc", "irc.example.org".into(), "one"),
                ("oftc", "irc", "oftc.example.org".into(), "two"),
            ]
        );
        assert!(c.networks["oftc"].settings.contains_key("allowed_servers"));
        let bridges = crate::bridges::compiled(&c).unwrap();
        assert_eq!(bridges.keys().collect::<Vec<_>>(), ["irc", "oftc"]);
    }

    #[test]
    fn unknown_kinds_names_and_bridge_settings_are_named_by_their_full_key() {
        let errors = parse(
            "[networks.icq]\njid = \"icq.example.org\"\nsecret = \"s\"\n\
             [networks.chat]\nkind = \"telegram\"\njid = \"chat.example.org\"\nsecret = \"s\"\n\
             [networks.Irc-2]\nkind = \"irc\"\n\
             [networks.later]\nkind = \"discord\"\nenabled = false\njid = \"d.example.org\"\nsecret = \"s\"\n\
             [networks.irc2]\nkind = \"irc\"\njid = \"irc2.example.org\"\nsecret = \"s\"\n\
             [networks.irc2.settings]\nalowed_servers = [\"x\"]\nallowed_ports = [6697, 0]\n\
             max_rooms_per_user = \"many\"\n\
             [networks.irc2.settings.servers]\n\"a.example\" = { adress = \"a:1\" }\n",
            &[],
        )
        .unwrap_err();
        for want in [
            "networks.icq: unknown network kind \"icq\"",
            "networks.chat.kind: unknown network kind \"telegram\"; this build has: irc, discord, matrix",
            "networks.Irc-2: a network's name is lower-case letters",
            "networks.irc2.settings.alowed_servers: unknown key",
            "networks.irc2.settings.servers.a.example.adress: unknown key",
            "networks.irc2.settings.allowed_ports[1]: 0 is not a port (1 to 65535)",
            "networks.irc2.settings.max_rooms_per_user: invalid type: string \"many\"",
            "networks.irc2.settings.servers.a.example: missing field `address`",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{want:?} not in {errors:#?}"
            );
        }
        // A disabled section of a kind this build lacks is kept quietly.
        assert!(!errors.iter().any(|e| e.contains("later")), "{errors:#?}");
    }
}
