//! Bounds on what one IRC server can make a connection hold or emit. A
//! server is not trusted: each structure a connection keeps for it has a
//! bound here, and a server that goes past one that only a hostile server
//! would reach is disconnected, with a notice to the user.

/// Members one channel may have (the largest public IRC channels hold a
/// few thousand). More, from NAMES or JOINs, ends the connection.
pub const MAX_MEMBERS: usize = 50_000;

/// Channels one connection may be in or be joining (the user's own
/// joins; a join past it is refused with an error).
pub const MAX_ROOMS: usize = 500;

/// `RPL_LIST` lines read for one listing. A listing that reaches it is
/// answered with what it has; the lines after it are ignored (the largest
/// networks list some tens of thousands of channels).
pub const MAX_LIST_ENTRIES: usize = 100_000;

/// Rooms in one `RoomList` event, whatever the page size asked.
pub const MAX_PAGE: usize = 500;

/// Bytes of room ids, names and topics in one `RoomList` event: a page
/// that would hold more ends early (its `next` goes on from there).
pub const ROOM_LIST_BYTES: usize = 64 * 1024;

/// Bytes of a topic in a room list (longer ones are cut at a character).
pub const LIST_TOPIC_BYTES: usize = 400;

/// Direct-message contacts remembered (to tell each new one once); past
/// it the set starts afresh, so a contact may be told again.
pub const MAX_CONTACTS: usize = 1_000;

/// Longest nick taken from a server (in bytes): a longer one, or one with
/// control characters or the characters a nick cannot hold, is not a
/// person the user can be shown or answer.
pub const MAX_NICK_BYTES: usize = 64;

/// Cuts `text` to at most `max` bytes, at a character boundary.
pub fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// Whether a nick from the server can be shown as a person: 1 to
/// [`MAX_NICK_BYTES`] bytes, no control characters, none of the
/// characters IRC forbids in nicks (` ,*?!@`).
pub fn plausible_nick(nick: &str) -> bool {
    !nick.is_empty()
        && nick.len() <= MAX_NICK_BYTES
        && !nick
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | ',' | '*' | '?' | '!' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_a_character() {
        let mut s = "ééé".to_owned();
        truncate(&mut s, 3);
        assert_eq!(s, "é");
    }

    #[test]
    fn nicks_with_control_characters_or_too_long_are_refused() {
        assert!(plausible_nick("ferris"));
        assert!(plausible_nick("NickServ"));
        assert!(!plausible_nick("bad\u{7}nick"));
        assert!(!plausible_nick(&"x".repeat(65)));
        assert!(!plausible_nick("a b"));
        assert!(!plausible_nick(""));
    }
}
