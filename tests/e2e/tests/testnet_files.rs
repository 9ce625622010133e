//! Files from the network (XEP-0066), end to end through a real Prosody and
//! a real XMPP client, the test network on the far side: a network
//! message's attachments reach the client as their URLs, in the body and
//! as out-of-band data, in a room and in a direct chat. The gateway must be
//! built with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::history::mam_messages;
use common::room::body;
use harness::{contact_jid, from_network, join, lobby, occupant_jid, room_jid, Testnet};
use switchboard_bridge_api::{Attachment, Command, Event, Target, UserId};
use tokio_xmpp::Stanza;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

const PHOTO: &str = "https://cdn.example/attachments/1/photo.jpg";
const NOTES: &str = "https://cdn.example/attachments/2/notes.pdf";

/// A network message with these files.
fn with_files(mut event: Event, urls: &[(&str, &str)]) -> Event {
    if let Event::Message(m) = &mut event {
        m.attachments = urls
            .iter()
            .map(|(url, name)| Attachment {
                url: (*url).to_owned(),
                name: Some((*name).to_owned()),
                media_type: None,
                size: None,
                needs_credentials: false,
                sha256: None,
            })
            .collect();
    }
    event
}

/// The message's out-of-band data, as (URL, description) pairs.
fn oob(m: &Message) -> Vec<(String, Option<String>)> {
    oob_of(m.payloads.iter())
}

/// The out-of-band data among these elements.
fn oob_of<'a>(payloads: impl Iterator<Item = &'a Element>) -> Vec<(String, Option<String>)> {
    payloads
        .filter_map(|p| Oob::try_from(p.clone()).ok())
        .map(|o| (o.url, o.desc))
        .collect()
}

/// A photo alone in a room is a message whose whole body is its URL (what
/// clients need to show it inline) with that URL as OOB data; a direct
/// message's text keeps its words, each file's URL on a line after them,
/// every file in OOB data. MAM replays the room's file with its OOB data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_files_reach_the_client_as_out_of_band_urls() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let joined = net.control.next_command("alice").await;
    assert!(matches!(joined, Command::Join { .. }), "{joined:?}");

    let photo = with_files(
        from_network("f-1", lobby(), "bob", ""),
        &[(PHOTO, "photo.jpg")],
    );
    net.control.inject("alice", photo).await;
    let bob = occupant_jid("lobby", "bob");
    let m = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat && m.from.as_ref() == Some(&bob) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(body(&m), PHOTO);
    assert_eq!(oob(&m), [(PHOTO.to_owned(), Some("photo.jpg".to_owned()))]);

    // MAM replays it with its file.
    let archive = mam_messages(&mut alice, &room_jid("lobby"), 10).await;
    let [archived] = &archive[..] else {
        panic!("{archive:?}")
    };
    assert_eq!(
        archived
            .get_child("body", "jabber:client")
            .map(Element::text),
        Some(PHOTO.to_owned())
    );
    assert_eq!(
        oob_of(archived.children()),
        [(PHOTO.to_owned(), Some("photo.jpg".to_owned()))]
    );

    let dm = with_files(
        from_network("f-2", Target::User(UserId::from("bob")), "bob", "two files"),
        &[(PHOTO, "photo.jpg"), (NOTES, "notes.pdf")],
    );
    net.control.inject("alice", dm).await;
    let from = contact_jid("bob");
    let m = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Chat && m.from.as_ref() == Some(&from) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(body(&m), format!("two files\n{PHOTO}\n{NOTES}"));
    assert_eq!(
        oob(&m),
        [
            (PHOTO.to_owned(), Some("photo.jpg".to_owned())),
            (NOTES.to_owned(), Some("notes.pdf".to_owned())),
        ]
    );
}
