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
#[path = "common/synapse.rs"]
mod synapse;
#[path = "common/upload.rs"]
mod upload;

use common::support::prosody::{Prosody, DOMAIN};
use common::Client;
use harness::{join_at, Gateway};
use serde_json::Value;
use synapse::{MatrixUser, Synapse, SERVER_NAME};
use upload::{file_message, image_bytes, message_error, upload};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;

const GW: &str = "matrix.localhost";
const SECRET: &str = "matrix-secret";
const ALICE_PASSWORD: &str = "alice-Matrix-pw-7341";
/// The gateway's limit for files in this test: 256 KiB.
const LIMIT: usize = 256 * 1024;

/// The room JID of a Matrix room id, escaped as the gateway does.
fn room_jid(id: &str) -> String {
    let node: String = id
        .chars()
        .map(|c| match c {
            ':' => "\\3a".to_owned(),
            c if c.is_ascii_uppercase() => format!("\\{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect();
    format!("{node}@{GW}")
}

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
    let config = format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"debug\"\n\
         [networks.matrix]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.matrix.settings]\nallow_private_addresses = true\nsync_timeout_secs = 5\n\
         [files]\nmax_file_size = {LIMIT}\nallow_private_addresses = true\n",
        prosody.component_port,
    );
    let _gateway = Gateway::start(&config);
    prosody.register("alice", DOMAIN, "pass");
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice
        .say(
            GW,
            &format!(
                "register homeserver={} user=alice password={ALICE_PASSWORD}",
                synapse.url()
            ),
        )
        .await;
    let done = alice.reply_from(GW).await;
    assert!(done.contains("You are registered"), "{done}");
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
