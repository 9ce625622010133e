//! The core's model for every network, proven through the test network
//! (bridges/testnet) with a real Prosody and a real XMPP client: a
//! registration in two steps that stores only a sealed token, people by id
//! (two "Alex"), and ids with capitals and XEP-0106 characters through
//! room and contact JIDs. The gateway must be built with
//! `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::room::{body, muc_info};
use common::support::prosody::DOMAIN;
use common::{result_payload, ANSWER};
use harness::{join, join_at, room_jid, Testnet, TESTNET};
use std::process::Command as Process;
use std::time::Instant;
use switchboard_bridge_api::{
    Command, Event, Member, Message as NetMessage, MessageId, MessageKind, Role, RoomId, Target,
    UserId,
};
use switchboard_testnet::register::{refresh, token, CODE};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

const CMD: &str = "http://jabber.org/protocol/commands";
const OID: &str = "urn:xmpp:occupant-id:0";
const PASSWORD: &str = "hunter2-secret";

/// Parses XML written as the XEPs show it (indented), without the
/// whitespace between elements.
fn xml(text: &str) -> Element {
    let compact: String = text.lines().map(str::trim).collect::<Vec<_>>().join("");
    compact.parse().unwrap()
}

/// A `jabber:x:data` submission of these fields.
fn submit(fields: &[(&str, &str)]) -> String {
    let fields: String = fields
        .iter()
        .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
        .collect();
    format!("<x xmlns='jabber:x:data' type='submit'>{fields}</x>")
}

/// One XEP-0050 request to the gateway's domain; the `<command/>` answered.
async fn command(client: &mut common::Client, command: String) -> Element {
    result_payload(client.iq(TESTNET, true, xml(&command)).await).expect("a <command/>")
}

/// The gateway's SQLite file, read with the `sqlite3` command-line tool.
fn sqlite(net: &Testnet, query: &str) -> String {
    let out = Process::new("sqlite3")
        .arg(net.gateway.database())
        .arg(query)
        .output()
        .expect("the sqlite3 tool");
    assert!(out.status.success(), "{query}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// Asserts what the database holds for `user` after a two-step login: the
/// registration sealed, with neither the password nor the token in clear;
/// the session's secret state (saved when it starts with a token) sealed.
fn assert_only_sealed_secrets(net: &Testnet, user: &str) {
    let who = format!("user_jid = '{user}@{DOMAIN}' AND network = 'testnet'");
    let row = sqlite(
        net,
        &format!("SELECT credentials FROM registrations WHERE {who}"),
    );
    assert!(!row.is_empty(), "{user} is registered");
    assert!(!row.contains(PASSWORD), "the password is stored: {row}");
    assert!(!row.contains(&token(user)), "the token is in clear: {row}");
    // The session saves its state once started: wait for the row (a
    // deadline, not an assertion on time).
    let deadline = Instant::now() + ANSWER;
    let query = format!("SELECT value FROM session_state WHERE {who} AND name = 'refresh'");
    let state = loop {
        let value = sqlite(net, &query);
        if !value.is_empty() {
            break value;
        }
        assert!(Instant::now() < deadline, "no session state saved");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(state.starts_with("sealed:"), "{state}");
    assert!(!state.contains(&refresh(user)), "the secret is in clear");
}

/// A registration whose network asks for a code (XEP-0050 §3.4, a
/// multi-stage command): the login form, then a second stage in the same
/// session asking for the code (a wrong code asks again), then completed.
/// The database holds the network's token sealed, never the password, and
/// the session's secret state sealed; after a restart the session starts
/// from the token alone. XEP-0077, which cannot carry a
/// second step, is refused as not-acceptable naming the field and the
/// ad-hoc command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_registration_over_adhoc_commands() {
    let mut net = Testnet::start().await;
    net.prosody.register("alice", DOMAIN, "pass");
    let mut alice =
        common::Client::login(&format!("alice@{DOMAIN}"), "pass", net.prosody.c2s_port).await;

    let stage = command(
        &mut alice,
        format!("<command xmlns='{CMD}' node='register' action='execute'/>"),
    )
    .await;
    let session = stage.attr("sessionid").unwrap().to_owned();
    assert_eq!(stage.attr("status"), Some("executing"));

    // The login form with a password: the network wants a code. Stage two,
    // same session (XEP-0050 Example 7).
    let stage = command(
        &mut alice,
        format!(
            "<command xmlns='{CMD}' node='register' sessionid='{session}' action='next'>{}</command>",
            submit(&[("username", "alice"), ("password", PASSWORD)])
        ),
    )
    .await;
    let second = |instructions: &str| {
        xml(&format!(
            "<command xmlns='{CMD}' node='register' sessionid='{session}' status='executing'>
               <actions execute='next'><next/><complete/></actions>
               <x xmlns='jabber:x:data' type='form'>
                 <title>Test network registration</title>
                 <instructions>{instructions}</instructions>
                 <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>
                 <field var='code' label='Code'><required/></field>
               </x>
             </command>"
        ))
    };
    assert_eq!(stage, second("A code was sent to alice by text message."));
    assert_eq!(
        sqlite(&net, "SELECT count(*) FROM registrations"),
        "0",
        "nothing is stored before the last step"
    );

    // A wrong code: the network asks again, naming the field.
    let again = command(
        &mut alice,
        format!(
            "<command xmlns='{CMD}' node='register' sessionid='{session}' action='next'>{}</command>",
            submit(&[("code", "000000")])
        ),
    )
    .await;
    assert_eq!(
        again,
        second("code: that code is wrong; enter the code again.")
    );

    // The right code completes it (XEP-0050 Example 10).
    let done = command(
        &mut alice,
        format!(
            "<command xmlns='{CMD}' node='register' sessionid='{session}' action='complete'>{}</command>",
            submit(&[("code", CODE)])
        ),
    )
    .await;
    assert_eq!(
        done,
        xml(&format!(
            "<command xmlns='{CMD}' node='register' sessionid='{session}' status='completed'>
               <note type='info'>You are registered with the Test network gateway.</note>
             </command>"
        ))
    );
    // The session starts with what the network gave to store.
    assert_eq!(
        net.control.started_with("alice").await,
        ["token", "username"]
    );
    assert_only_sealed_secrets(&net, "alice");
    let stored = sqlite(&net, "SELECT credentials FROM registrations");

    // XEP-0077 has no second step: its submission is refused, naming the
    // field and the ways that can carry it; nothing stored changes.
    let answer = alice
        .iq(
            TESTNET,
            true,
            xml(&format!(
                "<query xmlns='jabber:iq:register'>{}</query>",
                submit(&[("username", "alice"), ("password", PASSWORD)])
            )),
        )
        .await;
    let Iq::Error { error, .. } = answer else {
        panic!("not refused: {answer:?}")
    };
    assert_eq!(
        (error.type_, error.defined_condition),
        (ErrorType::Modify, DefinedCondition::NotAcceptable)
    );
    assert_eq!(
        error.texts.get("en").map(String::as_str),
        Some(
            "A code was sent to alice by text message. Registration needs a further step (code): \
             fetch the registration form again, use the Register command, or send \
             \"register code=…\" to testnet.localhost."
        )
    );
    assert_eq!(
        sqlite(&net, "SELECT credentials FROM registrations"),
        stored
    );

    // After a restart the session starts from the database alone: the
    // token and the username, never the password.
    net.restart_gateway();
    assert_eq!(
        net.control.started_with("alice").await,
        ["token", "username"]
    );
}

/// The same registration by chat command: `register username=… password=…`
/// is answered with the code step, a wrong code with the step again, the
/// right code registers; the database holds only sealed secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_registration_by_chat_command() {
    let mut net = Testnet::start().await;
    net.prosody.register("bob", DOMAIN, "pass");
    let mut bob =
        common::Client::login(&format!("bob@{DOMAIN}"), "pass", net.prosody.c2s_port).await;
    let step = |instructions: &str| {
        format!("{instructions}\nAnswer with: register code=…\n  code=Code (required)")
    };

    bob.say(
        TESTNET,
        &format!("register username=bob password={PASSWORD}"),
    )
    .await;
    assert_eq!(
        bob.reply_from(TESTNET).await,
        step("A code was sent to bob by text message.")
    );
    bob.say(TESTNET, "register code=000000").await;
    assert_eq!(
        bob.reply_from(TESTNET).await,
        step("code: that code is wrong; enter the code again.")
    );
    assert_eq!(sqlite(&net, "SELECT count(*) FROM registrations"), "0");
    bob.say(TESTNET, &format!("register code={CODE}")).await;
    assert_eq!(
        bob.reply_from(TESTNET).await,
        "You are registered with the Test network gateway."
    );
    assert_eq!(net.control.started_with("bob").await, ["token", "username"]);
    assert_only_sealed_secrets(&net, "bob");
}

/// A stanza's one XEP-0421 occupant-id.
fn occupant_id(payloads: &[Element]) -> String {
    let ids: Vec<&Element> = payloads
        .iter()
        .filter(|p| p.is("occupant-id", OID))
        .collect();
    assert_eq!(ids.len(), 1, "one <occupant-id/>: {payloads:?}");
    ids[0].attr("id").unwrap().to_owned()
}

/// An occupant-id's key in hex: the gateway writes the key as 8 base64url
/// characters, and a clashing nick's suffix as its first hex digits.
fn key_hex(occupant_id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = occupant_id.bytes().fold(0u64, |acc, c| {
        acc << 6 | ALPHABET.iter().position(|&a| a == c).unwrap() as u64
    });
    format!("{bits:012x}")
}

fn said(user: &str, nick: &str, id: &str, text: &str) -> Event {
    Event::Message(NetMessage {
        id: MessageId::from(id),
        target: Target::Room(RoomId::from("lobby")),
        author: UserId::from(user),
        author_nick: nick.into(),
        text: text.into(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        timestamp: None,
        own: false,
        token: None,
        parts: vec![],
    })
}

/// The next presence of this type from an occupant of `lobby` whose nick
/// `nick` accepts (earlier unclaimed ones first).
async fn presence_from(
    client: &mut common::Client,
    type_: Type,
    nick: impl Fn(&str) -> bool,
) -> Presence {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == type_
                    && p.from.as_ref().is_some_and(|f| {
                        f.node().is_some_and(|n| n.as_str() == "lobby")
                            && f.resource().is_some_and(|r| nick(r.as_str()))
                    }) =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await
}

/// The next groupchat message with a body from the room `lobby`.
async fn next_groupchat(client: &mut common::Client) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m) if m.type_ == MessageType::Groupchat && !m.bodies.is_empty() => {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// The two "Alex" as the client sees them: one as `Alex`, the other as
/// `Alex (hhhh)` with the first hex digits of its own key, two distinct
/// occupant-ids (returned in that order).
async fn two_alexes(alice: &mut common::Client) -> (String, String) {
    let first = presence_from(alice, Type::None, |n| n != "Alice").await;
    let second = presence_from(alice, Type::None, |n| n != "Alice").await;
    let (one, two) = (occupant_id(&first.payloads), occupant_id(&second.payloads));
    assert_ne!(one, two);
    let nick = |p: Presence| p.from.unwrap().resource().unwrap().to_string();
    assert_eq!(
        [nick(first), nick(second)],
        ["Alex".to_owned(), format!("Alex ({})", &key_hex(&two)[..4])]
    );
    (one, two)
}

fn alex(n: u8) -> Member {
    Member {
        user: UserId::from(format!("alex-{n}").as_str()),
        nick: "Alex".into(),
        role: Role::Member,
        away: None,
    }
}

/// Two members named "Alex" with different ids are two occupants with
/// stable, distinct nicks and XEP-0421 occupant-ids, on their presences
/// and messages; after the client leaves and joins again they are the same;
/// a rename by id is the XEP-0045 303 pair under the same occupant-id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_with_one_name_stay_two_occupants() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "Alice").await;
    for n in [1, 2] {
        let member = alex(n);
        let room = RoomId::from("lobby");
        net.control
            .inject("alice", Event::MemberJoined { room, member })
            .await;
    }
    let (one, two) = two_alexes(&mut alice).await;
    let suffixed = format!("Alex ({})", &key_hex(&two)[..4]);

    // Each one's message comes from their own occupant, with their id.
    net.control
        .inject("alice", said("alex-1", "Alex", "m-1", "from the first"))
        .await;
    net.control
        .inject("alice", said("alex-2", "Alex", "m-2", "from the second"))
        .await;
    for (nick, id, text) in [
        ("Alex", &one, "from the first"),
        (suffixed.as_str(), &two, "from the second"),
    ] {
        let m = next_groupchat(&mut alice).await;
        assert_eq!(
            (
                m.from.as_ref().unwrap().resource().unwrap().as_str(),
                body(&m).as_str(),
                occupant_id(&m.payloads)
            ),
            (nick, text, id.clone())
        );
    }

    // The client leaves and joins again: the test network's rooms persist,
    // so the room is detached, not left, and the rejoin shows the same two
    // occupants as before.
    assert!(matches!(
        net.control.next_command("alice").await,
        Command::Join { room, .. } if room.as_str() == "lobby"
    ));
    let to: Jid = "lobby@testnet.localhost/Alice".parse().unwrap();
    alice
        .send(Presence::new(Type::Unavailable).with_to(to))
        .await;
    presence_from(&mut alice, Type::Unavailable, |n| n == "Alice").await;
    join(&mut alice, "lobby", "Alice").await;
    assert_eq!(two_alexes(&mut alice).await, (one, two.clone()));
    // The network room was never left nor joined again: the next command
    // the network gets is the client's next message.
    alice
        .send(
            Message::groupchat(Some(room_jid("lobby").parse().unwrap()))
                .with_body(Lang::new(), "back".into()),
        )
        .await;
    let next = net.control.next_command("alice").await;
    assert!(
        matches!(&next, Command::SendText { text, .. } if text == "back"),
        "{next:?}"
    );

    // A rename by id: unavailable with 303 and the new nick, then the new
    // occupant, both with the same occupant-id (XEP-0045 §7.6, XEP-0421).
    net.control
        .inject(
            "alice",
            Event::MemberRenamed {
                room: Some(RoomId::from("lobby")),
                user: UserId::from("alex-2"),
                new_user: None,
                new_nick: "Sam".into(),
                own: false,
            },
        )
        .await;
    let mut pair = Vec::new();
    for _ in 0..2 {
        let p = alice
            .wait_for(|s| match s {
                Stanza::Presence(p)
                    if [&suffixed, "Sam"]
                        .map(|n| format!("lobby@{TESTNET}/{n}"))
                        .contains(
                            &p.from.as_ref().map(ToString::to_string).unwrap_or_default(),
                        ) =>
                {
                    Some(p.clone())
                }
                _ => None,
            })
            .await;
        pair.push(p);
    }
    let [gone, came] = <[Presence; 2]>::try_from(pair).unwrap();
    let nick = |p: &Presence| p.from.as_ref().unwrap().resource().unwrap().to_string();
    assert_eq!(
        [
            (nick(&gone), gone.type_.clone()),
            (nick(&came), came.type_.clone())
        ],
        [(suffixed, Type::Unavailable), ("Sam".into(), Type::None)]
    );
    assert_eq!(
        muc_info(&gone),
        (
            vec!["303".to_owned()],
            Some(("".into(), "participant".into(), Some("Sam".into())))
        )
    );
    assert_eq!(occupant_id(&gone.payloads), two);
    assert_eq!(occupant_id(&came.payloads), two);
}

/// Ids with capitals, `@ : ! / %` and a space through JIDs: the room
/// `!AbC/x%y z:hs` at its escaped JID (capitals as `\41`…, XEP-0106 for
/// the rest) reaches the network with the exact id both ways, and so does
/// the contact `@Bob:Hs`. A JID with the capitals typed unescaped is folded
/// by the XMPP stack and names another, lower-case room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_with_capitals_and_xep0106_characters_round_trip() {
    const ROOM_ID: &str = "!AbC/x%y z:hs";
    const ROOM: &str = r"!\41b\43\2fx%y\20z\3ahs@testnet.localhost";
    const BOB_ID: &str = "@Bob:Hs";
    const BOB: &str = r"\40\42ob\3a\48s@testnet.localhost";
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let room = Target::Room(RoomId::from(ROOM_ID));

    join_at(&mut alice, ROOM, "Alice").await;
    let joined = net.control.next_command("alice").await;
    assert!(
        matches!(&joined, Command::Join { room, .. } if room.as_str() == ROOM_ID),
        "{joined:?}"
    );

    // The network's message in that room comes from that JID.
    let mut bob_says = said(BOB_ID, "Bob", "m-1", "hi room");
    if let Event::Message(m) = &mut bob_says {
        m.target = room.clone();
    }
    net.control.inject("alice", bob_says).await;
    let m = next_groupchat(&mut alice).await;
    assert_eq!(
        m.from.as_ref().map(ToString::to_string),
        Some(format!("{ROOM}/Bob"))
    );

    // The client's message reaches the network with the exact id.
    alice
        .send(
            Message::groupchat(Some(ROOM.parse().unwrap())).with_body(Lang::new(), "hi all".into()),
        )
        .await;
    let sent = net.control.next_command("alice").await;
    assert!(
        matches!(&sent, Command::SendText { target, text, .. } if *target == room && text == "hi all"),
        "{sent:?}"
    );

    // A direct message from `@Bob:Hs` comes from its escaped JID; the
    // reply reaches exactly that id.
    let mut dm = said(BOB_ID, "Bob", "dm-1", "psst");
    if let Event::Message(m) = &mut dm {
        m.target = Target::User(UserId::from(BOB_ID));
    }
    net.control.inject("alice", dm).await;
    let m = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.type_ == MessageType::Chat => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (m.from.as_ref().map(ToString::to_string), body(&m)),
        (Some(BOB.to_owned()), "psst".to_owned())
    );
    alice
        .send(Message::chat(Some(BOB.parse().unwrap())).with_body(Lang::new(), "hi bob".into()))
        .await;
    let sent = net.control.next_command("alice").await;
    assert!(
        matches!(&sent, Command::SendText { target: Target::User(u), .. } if u.as_str() == BOB_ID),
        "{sent:?}"
    );

    // The capitals typed by hand, unescaped: nodeprep (the client
    // library's JID parsing, and Prosody's) folds them, so the gateway
    // reads another id, all lower case — never `!AbC/x%y z:hs` nor a
    // mixed-case guess. The network is asked for that other room.
    join_at(
        &mut alice,
        r"!AbC\2fx%y\20z\3ahs@testnet.localhost",
        "Alice",
    )
    .await;
    let joined = net.control.next_command("alice").await;
    assert!(
        matches!(&joined, Command::Join { room, .. } if room.as_str() == "!abc/x%y z:hs"),
        "{joined:?}"
    );
}
