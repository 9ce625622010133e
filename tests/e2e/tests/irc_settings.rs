//! Per-server IRC settings end to end, set through the configure command
//! on the server's JID: a channel's own encoding (legacy bytes read and
//! written right, through ngircd and a raw IRC client), and flood control
//! at the user's burst and rate within the operator's ceilings (a scripted
//! server counts the lines it got).

mod common;

use common::room::{body, irc_config};
use common::support::hostile_irc::{HostileIrc, HOSTILE_HOST};
use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "settings-secret";

/// Submits `server`'s settings form; returns the command's status and note.
async fn configure(alice: &mut Client, server: &str, fields: &[(&str, &str)]) -> (String, String) {
    common::configure(alice, &format!("{server}@{GW}"), fields).await
}

/// Joins `room` (a room JID) as alice.
async fn ask_to_join(alice: &mut Client, room: &str) {
    let me: Jid = format!("{room}/alice").parse().unwrap();
    let mut p = Presence::available().with_to(me);
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(p).await;
}

/// Waits for alice's self-presence (110) in `room`.
async fn joined(alice: &mut Client, room: &str) {
    let me: Jid = format!("{room}/alice").parse().unwrap();
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&me)
                    && p.type_ == Type::None
                    && p.payloads.iter().any(|x| {
                        x.children()
                            .any(|c| c.name() == "status" && c.attr("code") == Some("110"))
                    }) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
}

async fn groupchat(alice: &mut Client, room: &str, id: &str, text: &str) {
    let mut m = Message::groupchat(Some(room.parse::<Jid>().unwrap()))
        .with_body(Lang::new(), text.to_owned());
    m.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    alice.send(m).await;
}

/// A channel set to windows-1252: what an IRC user sends in it is read
/// as windows-1252 (€, curly quotes), what alice sends goes out in it;
/// an unknown encoding is refused, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_encoding_is_used_both_ways() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&irc_config(prosody.component_port, ircd.port, SECRET));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    let (status, note) = configure(&mut alice, IRC_HOST, &[("encoding_in", "klingon")]).await;
    assert_eq!(status, "executing", "the form comes back");
    assert_eq!(
        note,
        "encoding_in: \"klingon\" is not an encoding this gateway knows"
    );
    let (status, _) = configure(
        &mut alice,
        IRC_HOST,
        &[("channel_encodings", "#latin=windows-1252")],
    )
    .await;
    assert_eq!(status, "completed");

    let room = format!("#latin%{IRC_HOST}@{GW}");
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#latin").await;
    ask_to_join(&mut alice, &room).await;
    joined(&mut alice, &room).await;

    // windows-1252 from IRC: € is 0x80, “ ” are 0x93 0x94, é is 0xE9.
    bob.send_bytes(b"PRIVMSG #latin :\x80 caf\xe9 \x93ok\x94")
        .await;
    let from: Jid = format!("{room}/bob").parse().unwrap();
    let got = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat && m.from.as_ref() == Some(&from) =>
            {
                Some(body(m))
            }
            _ => None,
        })
        .await;
    assert_eq!(got, "€ café “ok”");

    // And back: the bytes on the wire are windows-1252.
    groupchat(&mut alice, &room, "enc-1", "Ça coûte 5 €").await;
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" PRIVMSG #latin :"))
        .await;
    let raw = bob.seen_raw.last().unwrap();
    assert!(
        raw.ends_with(b" PRIVMSG #latin :\xc7a co\xfbte 5 \x80"),
        "{}",
        String::from_utf8_lossy(raw)
    );
}

/// The user's flood burst and rate are used (a burst of 3, then one line
/// in 100 s: the server gets exactly 3 lines through the bucket, however
/// many alice sends), and a rate above the operator's ceiling is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_flood_burst_and_rate_pace_the_lines() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let irc = HostileIrc::start().await;
    let _gateway = Switchboard::start(&format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_max_rate = 4\n\
         [networks.irc.settings.servers]\n\"{HOSTILE_HOST}\" = \"127.0.0.1:{}\"\n",
        prosody.component_port, irc.port
    ));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    let (status, note) = configure(&mut alice, HOSTILE_HOST, &[("flood_rate", "5")]).await;
    assert_eq!(status, "executing", "the form comes back");
    assert_eq!(
        note,
        "flood_rate: must be lines a second, above 0 and at most 4 (this gateway's most)"
    );
    let (status, _) = configure(
        &mut alice,
        HOSTILE_HOST,
        &[("flood_burst", "3"), ("flood_rate", "0.01")],
    )
    .await;
    assert_eq!(status, "completed");

    let room = format!("#flood%{HOSTILE_HOST}@{GW}");
    ask_to_join(&mut alice, &room).await;
    irc.wait_for(|l| l == "JOIN #flood").await;
    let nick = irc.nick();
    irc.send([
        format!(":{nick}!u@h JOIN #flood"),
        format!(":{HOSTILE_HOST} 353 {nick} = #flood :{nick}"),
        format!(":{HOSTILE_HOST} 366 {nick} #flood :End of NAMES"),
    ])
    .await;
    joined(&mut alice, &room).await;
    for i in 0..6 {
        groupchat(&mut alice, &room, &format!("f{i}"), &format!("line {i}")).await;
    }
    irc.wait_for(|l| l.starts_with("PRIVMSG #flood :")).await;
    // Enough for all six to arrive were they not held (a line in 100 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = irc.received();
    let after_welcome: Vec<&String> = received
        .iter()
        .skip_while(|l| !l.starts_with("USER "))
        .skip(1)
        .filter(|l| !l.starts_with("PONG") && !l.starts_with("CAP "))
        .collect();
    assert_eq!(
        after_welcome,
        [
            "JOIN #flood",
            "PRIVMSG #flood :line 0",
            "PRIVMSG #flood :line 1"
        ],
        "a burst of 3 lines, then none"
    );
}
