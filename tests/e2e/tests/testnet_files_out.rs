//! Files the XMPP user sends, XMPP → network, end to end: a real client
//! uploads through Prosody's upload service (XEP-0363, `mod_http_file_share`)
//! and sends the URL with XEP-0066 and XEP-0447 as clients do; the gateway
//! makes it an attachment of `SendText` (no text when the body was only the
//! URL), and the test network fetches it within `[files] max_file_size` and
//! reports the bytes. The gateway must be built with `cargo build --bin
//! switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/upload.rs"]
mod upload;

use common::room::body;
use harness::{contact_jid, join, occupant_jid, room_jid, Testnet};
use switchboard_bridge_api::{Attachment, Command, Target, UserId};
use tokio_xmpp::Stanza;
use upload::{file_message, image_bytes, message_error, upload};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::oob::Oob;

/// The network's limit in these tests: 64 KiB.
const LIMIT: u64 = 64 * 1024;

/// The next `SendText` alice's session got: (target, text, files, token).
async fn sent(net: &mut Testnet) -> (Target, String, Vec<Attachment>, String) {
    match net
        .control
        .expect_command("alice", |c| matches!(c, Command::SendText { .. }))
        .await
    {
        Command::SendText {
            target,
            text,
            attachments,
            token,
            ..
        } => (target, text, attachments, token),
        _ => unreachable!(),
    }
}

/// A photo shared in a room (SFS metadata and OOB, the body only its URL)
/// reaches the network as one attachment and no text, byte-identical once
/// fetched, and comes back to the client as its own message with the
/// URL and OOB; a file sent to a contact with OOB alone (as Conversations
/// sends it) is named by its URL and arrives the same, and so does one
/// shared with XEP-0447 alone and no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_file_reaches_the_network_byte_identical() {
    let mut net = Testnet::start_with_uploads(LIMIT).await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;

    let photo = image_bytes(40_000);
    let url = upload(&mut alice, "photo.png", "image/png", &photo).await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    let shared = file_message(
        &room,
        MessageType::Groupchat,
        "f-1",
        &url,
        ("photo.png", "image/png", photo.len()),
    );
    alice.send(shared).await;
    let (target, text, files, token) = sent(&mut net).await;
    assert_eq!(target, harness::lobby());
    assert_eq!(text, "", "the URL is not sent as text too");
    assert_eq!(token, "f-1");
    assert_eq!(
        files,
        [Attachment {
            url: url.clone(),
            name: Some("photo.png".into()),
            media_type: Some("image/png".into()),
            size: Some(photo.len() as u64),
            needs_credentials: false,
            sha256: None,
        }]
    );
    let (token, name, media_type, bytes) = net.control.file("alice").await;
    assert_eq!(
        (token.as_str(), name.as_str(), media_type.as_str()),
        ("f-1", "photo.png", "image/png")
    );
    assert!(bytes == photo, "the bytes differ ({} bytes)", bytes.len());
    // The reflection: the client's id, the URL as body and OOB.
    let own = occupant_jid("lobby", "alice");
    let reflection = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&own) && m.type_ == MessageType::Groupchat =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(reflection.id, Some(Id("f-1".into())));
    assert_eq!(body(&reflection), url);
    let oob: Vec<String> = reflection
        .payloads
        .iter()
        .filter_map(|p| Oob::try_from(p.clone()).ok())
        .map(|o| o.url)
        .collect();
    assert_eq!(oob, std::slice::from_ref(&url));

    // To a contact, OOB alone.
    let notes = b"notes, line one\nline two\n".repeat(100);
    let url = upload(&mut alice, "notes.txt", "text/plain", &notes).await;
    let mut dm = Message::chat(Some(contact_jid("bob"))).with_body(Lang::new(), url.clone());
    dm.id = Some(Id("f-2".into()));
    dm.payloads.push(
        Oob {
            url: url.clone(),
            desc: None,
        }
        .into(),
    );
    alice.send(dm).await;
    let (target, text, files, _) = sent(&mut net).await;
    assert_eq!(target, Target::User(UserId::from("bob")));
    assert_eq!(text, "");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].url, url);
    let (token, name, media_type, bytes) = net.control.file("alice").await;
    assert_eq!(token, "f-2");
    assert_eq!(name, "notes.txt", "named by the URL's last segment");
    assert!(media_type.starts_with("text/plain"), "{media_type}");
    assert_eq!(bytes, notes);

    // XEP-0447 alone, with no body (the XEP makes it optional): still a file.
    let clip = image_bytes(3_000);
    let url = upload(&mut alice, "clip.png", "image/png", &clip).await;
    let mut bare = file_message(
        &contact_jid("bob"),
        MessageType::Chat,
        "f-3",
        &url,
        ("clip.png", "image/png", clip.len()),
    );
    bare.bodies.clear();
    bare.payloads.retain(|p| Oob::try_from(p.clone()).is_err());
    alice.send(bare).await;
    let (_, text, files, _) = sent(&mut net).await;
    assert_eq!((text.as_str(), files.len()), ("", 1));
    let (token, name, _, bytes) = net.control.file("alice").await;
    assert_eq!((token.as_str(), name.as_str()), ("f-3", "clip.png"));
    assert_eq!(bytes, clip);
}

/// A file over the network's limit is not sent: the client's message gets
/// an error saying so (policy-violation, the name and the limit), from the
/// room it was sent to (a client finds the message by id there), and
/// nothing is echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_file_gets_a_clear_error() {
    let mut net = Testnet::start_with_uploads(LIMIT).await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let big = image_bytes(LIMIT as usize + 1);
    let url = upload(&mut alice, "big.png", "image/png", &big).await;
    // OOB only: the size is found out while fetching, not told.
    let room: Jid = room_jid("lobby").parse().unwrap();
    let mut m = Message::new(Some(room.clone())).with_body(Lang::new(), url.clone());
    m.type_ = MessageType::Groupchat;
    m.id = Some(Id("big-1".into()));
    m.payloads.push(
        Oob {
            url: url.clone(),
            desc: None,
        }
        .into(),
    );
    alice.send(m).await;
    let (_, _, files, _) = sent(&mut net).await;
    assert_eq!(files.len(), 1);
    let (from, condition, text) = message_error(&mut alice, "big-1").await;
    assert_eq!(from, Some(room));
    assert_eq!(condition, "policy-violation");
    assert_eq!(text, "big.png is too large: files up to 64 KiB can be sent");
    // No reflection of the refused message.
    let own = occupant_jid("lobby", "alice");
    let echoed = alice
        .maybe(std::time::Duration::from_secs(1), |s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&own) => Some(()),
            _ => None,
        })
        .await;
    assert!(echoed.is_none(), "a refused file was reflected");
}
