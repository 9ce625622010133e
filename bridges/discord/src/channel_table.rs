//! The rooms of a session's guilds as one table (each channel in a few
//! bytes, every name and topic end to end in one string), shared by the
//! sessions that have the same one: users with their own bots in one
//! community's guild all see its channels alike, so each holds a pointer
//! to one copy rather than a copy each (as the core shares its occupants'
//! texts). A session changing its table (a channel made, renamed, deleted)
//! edits a copy of its own, which is shared again once equal to another's.
//! Tables are kept in a canonical form (channels by id, their texts in
//! that order, no unused bytes) so that equal content means equal tables.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Channels by id (sorted), and their texts: what `T` says of each
/// channel, including where its texts are in `texts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Table<T> {
    pub channels: Vec<(u64, T)>,
    pub texts: String,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            texts: String::new(),
        }
    }
}

/// A channel's entry: where its texts are, and their length.
pub(crate) trait Entry {
    /// Its texts' start in `texts` and their length in bytes.
    fn texts(&self) -> (u32, usize);
    /// Moves its texts' start.
    fn move_texts(&mut self, start: u32);
}

/// The tables in use, each once.
pub(crate) type Tables<T> = Mutex<HashSet<Arc<Table<T>>>>;

/// A session's table, shared while equal to another session's.
#[derive(Debug)]
pub(crate) struct Shared<T: Shareable> {
    table: Arc<Table<T>>,
}

/// What a table can hold: an entry, with a process-wide set of tables.
pub(crate) trait Shareable:
    Entry + Clone + Eq + std::hash::Hash + Send + Sync + 'static
{
    /// The tables of this kind in use.
    fn tables() -> &'static Tables<Self>;
}

impl<T: Shareable> Default for Shared<T> {
    fn default() -> Self {
        Self {
            table: Arc::default(),
        }
    }
}

impl<T: Shareable> Shared<T> {
    /// The table, to read.
    pub fn get(&self) -> &Table<T> {
        &self.table
    }

    /// Whether this is the very table `other` holds.
    #[cfg(test)]
    pub fn shares_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.table, &other.table)
    }

    /// The table, to change: a copy of its own when it is shared. Call
    /// [`Shared::settle`] after the changes.
    pub fn edit(&mut self) -> &mut Table<T> {
        if Arc::strong_count(&self.table) > 1 {
            // Taken out of the set when no other session holds it: then it
            // is this one's alone (no one can find it to share it now).
            let mut tables = T::tables().lock().unwrap();
            if Arc::strong_count(&self.table) == 2 && in_set(&tables, &self.table) {
                tables.remove(&*self.table);
            }
            drop(tables);
            if Arc::strong_count(&self.table) > 1 {
                let copy = Arc::new((*self.table).clone());
                release(std::mem::replace(&mut self.table, copy));
            }
        }
        Arc::get_mut(&mut self.table).expect("a table of its own")
    }

    /// After changes: the texts rebuilt in channel order without unused
    /// bytes, then the table shared with an equal one in use, if any.
    pub fn settle(&mut self) {
        if Arc::strong_count(&self.table) == 1 {
            compact(Arc::get_mut(&mut self.table).expect("a table of its own"));
        }
        let mut tables = T::tables().lock().unwrap();
        let shared = match tables.get(&*self.table) {
            Some(same) if Arc::ptr_eq(same, &self.table) => return,
            Some(same) => Arc::clone(same),
            None => {
                tables.insert(Arc::clone(&self.table));
                return;
            }
        };
        drop(tables);
        release(std::mem::replace(&mut self.table, shared));
    }
}

impl<T: Shareable> Drop for Shared<T> {
    fn drop(&mut self) {
        release(std::mem::take(&mut self.table));
    }
}

/// Whether the set holds this very table.
fn in_set<T: Shareable>(tables: &HashSet<Arc<Table<T>>>, table: &Arc<Table<T>>) -> bool {
    tables.get(&**table).is_some_and(|t| Arc::ptr_eq(t, table))
}

/// Lets a table go: out of the set when the set's is the last other hold.
fn release<T: Shareable>(table: Arc<Table<T>>) {
    let mut tables = T::tables().lock().unwrap();
    if Arc::strong_count(&table) == 2 && in_set(&tables, &table) {
        tables.remove(&*table);
    }
    // Dropped under the lock: counts change only while it is held.
    drop(table);
}

/// The texts rebuilt in channel order, exactly as long as they are.
fn compact<T: Entry>(table: &mut Table<T>) {
    let live: usize = table.channels.iter().map(|(_, c)| c.texts().1).sum();
    let mut texts = String::with_capacity(live);
    for (_, channel) in &mut table.channels {
        let (start, len) = channel.texts();
        let from = start as usize;
        texts.push_str(&table.texts[from..from + len]);
        channel.move_texts((texts.len() - len) as u32);
    }
    table.channels.shrink_to_fit();
    table.texts = texts;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    struct Item(u32, usize);

    impl Entry for Item {
        fn texts(&self) -> (u32, usize) {
            (self.0, self.1)
        }
        fn move_texts(&mut self, start: u32) {
            self.0 = start;
        }
    }

    static TABLES: LazyLock<Tables<Item>> = LazyLock::new(Default::default);

    impl Shareable for Item {
        fn tables() -> &'static Tables<Item> {
            &TABLES
        }
    }

    /// A table of `names`, appended in the order given.
    fn table(names: &[(u64, &str)]) -> Shared<Item> {
        let mut shared = Shared::default();
        let t = shared.edit();
        for (id, name) in names {
            let start = t.texts.len() as u32;
            t.texts.push_str(name);
            t.channels.push((*id, Item(start, name.len())));
        }
        t.channels.sort_by_key(|(id, _)| *id);
        shared.settle();
        shared
    }

    fn text(shared: &Shared<Item>, id: u64) -> &str {
        let t = shared.get();
        let (_, item) = t.channels.iter().find(|(k, _)| *k == id).unwrap();
        &t.texts[item.0 as usize..][..item.1]
    }

    #[test]
    fn equal_tables_are_one_and_a_change_is_a_copy() {
        // The same channels, learned in another order: one table.
        let mut a = table(&[(1, "general"), (2, "random"), (3, "ε-news")]);
        let b = table(&[(3, "ε-news"), (1, "general"), (2, "random")]);
        assert!(Arc::ptr_eq(&a.table, &b.table));
        assert_eq!(text(&b, 3), "ε-news");

        // One renames a channel: its own copy; the other's is unchanged.
        let t = a.edit();
        let start = t.texts.len() as u32;
        t.texts.push_str("lobby");
        t.channels[0].1 = Item(start, 5);
        a.settle();
        assert!(!Arc::ptr_eq(&a.table, &b.table));
        assert_eq!(text(&a, 1), "lobby");
        assert_eq!(text(&b, 1), "general");
        assert_eq!(
            a.get().texts.len(),
            "lobby".len() + "random".len() + "ε-news".len()
        );

        // The same rename in the other: shared again.
        let mut b = b;
        let t = b.edit();
        let start = t.texts.len() as u32;
        t.texts.push_str("lobby");
        t.channels[0].1 = Item(start, 5);
        b.settle();
        assert!(Arc::ptr_eq(&a.table, &b.table));

        // When both are gone, the set forgets the table.
        let content = a.get().clone();
        drop(a);
        assert!(TABLES.lock().unwrap().contains(&content));
        drop(b);
        assert!(!TABLES.lock().unwrap().contains(&content));
    }
}
