//! A compact table of short texts by id (members' display names, avatar
//! hashes): the ids sorted in one vector, the texts end to end in one
//! string. About 16 bytes an entry besides the text, against some 60 for a
//! hash map of `String`s, whose every name is an allocation of its own.
//! Lookups are binary searches; a changed text leaves its old bytes unused
//! until they are half the string, when the string is rebuilt.

/// Texts by id.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    /// The ids, ascending.
    ids: Vec<u64>,
    /// Each id's text: its start in `text` and its length.
    spans: Vec<(u32, u32)>,
    text: String,
    /// Bytes of `text` no entry uses any more.
    unused: usize,
}

impl Names {
    /// A table of these entries (a later one of the same id wins).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (u64, &'a str)>) -> Self {
        let mut sorted: Vec<(u64, &str)> = entries.into_iter().collect();
        // Stable: entries of one id keep their order, the last is kept.
        sorted.sort_by_key(|(id, _)| *id);
        let mut names = Self {
            ids: Vec::with_capacity(sorted.len()),
            spans: Vec::with_capacity(sorted.len()),
            text: String::with_capacity(sorted.iter().map(|(_, t)| t.len()).sum()),
            unused: 0,
        };
        for (i, (id, text)) in sorted.iter().enumerate() {
            if sorted.get(i + 1).is_some_and(|(next, _)| next == id) {
                continue;
            }
            let span = names.append(text);
            names.ids.push(*id);
            names.spans.push(span);
        }
        names.text.shrink_to_fit();
        names
    }

    /// Appends a text at the end of the string: its span.
    fn append(&mut self, text: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(text);
        (start as u32, text.len() as u32)
    }

    /// The text of `id`.
    pub fn get(&self, id: u64) -> Option<&str> {
        let at = self.ids.binary_search(&id).ok()?;
        Some(self.span(at))
    }

    fn span(&self, at: usize) -> &str {
        let (start, len) = self.spans[at];
        &self.text[start as usize..(start + len) as usize]
    }

    /// Sets the text of `id` (a new entry, or a changed text).
    pub fn insert(&mut self, id: u64, text: &str) {
        match self.ids.binary_search(&id) {
            Ok(at) if self.span(at) == text => {}
            Ok(at) => {
                self.unused += self.spans[at].1 as usize;
                let span = self.append(text);
                self.spans[at] = span;
                self.tidy();
            }
            Err(at) => {
                let span = self.append(text);
                self.ids.insert(at, id);
                self.spans.insert(at, span);
            }
        }
    }

    /// The entries, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> {
        self.ids
            .iter()
            .enumerate()
            .map(|(at, id)| (*id, self.span(at)))
    }

    /// Rebuilds the string once half of it is unused.
    fn tidy(&mut self) {
        if self.unused > 64 && self.unused * 2 > self.text.len() {
            *self = Self::from_entries(self.iter());
        }
    }
}

/// A set of ids as one sorted vector (8 bytes an id; a hash set takes
/// about 18 at its usual load).
#[derive(Debug, Default, Clone)]
pub(crate) struct IdSet(Vec<u64>);

impl IdSet {
    /// Adds `id`: whether it was new.
    pub fn insert(&mut self, id: u64) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<u64> for IdSet {
    fn from_iter<I: IntoIterator<Item = u64>>(ids: I) -> Self {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.shrink_to_fit();
        Self(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_changes_names() {
        let mut names =
            Names::from_entries([(30, "carol"), (10, "alice"), (20, "bob"), (10, "al")]);
        assert_eq!(names.iter().count(), 3);
        assert_eq!(names.get(10), Some("al"), "the last of one id wins");
        assert_eq!(names.get(20), Some("bob"));
        assert_eq!(names.get(25), None);
        names.insert(25, "dave");
        names.insert(20, "bobby");
        let all: Vec<(u64, &str)> = names.iter().collect();
        assert_eq!(
            all,
            [(10, "al"), (20, "bobby"), (25, "dave"), (30, "carol")]
        );
        assert_eq!(Names::default().get(1), None);
    }

    #[test]
    fn changed_names_do_not_grow_the_string_for_ever() {
        let mut names = Names::from_entries((0..100).map(|i| (i, "name")));
        for round in 0..50 {
            for i in 0..100 {
                names.insert(i, if round % 2 == 0 { "other" } else { "names" });
            }
        }
        assert_eq!(names.get(7), Some("names"));
        assert!(
            names.text.len() <= 2 * 100 * 5 + 64,
            "{} bytes",
            names.text.len()
        );
        // Many entries in one allocation each: ids, spans, text.
        let big = Names::from_entries((0..248).map(|i| (i, "User 123")));
        assert_eq!(big.text.len(), 248 * 8);
        assert_eq!(big.ids.capacity(), 248);
    }

    #[test]
    fn an_id_set_says_what_is_new() {
        let mut set: IdSet = [5, 3, 5, 9].into_iter().collect();
        assert!(!set.insert(3));
        assert!(set.insert(4));
        assert_eq!(set.iter().collect::<Vec<_>>(), [3, 4, 5, 9]);
    }
}
