//! Reactions as full sets per person: Discord's gateway tells one emoji at
//! a time (MESSAGE_REACTION_ADD, _REMOVE, _REMOVE_ALL, _REMOVE_EMOJI), the
//! core wants each person's whole set on a message (XEP-0444). The session
//! keeps the last [`KEPT`] reactions it has seen, one flat list (some 40
//! bytes each); a reaction made before the session (or forgotten since) is
//! not known, so a set told later may lack it.
//!
//! The user's own set is the bot's: a `React` command is the difference
//! from what the bot set, as `PUT`s and `DELETE`s of `…/reactions/{emoji}/@me`.

use std::collections::{HashMap, VecDeque};

use serenity::model::channel::ReactionType;

/// How many reactions a session keeps (at most some 20 kB per user).
pub(crate) const KEPT: usize = 512;

/// The last [`KEPT`] reactions seen, oldest first: (message, user, emoji).
#[derive(Debug, Default)]
pub(crate) struct Reactions {
    seen: VecDeque<(u64, u64, Box<str>)>,
    /// Custom emoji seen, by the text they are shown as (`:name:`), so that
    /// the user's reaction with one goes back as that emoji.
    custom: HashMap<String, ReactionType>,
}

/// What a `React` command changes: the emoji to add and to take off.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// To add (`PUT`).
    pub add: Vec<String>,
    /// To take off (`DELETE`).
    pub remove: Vec<String>,
}

impl Reactions {
    /// `user`'s set on `message`, in the order made.
    pub fn set(&self, message: u64, user: u64) -> Vec<String> {
        self.seen
            .iter()
            .filter(|(m, u, _)| *m == message && *u == user)
            .map(|(.., e)| e.to_string())
            .collect()
    }

    fn insert(&mut self, message: u64, user: u64, emoji: &str) {
        let known = self
            .seen
            .iter()
            .any(|(m, u, e)| *m == message && *u == user && **e == *emoji);
        if known {
            return;
        }
        if self.seen.len() == KEPT {
            self.seen.pop_front();
        }
        self.seen.push_back((message, user, emoji.into()));
    }

    /// `user` added `emoji`: their set now.
    pub fn add(&mut self, message: u64, user: u64, emoji: &str) -> Vec<String> {
        self.insert(message, user, emoji);
        self.set(message, user)
    }

    /// `user` took `emoji` off: their set now.
    pub fn remove(&mut self, message: u64, user: u64, emoji: &str) -> Vec<String> {
        self.seen
            .retain(|(m, u, e)| !(*m == message && *u == user && **e == *emoji));
        self.set(message, user)
    }

    /// Every reaction (`emoji` none) or every one of `emoji` was taken off:
    /// the people whose sets changed, with their sets now.
    pub fn remove_all(&mut self, message: u64, emoji: Option<&str>) -> Vec<(u64, Vec<String>)> {
        let mut users: Vec<u64> = Vec::new();
        self.seen.retain(|(m, u, e)| {
            let goes = *m == message && emoji.is_none_or(|only| **e == *only);
            if goes && !users.contains(u) {
                users.push(*u);
            }
            !goes
        });
        users
            .into_iter()
            .map(|u| (u, self.set(message, u)))
            .collect()
    }

    /// The bot's reactions become `wanted`: what to add and take off (the
    /// set is noted at once, so that a second command before the gateway's
    /// echo is measured against it).
    pub fn replace(&mut self, message: u64, bot: u64, wanted: &[String]) -> Change {
        let set = self.set(message, bot);
        let mut wanted_unique: Vec<String> = Vec::with_capacity(wanted.len());
        for emoji in wanted {
            if !wanted_unique.contains(emoji) {
                wanted_unique.push(emoji.clone());
            }
        }
        let change = Change {
            add: wanted_unique
                .iter()
                .filter(|e| !set.contains(e))
                .cloned()
                .collect(),
            remove: set
                .iter()
                .filter(|e| !wanted_unique.contains(e))
                .cloned()
                .collect(),
        };
        for emoji in &change.remove {
            self.remove(message, bot, emoji);
        }
        for emoji in &change.add {
            self.insert(message, bot, emoji);
        }
        change
    }
}

/// How XMPP shows a Discord emoji (as [`Reactions::text_of`], nothing noted).
pub(crate) fn plain_text_of(emoji: &ReactionType) -> String {
    match emoji {
        ReactionType::Unicode(text) => text.clone(),
        ReactionType::Custom { name, .. } => format!(":{}:", name.as_deref().unwrap_or("emoji")),
        _ => String::from("?"),
    }
}

impl Reactions {
    /// How XMPP shows a Discord emoji: unicode as it is, a custom emoji by
    /// its name, `:name:` (XMPP has no custom emoji; the name is noted).
    pub fn text_of(&mut self, emoji: &ReactionType) -> String {
        let text = plain_text_of(emoji);
        if matches!(emoji, ReactionType::Custom { .. })
            && (self.custom.len() < KEPT || self.custom.contains_key(&text))
        {
            self.custom.insert(text.clone(), emoji.clone());
        }
        text
    }

    /// The emoji a reaction's text names: a custom emoji seen by that
    /// `:name:`, else the text as unicode.
    pub fn emoji_of(&self, text: &str) -> ReactionType {
        self.custom
            .get(text)
            .cloned()
            .unwrap_or_else(|| ReactionType::Unicode(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_follow_the_gateways_one_emoji_events() {
        let mut r = Reactions::default();
        assert_eq!(r.add(1, 7, "👍"), ["👍"]);
        assert_eq!(r.add(1, 7, "🎉"), ["👍", "🎉"]);
        assert_eq!(r.add(1, 7, "🎉"), ["👍", "🎉"], "a repeat changes nothing");
        assert_eq!(r.add(1, 8, "🎉"), ["🎉"], "another person's set");
        assert_eq!(r.remove(1, 7, "👍"), ["🎉"]);
        assert_eq!(
            r.remove_all(1, Some("🎉")),
            [(7, vec![]), (8, vec![])],
            "every 🎉 taken off"
        );
        r.add(1, 7, "❤");
        r.add(1, 8, "👀");
        assert_eq!(r.remove_all(1, None), [(7, vec![]), (8, vec![])]);
        assert_eq!(r.remove_all(1, None), [], "nothing left to change");
    }

    #[test]
    fn the_bots_set_is_changed_by_difference() {
        let mut r = Reactions::default();
        let to = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let change = r.replace(1, 1000, &to(&["👍", "🎉", "👍"]));
        assert_eq!(change.add, to(&["👍", "🎉"]));
        assert!(change.remove.is_empty());
        let change = r.replace(1, 1000, &to(&["🎉", "❤"]));
        assert_eq!(
            change,
            Change {
                add: to(&["❤"]),
                remove: to(&["👍"])
            }
        );
        assert_eq!(r.replace(1, 1000, &[]).remove, to(&["🎉", "❤"]));
    }

    #[test]
    fn a_custom_emoji_is_shown_by_name_and_goes_back_as_itself() {
        let mut r = Reactions::default();
        let ferris: ReactionType =
            serde_json::from_value(serde_json::json!({ "id": "77", "name": "ferris" })).unwrap();
        assert_eq!(r.text_of(&ferris), ":ferris:");
        assert_eq!(r.emoji_of(":ferris:"), ferris);
        assert_eq!(r.emoji_of("👍"), ReactionType::Unicode("👍".into()));
    }

    #[test]
    fn only_the_last_reactions_are_kept() {
        let mut r = Reactions::default();
        for m in 0..=KEPT as u64 {
            r.add(m, 7, "👍");
        }
        assert_eq!(r.remove_all(0, None), [], "the oldest is forgotten");
        assert_eq!(r.remove_all(1, None), [(7, vec![])]);
    }
}
