//! Room and user ids: `#channel%irc.example.net` and `nick%irc.example.net`.

use switchboard_bridge_api::{RoomId, UserId};

/// RFC 1459 case mapping, for ids: `[]\~` are the lowercase of `{}|^`.
pub fn irc_lowercase(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether a channel name is one IRC accepts.
pub fn valid_channel(name: &str) -> bool {
    name.len() > 1
        && name.len() <= 200
        && (name.starts_with('#') || name.starts_with('&'))
        && !name.contains([' ', ',', '\x07', '\r', '\n', '\0', ':'])
}

/// Whether a nick is one IRC accepts (RFC 2812 §2.3.1, with common extensions).
pub fn valid_nick(nick: &str) -> Result<(), &'static str> {
    if nick.is_empty() || nick.chars().count() > 30 {
        return Err("must be 1 to 30 characters");
    }
    if nick.contains([' ', ',', '*', '?', '!', '@', '\r', '\n', '\0', '.']) {
        return Err("may not hold spaces or any of , * ? ! @ .");
    }
    let first = nick.chars().next().unwrap();
    if first.is_ascii_digit() || matches!(first, '$' | ':' | '#' | '&' | '-') {
        return Err("may not start with a digit or any of $ : # & -");
    }
    Ok(())
}

/// Splits a room id into channel and server.
pub fn parse_room(room: &RoomId) -> Option<(&str, &str)> {
    let (chan, host) = room.as_str().rsplit_once('%')?;
    (valid_channel(chan) && !host.is_empty()).then_some((chan, host))
}

/// Splits a user id into nick and server.
pub fn parse_user(user: &UserId) -> Option<(&str, &str)> {
    let (nick, host) = user.as_str().rsplit_once('%')?;
    (valid_nick(nick).is_ok() && !host.is_empty()).then_some((nick, host))
}

/// The room id of a channel on a server.
pub fn room_id(channel: &str, host: &str) -> RoomId {
    RoomId(format!("{}%{host}", irc_lowercase(channel)))
}

/// The user id of a nick on a server.
pub fn user_id(nick: &str, host: &str) -> UserId {
    UserId(format!("{nick}%{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let room = room_id("#Rust", "irc.example.net");
        assert_eq!(room.as_str(), "#rust%irc.example.net");
        assert_eq!(parse_room(&room), Some(("#rust", "irc.example.net")));
        assert_eq!(
            parse_user(&user_id("ferris", "irc.example.net")),
            Some(("ferris", "irc.example.net"))
        );
        assert_eq!(parse_room(&RoomId::from("rust%irc.example.net")), None);
        assert_eq!(parse_room(&RoomId::from("#a b%irc.example.net")), None);
        assert_eq!(parse_room(&RoomId::from("#rust%")), None);
    }

    #[test]
    fn nicks() {
        assert!(valid_nick("ferris").is_ok());
        assert!(valid_nick("[away]_").is_ok());
        for bad in [
            "",
            "bad nick",
            "a\r\nQUIT",
            "1abc",
            "#chan",
            "a!b",
            &"x".repeat(31),
        ] {
            assert!(valid_nick(bad).is_err(), "{bad:?} accepted");
        }
    }
}
