//! The configuration file: parsing, defaults, and a check that names every mistake.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use xmpp_parsers::jid::{BareJid, Jid};

mod files;
mod networks;
pub use files::{FilesConfig, UploadService};
pub use networks::NetworkConfig;

/// The whole configuration, checked and with defaults filled in.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the XMPP server's component port is (`host:port`).
    pub xmpp_server: String,
    /// Largest stanza accepted from the server, in bytes.
    pub max_stanza_size: usize,
    /// Seconds of silence before the component pings the server.
    pub keepalive_secs: u64,
    /// Database URL (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// File holding the key that encrypts credentials at rest.
    pub key_file: PathBuf,
    /// Domains whose users may register.
    pub allowed_domains: Vec<String>,
    /// Administrators (bare JIDs).
    pub admins: Vec<BareJid>,
    /// The `tracing` filter (`info`, `switchboard=debug`, …).
    pub log_level: String,
    /// The room archive's switch and retention.
    pub archive: crate::archive::ArchivePolicy,
    /// What one user may hold (`[limits]`).
    pub limits: Limits,
    /// Files from the networks: upload service, size limit (`[files]`).
    pub files: FilesConfig,
    /// The enabled networks, by name (`[networks.NAME]`).
    pub networks: BTreeMap<String, NetworkConfig>,
}

/// What one user may hold on one network, so that no user can stall or
/// fill the gateway for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Commands waiting for the user's session (their messages to the
    /// network not yet taken by it); past it, a message is refused with
    /// `resource-constraint`. At most the session queue's size.
    pub max_pending_commands: usize,
    /// Rooms a user is in or joining at once.
    pub max_rooms: usize,
    /// Stored settings rows (room and server `configure`).
    pub max_settings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_commands: switchboard_bridge_api::CHANNEL_BOUND,
            max_rooms: 256,
            max_settings: 1024,
        }
    }
}

/// One mistake in the configuration: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the key (`networks.irc.secret`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Every mistake found in a configuration file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawConfig {
    xmpp: RawXmpp,
    database: RawDatabase,
    users: RawUsers,
    log: RawLog,
    archive: RawArchive,
    limits: RawLimits,
    files: files::RawFiles,
    networks: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLimits {
    max_pending_commands: Option<u64>,
    max_rooms: Option<u64>,
    max_settings: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawArchive {
    enabled: Option<bool>,
    max_days: Option<u32>,
    max_messages: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawXmpp {
    server: Option<String>,
    max_stanza_size: Option<u64>,
    keepalive_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDatabase {
    url: Option<String>,
    key_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUsers {
    allowed_domains: Vec<String>,
    admins: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLog {
    level: Option<String>,
}

/// The keys each section may hold; anything else is a mistake.
const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "xmpp", "database", "users", "log", "archive", "limits", "files", "networks",
        ],
    ),
    ("files", files::FILES_KEYS),
    (
        "limits",
        &["max_pending_commands", "max_rooms", "max_settings"],
    ),
    ("archive", &["enabled", "max_days", "max_messages"]),
    ("xmpp", &["server", "max_stanza_size", "keepalive_secs"]),
    ("database", &["url", "key_file"]),
    ("users", &["allowed_domains", "admins"]),
    ("log", &["level"]),
];

impl Config {
    /// Reads and checks a configuration file. `env` looks up environment
    /// variables (`SWITCHBOARD_<NETWORK>_SECRET` overrides a network's secret).
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                key: path.display().to_string(),
                reason: format!("cannot read the file: {e}"),
            }])
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &base, env)
    }

    /// Parses configuration text; relative paths are taken from `base`.
    pub fn parse(
        text: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                key: "(file)".into(),
                reason: format!("not valid TOML: {}", e.message()),
            }])
        })?;
        check_unknown_keys(&table, &mut errors);
        let raw: RawConfig = match toml::Value::Table(table).try_into() {
            Ok(raw) => raw,
            Err(e) => {
                errors.push(ConfigError {
                    key: "(file)".into(),
                    reason: e.message().to_string(),
                });
                return Err(ConfigErrors(errors));
            }
        };

        let xmpp_server = raw
            .xmpp
            .server
            .unwrap_or_else(|| "127.0.0.1:5347".to_owned());
        check_address("xmpp.server", &xmpp_server, &mut errors);

        let max_stanza_size = raw.xmpp.max_stanza_size.unwrap_or(256 * 1024);
        if max_stanza_size < 4096 {
            errors.push(err("xmpp.max_stanza_size", "must be at least 4096 bytes"));
        }
        let keepalive_secs = raw.xmpp.keepalive_secs.unwrap_or(60);
        if keepalive_secs == 0 {
            errors.push(err("xmpp.keepalive_secs", "must be at least 1"));
        }

        let database_url = match raw.database.url {
            Some(url) => {
                if !(url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"))
                {
                    errors.push(err(
                        "database.url",
                        "must start with sqlite:, postgres:// or postgresql://",
                    ));
                }
                url
            }
            None => {
                let file = base.join("switchboard.db");
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        if let Some(path) = database_url.strip_prefix("sqlite://") {
            let path = Path::new(path.split('?').next().unwrap_or(path));
            check_parent_dir("database.url", path, &mut errors);
        }
        let key_file = raw
            .database
            .key_file
            .map(|p| base.join(p))
            .unwrap_or_else(|| base.join("switchboard.key"));
        check_parent_dir("database.key_file", &key_file, &mut errors);

        if raw.users.allowed_domains.is_empty() {
            errors.push(err(
                "users.allowed_domains",
                "name at least one domain whose users may register",
            ));
        }
        for (i, d) in raw.users.allowed_domains.iter().enumerate() {
            if BareJid::from_str(d)
                .map(|j| j.node().is_some())
                .unwrap_or(true)
            {
                errors.push(err(
                    &format!("users.allowed_domains[{i}]"),
                    &format!("{d:?} is not a domain"),
                ));
            }
        }
        let mut admins = Vec::new();
        for (i, a) in raw.users.admins.iter().enumerate() {
            match BareJid::from_str(a) {
                Ok(j) if j.node().is_some() => admins.push(j),
                _ => errors.push(err(
                    &format!("users.admins[{i}]"),
                    &format!("{a:?} is not a bare JID like admin@example.org"),
                )),
            }
        }

        let log_level = raw.log.level.unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            errors.push(err("log.level", "not a valid level or filter"));
        }

        let archive = crate::archive::ArchivePolicy {
            enabled: raw.archive.enabled.unwrap_or(true),
            max_days: raw.archive.max_days.unwrap_or(30),
            max_messages: raw.archive.max_messages.unwrap_or(10_000),
        };
        if archive.max_days == 0 {
            errors.push(err("archive.max_days", "must be at least 1"));
        }

        let limits = check_limits(&raw.limits, &mut errors);
        let files = files::check_files(raw.files, &mut errors);

        let networks = networks::check_networks(raw.networks, &env, &mut errors);
        if networks.is_empty() && errors.is_empty() {
            errors.push(err("networks", "no network is enabled"));
        }

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            xmpp_server,
            max_stanza_size: max_stanza_size as usize,
            keepalive_secs,
            database_url,
            key_file,
            allowed_domains: raw.users.allowed_domains,
            admins,
            log_level,
            archive,
            limits,
            files,
            networks,
        })
    }

    /// Whether a user may register: their domain is allowed.
    pub fn may_register(&self, user: &Jid) -> bool {
        self.allowed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(user.domain().as_str()))
    }

    /// Whether a user is an administrator.
    pub fn is_admin(&self, user: &BareJid) -> bool {
        self.admins.contains(user)
    }
}

fn err(key: &str, reason: &str) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

fn check_unknown_keys(table: &toml::Table, errors: &mut Vec<ConfigError>) {
    for (section, keys) in KNOWN_KEYS {
        let t = if section.is_empty() {
            Some(table)
        } else {
            match table.get(*section) {
                Some(toml::Value::Table(t)) => Some(t),
                Some(_) => {
                    errors.push(err(section, "must be a table"));
                    None
                }
                None => None,
            }
        };
        for k in t.into_iter().flat_map(|t| t.keys()) {
            if !keys.contains(&k.as_str()) {
                let path = if section.is_empty() {
                    k.clone()
                } else {
                    format!("{section}.{k}")
                };
                errors.push(err(&path, "unknown key"));
            }
        }
    }
}

/// The `[limits]` section with defaults; a value out of range is named.
fn check_limits(raw: &RawLimits, errors: &mut Vec<ConfigError>) -> Limits {
    let default = Limits::default();
    let mut pick = |key: &str, value: Option<u64>, default: usize, max: usize| match value {
        None => default,
        Some(v) if v >= 1 && v <= max as u64 => v as usize,
        Some(_) => {
            errors.push(err(
                &format!("limits.{key}"),
                &format!("must be from 1 to {max}"),
            ));
            default
        }
    };
    Limits {
        max_pending_commands: pick(
            "max_pending_commands",
            raw.max_pending_commands,
            default.max_pending_commands,
            switchboard_bridge_api::CHANNEL_BOUND,
        ),
        max_rooms: pick("max_rooms", raw.max_rooms, default.max_rooms, 100_000),
        max_settings: pick(
            "max_settings",
            raw.max_settings,
            default.max_settings,
            1_000_000,
        ),
    }
}

fn check_address(key: &str, addr: &str, errors: &mut Vec<ConfigError>) {
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        errors.push(err(key, &format!("{addr:?} is not host:port")));
    }
}

fn check_parent_dir(key: &str, path: &Path, errors: &mut Vec<ConfigError>) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        errors.push(err(
            key,
            &format!("folder {} does not exist", parent.display()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const GOOD: &str = r#"
        [users]
        allowed_domains = ["example.org"]
        admins = ["admin@example.org"]
        [networks.irc]
        jid = "irc.example.org"
        secret = "s3cret"
    "#;

    #[test]
    fn good_config_gets_defaults() {
        let c = Config::parse(GOOD, Path::new("/tmp"), no_env).unwrap();
        assert_eq!(c.xmpp_server, "127.0.0.1:5347");
        assert_eq!(c.max_stanza_size, 256 * 1024);
        assert!(c.database_url.starts_with("sqlite:///tmp/switchboard.db"));
        assert_eq!(c.networks["irc"].jid.to_string(), "irc.example.org");
    }

    #[test]
    fn every_mistake_is_named() {
        let text = r#"
            colour = "blue"
            [xmpp]
            server = "nowhere"
            [users]
            allowed_domains = ["user@example.org"]
            admins = ["not a jid@@"]
            [networks.irc]
            jid = "a@b"
            [networks.icq]
            jid = "icq.example.org"
        "#;
        let errors = Config::parse(text, Path::new("/tmp"), no_env)
            .unwrap_err()
            .0;
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        for k in [
            "colour",
            "xmpp.server",
            "users.allowed_domains[0]",
            "users.admins[0]",
            "networks.irc.jid",
            "networks.irc.secret",
            "networks.icq",
        ] {
            assert!(keys.contains(&k), "{k} not reported in {keys:?}");
        }
    }

    #[test]
    fn secret_from_environment() {
        let text = GOOD.replace("secret = \"s3cret\"", "");
        let c = Config::parse(&text, Path::new("/tmp"), |k| {
            (k == "SWITCHBOARD_IRC_SECRET").then(|| "from-env".to_owned())
        })
        .unwrap();
        assert_eq!(c.networks["irc"].secret, "from-env");
        assert!(!format!("{:?}", c.networks["irc"]).contains("from-env"));
    }

    #[test]
    fn shipped_example_is_valid() {
        let text = include_str!("../config/switchboard.example.toml");
        let c = Config::parse(text, Path::new("/tmp"), no_env).unwrap();
        assert_eq!(c.networks["irc"].jid.to_string(), "irc.example.org");
    }

    #[test]
    fn limits_have_defaults_and_bad_ones_are_named() {
        let c = Config::parse(GOOD, Path::new("/tmp"), no_env).unwrap();
        assert_eq!(c.limits, Limits::default());
        let text = format!("{GOOD}\n[limits]\nmax_rooms = 3\nmax_settings = 7\n");
        let c = Config::parse(&text, Path::new("/tmp"), no_env).unwrap();
        assert_eq!((c.limits.max_rooms, c.limits.max_settings), (3, 7));
        let text = format!(
            "{GOOD}\n[limits]\nmax_pending_commands = 5000\nmax_rooms = 0\nmax_joins = 1\n"
        );
        let errors = Config::parse(&text, Path::new("/tmp"), no_env)
            .unwrap_err()
            .0;
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        for k in [
            "limits.max_pending_commands",
            "limits.max_rooms",
            "limits.max_joins",
        ] {
            assert!(keys.contains(&k), "{k} not reported in {keys:?}");
        }
    }

    #[test]
    fn missing_folder_is_reported() {
        let text = format!("{GOOD}\n[database]\nkey_file = \"/no/such/dir/key\"\n");
        let errors = Config::parse(&text, Path::new("/tmp"), no_env)
            .unwrap_err()
            .0;
        assert_eq!(errors[0].key, "database.key_file");
    }
}
