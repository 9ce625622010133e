//! A bridge's `[networks.NAME.settings]` read into the bridge's own serde
//! type, with every unknown key and every wrong value named by its full key
//! (`networks.irc2.settings.alowed_servers: unknown key`).
//!
//! Unknown keys are the ones the type ignored (`serde_ignored`); a wrong
//! value stops serde at its path (`serde_path_to_error`), so the key at
//! fault is set aside and the table read again, until no mistake is left
//! (at most [`MAX_MISTAKES`] reads).

use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

use crate::config::ConfigError;

/// Mistakes named in one section before the rest are left for the next check.
const MAX_MISTAKES: usize = 64;

/// One step of a key's path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    Index(usize),
}

/// Reads `settings` into `T`; mistakes are named under `prefix`
/// (`networks.NAME.settings`).
pub fn read<T: DeserializeOwned>(
    prefix: &str,
    settings: &toml::Table,
) -> Result<T, Vec<ConfigError>> {
    let mut table = settings.clone();
    let mut unknown: BTreeSet<Vec<Step>> = BTreeSet::new();
    let mut wrong: Vec<(Vec<Step>, String)> = Vec::new();
    let value = loop {
        let mut track = serde_path_to_error::Track::new();
        let de =
            serde_path_to_error::Deserializer::new(toml::Value::Table(table.clone()), &mut track);
        let result: Result<T, _> =
            serde_ignored::deserialize(de, |path| _ = unknown.insert(ignored_path(&path)));
        match result {
            Ok(value) => break Some(value),
            Err(e) => {
                let path = error_path(&track.path());
                let set_aside = remove(&mut table, &path);
                wrong.push((path, e.message().to_owned()));
                if !set_aside || wrong.len() + unknown.len() >= MAX_MISTAKES {
                    break None;
                }
            }
        }
    };
    let mut errors: Vec<ConfigError> = unknown
        .iter()
        .map(|p| ConfigError {
            key: full_key(prefix, p),
            reason: "unknown key".into(),
        })
        .collect();
    errors.extend(wrong.iter().map(|(p, reason)| ConfigError {
        key: full_key(prefix, p),
        reason: reason.clone(),
    }));
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(errors),
    }
}

/// `prefix.a.b[2]`.
fn full_key(prefix: &str, path: &[Step]) -> String {
    let mut key = prefix.to_owned();
    for step in path {
        match step {
            Step::Key(k) => {
                key.push('.');
                key.push_str(k);
            }
            Step::Index(i) => key.push_str(&format!("[{i}]")),
        }
    }
    key
}

fn ignored_path(path: &serde_ignored::Path) -> Vec<Step> {
    use serde_ignored::Path as P;
    let (parent, step) = match path {
        P::Root => return Vec::new(),
        P::Seq { parent, index } => (parent, Some(Step::Index(*index))),
        P::Map { parent, key } => (parent, Some(Step::Key(key.clone()))),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            (parent, None)
        }
    };
    let mut steps = ignored_path(parent);
    steps.extend(step);
    steps
}

fn error_path(path: &serde_path_to_error::Path) -> Vec<Step> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .map_while(|s| match s {
            S::Seq { index } => Some(Step::Index(*index)),
            S::Map { key } => Some(Step::Key(key.clone())),
            S::Enum { .. } | S::Unknown => None,
        })
        .collect()
}

/// Takes out the table entry that holds the value at `path` (a whole array
/// for one of its items). False when there is none: the mistake is not
/// one key's.
fn remove(table: &mut toml::Table, path: &[Step]) -> bool {
    let keys: Vec<&String> = path
        .iter()
        .map_while(|s| match s {
            Step::Key(k) => Some(k),
            Step::Index(_) => None,
        })
        .collect();
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut t = table;
    for k in parents {
        match t.get_mut(k.as_str()) {
            Some(toml::Value::Table(inner)) => t = inner,
            _ => return false,
        }
    }
    t.remove(last.as_str()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Settings {
        flag: Option<bool>,
        ports: Vec<u16>,
        servers: std::collections::BTreeMap<String, Server>,
    }

    #[derive(Debug, Deserialize, Default)]
    struct Server {
        address: String,
    }

    fn keys(text: &str) -> Vec<String> {
        read::<Settings>("networks.x.settings", &text.parse().unwrap())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_unknown_key_and_wrong_value_is_named() {
        let errors = keys(
            "flag = 3\nflga = true\nports = [1, \"x\"]\n\
             [servers.\"a.example\"]\naddress = \"a:1\"\nadress = \"b\"\n\
             [servers.\"c.example\"]\ntls = true\n",
        );
        let named: Vec<&str> = errors
            .iter()
            .map(|e| e.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            named,
            [
                "networks.x.settings.flga",
                "networks.x.settings.servers.a.example.adress",
                "networks.x.settings.servers.c.example.tls",
                "networks.x.settings.flag",
                "networks.x.settings.ports[1]",
                "networks.x.settings.servers.c.example",
            ],
            "{errors:#?}"
        );
        assert!(errors[3].contains("invalid type"), "{errors:#?}");
        assert!(errors[5].contains("missing field `address`"), "{errors:#?}");
    }

    #[test]
    fn good_settings_are_read() {
        let s: Settings = read(
            "p",
            &"ports = [6667]\n[servers.a]\naddress = \"x:1\""
                .parse()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (s.ports, s.servers["a"].address.as_str()),
            (vec![6667], "x:1")
        );
    }
}
