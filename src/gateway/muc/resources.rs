//! The user's resources in one room, each with whether it has had the join
//! sequence. A user has one to three resources in a room: a short vector,
//! where a `BTreeMap` would allocate a node of eleven JIDs for the first.

use xmpp_parsers::jid::FullJid;

/// The user's resources in a room and whether each has been joined (had
/// its join sequence).
#[derive(Debug, Default)]
pub(in crate::gateway) struct Resources(Vec<(FullJid, bool)>);

impl Resources {
    /// Adds `resource`, or sets whether it has been joined.
    pub fn insert(&mut self, resource: FullJid, joined: bool) {
        match self.0.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, j)) => *j = joined,
            None => {
                // One slot at a time: a `Vec` takes four on its first push,
                // and most users have one resource in a room.
                self.0.reserve_exact(1);
                self.0.push((resource, joined))
            }
        }
    }

    /// Whether `resource` is in the room.
    pub fn contains_key(&self, resource: &FullJid) -> bool {
        self.0.iter().any(|(r, _)| r == resource)
    }

    /// Takes `resource` out of the room.
    pub fn remove(&mut self, resource: &FullJid) {
        self.0.retain(|(r, _)| r != resource);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
    }

    /// Whether no resource is in the room.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each resource with whether it has been joined.
    pub fn iter(&self) -> impl Iterator<Item = (&FullJid, &bool)> {
        self.0.iter().map(|(r, j)| (r, j))
    }

    /// Whether each resource has been joined, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut bool> {
        self.0.iter_mut().map(|(_, j)| j)
    }

    /// The resources, taken.
    pub fn into_keys(self) -> impl Iterator<Item = FullJid> {
        self.0.into_iter().map(|(r, _)| r)
    }
}

impl IntoIterator for Resources {
    type Item = (FullJid, bool);
    type IntoIter = std::vec::IntoIter<(FullJid, bool)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> FullJid {
        s.parse().unwrap()
    }

    #[test]
    fn a_resource_is_kept_once_with_its_latest_state() {
        let mut r = Resources::default();
        r.insert(jid("a@b/phone"), false);
        r.insert(jid("a@b/laptop"), true);
        r.insert(jid("a@b/phone"), true);
        assert!(r.contains_key(&jid("a@b/phone")));
        assert_eq!(r.iter().filter(|(_, j)| **j).count(), 2);
        r.remove(&jid("a@b/phone"));
        assert!(!r.contains_key(&jid("a@b/phone")));
        assert!(!r.is_empty());
        r.remove(&jid("a@b/laptop"));
        assert!(r.is_empty());
    }
}
