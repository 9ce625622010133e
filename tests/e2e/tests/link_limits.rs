//! The component link survives what any JID can send through a real Prosody:
//! a stanza that the server's encoding makes larger than the gateway's limit
//! is refused to its sender alone, and the link stays up for everyone.

mod common;

use common::support::prosody::{Prosody, DOMAIN, OTHER_DOMAIN};
use common::{Client, Switchboard};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

const GW: &str = "irc.localhost";
const SECRET: &str = "e2e-secret";

fn config(prosody: &Prosody) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n",
        prosody.component_port
    )
}

/// The condition and text of the error that answers message `id`.
async fn message_error(client: &mut Client, id: &str) -> (String, String) {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Error && m.id.as_ref().is_some_and(|i| i.0 == id) =>
            {
                let error = m
                    .payloads
                    .iter()
                    .find(|p| p.name() == "error")
                    .expect("an <error/> in the error message");
                let condition = error
                    .children()
                    .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
                    .map(|c| c.name().to_owned())
                    .unwrap_or_default();
                let text = error
                    .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
                    .map(|t| t.text())
                    .unwrap_or_default();
                Some((condition, text))
            }
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_stanza_from_anyone_is_refused_and_the_link_stays() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    prosody.register("eve", OTHER_DOMAIN, "pass");
    let _gateway = Switchboard::start(&config(&prosody));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    // Eve's domain may not register here; she can still send stanzas.
    let mut eve = Client::login(&format!("eve@{OTHER_DOMAIN}"), "pass", prosody.c2s_port).await;

    // 50,000 apostrophes: 50 kB from the client, about 300 kB once the
    // server has encoded each as `&apos;`, over the gateway's 256 KiB.
    let body = "'".repeat(50_000);
    for (round, to) in [GW, &format!("someone%irc.example.net@{GW}"), GW]
        .into_iter()
        .enumerate()
    {
        let id = format!("big-{round}");
        let mut big =
            Message::chat(Some(to.parse::<Jid>().unwrap())).with_body(Lang::new(), body.clone());
        big.id = Some(xmpp_parsers::message::Id(id.clone()));
        eve.send(big).await;
        let (condition, text) = message_error(&mut eve, &id).await;
        assert_eq!(condition, "policy-violation", "round {round}: {text}");
        assert!(
            text.contains("too large") && text.contains("262144"),
            "the error says why: {text}"
        );
        // The link never dropped: the gateway answers at once, for everyone.
        for client in [&mut eve, &mut alice] {
            let ping = client
                .iq(GW, false, Element::builder("ping", "urn:xmpp:ping").build())
                .await;
            assert!(
                matches!(ping, Iq::Result { .. }),
                "round {round}: the gateway answers a ping right after: {ping:?}"
            );
        }
    }
    // Alice, registered, still uses it as before.
    alice.say(GW, "status").await;
    let status = alice.reply_from(GW).await;
    assert!(status.contains("Registered"), "status: {status}");
}
