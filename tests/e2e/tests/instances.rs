//! Two instances of one network kind in one process (`[networks.irc]` and
//! `[networks.irc2] kind = "irc"`), each its own component domain on a real
//! Prosody, both bridging to a real ngircd: a user registers with each on
//! its own, joins the same channel through both as two IRC users, and talks
//! through each.

mod common;

use common::room::{body, muc_info, MUC_USER};
use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW1: &str = "irc.localhost";
const GW2: &str = "irc2.localhost";

fn config(prosody: &Prosody, ircd: &Ircd) -> String {
    let servers = format!("\"{IRC_HOST}\" = \"127.0.0.1:{}\"", ircd.port);
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [networks.irc]\njid = \"{GW1}\"\nsecret = \"one\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n{servers}\n\
         [networks.irc2]\nkind = \"irc\"\njid = \"{GW2}\"\nsecret = \"two\"\n\
         [networks.irc2.settings]\nflood_control = false\nmax_rooms_per_user = 3\n\
         [networks.irc2.settings.servers]\n{servers}\n",
        prosody.component_port
    )
}

/// `#test` on the IRC server, as a room of one gateway.
fn room(gw: &str) -> String {
    format!("#test%{IRC_HOST}@{gw}")
}

fn occupant(gw: &str, nick: &str) -> Jid {
    format!("{}/{nick}", room(gw)).parse().unwrap()
}

async fn join(client: &mut Client, gw: &str, nick: &str) {
    let mut p = Presence::available().with_to(occupant(gw, nick));
    p.id = Some(format!("join-{gw}"));
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    client.send(p).await;
}

/// Waits for the self-presence (110) of a join through `gw`.
async fn joined(client: &mut Client, gw: &str, nick: &str) {
    let from = occupant(gw, nick);
    client
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&from)
                    && p.type_ == Type::None
                    && muc_info(p).0.contains(&"110".to_owned()) =>
            {
                Some(())
            }
            _ => None,
        })
        .await
}

async fn say(client: &mut Client, gw: &str, id: &str, text: &str) {
    let mut m = Message::groupchat(Some(room(gw).parse::<Jid>().unwrap()))
        .with_body(Lang::new(), text.to_owned());
    m.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    client.send(m).await;
}

/// Waits for a groupchat body from `nick` in the room of `gw`.
async fn heard(client: &mut Client, gw: &str, nick: &str, text: &str) {
    let from = occupant(gw, nick);
    let m = client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref() == Some(&from)
                    && body(m) == text =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(m.to.map(|t| t.to_bare()), Some(client.jid.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_irc_instances_on_two_domains_in_one_process() {
    let prosody = Prosody::start(&[(GW1, "one"), (GW2, "two")]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;

    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW1, "nick=alice").await;

    // Registered with the first instance only: the second refuses her.
    join(&mut alice, GW2, "alicetwo").await;
    let refused = alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == Type::Error && p.id.as_deref() == Some("join-irc2.localhost") =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(refused.from, Some(occupant(GW2, "alicetwo")));
    let error = refused
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .expect("an <error/>");
    assert!(error.has_child(
        "registration-required",
        "urn:ietf:params:xml:ns:xmpp-stanzas"
    ));
    assert!(refused
        .payloads
        .iter()
        .any(|e| e.is("x", "http://jabber.org/protocol/muc")));
    assert!(!refused.payloads.iter().any(|e| e.is("x", MUC_USER)));

    // Registered with both, she is two IRC users in one channel.
    alice.register_by_chat(GW2, "nick=alicetwo").await;
    join(&mut alice, GW1, "alice").await;
    joined(&mut alice, GW1, "alice").await;
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;
    join(&mut alice, GW2, "alicetwo").await;
    joined(&mut alice, GW2, "alicetwo").await;
    bob.expect(|l| l.starts_with(":alicetwo!") && l.contains(" JOIN "))
        .await;

    // Each instance talks for its own IRC user; each sees the other's line.
    say(&mut alice, GW1, "m1", "hello through one").await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with(" PRIVMSG #test :hello through one"))
        .await;
    heard(&mut alice, GW2, "alice", "hello through one").await;
    say(&mut alice, GW2, "m2", "hello through two").await;
    bob.expect(|l| l.starts_with(":alicetwo!") && l.ends_with(" PRIVMSG #test :hello through two"))
        .await;
    heard(&mut alice, GW1, "alicetwo", "hello through two").await;

    // IRC reaches her through both domains.
    bob.send("PRIVMSG #test :hi both").await;
    heard(&mut alice, GW1, "bob", "hi both").await;
    heard(&mut alice, GW2, "bob", "hi both").await;
}
