//! XEP-0425 moderation in a Matrix room, end to end (a real Synapse, a
//! real Prosody, a real XMPP client): alice, at power 50 in bob's room, is
//! a moderator there; her `<moderate/>` of carol's message redacts it on
//! Matrix, by her, with her reason, and the room tells her client the
//! message is retracted. Needs `cargo build --bin switchboard --features
//! test-network` and Synapse from `scripts/install-test-deps`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;
#[path = "common/matrix_trio.rs"]
mod trio;

use common::result_payload;
use harness::join_at;
use mx::room_jid;
use serde_json::json;
use synapse::{MatrixUser, SERVER_NAME};
use tokio_xmpp::Stanza;
use trio::Trio;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;

const MODERATE: &str = "urn:xmpp:message-moderate:1";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const SID: &str = "urn:xmpp:sid:0";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// The next groupchat message from `room` (the room or an occupant) that
/// `pick` accepts, as an element.
async fn next_in_room(
    client: &mut common::Client,
    room: &Jid,
    pick: impl Fn(&Element) -> bool,
) -> Element {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from
                        .as_ref()
                        .is_some_and(|f| f.to_bare() == room.to_bare()) =>
            {
                let e = Element::from(m.clone());
                pick(&e).then_some(e)
            }
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderators_retraction_is_a_redaction_with_her_reason() {
    let setup = Trio::start();
    let mut alice = setup.alice().await;
    let bob = setup.bob().await;
    let mut carol = MatrixUser::login(&setup.synapse, "carol", "carol-pw").await;
    let room_id = bob.create_room("market", "Market").await;
    carol.join(&room_id).await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let mut levels = bob.state(&room_id, "m.room.power_levels").await;
    levels["users"][&alice_id] = json!(50);
    bob.set_state(&room_id, "m.room.power_levels", levels).await;
    let jid = room_jid(&room_id);
    let room: Jid = jid.parse().unwrap();
    join_at(&mut alice, &jid, "alice").await;

    let info: Element = format!("<query xmlns='{DISCO_INFO}'/>").parse().unwrap();
    let info = result_payload(alice.iq(&jid, false, info).await).unwrap();
    assert!(
        info.children()
            .any(|f| f.is("feature", DISCO_INFO) && f.attr("var") == Some(MODERATE)),
        "the room offers no moderation"
    );

    let spam = carol.send(&room_id, "cheap watches here").await;
    let said = next_in_room(&mut alice, &room, |m| {
        m.get_child("body", "jabber:client")
            .map(Element::text)
            .as_deref()
            == Some("cheap watches here")
    })
    .await;
    let sid = said
        .get_child("stanza-id", SID)
        .and_then(|s| s.attr("id"))
        .expect("a stanza-id")
        .to_owned();
    let request: Element = format!(
        "<moderate xmlns='{MODERATE}' id='{sid}'><retract xmlns='{RETRACT}'/>\
         <reason>spam</reason></moderate>"
    )
    .parse()
    .unwrap();
    result_payload(alice.iq(&jid, true, request).await);

    // On Matrix: redacted by alice, with her reason.
    let deadline = std::time::Instant::now() + common::ANSWER;
    let because = loop {
        let event = bob.event(&room_id, &spam).await;
        let because = &event["unsigned"]["redacted_because"];
        if !because.is_null() {
            break because.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not redacted: {event}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(because["sender"], json!(alice_id), "{because}");
    assert_eq!(because["content"]["reason"], json!("spam"), "{because}");

    // In the room: the message retracted, as moderated.
    let gone = next_in_room(&mut alice, &room, |m| {
        m.get_child("retract", RETRACT)
            .is_some_and(|r| r.attr("id") == Some(sid.as_str()))
    })
    .await;
    let retract = gone.get_child("retract", RETRACT).unwrap();
    assert!(
        retract.get_child("moderated", MODERATE).is_some(),
        "{gone:?}"
    );
}
