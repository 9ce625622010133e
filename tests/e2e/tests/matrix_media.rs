//! Matrix media reaching the XMPP user, end to end: a second Matrix user
//! uploads files to the real Synapse's media repository and sends
//! `m.image` and `m.file` events; the gateway fetches them with the
//! user's token (authenticated media), uploads them to Prosody's upload
//! service (XEP-0363) and the XMPP client gets the upload URL as the body,
//! with XEP-0066 and XEP-0447 metadata, and fetches the very bytes. A
//! caption comes as text; a reply to the file and a correction of its
//! caption name it. Without an upload service the user gets a line saying
//! the file could not be shown, never the homeserver's URL or the token.
//! The gateway must be built with `cargo build --bin switchboard
//! --features test-network`; Synapse comes from `scripts/install-test-deps`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;
// Its `message_error` is not needed here.
#[path = "common/upload.rs"]
mod upload;
use upload::oob;

use common::support::prosody::Prosody;
use common::Client;
use harness::{join_at, Gateway};
use mx::{room_jid, ALICE_PASSWORD, GW, SECRET};
use serde_json::json;
use synapse::{MatrixUser, Synapse, SERVER_NAME};
use tokio_xmpp::Stanza;
use upload::{get, pseudo_random, sfs, sha256};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;

const REPLY: &str = "urn:xmpp:reply:0";
const CORRECT: &str = "urn:xmpp:message-correct:0";
const SID: &str = "urn:xmpp:sid:0";

/// Synapse with alice and bob, the gateway on this Prosody, alice's XMPP
/// client registered and in a room bob made: (client, bob, room id, room
/// JID, gateway, synapse).
async fn alice_in_bobs_room(
    prosody: &Prosody,
) -> (Client, MatrixUser, String, Jid, Gateway, Synapse) {
    let synapse = Synapse::start();
    synapse.register("alice", ALICE_PASSWORD);
    synapse.register("bob", "bob-pw");
    let config = mx::config(
        prosody.component_port,
        "[files]\nallow_private_addresses = true\n",
    );
    let gateway = Gateway::start(&config);
    let mut alice = mx::registered_alice(prosody, &synapse).await;
    let bob = MatrixUser::login(&synapse, "bob", "bob-pw").await;
    let room_id = bob.create_room("media", "Media").await;
    let room = room_jid(&room_id);
    join_at(&mut alice, &room, "alice").await;
    (alice, bob, room_id, room.parse().unwrap(), gateway, synapse)
}

/// The next live groupchat message from `from`.
async fn from_occupant(client: &mut Client, from: &Jid) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from)
                    && m.type_ == MessageType::Groupchat
                    && !m.payloads.iter().any(|p| p.name() == "delay") =>
            {
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

/// A payload's attribute.
fn child_attr(m: &Message, name: &str, ns: &str, attr: &str) -> Option<String> {
    m.payloads
        .iter()
        .find(|p| p.is(name, ns))
        .and_then(|c| c.attr(attr))
        .map(str::to_owned)
}

/// bob's 2 MiB `m.image` (authenticated media on Synapse) reaches alice as an
/// upload URL on Prosody that she fetches byte-identical, with OOB and
/// XEP-0447 (its hash that of the bytes); an `m.file` with a caption gives
/// the caption, then the URL; bob's reply to the image names its
/// stanza-id, his correction of the file's caption names the file
/// message. Nothing alice receives names the homeserver's media (whose
/// download needs her token). alice's own file comes back to her as the
/// URL she shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_files_arrive_as_uploads_on_the_xmpp_server() {
    let prosody = Prosody::start_with_upload(&[(GW, SECRET)], 10 << 20);
    let http_port = prosody.http_port.unwrap();
    let uploads = format!("http://127.0.0.1:{http_port}/");
    let (mut alice, mut bob, room_id, room, gateway, _synapse) = alice_in_bobs_room(&prosody).await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    // The homeserver's media (whose download needs alice's token) is
    // never named to the client.
    let clean = |m: &Message| {
        let xml = String::from(&Element::from(m.clone()));
        for hidden in ["_matrix", "mxc:", "Bearer"] {
            assert!(!xml.contains(hidden), "{hidden} shown: {xml}");
        }
    };

    let photo = pseudo_random(2 * 1024 * 1024, 7);
    let mxc = bob.upload("summit.png", "image/png", &photo).await;
    let rss_before = gateway.memory_kb();
    let sent = std::time::Instant::now();
    let image = bob
        .send_event(
            &room_id,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "summit.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": photo.len()}}),
        )
        .await;
    let m = from_occupant(&mut alice, &bob_occupant).await;
    let took = sent.elapsed();
    let rss_after = gateway.memory_kb();
    println!(
        "2 MiB m.image: {} ms from Matrix send to the XMPP message; gateway VmRSS/VmHWM \
         {rss_before:?} kB before, {rss_after:?} kB after",
        took.as_millis()
    );
    clean(&m);
    let url = body(&m);
    assert!(url.starts_with(&uploads), "not an upload URL: {url}");
    assert_eq!(oob(&m), [(url.clone(), Some("summit.png".to_owned()))]);
    let fetched = get(&url).await;
    assert!(
        fetched == photo,
        "the bytes differ ({} bytes)",
        fetched.len()
    );
    let metadata: Vec<_> = sfs(&m)
        .into_iter()
        .map(|(name, media_type, size, hash, _)| (name, media_type, size, hash))
        .collect();
    assert_eq!(
        metadata,
        [(
            "summit.png".to_owned(),
            "image/png".to_owned(),
            photo.len().to_string(),
            sha256(&photo),
        )]
    );
    let image_sid = child_attr(&m, "stanza-id", SID, "id").expect("a stanza-id");
    assert_eq!(m.id.as_ref().map(|i| i.0.as_str()), Some(image.as_str()));

    // A file with a caption (MSC2530): the caption, then the URL.
    let minutes = b"minutes of the meeting\n".repeat(400);
    let mxc = bob.upload("minutes.txt", "text/plain", &minutes).await;
    let file = bob
        .send_event(
            &room_id,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "the minutes, as promised",
                   "filename": "minutes.txt", "url": mxc,
                   "info": {"mimetype": "text/plain", "size": minutes.len()}}),
        )
        .await;
    let m = from_occupant(&mut alice, &bob_occupant).await;
    clean(&m);
    let text = body(&m);
    let (caption, url) = text.split_once('\n').expect("a caption, then the URL");
    assert_eq!(caption, "the minutes, as promised");
    assert!(url.starts_with(&uploads), "{url}");
    assert!(get(url).await == minutes, "the bytes differ");
    assert_eq!(sfs(&m)[0].0, "minutes.txt");

    // A reply to the image, a correction of the file's caption.
    let reply = json!({
        "msgtype": "m.text",
        "body": format!("> <{}> summit.png\n\nwhat a view", bob.user_id),
        "m.relates_to": {"m.in_reply_to": {"event_id": image}},
    });
    bob.send_event(&room_id, "m.room.message", reply).await;
    let m = from_occupant(&mut alice, &bob_occupant).await;
    assert_eq!(child_attr(&m, "reply", REPLY, "id"), Some(image_sid));
    assert!(body(&m).ends_with("what a view"), "{}", body(&m));
    let edit = json!({
        "msgtype": "m.file", "body": "* the final minutes", "filename": "minutes.txt",
        "url": mxc,
        "m.new_content": {"msgtype": "m.file", "body": "the final minutes",
                          "filename": "minutes.txt", "url": mxc},
        "m.relates_to": {"rel_type": "m.replace", "event_id": file},
    });
    bob.send_event(&room_id, "m.room.message", edit).await;
    let m = from_occupant(&mut alice, &bob_occupant).await;
    assert_eq!(child_attr(&m, "replace", CORRECT, "id"), Some(file));
    assert_eq!(body(&m), "the final minutes");
    clean(&m);

    // alice's own file, sent from XMPP: her reflection is the URL she
    // shared (not a copy fetched back from Matrix and uploaded again).
    let own = pseudo_random(50 * 1024, 5);
    let shared = upload::upload(&mut alice, "mine.png", "image/png", &own).await;
    let message = upload::file_message(
        &room,
        MessageType::Groupchat,
        "own-1",
        &shared,
        ("mine.png", "image/png", own.len()),
    );
    alice.send(message).await;
    let alice_occupant: Jid = format!("{room}/alice").parse().unwrap();
    let m = from_occupant(&mut alice, &alice_occupant).await;
    assert_eq!(m.id.as_ref().map(|i| i.0.as_str()), Some("own-1"));
    assert_eq!(body(&m), shared);
    assert_eq!(oob(&m), [(shared.clone(), Some("mine.png".to_owned()))]);
    drop(gateway);
}

/// No upload service on the XMPP server: bob's image is a line naming it
/// and saying it could not be shown, not the homeserver's URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_upload_service_the_user_is_told() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    let (mut alice, mut bob, room_id, room, _gateway, _synapse) =
        alice_in_bobs_room(&prosody).await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    let photo = pseudo_random(200 * 1024, 3);
    let mxc = bob.upload("summit.png", "image/png", &photo).await;
    bob.send_event(
        &room_id,
        "m.room.message",
        json!({"msgtype": "m.image", "body": "summit.png", "url": mxc,
               "info": {"mimetype": "image/png", "size": photo.len()}}),
    )
    .await;
    let m = from_occupant(&mut alice, &bob_occupant).await;
    assert_eq!(
        body(&m),
        "[file summit.png (200 kB) could not be shown here]"
    );
    assert!(oob(&m).is_empty() && sfs(&m).is_empty(), "{m:?}");
    let xml = String::from(&Element::from(m));
    assert!(!xml.contains("_matrix") && !xml.contains("mxc:"), "{xml}");
}

/// The next chat message from this JID.
async fn chat_from(client: &mut Client, from: &Jid) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(from) && m.type_ == MessageType::Chat => {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// In a direct chat bob opens, his `m.image` reaches alice from his
/// contact JID as an upload URL she fetches byte-identical, with its hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_a_direct_chat_arrives_from_the_contact() {
    let prosody = Prosody::start_with_upload(&[(GW, SECRET)], 10 << 20);
    let http_port = prosody.http_port.unwrap();
    let (mut alice, mut bob, _room_id, _room, _gateway, _synapse) =
        alice_in_bobs_room(&prosody).await;
    let dm = bob.create_direct(&format!("@alice:{SERVER_NAME}")).await;
    bob.send(&dm, "a picture for you").await;
    let bob_jid: Jid = format!("\\40bob\\3a{SERVER_NAME}@{GW}").parse().unwrap();
    let m = chat_from(&mut alice, &bob_jid).await;
    assert_eq!(body(&m), "a picture for you");

    let photo = pseudo_random(120 * 1024, 9);
    let mxc = bob.upload("beach.jpg", "image/jpeg", &photo).await;
    bob.send_event(
        &dm,
        "m.room.message",
        json!({"msgtype": "m.image", "body": "beach.jpg", "url": mxc,
               "info": {"mimetype": "image/jpeg", "size": photo.len()}}),
    )
    .await;
    let m = chat_from(&mut alice, &bob_jid).await;
    let url = body(&m);
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{http_port}/")),
        "not an upload URL: {url}"
    );
    assert!(get(&url).await == photo, "the bytes differ");
    assert_eq!(sfs(&m)[0].3, sha256(&photo));
    assert_eq!(oob(&m), [(url, Some("beach.jpg".to_owned()))]);
}
