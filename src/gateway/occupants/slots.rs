//! Positions in a room's member list, found by a hash: the two indexes of
//! [`super::Occupants`] (by user id, by display nick).
//!
//! Every user in a room keeps both indexes, so a position is two bytes
//! while the list has at most 65,536 members (a hash table's bucket is
//! then 3 bytes with its control byte, where four-byte positions made it
//! 5), and four from the member after that on (a table that grew wide stays
//! wide).

use hashbrown::HashTable;

/// Positions in the member list, by the hash of a member's text.
#[derive(Debug)]
pub(super) enum Slots {
    /// Positions up to `u16::MAX`.
    Narrow(HashTable<u16>),
    /// Any position.
    Wide(HashTable<u32>),
}

impl Default for Slots {
    fn default() -> Self {
        Self::Narrow(HashTable::new())
    }
}

impl Slots {
    /// The position under `hash` that `is` says is the one.
    pub(super) fn find(&self, hash: u64, is: impl Fn(usize) -> bool) -> Option<usize> {
        match self {
            Self::Narrow(t) => t
                .find(hash, |&i| is(usize::from(i)))
                .map(|&i| usize::from(i)),
            Self::Wide(t) => t.find(hash, |&i| is(i as usize)).map(|&i| i as usize),
        }
    }

    /// Adds position `at` under `hash`; `rehash` gives any position's hash
    /// (for the table's growth).
    pub(super) fn insert(&mut self, hash: u64, at: usize, rehash: impl Fn(usize) -> u64) {
        if let Self::Narrow(t) = self {
            if let Ok(at) = u16::try_from(at) {
                t.insert_unique(hash, at, |&i| rehash(usize::from(i)));
                return;
            }
            let mut wide = HashTable::with_capacity(t.len() + 1);
            for &i in t.iter() {
                let i = usize::from(i);
                wide.insert_unique(rehash(i), i as u32, |&j: &u32| rehash(j as usize));
            }
            *self = Self::Wide(wide);
        }
        if let Self::Wide(t) = self {
            let at = u32::try_from(at).expect("under 4 billion members");
            t.insert_unique(hash, at, |&i| rehash(i as usize));
        }
    }

    /// Takes position `at`, under `hash`, out.
    pub(super) fn remove(&mut self, hash: u64, at: usize) {
        match self {
            Self::Narrow(t) => {
                if let Ok(e) = t.find_entry(hash, |&i| usize::from(i) == at) {
                    e.remove();
                }
            }
            Self::Wide(t) => {
                if let Ok(e) = t.find_entry(hash, |&i| i as usize == at) {
                    e.remove();
                }
            }
        }
    }

    /// The member at `from`, under `hash`, is at `to` (lower) now.
    pub(super) fn moved(&mut self, hash: u64, from: usize, to: usize) {
        match self {
            Self::Narrow(t) => {
                if let Some(i) = t.find_mut(hash, |&i| usize::from(i) == from) {
                    *i = u16::try_from(to).expect("a lower position");
                }
            }
            Self::Wide(t) => {
                if let Some(i) = t.find_mut(hash, |&i| i as usize == from) {
                    *i = to as u32;
                }
            }
        }
    }

    /// How many positions it holds without growing.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        match self {
            Self::Narrow(t) => t.capacity(),
            Self::Wide(t) => t.capacity(),
        }
    }

    /// Gives back the buckets not needed.
    pub(super) fn shrink_to_fit(&mut self, rehash: impl Fn(usize) -> u64) {
        match self {
            Self::Narrow(t) => t.shrink_to_fit(|&i| rehash(usize::from(i))),
            Self::Wide(t) => t.shrink_to_fit(|&i| rehash(i as usize)),
        }
    }
}
