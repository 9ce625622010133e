//! A filled-in login form. Its values may be secrets: `Debug` never shows them.

use std::fmt;

/// A filled-in login form: field name → value. `Debug` prints field names only;
/// with the `serde` feature (the test network's only) the values are serialised
/// (as a map).
///
/// Kept as a list sorted by field name, not a `BTreeMap`: every running
/// session holds its user's form, a handful of fields, and a `BTreeMap`'s
/// first node has room for eleven (about 530 bytes for string pairs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials(Vec<(String, String)>);

impl Credentials {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a field, if set and not empty.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.position(field)
            .ok()
            .map(|i| self.0[i].1.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Sets a field.
    pub fn set(&mut self, field: impl Into<String>, value: impl Into<String>) {
        let (field, value) = (field.into(), value.into());
        match self.position(&field) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => {
                // One more slot, not four: the form stays as small as it is.
                self.0.reserve_exact(1);
                self.0.insert(i, (field, value));
            }
        }
    }

    /// All fields, for storage, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Where `field` is, or where it would go.
    fn position(&self, field: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(field))
    }
}

impl FromIterator<(String, String)> for Credentials {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut c = Self::new();
        for (k, v) in iter {
            c.set(k, v);
        }
        c.0.shrink_to_fit();
        c
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Credentials {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Credentials {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, "<redacted>")))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let mut c = Credentials::new();
        c.set("password", "hunter2");
        let shown = format!("{c:?}");
        assert!(shown.contains("password"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn fields_are_kept_by_name_once_each() {
        let mut c = Credentials::new();
        c.set("password", "a");
        c.set("nick", "n");
        c.set("password", "b");
        c.set("empty", "");
        assert_eq!(c.get("password"), Some("b"));
        assert_eq!(c.get("nick"), Some("n"));
        assert_eq!(c.get("empty"), None);
        assert_eq!(c.get("other"), None);
        let fields: Vec<_> = c.iter().collect();
        assert_eq!(fields, [("empty", ""), ("nick", "n"), ("password", "b")]);
        let same: Credentials = [("nick", "n"), ("password", "b"), ("empty", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(c, same);
    }
}
