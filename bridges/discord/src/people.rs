//! The people behind webhook messages. A webhook's message carries the
//! webhook's id as its author's id, and the name its sender chose as
//! the author's `username`: one webhook may speak for many people (the
//! shared bot's webhook carries every linked XMPP user, other bridges do
//! the same). Each name is a person of its own, with a stable id made from
//! the webhook's id and the name ([`person`]), the same after a restart.

use serenity::all::UserId;
use serenity::model::channel::Message;
use serenity::model::user::User;

/// The top bit, set in every webhook person's id: a Discord snowflake
/// would need a date past 2084 to have it, so the two never meet.
const MARK: u64 = 1 << 63;

/// The id of the person `name` writing through `webhook`: FNV-1a (64
/// bits) over the webhook id and the name, with [`MARK`] set.
pub(crate) fn person(webhook: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in webhook.to_le_bytes().iter().chain(name.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash | MARK
}

/// Whether a user id is a webhook person's (no Discord account: no
/// direct messages).
pub(crate) fn is_webhook_person(id: u64) -> bool {
    id & MARK != 0
}

/// The author as the person their webhook message names: when `webhook`
/// is set and the author is the webhook itself, their id becomes
/// [`person`]'s.
pub(crate) fn name_author(author: &mut User, webhook: Option<u64>) {
    if let Some(webhook) = webhook.filter(|w| *w == author.id.get()) {
        author.id = UserId::new(person(webhook, &author.name));
    }
}

/// A message's author as the person a webhook message names.
pub(crate) fn name_message_author(message: &mut Message) {
    let webhook = message.webhook_id.map(|w| w.get());
    name_author(&mut message.author, webhook);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_of_a_webhook_is_a_stable_person_of_its_own() {
        let erin = person(1_300_000_000_000_000_001, "erin");
        assert_eq!(erin, person(1_300_000_000_000_000_001, "erin"), "stable");
        assert_ne!(erin, person(1_300_000_000_000_000_001, "frank"));
        assert_ne!(erin, person(1_300_000_000_000_000_002, "erin"));
        assert!(is_webhook_person(erin));
        assert!(!is_webhook_person(1_300_000_000_000_000_001), "a snowflake");
        // Fixed across versions: stored archives name people by it.
        assert_eq!(person(1, "a"), 0xd29a_4ddc_8ff5_6bbf);
    }
}
