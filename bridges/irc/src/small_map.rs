//! A map for the few entries a connection or a session keeps per channel
//! or per server: a list searched in order, grown one slot at a time.
//!
//! Most users are in one channel on one server, and every user keeps these
//! maps: a `HashMap` allocates four buckets for its first entry (and a
//! `Vec` four slots for its first push), where this allocates one.

use std::borrow::Borrow;

/// Entries by key, each key once, in no particular order.
#[derive(Debug, Clone)]
pub(crate) struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Eq, V> SmallMap<K, V> {
    /// An empty map (no allocation).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn find<Q: Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.0.iter().position(|(k, _)| k.borrow() == key)
    }

    /// The value for `key`.
    pub(crate) fn get<Q: Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).map(|i| &self.0[i].1)
    }

    /// The value for `key`, to change.
    pub(crate) fn get_mut<Q: Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).map(|i| &mut self.0[i].1)
    }

    /// Whether `key` has a value.
    pub(crate) fn contains_key<Q: Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_some()
    }

    /// Sets `key`'s value; returns the one it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                grow(&mut self.0);
                self.0.push((key, value));
                None
            }
        }
    }

    /// The value for `key`, made with `Default` first if there is none.
    pub(crate) fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&key) {
            Some(i) => i,
            None => {
                grow(&mut self.0);
                self.0.push((key, V::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// Takes `key`'s value out.
    pub(crate) fn remove<Q: Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let value = self.find(key).map(|i| self.0.swap_remove(i).1);
        if self.0.is_empty() {
            // The last channel left: nothing kept.
            self.0 = Vec::new();
        }
        value
    }

    /// Keeps the entries `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    /// Forgets every entry, and gives their memory back.
    pub(crate) fn clear(&mut self) {
        self.0 = Vec::new();
    }

    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// The values, to change.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// The entries, their values to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }
}

/// Makes room for one more item: half as many again as there are, and one
/// for the first (a `Vec` would take four).
pub(crate) fn grow<T>(list: &mut Vec<T>) {
    if list.len() == list.capacity() {
        list.reserve_exact(list.len() / 2 + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_once_and_found_by_borrowed_key() {
        let mut m: SmallMap<String, u32> = SmallMap::new();
        assert_eq!(m.insert("#a".into(), 1), None);
        assert_eq!(m.insert("#b".into(), 2), None);
        assert_eq!(m.insert("#a".into(), 3), Some(1));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("#a"), Some(&3));
        *m.get_or_default("#c".into()) += 5;
        assert_eq!(m.get("#c"), Some(&5));
        assert_eq!(m.remove("#b"), Some(2));
        assert!(!m.contains_key("#b"));
        m.retain(|k, _| k != "#a");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["#c"]);
        assert_eq!(m.remove("#c"), Some(5));
        assert!(m.is_empty());
    }

    #[test]
    fn one_entry_takes_one_slot() {
        let mut m: SmallMap<String, [u8; 100]> = SmallMap::new();
        m.insert("#a".into(), [0; 100]);
        assert_eq!(m.0.capacity(), 1);
    }
}
