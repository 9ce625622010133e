//! A server's line as the bridge reads it: decoded (UTF-8 or Latin-1), CR/LF
//! trimmed, parsed by irc-proto; a message's text converted to styling and
//! its sender and channel turned into ids, which must parse back.
#![no_main]

use irc_proto::{Command, Message};
use libfuzzer_sys::fuzz_target;
use switchboard_irc::{
    decode, irc_to_styled, parse_room, parse_user, room_id, user_id, valid_channel, valid_nick,
};

const HOST: &str = "irc.example.net";

fuzz_target!(|data: &[u8]| {
    // The connection keeps a line to 8.7 kB whatever the server sends.
    let data = &data[..data.len().min(8704)];
    let line = decode(data);
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() {
        return;
    }
    let Ok(msg) = line.parse::<Message>() else {
        return;
    };
    if let Some(nick) = msg.source_nickname() {
        if valid_nick(nick).is_ok() {
            let user = user_id(nick, HOST);
            assert_eq!(parse_user(&user), Some((nick, HOST)));
        }
    }
    let (target, text) = match &msg.command {
        Command::PRIVMSG(t, x) | Command::NOTICE(t, x) => (t.as_str(), x.as_str()),
        Command::TOPIC(t, Some(x)) => (t.as_str(), x.as_str()),
        Command::JOIN(t, _, _) | Command::PART(t, _) => (t.as_str(), ""),
        _ => return,
    };
    if valid_channel(target) {
        let room = room_id(target, HOST);
        let (chan, host) = parse_room(&room).expect("a channel's room id parses");
        assert_eq!(host, HOST);
        assert_eq!(chan.len(), target.len());
    }
    let text = text
        .strip_prefix("\x01ACTION ")
        .map(|t| t.strip_suffix('\x01').unwrap_or(t))
        .unwrap_or(text);
    let _ = irc_to_styled(text);
});
