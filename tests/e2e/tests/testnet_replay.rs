//! What a client reads of rich messages besides the live stanza, end to
//! end (a real Prosody and a real XMPP client, the test network the far
//! side): a network file replays from MAM and in join history with the
//! same XEP-0066 and XEP-0447 elements it had live; and a plain client,
//! which knows none of the rich-message XEPs, reads every reaction,
//! retraction, reply and correction from the network as text, each marked
//! with XEP-0428 where the XEP has a fallback. The gateway must be built
//! with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/upload.rs"]
mod upload;
use upload::oob;

use common::history::{join_with_history, leave_cleanly, mam_messages};
use common::room::is_history;
use common::Client;
use harness::{
    contact_jid, file_server, from_network, join, lobby, occupant_jid, room_jid, Testnet,
};
use switchboard_bridge_api::{Attachment, Event, MessageId, Target, UserId};
use tokio_xmpp::Stanza;
use upload::{pseudo_random, sfs, sha256};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;

const FALLBACK: &str = "urn:xmpp:fallback:0";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const REPLY: &str = "urn:xmpp:reply:0";
const CORRECT: &str = "urn:xmpp:message-correct:0";

/// The next live (undelayed) message from `from`.
async fn live_from(client: &mut Client, from: &Jid) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(from) && !is_history(m) => {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

fn body(m: &Message) -> String {
    m.get_best_body(vec![])
        .map(|(_, b)| b.clone())
        .unwrap_or_default()
}

/// A message's XEP-0428 fallbacks: what each is for, and its body range
/// (`None`: the whole body).
fn fallbacks(m: &Message) -> Vec<(String, Option<(String, String)>)> {
    m.payloads
        .iter()
        .filter(|p| p.is("fallback", FALLBACK))
        .map(|f| {
            let range = f.get_child("body", FALLBACK).map(|b| {
                (
                    b.attr("start").unwrap_or_default().to_owned(),
                    b.attr("end").unwrap_or_default().to_owned(),
                )
            });
            (f.attr("for").unwrap_or_default().to_owned(), range)
        })
        .collect()
}

fn has(m: &Message, name: &str, ns: &str) -> bool {
    m.payloads.iter().any(|p| p.is(name, ns))
}

/// A network message from bob with one file, which Prosody's upload
/// service takes: live it has the upload URL, XEP-0066 and XEP-0447 (name,
/// type, size, hash); paged from MAM, and in the join history of a
/// returning client, it has the same body, the same OOB and the same
/// XEP-0447 metadata and source, not a bare URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_file_replays_with_its_metadata() {
    let image = pseudo_random(64 * 1024, 3);
    let (port, _) = file_server(vec![("/photo.png", image.clone())]).await;
    let mut net = Testnet::start_with(
        Some(1 << 20),
        "[files]\nmax_file_size = 1048576\nallow_private_addresses = true\n",
    )
    .await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let photo = Attachment {
        url: format!("http://127.0.0.1:{port}/photo.png"),
        name: Some("photo.png".into()),
        media_type: Some("image/png".into()),
        size: None,
        needs_credentials: false,
        sha256: None,
    };
    let mut event = from_network("f-1", lobby(), "bob", "look");
    if let Event::Message(m) = &mut event {
        m.attachments = vec![photo];
    }
    net.control.inject("alice", event).await;
    let bob = occupant_jid("lobby", "bob");
    let live = live_from(&mut alice, &bob).await;
    let live_sfs = sfs(&live);
    assert_eq!(live_sfs.len(), 1, "{live:?}");
    let (name, media_type, size, hash, url) = live_sfs[0].clone();
    assert_eq!(
        (name.as_str(), media_type.as_str(), size, hash),
        (
            "photo.png",
            "image/png",
            image.len().to_string(),
            sha256(&image)
        )
    );
    assert_eq!(body(&live), format!("look\n{url}"));
    assert_eq!(oob(&live), [(url.clone(), Some("photo.png".into()))]);

    let replayed = |m: &Message, how: &str| {
        assert_eq!(body(m), body(&live), "{how}");
        assert_eq!(oob(m), oob(&live), "{how}: XEP-0066");
        assert_eq!(sfs(m), live_sfs, "{how}: XEP-0447");
    };
    let archive = mam_messages(&mut alice, &room_jid("lobby"), 50).await;
    let from_mam: Vec<Message> = archive
        .into_iter()
        .filter(|m| m.attr("id") == Some("f-1"))
        .map(|m| Message::try_from(m).unwrap())
        .collect();
    assert_eq!(from_mam.len(), 1);
    replayed(&from_mam[0], "MAM");

    let me = occupant_jid("lobby", "alice");
    leave_cleanly(&mut alice, me.clone()).await;
    join_with_history(&mut alice, me, 10).await;
    let history = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) && is_history(m) => Some(m.clone()),
            _ => None,
        })
        .await;
    replayed(&history, "join history");
}

/// What a plain client reads, in a room and in a direct chat: the
/// network's reply is a `> ` quote of the original then the text (the
/// quote marked as XEP-0461's fallback), its correction the new text, its
/// reactions a `/me reacted …` line and its retraction a sentence saying
/// so (each body wholly XEP-0444's or XEP-0424's fallback); none is
/// without a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_reads_every_rich_message_as_text() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let to_bob = Target::User(UserId::from("bob"));
    for (target, from) in [
        (lobby(), occupant_jid("lobby", "bob")),
        (to_bob, contact_jid("bob")),
    ] {
        let place = format!("{target:?}");
        net.control
            .inject(
                "alice",
                from_network("o-1", target.clone(), "bob", "lunch at noon?"),
            )
            .await;
        assert_eq!(body(&live_from(&mut alice, &from).await), "lunch at noon?");

        let mut reply = from_network("o-2", target.clone(), "bob", "or one");
        if let Event::Message(m) = &mut reply {
            m.reply_to = Some(MessageId::from("o-1"));
        }
        net.control.inject("alice", reply).await;
        let got = live_from(&mut alice, &from).await;
        let quote = "> lunch at noon?\n";
        assert_eq!(body(&got), format!("{quote}or one"), "{place}");
        assert!(has(&got, "reply", REPLY), "{place}");
        assert_eq!(
            fallbacks(&got),
            [(
                REPLY.into(),
                Some(("0".into(), quote.chars().count().to_string()))
            )],
            "{place}"
        );

        let edited = Event::Edited {
            target: target.clone(),
            message: MessageId::from("o-2"),
            author: UserId::from("bob"),
            author_nick: "bob".into(),
            text: "or at one".into(),
        };
        net.control.inject("alice", edited).await;
        let got = live_from(&mut alice, &from).await;
        assert!(has(&got, "replace", CORRECT), "{place}");
        assert_eq!(body(&got), "or at one", "{place}");

        let reacted = Event::Reacted {
            target: target.clone(),
            message: MessageId::from("o-1"),
            author: UserId::from("bob"),
            author_nick: "bob".into(),
            reactions: vec!["👍".into(), "🍕".into()],
        };
        net.control.inject("alice", reacted).await;
        let got = live_from(&mut alice, &from).await;
        assert!(has(&got, "reactions", REACTIONS), "{place}");
        assert_eq!(body(&got), "/me reacted 👍 🍕", "{place}");
        assert_eq!(fallbacks(&got), [(REACTIONS.into(), None)], "{place}");

        let retracted = Event::Retracted {
            target: target.clone(),
            message: MessageId::from("o-2"),
            by: UserId::from("bob"),
        };
        net.control.inject("alice", retracted).await;
        let got = live_from(&mut alice, &from).await;
        assert!(has(&got, "retract", RETRACT), "{place}");
        assert!(body(&got).contains("retract"), "{place}: {}", body(&got));
        assert_eq!(fallbacks(&got), [(RETRACT.into(), None)], "{place}");
    }
    // The MAM a plain client pages shows the reactions as text too.
    let archive = mam_messages(&mut alice, &room_jid("lobby"), 50).await;
    let reactions: Vec<&Element> = archive
        .iter()
        .filter(|m| m.has_child("reactions", REACTIONS))
        .collect();
    assert_eq!(reactions.len(), 1);
    let replayed = Message::try_from(reactions[0].clone()).unwrap();
    assert_eq!(body(&replayed), "/me reacted 👍 🍕");
    assert_eq!(fallbacks(&replayed), [(REACTIONS.into(), None)]);
}
