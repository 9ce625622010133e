//! The Matrix session's sync end to end (real Synapse, which serves
//! simplified sliding sync): the move from a saved `/sync` position to
//! sliding sync, an expired sliding position, and a kick that a sliding
//! answer brings as a left room. The gateway must be built with `cargo
//! build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;

use common::history::{join_history, join_with_history, leave_cleanly};
use common::support::prosody::Prosody;
use common::Client;
use harness::{join_at, Gateway};
use mx::{room_jid, ALICE_PASSWORD, GW, SECRET};
use synapse::{MatrixUser, Synapse, SERVER_NAME};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;

/// Prosody, Synapse with alice and bob, and the gateway.
struct Setup {
    gateway: Gateway,
    synapse: Synapse,
    prosody: Prosody,
}

impl Setup {
    /// Everything started, the gateway with sliding sync on or off.
    fn start(sliding: bool) -> Self {
        let prosody = Prosody::start(&[(GW, SECRET)]);
        let synapse = Synapse::start();
        synapse.register("alice", ALICE_PASSWORD);
        synapse.register("bob", "bob-pw");
        let config = mx::config_sync(prosody.component_port, "", sliding);
        let gateway = Gateway::start(&config);
        Self {
            gateway,
            synapse,
            prosody,
        }
    }

    /// alice registered, in a room bob made with this alias localpart
    /// (joined by its id): her client, bob, the room id and its JID.
    async fn bob_and_alice_in(&self, alias: &str) -> (Client, MatrixUser, String, String) {
        let mut alice = mx::registered_alice(&self.prosody, &self.synapse).await;
        let bob = MatrixUser::login(&self.synapse, "bob", "bob-pw").await;
        let room_id = bob.create_room(alias, alias).await;
        let room = room_jid(&room_id);
        join_at(&mut alice, &room, "alice").await;
        (alice, bob, room_id, room)
    }
}

/// The next groupchat message from this occupant: its body.
async fn groupchat_from(client: &mut Client, from: &Jid) -> String {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from) && m.type_ == MessageType::Groupchat =>
            {
                let body = m.get_best_body(vec![]).map(|(_, b)| b.clone())?;
                Some(body)
            }
            _ => None,
        })
        .await
}

/// Rejoins `room` until its history holds `last`; the bodies of that
/// history that start with `prefix`, in order.
async fn history_until(alice: &mut Client, room: &str, last: &str, prefix: &str) -> Vec<String> {
    let me: Jid = format!("{room}/alice").parse().unwrap();
    let mut history = Vec::new();
    for _ in 0..20 {
        join_with_history(alice, me.clone(), 200).await;
        history = join_history(alice, &room.parse().unwrap()).await;
        if history.iter().any(|h| h.0 == last) {
            break;
        }
        leave_cleanly(alice, me.clone()).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    history
        .into_iter()
        .map(|h| h.0)
        .filter(|b| b.starts_with(prefix))
        .collect()
}

/// The `/sync` fallback (`sliding_sync = false`, as for a homeserver
/// without sliding sync) shows bob's messages live; the gateway stops, bob
/// posts, and it starts again with sliding sync: its first session on it
/// resumes from the saved `/sync` position, so every message reaches the
/// room's history once, in order, and later ones arrive live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_sync_to_sliding_sync_loses_and_repeats_nothing() {
    let mut setup = Setup::start(false);
    let port = setup.prosody.component_port;
    let config = move |sliding| mx::config_sync(port, "", sliding);
    let (mut alice, mut bob, room_id, room) = setup.bob_and_alice_in("upgrade").await;
    let text = |i: usize| format!("upgrade {i}");
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    for i in 1..=3 {
        bob.send(&room_id, &text(i)).await;
        assert_eq!(groupchat_from(&mut alice, &bob_occupant).await, text(i));
    }
    assert!(setup.gateway.log().contains("sliding=false"));
    tokio::task::block_in_place(|| setup.gateway.stop());
    for i in 4..=8 {
        bob.send(&room_id, &text(i)).await;
    }
    let toml = setup.gateway.database().with_file_name("switchboard.toml");
    std::fs::write(toml, config(true)).unwrap();
    tokio::task::block_in_place(|| setup.gateway.launch());
    const N: usize = 10;
    for i in 9..=N {
        bob.send(&room_id, &text(i)).await;
    }
    let got = history_until(&mut alice, &room, &text(N), "upgrade ").await;
    let expected: Vec<String> = (1..=N).map(text).collect();
    assert_eq!(got, expected);
    // And live after it (past the history the rejoins replayed).
    bob.send(&room_id, "after the upgrade").await;
    while groupchat_from(&mut alice, &bob_occupant).await != "after the upgrade" {}
    assert!(setup.gateway.log().contains("sliding=true"));
}

/// The saved sliding sync position names a connection Synapse no longer
/// knows (as after it expired): the session starts a new connection, whose
/// rooms come whole, and shows what was posted meanwhile once, in order,
/// bounded by the last event it had shown, and no older history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_sliding_position_starts_again_without_replaying() {
    let mut setup = Setup::start(true);
    let (mut alice, mut bob, room_id, room) = setup.bob_and_alice_in("expired").await;
    let text = |i: usize| format!("expired {i}");
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    for i in 1..=3 {
        bob.send(&room_id, &text(i)).await;
        assert_eq!(groupchat_from(&mut alice, &bob_occupant).await, text(i));
    }
    tokio::task::block_in_place(|| setup.gateway.stop());
    for i in 4..=6 {
        bob.send(&room_id, &text(i)).await;
    }
    // The connection position (before the `/`) made one never given out.
    let database = setup.gateway.database();
    let status = std::process::Command::new("sqlite3")
        .arg(&database)
        .arg(
            "UPDATE session_state SET value = '999999' || substr(value, instr(value, '/')) \
             WHERE name = 'pos'",
        )
        .status()
        .expect("the sqlite3 tool");
    assert!(status.success());
    tokio::task::block_in_place(|| setup.gateway.launch());
    const N: usize = 8;
    for i in 7..=N {
        bob.send(&room_id, &text(i)).await;
    }
    let got = history_until(&mut alice, &room, &text(N), "expired ").await;
    let expected: Vec<String> = (1..=N).map(text).collect();
    assert_eq!(got, expected);
    assert!(setup.gateway.log().contains("position expired"));
}

/// bob kicks alice from the room: her client is told she was kicked
/// (XEP-0045 status 307, with bob's reason), as a sync brings it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_on_matrix_is_a_kick_in_the_room() {
    let setup = Setup::start(true);
    let (mut alice, mut bob, room_id, room) = setup.bob_and_alice_in("kicks").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    bob.send(&room_id, "before the kick").await;
    assert_eq!(
        groupchat_from(&mut alice, &bob_occupant).await,
        "before the kick"
    );
    let alice_id = format!("@alice:{SERVER_NAME}");
    bob.kick(&room_id, &alice_id, "enough").await;
    let me: Jid = format!("{room}/alice").parse().unwrap();
    let kicked = alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&me)
                    && p.type_ == xmpp_parsers::presence::Type::Unavailable =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    let (codes, _) = common::room::muc_info(&kicked);
    assert!(
        codes.contains(&"307".to_owned()),
        "a kick is 307: {codes:?}"
    );
}
