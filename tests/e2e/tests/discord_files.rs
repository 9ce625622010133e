//! Files the XMPP user sends to a Discord channel, end to end: a real
//! client uploads through Prosody's upload service (XEP-0363) and shares
//! the URL (XEP-0066 and XEP-0447); the gateway fetches it and the Discord
//! double receives it as a real attachment (multipart `files[0]`),
//! byte-identical, under the user's nick; the room shows the user's
//! message with the file. A file over `[files] max_file_size` gets a clear
//! error in the room, and Discord is not asked. The gateway must be built
//! with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;
#[path = "common/upload.rs"]
mod upload;

use common::support::prosody::Prosody;
use common::Switchboard;
use discord_setup::{config, join, registered, room_jid, Setup, GW, SECRET};
use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use upload::{file_message, message_error, pseudo_random, upload};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;

/// The gateway's limit for files in this test: 256 KiB.
const LIMIT: usize = 256 * 1024;

/// The double, a Prosody with an upload service, and the gateway with
/// [`LIMIT`] (files from loopback allowed).
async fn start() -> Setup {
    let double = Double::start().await.unwrap();
    let prosody = Prosody::start_with_upload(&[(GW, SECRET)], 1 << 20);
    let files = format!("[files]\nmax_file_size = {LIMIT}\nallow_private_addresses = true\n");
    let gateway = Switchboard::start(&(config(&prosody, &double, "info") + &files));
    Setup {
        double,
        prosody,
        gateway,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xmpp_upload_arrives_in_discord_as_an_attachment_byte_identical() {
    let setup = start().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();

    let data = pseudo_random(100_000, 15);
    let url = upload(&mut alice, "minutes.pdf", "application/pdf", &data).await;
    let shared = file_message(
        &room,
        MessageType::Groupchat,
        "file-1",
        &url,
        ("minutes.pdf", "application/pdf", data.len()),
    );
    alice.send(shared).await;
    let post = setup
        .double
        .wait_request(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .await;
    assert_eq!(post.files.len(), 1, "one attachment: {:?}", post.body);
    assert_eq!(post.files[0].filename, "minutes.pdf");
    assert!(post.files[0].bytes == data, "the bytes differ");
    assert_eq!(post.body["username"], "alice");
    assert_eq!(
        post.body["content"], "",
        "the URL is not sent as text too: {}",
        post.body
    );
    // The room reflects the user's message with the file Discord holds.
    let reflected = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from
                        .as_ref()
                        .is_some_and(|f| f.to_bare() == room.to_bare()) =>
            {
                m.bodies.values().next().cloned()
            }
            _ => None,
        })
        .await;
    assert!(reflected.contains("minutes.pdf"), "{reflected}");

    // Over the operator's limit: refused with the reason, Discord not asked.
    let big = pseudo_random(LIMIT + 1, 16);
    let url = upload(&mut alice, "huge.bin", "application/octet-stream", &big).await;
    let shared = file_message(
        &room,
        MessageType::Groupchat,
        "file-2",
        &url,
        ("huge.bin", "application/octet-stream", big.len()),
    );
    alice.send(shared).await;
    let (from, condition, text) = message_error(&mut alice, "file-2").await;
    assert_eq!(from, Some(room));
    assert_eq!(condition, "policy-violation");
    assert_eq!(
        text,
        "huge.bin is too large: files up to 256 KiB can be sent"
    );
    let posts = setup
        .double
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .count();
    assert_eq!(posts, 1, "the large file reached Discord");
}

/// A file sent to a Discord person (their contact JID, a chat message
/// with the upload's URL) arrives in the DM channel as a real attachment,
/// byte-identical, posted by the bot with no nick in front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xmpp_upload_to_a_discord_contact_arrives_in_the_dm() {
    let setup = start().await;
    let mut me = registered(&setup, "me").await;
    let contact: Jid = discord_setup::contact_jid(discord::ALICE_ID)
        .parse()
        .unwrap();
    let data = pseudo_random(50_000, 17);
    let url = upload(&mut me, "photo.jpg", "image/jpeg", &data).await;
    let shared = file_message(
        &contact,
        MessageType::Chat,
        "dm-file-1",
        &url,
        ("photo.jpg", "image/jpeg", data.len()),
    );
    me.send(shared).await;
    let dm = discord::fixture::dm_channel_id(discord::ALICE_ID);
    let post = setup
        .double
        .wait_request(|r| {
            r.method == "POST" && r.path.ends_with(&format!("/channels/{dm}/messages"))
        })
        .await;
    assert_eq!(post.files.len(), 1, "one attachment: {:?}", post.body);
    assert_eq!(post.files[0].filename, "photo.jpg");
    assert!(post.files[0].bytes == data, "the bytes differ");
    assert_eq!(post.body["content"], "", "{}", post.body);
}
