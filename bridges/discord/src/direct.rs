//! Direct messages: which DM channel is with whom, and who has been told
//! to the core as a contact.

use std::collections::{HashMap, HashSet};

/// The session's DM channels, both ways, and its contacts.
#[derive(Debug, Default)]
pub(crate) struct Direct {
    channel_by_user: HashMap<u64, u64>,
    user_by_channel: HashMap<u64, u64>,
    contacts: HashSet<u64>,
}

impl Direct {
    /// Remembers that `channel` is the DM channel with `user`.
    pub fn note(&mut self, channel: u64, user: u64) {
        self.channel_by_user.insert(user, channel);
        self.user_by_channel.insert(channel, user);
    }

    /// The DM channel with `user`, if known.
    pub fn channel_with(&self, user: u64) -> Option<u64> {
        self.channel_by_user.get(&user).copied()
    }

    /// Who a DM channel is with, if known.
    pub fn user_in(&self, channel: u64) -> Option<u64> {
        self.user_by_channel.get(&channel).copied()
    }

    /// Whether `user` is a contact the core has not been told of yet (and
    /// from now on, has).
    pub fn is_new_contact(&mut self, user: u64) -> bool {
        self.contacts.insert(user)
    }
}
