//! TLS to IRC end to end: a CA and a server certificate made at test time,
//! InspIRCd 3 with `m_ssl_gnutls` on a TLS port, a real Prosody, the
//! switchboard process and a real XMPP client. The certificate is trusted
//! through the operator's CA file, or a pin in the user's server settings,
//! or not checked at all when the user turns verification off (and is
//! told); without any of these the join fails, saying why, and nothing is
//! tried in plain text.

mod common;

use common::room::{body, MUC_USER};
use common::support::ircd::{InspIrcd, IrcClient, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::support::test_ca::TestCa;
use common::{Client, Switchboard};
use std::net::TcpListener;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "tls-secret";

/// Everything one test needs: the CA, the TLS server, the gateway (with
/// the CA file or not, and `extra` operator settings) and alice, registered.
struct World {
    ca: TestCa,
    ircd: InspIrcd,
    _prosody: Prosody,
    _gateway: Switchboard,
    alice: Client,
}

async fn world(trust_ca: bool, extra: &str) -> World {
    let ca = TestCa::new();
    let ircd = InspIrcd::start_tls(&ca.server_cert(), &ca.server_key());
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ca_line = if trust_ca {
        format!("tls_ca_file = \"{}\"\n", ca.ca_cert().display())
    } else {
        String::new()
    };
    let gateway = Switchboard::start(&format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_control = false\n{ca_line}{extra}\n\
         [networks.irc.settings.servers]\n\
         \"{IRC_HOST}\" = {{ address = \"127.0.0.1:{}\", tls = true }}\n",
        prosody.component_port,
        ircd.tls_port.unwrap()
    ));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    World {
        ca,
        ircd,
        _prosody: prosody,
        _gateway: gateway,
        alice,
    }
}

fn room(chan: &str) -> String {
    format!("{chan}%{IRC_HOST}@{GW}")
}

/// Submits the server's settings form; returns the command's status and note.
async fn configure(alice: &mut Client, fields: &[(&str, &str)]) -> (String, String) {
    common::configure(alice, &format!("{IRC_HOST}@{GW}"), fields).await
}

async fn ask_to_join(alice: &mut Client, chan: &str) {
    let mut p =
        Presence::available().with_to(format!("{}/alice", room(chan)).parse::<Jid>().unwrap());
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(p).await;
}

/// The join's outcome: `Ok` on alice's self-presence (110), or the text
/// of the error presence.
async fn join(alice: &mut Client, chan: &str) -> Result<(), String> {
    ask_to_join(alice, chan).await;
    let bare: Jid = room(chan).parse().unwrap();
    let me: Jid = format!("{}/alice", room(chan)).parse().unwrap();
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&bare) && p.type_ == Type::Error => {
                let error = p.payloads.iter().find(|e| e.name() == "error")?;
                // XEP-0045 §7.2: an error presence answering a join carries the MUC x.
                assert!(
                    p.payloads
                        .iter()
                        .any(|e| e.is("x", "http://jabber.org/protocol/muc")),
                    "{p:?}"
                );
                Some(Err(error
                    .children()
                    .find(|c| c.name() == "text")
                    .map(|t| t.text())
                    .unwrap_or_default()))
            }
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&me)
                    && p.type_ == Type::None
                    && p.payloads.iter().any(|x| {
                        x.is("x", MUC_USER)
                            && x.children()
                                .any(|c| c.name() == "status" && c.attr("code") == Some("110"))
                    }) =>
            {
                Some(Ok(()))
            }
            _ => None,
        })
        .await
}

/// Messages both ways between alice (over the gateway's TLS link) and bob
/// (a plain client of the same server) in `chan`.
async fn talk(w: &mut World, chan: &str) {
    let mut bob = IrcClient::connect(w.ircd.port, "bob").await;
    bob.join(chan).await;
    let mut m = Message::groupchat(Some(room(chan).parse::<Jid>().unwrap()))
        .with_body(Lang::new(), "over TLS".to_owned());
    m.id = Some(xmpp_parsers::message::Id("m1".to_owned()));
    w.alice.send(m).await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with(&format!("PRIVMSG {chan} :over TLS")))
        .await;
    bob.send(&format!("PRIVMSG {chan} :hello alice")).await;
    let from: Jid = format!("{}/bob", room(chan)).parse().unwrap();
    let got = w
        .alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat && m.from.as_ref() == Some(&from) =>
            {
                Some(body(m))
            }
            _ => None,
        })
        .await;
    assert_eq!(got, "hello alice");
}

/// (a) The operator trusts the test CA: alice joins over TLS and talks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_ca_is_trusted() {
    let mut w = world(true, "").await;
    assert_eq!(join(&mut w.alice, "#tls").await, Ok(()));
    talk(&mut w, "#tls").await;
}

/// (b) Without the CA: the join fails with an error naming certificate
/// verification, and the plain port alice listed too is never tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_fails_the_join_and_nothing_goes_in_plain_text() {
    // A plain port listed by the user, after the TLS one: a witness.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    plain.set_nonblocking(true).unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let mut w = world(
        false,
        "allow_private_addresses = true\nallowed_ports = [\"1-65535\"]\n",
    )
    .await;
    let tls_port = w.ircd.tls_port.unwrap().to_string();
    let (status, _) = configure(
        &mut w.alice,
        &[("tls_ports", &tls_port), ("ports", &plain_port.to_string())],
    )
    .await;
    assert_eq!(status, "completed");
    let text = join(&mut w.alice, "#tls").await.unwrap_err();
    assert!(
        text.contains("TLS with irc.localhost failed")
            && text.contains("certificate could not be verified")
            && text.contains("not signed by a CA this gateway trusts"),
        "{text}"
    );
    // Nothing was tried in plain text: ports are tried in turn, so a
    // fallback would have connected before the error.
    assert!(
        plain.accept().is_err(),
        "the gateway fell back to the plain port"
    );
}

/// (c) A pin in the server's settings: the wrong one fails the join,
/// naming both fingerprints; the right one is trusted without the CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_certificate_is_trusted_and_a_wrong_pin_refused() {
    let mut w = world(false, "").await;
    let right = w.ca.server_fingerprint();
    let wrong = "00".repeat(32);
    let (status, _) = configure(&mut w.alice, &[("fingerprint", &wrong)]).await;
    assert_eq!(status, "completed");
    let text = join(&mut w.alice, "#wrong").await.unwrap_err();
    assert!(
        text.contains(&format!(
            "the server's certificate has the SHA-256 fingerprint {right}, not the pinned {}",
            ["00"; 32].join(":")
        )),
        "{text}"
    );
    let (status, _) = configure(&mut w.alice, &[("fingerprint", &right)]).await;
    assert_eq!(status, "completed");
    assert_eq!(join(&mut w.alice, "#pinned").await, Ok(()));
    talk(&mut w, "#pinned").await;
    // A fingerprint that is not one is refused, naming the field.
    let (status, note) = configure(&mut w.alice, &[("fingerprint", "AB:CD")]).await;
    assert_eq!(status, "executing");
    assert!(note.starts_with("fingerprint: "), "{note}");
}

/// (d) verify_cert off: the join succeeds, and the user is told the
/// certificate was not verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_off_connects_and_warns() {
    let mut w = world(false, "").await;
    let (status, _) = configure(&mut w.alice, &[("verify_cert", "false")]).await;
    assert_eq!(status, "completed");
    assert_eq!(join(&mut w.alice, "#open").await, Ok(()));
    let gw: Jid = GW.parse().unwrap();
    let warning = w
        .alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&gw) && m.type_ == MessageType::Chat => {
                Some(body(m)).filter(|b| b.contains("certificate"))
            }
            _ => None,
        })
        .await;
    assert_eq!(
        warning,
        "The TLS certificate of irc.localhost was not verified (verify_cert is off in this \
         server's settings): the connection is encrypted, but the server is not authenticated."
    );
}
