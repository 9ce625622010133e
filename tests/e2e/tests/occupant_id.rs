//! XEP-0421 occupant-ids on IRC channels, end to end (a real Prosody, the
//! switchboard process, ngircd, a real XMPP client): every occupant presence
//! and groupchat message says who it is from, the same through an IRC nick
//! change and across a gateway restart, and the room announces the feature.

mod common;

use common::room::{
    groupchat, groupchat_from, irc_config, is_history, join, muc_info, occupant, presence_from,
    room, GW,
};
use common::support::ircd::{IrcClient, Ircd};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Type;

const SECRET: &str = "irc-secret";
const OID: &str = "urn:xmpp:occupant-id:0";

/// The occupant-id of a stanza, checked against the XEP's form: exactly one
/// `<occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>`, empty, with an id
/// of 1 to 128 characters.
fn occupant_id(payloads: &[Element]) -> String {
    let ids: Vec<&Element> = payloads
        .iter()
        .filter(|p| p.name() == "occupant-id")
        .collect();
    assert_eq!(ids.len(), 1, "one <occupant-id/>: {payloads:?}");
    let e = ids[0];
    assert_eq!(e.ns(), OID);
    assert_eq!((e.children().count(), e.text()), (0, String::new()));
    assert_eq!(e.attrs().into_iter().count(), 1, "only an id");
    let id = e.attr("id").unwrap().to_owned();
    assert!((1..=128).contains(&id.chars().count()), "{id}");
    id
}

/// Logs alice in, registers her on a fresh gateway or waits until a
/// restarted one answers, and joins the test channel.
async fn alice_joins(prosody: &Prosody, register: bool) -> Client {
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    if register {
        alice.register_by_chat(GW, "nick=alice").await;
    } else {
        wait_until_up(&mut alice).await;
    }
    join(&mut alice, "alice").await;
    alice
}

/// Waits until the gateway answers a chat command (after a restart).
async fn wait_until_up(client: &mut Client) {
    let from: xmpp_parsers::jid::Jid = GW.parse().unwrap();
    for _ in 0..40 {
        client.say(GW, "status").await;
        let reply = client
            .maybe(Duration::from_secs(2), |s| match s {
                Stanza::Message(m)
                    if m.from.as_ref() == Some(&from) && m.type_ != MessageType::Error =>
                {
                    Some(())
                }
                _ => None,
            })
            .await;
        if reply.is_some() {
            return;
        }
    }
    panic!("the gateway did not come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occupants_and_their_messages_carry_stable_occupant_ids() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let mut gateway = Switchboard::start(&irc_config(prosody.component_port, ircd.port, SECRET));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    let mut carol = IrcClient::connect(ircd.port, "carol").await;
    carol.join("#test").await;

    // The join sequence: each occupant with an occupant-id, one per person.
    let mut alice = alice_joins(&prosody, true).await;
    let bob_id = occupant_id(
        &presence_from(&mut alice, occupant("bob"), Type::None)
            .await
            .payloads,
    );
    let carol_id = occupant_id(
        &presence_from(&mut alice, occupant("carol"), Type::None)
            .await
            .payloads,
    );
    let own = presence_from(&mut alice, occupant("alice"), Type::None).await;
    assert!(muc_info(&own).0.contains(&"110".to_owned()));
    let alice_id = occupant_id(&own.payloads);
    assert!(bob_id != carol_id && bob_id != alice_id && carol_id != alice_id);
    assert!(
        !bob_id.contains("bob") && !carol_id.contains("carol"),
        "pseudonymous"
    );

    // The room says it does XEP-0421.
    let info = common::result_payload(
        alice
            .iq(
                &room(),
                false,
                Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
            )
            .await,
    )
    .unwrap();
    assert!(
        info.children()
            .any(|f| f.name() == "feature" && f.attr("var") == Some(OID)),
        "room disco lists {OID}"
    );

    // A message from IRC carries its author's occupant-id, as the presence did.
    bob.send("PRIVMSG #test :hello").await;
    let m = groupchat_from(&mut alice, "bob").await;
    assert_eq!(occupant_id(&m.payloads), bob_id);
    // The user's own message comes back with their own.
    groupchat(&mut alice, "own-1", "hi bob").await;
    let mine = groupchat_from(&mut alice, "alice").await;
    assert_eq!(occupant_id(&mine.payloads), alice_id);

    // An IRC nick change: the same occupant under a new nick (XEP-0045 303).
    bob.send("NICK bobby").await;
    let gone = presence_from(&mut alice, occupant("bob"), Type::Unavailable).await;
    let (codes, item) = muc_info(&gone);
    assert!(codes.contains(&"303".to_owned()), "{codes:?}");
    assert_eq!(item.and_then(|i| i.2).as_deref(), Some("bobby"));
    assert_eq!(occupant_id(&gone.payloads), bob_id);
    let back = presence_from(&mut alice, occupant("bobby"), Type::None).await;
    assert_eq!(
        occupant_id(&back.payloads),
        bob_id,
        "same occupant-id after the rename"
    );
    bob.nick = "bobby".into();
    bob.send("PRIVMSG #test :still me").await;
    let m = groupchat_from(&mut alice, "bobby").await;
    assert_eq!(occupant_id(&m.payloads), bob_id);

    // A leave says who left.
    carol.send("PART #test :bye").await;
    let left = presence_from(&mut alice, occupant("carol"), Type::Unavailable).await;
    assert_eq!(occupant_id(&left.payloads), carol_id);
    carol.join("#test").await;
    let again = presence_from(&mut alice, occupant("carol"), Type::None).await;
    assert_eq!(
        occupant_id(&again.payloads),
        carol_id,
        "the same on rejoining"
    );

    // A restart of the gateway: the same people, the same occupant-ids.
    drop(alice);
    gateway.restart();
    let mut alice = alice_joins(&prosody, false).await;
    let carol_after = presence_from(&mut alice, occupant("carol"), Type::None).await;
    assert_eq!(occupant_id(&carol_after.payloads), carol_id);
    let own_after = presence_from(&mut alice, occupant("alice"), Type::None).await;
    assert_eq!(occupant_id(&own_after.payloads), alice_id);
    // Join history: each archived message with its author's occupant-id,
    // the one it had live.
    for (nick, id) in [("bob", &bob_id), ("alice", &alice_id)] {
        let from = occupant(nick);
        let old = alice
            .wait_for(|s| match s {
                Stanza::Message(m) if m.from.as_ref() == Some(&from) && is_history(m) => {
                    Some(m.clone())
                }
                _ => None,
            })
            .await;
        assert_eq!(&occupant_id(&old.payloads), id, "{nick}'s in history");
    }
    gateway.stop();
}
