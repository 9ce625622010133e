//! Files the XMPP user sends to a Matrix room, end to end: a real client
//! uploads through Prosody's upload service (XEP-0363) and shares the URL
//! (XEP-0066 and XEP-0447); the gateway fetches it, uploads it to the real
//! Synapse's media repository and sends an `m.image` whose content a second
//! Matrix user downloads byte-identical. A file over `[files] max_file_size` gets a
//! clear error. The gateway must be built with `cargo build --bin
//! switchboard --features test-network`; Synapse comes from
//! `scripts/install-test-deps`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;
#[path = "common/sync_gate.rs"]
mod sync_gate;
#[path = "common/upload.rs"]
mod upload;

use common::history::mam_messages;
use common::support::prosody::Prosody;
use harness::{join_at, Gateway};
use mx::{room_jid, ALICE_PASSWORD, GW, SECRET};
use serde_json::Value;
use synapse::{MatrixUser, Synapse, SERVER_NAME};
use sync_gate::SyncGate;
use upload::{file_message, image_bytes, message_error, oob, upload};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};

/// The gateway's limit for files in this test: 256 KiB.
const LIMIT: usize = 256 * 1024;

/// The `m.room.message` from `sender` whose body is `name`, once it is in
/// the room: its content.
async fn file_event(bob: &MatrixUser, room_id: &str, sender: &str, name: &str) -> Value {
    bob.wait_for_event(room_id, |e| {
        (e["type"] == "m.room.message" && e["sender"] == sender && e["content"]["body"] == name)
            .then(|| e["content"].clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xmpp_upload_arrives_in_matrix_as_an_image_byte_identical() {
    let prosody = Prosody::start_with_upload(&[(GW, SECRET)], 1 << 20);
    let synapse = Synapse::start();
    synapse.register("alice", ALICE_PASSWORD);
    synapse.register("bob", "bob-pw");
    let config = mx::config(
        prosody.component_port,
        &format!("[files]\nmax_file_size = {LIMIT}\nallow_private_addresses = true\n"),
    );
    let _gateway = Gateway::start(&config);
    let mut alice = mx::registered_alice(&prosody, &synapse).await;
    let bob = MatrixUser::login(&synapse, "bob", "bob-pw").await;
    let room_id = bob.create_room("pictures", "Pictures").await;
    let room = room_jid(&room_id);
    join_at(&mut alice, &room, "alice").await;
    let room: Jid = room.parse().unwrap();
    let alice_id = format!("@alice:{SERVER_NAME}");

    let photo = image_bytes(100_000);
    let url = upload(&mut alice, "summit.png", "image/png", &photo).await;
    let shared = file_message(
        &room,
        MessageType::Groupchat,
        "img-1",
        &url,
        ("summit.png", "image/png", photo.len()),
    );
    alice.send(shared).await;
    let content = file_event(&bob, &room_id, &alice_id, "summit.png").await;
    assert_eq!(content["msgtype"], "m.image", "{content}");
    assert_eq!(content["info"]["mimetype"], "image/png", "{content}");
    assert_eq!(content["info"]["size"], photo.len(), "{content}");
    let mxc = content["url"].as_str().expect("an mxc URL");
    let fetched = bob.download(mxc).await;
    assert!(
        fetched == photo,
        "the bytes differ ({} bytes)",
        fetched.len()
    );

    // Over the limit: refused with the reason, nothing reaches Matrix.
    let big = image_bytes(LIMIT + 1);
    let url = upload(&mut alice, "huge.png", "image/png", &big).await;
    let shared = file_message(
        &room,
        MessageType::Groupchat,
        "img-2",
        &url,
        ("huge.png", "image/png", big.len()),
    );
    alice.send(shared).await;
    let (from, condition, text) = message_error(&mut alice, "img-2").await;
    assert_eq!(from, Some(room));
    assert_eq!(condition, "policy-violation");
    assert_eq!(
        text,
        "huge.png is too large: files up to 256 KiB can be sent"
    );
}

/// alice sends a file and the gateway restarts before its sync brought the
/// file's echo (the relay in front of Synapse holds `/sync` answers). The
/// resumed sync brings the echo: the room's archive has the file as alice
/// shared it, at her URL, not the homeserver's copy uploaded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_a_file_sent_just_before_a_restart_is_not_uploaded_again() {
    let prosody = Prosody::start_with_upload(&[(GW, SECRET)], 1 << 20);
    let synapse = Synapse::start();
    synapse.register("alice", ALICE_PASSWORD);
    synapse.register("bob", "bob-pw");
    let gate = SyncGate::start(synapse.port).await;
    let config = mx::config(
        prosody.component_port,
        &format!("[files]\nmax_file_size = {LIMIT}\nallow_private_addresses = true\n"),
    );
    let mut gateway = Gateway::start(&config);
    let mut alice = mx::registered_alice_at(&prosody, &gate.url()).await;
    let bob = MatrixUser::login(&synapse, "bob", "bob-pw").await;
    let room_id = bob.create_room("sketches", "Sketches").await;
    let room = room_jid(&room_id);
    join_at(&mut alice, &room, "alice").await;
    let room: Jid = room.parse().unwrap();
    let alice_id = format!("@alice:{SERVER_NAME}");

    let photo = image_bytes(20_000);
    let url = upload(&mut alice, "draft.png", "image/png", &photo).await;
    gate.hold();
    let shared = file_message(
        &room,
        MessageType::Groupchat,
        "img-restart",
        &url,
        ("draft.png", "image/png", photo.len()),
    );
    alice.send(shared).await;
    file_event(&bob, &room_id, &alice_id, "draft.png").await;
    tokio::task::block_in_place(|| {
        gateway.stop();
        gate.release();
        gateway.launch();
    });

    // The echo went to the room's archive after the restart (alice's
    // client was told the room ended when the gateway stopped).
    let deadline = std::time::Instant::now() + common::ANSWER;
    let archived = loop {
        let files: Vec<Message> = mam_messages(&mut alice, room.as_str(), 50)
            .await
            .into_iter()
            .filter_map(|m| Message::try_from(m).ok())
            .filter(|m| !oob(m).is_empty())
            .collect();
        if let Some(m) = files.into_iter().next() {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no echo archived");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let urls: Vec<String> = oob(&archived).into_iter().map(|(u, _)| u).collect();
    assert_eq!(urls, [url], "the file came back as another upload");
}
