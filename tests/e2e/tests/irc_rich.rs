//! What IRC can carry of rich messages, through a real InspIRCd 3 (with
//! `message-tags`, no `draft/message-redaction`), a real Prosody and the
//! XMPP client library, with a raw IRC client (bob) that asks for
//! `message-tags` and reads and writes the client tags: reactions
//! (`+draft/react`), replies (`+draft/reply`) and typing (`+typing`) both
//! ways (an IRC user's typing running out after 6 s); a correction as a
//! line the way IRC users write it; a retraction refused; the room's
//! disco says exactly that. On a server without
//! `message-tags` (ngircd) the room offers corrections only:
//! `rich_messages.rs` `irc_corrects_by_line_and_refuses_the_rest`.

mod common;

use common::room::{body, groupchat, groupchat_from, irc_config, join, occupant, room, GW};
use common::support::ircd::{InspIrcd, IrcClient};
use common::support::prosody::{Prosody, DOMAIN};
use common::{result_payload, Client, Switchboard};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

const SECRET: &str = "irc-secret";
const CORRECT: &str = "urn:xmpp:message-correct:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const MODERATE: &str = "urn:xmpp:message-moderate:1";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const REPLY: &str = "urn:xmpp:reply:0";
const FALLBACK: &str = "urn:xmpp:fallback:0";
const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const SID: &str = "urn:xmpp:sid:0";

/// The raw (escaped) value of tag `name` on an IRC line.
fn tag(line: &str, name: &str) -> Option<String> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// The line without its tags.
fn untagged(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, l)| l),
        None => line,
    }
}

/// Whether `line` is a TAGMSG from `nick` to #test (InspIRCd writes the
/// target as a trailing parameter).
fn tagmsg_from(line: &str, nick: &str) -> bool {
    tagmsg_to(line, nick, "#test")
}

/// Whether `line` is a TAGMSG from `nick` to `to`.
fn tagmsg_to(line: &str, nick: &str, to: &str) -> bool {
    let l = untagged(line);
    let target = l.split(' ').nth(2).unwrap_or_default();
    l.starts_with(&format!(":{nick}!"))
        && matches!(l.split(' ').nth(1), Some("TAGMSG"))
        && target.trim_start_matches(':') == to
}

/// A message to the room with this id, body and payloads.
fn to_room(id: &str, body: Option<&str>, payloads: &[&str]) -> Message {
    let mut m = Message::groupchat(Some(room().parse::<Jid>().unwrap()));
    if let Some(body) = body {
        m.bodies.insert(Lang::new(), body.to_owned());
    }
    m.id = Some(Id(id.to_owned()));
    m.payloads
        .extend(payloads.iter().map(|p| p.parse::<Element>().unwrap()));
    m
}

/// The features of the room's disco#info.
async fn room_features(alice: &mut Client) -> Vec<String> {
    let info = alice
        .iq(
            &room(),
            false,
            "<query xmlns='http://jabber.org/protocol/disco#info'/>"
                .parse()
                .unwrap(),
        )
        .await;
    result_payload(info)
        .expect("disco#info")
        .children()
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect()
}

/// The next live message from `from` that has a `name` child in `ns`.
async fn next_with(alice: &mut Client, from: &Jid, name: &str, ns: &str) -> Message {
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from)
                    && m.type_ != MessageType::Error
                    && m.payloads.iter().any(|p| p.is(name, ns)) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

fn child<'a>(m: &'a Message, name: &str, ns: &str) -> &'a Element {
    m.payloads
        .iter()
        .find(|p| p.is(name, ns))
        .unwrap_or_else(|| panic!("no <{name}/> in {m:?}"))
}

fn reactions_of(m: &Message) -> (String, Vec<String>) {
    let r = child(m, "reactions", REACTIONS);
    (
        r.attr("id").unwrap_or_default().to_owned(),
        r.children().map(Element::text).collect(),
    )
}

/// The servers and the gateway, kept running while they are held.
type Running = (Prosody, InspIrcd, Switchboard);

/// InspIRCd, Prosody and the gateway; bob (a raw client with
/// `message-tags` and `echo-message`) and alice (XMPP) both in #test.
async fn start() -> (Running, IrcClient, Client) {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = InspIrcd::start();
    let gateway = Switchboard::start(&irc_config(prosody.component_port, ircd.port, SECRET));
    let mut bob = IrcClient::connect_with_caps(ircd.port, "bob", "message-tags echo-message").await;
    bob.join("#test").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    join(&mut alice, "alice").await;
    common::room::presence_from(
        &mut alice,
        occupant("alice"),
        xmpp_parsers::presence::Type::None,
    )
    .await;
    bob.expect(|l| l.contains(":alice!") && l.contains(" JOIN "))
        .await;
    ((prosody, ircd, gateway), bob, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_tags_carry_reactions_replies_and_typing() {
    let (_running, mut bob, mut alice) = start().await;

    // The room offers what InspIRCd carries, and nothing else.
    let features = room_features(&mut alice).await;
    for f in [CORRECT, REACTIONS, REPLY, FALLBACK, CHATSTATES] {
        assert!(features.iter().any(|h| h == f), "{f} missing: {features:?}");
    }
    for f in [RETRACT, MODERATE] {
        assert!(
            !features.iter().any(|h| h == f),
            "{f} offered: {features:?}"
        );
    }

    // bob's message, its msgid seen by bob (echo-message) and by alice.
    bob.send("PRIVMSG #test :hello there").await;
    let echoed = bob
        .expect(|l| l.contains(":bob!") && l.ends_with("PRIVMSG #test :hello there"))
        .await;
    let msgid = tag(&echoed, "msgid").expect("InspIRCd gives a msgid");
    let hello = groupchat_from(&mut alice, "bob").await;
    assert_eq!(
        hello.id.as_ref().map(|i| i.0.as_str()),
        Some(msgid.as_str())
    );
    let sid = child(&hello, "stanza-id", SID)
        .attr("id")
        .unwrap()
        .to_owned();

    // XMPP → IRC: a reaction is a TAGMSG naming the message; a hostile
    // one arrives escaped, in one line; one with a line break is dropped.
    let reaction = format!(
        "<reactions xmlns='{REACTIONS}' id='{sid}'><reaction>👍</reaction>\
         <reaction>a b;c\\</reaction><reaction>x&#13;&#10;QUIT :bye</reaction></reactions>"
    );
    alice.send(to_room("x1", None, &[&reaction])).await;
    let mut reacts = Vec::new();
    for _ in 0..2 {
        let line = bob
            .expect(|l| tagmsg_from(l, "alice") && tag(l, "+draft/react").is_some())
            .await;
        assert_eq!(
            tag(&line, "+draft/reply").as_deref(),
            Some(msgid.as_str()),
            "{line}"
        );
        reacts.push(tag(&line, "+draft/react").expect("a reaction"));
    }
    assert_eq!(reacts, ["👍", "a\\sb\\:c\\\\"]);
    // The reflection: alice's set, naming bob's message by its stanza-id.
    let own = next_with(&mut alice, &occupant("alice"), "reactions", REACTIONS).await;
    let (named, set) = reactions_of(&own);
    assert_eq!(named, sid);
    assert_eq!(set, ["👍", "a b;c\\"]);

    // IRC → XMPP: bob's reaction, as his set.
    bob.send(&format!(
        "@+draft/reply={msgid};+draft/react=🎉 TAGMSG #test"
    ))
    .await;
    let theirs = next_with(&mut alice, &occupant("bob"), "reactions", REACTIONS).await;
    assert_eq!(reactions_of(&theirs), (sid.clone(), vec!["🎉".to_owned()]));

    // Typing both ways.
    bob.send("@+typing=active TAGMSG #test").await;
    next_with(&mut alice, &occupant("bob"), "composing", CHATSTATES).await;
    alice
        .send(to_room(
            "t1",
            None,
            &[&format!("<composing xmlns='{CHATSTATES}'/>")],
        ))
        .await;
    let typing = bob
        .expect(|l| tagmsg_from(l, "alice") && tag(l, "+typing").is_some())
        .await;
    assert_eq!(tag(&typing, "+typing").as_deref(), Some("active"));

    // XMPP → IRC reply: the tag names bob's message, the quote is gone.
    let reply = [
        format!(
            "<reply xmlns='{REPLY}' to='{}' id='{sid}'/>",
            occupant("bob")
        ),
        format!("<fallback xmlns='{FALLBACK}' for='{REPLY}'><body start='0' end='14'/></fallback>"),
    ];
    let reply: Vec<&str> = reply.iter().map(String::as_str).collect();
    alice
        .send(to_room("r1", Some("> hello there\nindeed"), &reply))
        .await;
    let line = bob
        .expect(|l| untagged(l).starts_with(":alice!") && l.contains(" PRIVMSG #test :"))
        .await;
    assert!(
        line.ends_with("PRIVMSG #test :indeed"),
        "quote kept: {line}"
    );
    assert_eq!(tag(&line, "+draft/reply").as_deref(), Some(msgid.as_str()));

    // IRC → XMPP reply: a <reply/> naming the message by its stanza-id,
    // with the quote for clients without replies.
    bob.send(&format!("@+draft/reply={msgid} PRIVMSG #test :yes"))
        .await;
    let answer = next_with(&mut alice, &occupant("bob"), "reply", REPLY).await;
    assert_eq!(
        child(&answer, "reply", REPLY).attr("id"),
        Some(sid.as_str())
    );
    assert_eq!(body(&answer), "> hello there\nyes");

    // A correction: a line as IRC users write it; the client's reflection
    // is a correction, and the line is no new message.
    groupchat(&mut alice, "c1", "see you tomorow then").await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :see you tomorow then"))
        .await;
    alice
        .send(to_room(
            "c2",
            Some("see you tomorrow then"),
            &[&format!("<replace xmlns='{CORRECT}' id='c1'/>")],
        ))
        .await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :s/tomorow/tomorrow/"))
        .await;
    let corrected = next_with(&mut alice, &occupant("alice"), "replace", CORRECT).await;
    assert_eq!(child(&corrected, "replace", CORRECT).attr("id"), Some("c1"));
    assert_eq!(body(&corrected), "see you tomorrow then");

    // A retraction: InspIRCd 3 has no draft/message-redaction.
    alice
        .send(to_room(
            "d1",
            Some("retracted"),
            &[&format!("<retract xmlns='{RETRACT}' id='{sid}'/>")],
        ))
        .await;
    let error = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.type_ == MessageType::Error => Some(Element::from(m.clone())),
            // The correction's line never comes back as a message.
            Stanza::Message(m) if body(m).starts_with("s/") => panic!("shown as a message: {m:?}"),
            _ => None,
        })
        .await;
    let error = error.get_child("error", "jabber:client").unwrap();
    assert!(error
        .get_child(
            "feature-not-implemented",
            "urn:ietf:params:xml:ns:xmpp-stanzas"
        )
        .is_some());
    // bob starts typing and goes quiet: after the spec's 6 s he is no
    // longer typing (XMPP clients keep no such timeout).
    bob.send("@+typing=active TAGMSG #test").await;
    next_with(&mut alice, &occupant("bob"), "composing", CHATSTATES).await;
    let started = std::time::Instant::now();
    next_with(&mut alice, &occupant("bob"), "active", CHATSTATES).await;
    let after = started.elapsed();
    assert!(
        (5..9).contains(&after.as_secs()),
        "typing ran out after {after:?}"
    );

    // Nothing more reached the channel for the retraction.
    groupchat(&mut alice, "m9", "after").await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :after")).await;
    assert!(
        !bob.seen
            .iter()
            .any(|l| l.contains("retracted") || l.contains("QUIT")),
        "{:#?}",
        bob.seen
    );
}

/// The same in a direct chat: the contact's disco says what the server
/// carries, reactions and typing go both ways as TAGMSGs to the nick, and
/// an IRC user's reply names the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_tags_in_a_direct_chat() {
    let (_running, mut bob, mut alice) = start().await;
    let bob_jid: Jid = format!("bob%{}@{GW}", common::support::ircd::IRC_HOST)
        .parse()
        .unwrap();
    bob.send("PRIVMSG alice :psst").await;
    let echoed = bob.expect(|l| l.ends_with("PRIVMSG alice :psst")).await;
    let msgid = tag(&echoed, "msgid").expect("InspIRCd gives a msgid");
    let psst = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Chat
                    && m.from.as_ref() == Some(&bob_jid)
                    && body(m) == "psst" =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(psst.id.as_ref().map(|i| i.0.as_str()), Some(msgid.as_str()));

    // The contact offers what the server carries.
    let info = alice
        .iq(
            &bob_jid.to_string(),
            false,
            "<query xmlns='http://jabber.org/protocol/disco#info'/>"
                .parse()
                .unwrap(),
        )
        .await;
    let features: Vec<String> = result_payload(info)
        .expect("disco#info")
        .children()
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect();
    for f in [CORRECT, REACTIONS, REPLY, CHATSTATES] {
        assert!(features.iter().any(|h| h == f), "{f} missing: {features:?}");
    }
    assert!(!features.iter().any(|h| h == RETRACT), "{features:?}");

    // alice reacts (a direct chat names the message by its id).
    let mut react = Message::chat(Some(bob_jid.clone()));
    react.id = Some(Id("x1".into()));
    react.payloads.push(
        format!("<reactions xmlns='{REACTIONS}' id='{msgid}'><reaction>👍</reaction></reactions>")
            .parse()
            .unwrap(),
    );
    alice.send(react).await;
    let line = bob
        .expect(|l| tagmsg_to(l, "alice", "bob") && tag(l, "+draft/react").is_some())
        .await;
    assert_eq!(tag(&line, "+draft/reply").as_deref(), Some(msgid.as_str()));
    assert_eq!(tag(&line, "+draft/react").as_deref(), Some("👍"));

    // bob reacts to it, and types.
    bob.send(&format!(
        "@+draft/reply={msgid};+draft/react=🎉 TAGMSG alice"
    ))
    .await;
    let theirs = next_with(&mut alice, &bob_jid, "reactions", REACTIONS).await;
    assert_eq!(
        reactions_of(&theirs),
        (msgid.clone(), vec!["🎉".to_owned()])
    );
    bob.send("@+typing=active TAGMSG alice").await;
    next_with(&mut alice, &bob_jid, "composing", CHATSTATES).await;

    // alice types.
    let mut typing = Message::chat(Some(bob_jid.clone()));
    typing.payloads.push(
        format!("<composing xmlns='{CHATSTATES}'/>")
            .parse()
            .unwrap(),
    );
    alice.send(typing).await;
    let line = bob
        .expect(|l| tagmsg_to(l, "alice", "bob") && tag(l, "+typing").is_some())
        .await;
    assert_eq!(tag(&line, "+typing").as_deref(), Some("active"));

    // bob replies: a <reply/> naming the message, with its quote.
    bob.send(&format!("@+draft/reply={msgid} PRIVMSG alice :yes"))
        .await;
    let answer = next_with(&mut alice, &bob_jid, "reply", REPLY).await;
    assert_eq!(
        child(&answer, "reply", REPLY).attr("id"),
        Some(msgid.as_str())
    );
    assert_eq!(body(&answer), "> psst\nyes");
}
