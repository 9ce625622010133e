//! The Matrix bench, run end to end against a Synapse holding the big
//! rooms (`bigroom`): Prosody, the gateway (the binary `SWITCHBOARD_BIN`
//! names, else target/debug/switchboard) talking to Synapse through a
//! counting proxy, one XMPP user, and a naive client through a proxy of
//! its own. Used by `scripts/bench --matrix` (full size) and by the e2e
//! test `matrix_bench` (CI size).
//!
//! In order, on one gateway process: its idle RSS; one Matrix user already
//! in 50 small rooms registers (RSS once it settles); that user joins each
//! big room, smallest first (bytes, time to a message, RSS growth), and a
//! fresh naive user joins the same room; then bursts both ways in the
//! smallest big room.
#![allow(dead_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::bigroom::{self, create_user, force_join, login_as, user_id, Api, BuiltRoom};
use crate::common::support::prosody::{Prosody, DOMAIN};
use crate::common::{Client, Switchboard};
use crate::mxmeasure::{self, rss_kb, Burst, CountingProxy, Join};
use crate::synapse::{encode, Synapse};

const GW: &str = "matrix.localhost";
const SECRET: &str = "mxbench-secret";
/// How many small rooms the registered user is already in.
pub const IDLE_ROOMS: usize = 50;

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Figures {
    pub idle_rss_kb: u64,
    pub rooms_rss_kb: u64,
    /// Bytes of the gateway's initial sync (the 50 rooms) and a naive one.
    pub initial_sync_bytes: u64,
    pub naive_initial_sync_bytes: u64,
    /// Per big room: (members, Switchboard, naive client).
    pub joins: Vec<(usize, Join, Join)>,
    /// Per big room, the same join by a minimal sliding sync (MSC4186)
    /// client with the gateway's needs.
    pub sliding: Vec<Join>,
    pub to_xmpp: Burst,
    pub to_matrix: Burst,
    pub burst_messages: usize,
}

/// A tag unique to this run, for the names of its users and rooms.
fn stamp() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("r{}", t.as_secs() % 100_000_000)
}

/// Makes `IDLE_ROOMS` small rooms (a sender, a few messages) with `user` in them.
async fn idle_rooms(admin: &Api, user: &str, tag: &str) {
    use futures::StreamExt;
    futures::stream::iter(0..IDLE_ROOMS)
        .map(|n| async move {
            let body = json!({
                "room_alias_name": format!("idle{n}-{tag}"),
                "name": format!("Idle room {n}"),
                "preset": "public_chat",
            });
            let room = admin
                .client(reqwest::Method::POST, "createRoom", Some(body))
                .await;
            let room_id = room["room_id"].as_str().unwrap().to_owned();
            for i in 0..5 {
                admin
                    .send(
                        &room_id,
                        &format!("i{n}-{i}"),
                        &format!("idle room talk {i}"),
                    )
                    .await;
            }
            force_join(admin, user, &room_id).await;
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Waits until no byte went through the proxy for `quiet`.
async fn settle(proxy: &CountingProxy, quiet: Duration) {
    let mut last = proxy.down();
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    while since.elapsed() < quiet && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if proxy.down() != last {
            last = proxy.down();
            since = Instant::now();
        }
    }
}

/// Runs every measure on `rooms` (smallest first) in `synapse`, with
/// `burst` messages each way.
pub async fn run(synapse: &Synapse, rooms: &[BuiltRoom], burst: usize) -> Figures {
    let mut f = Figures {
        burst_messages: burst,
        ..Figures::default()
    };
    let tag = stamp();
    let admin = bigroom::admin(synapse).await;
    let prosody = Prosody::start_logging(&[(GW, SECRET)], "warn");
    let gateway_proxy = CountingProxy::start(synapse.port).await;
    let naive_proxy = CountingProxy::start(synapse.port).await;
    let config = format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"warn\"\n\
         [networks.matrix]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.matrix.settings]\nallow_private_addresses = true\n",
        prosody.component_port
    );
    let gateway = Switchboard::start(&config);
    let pid = gateway.pid().unwrap();
    prosody.register("bench", DOMAIN, "pass");
    let mut client = Client::login(&format!("bench@{DOMAIN}"), "pass", prosody.c2s_port).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    f.idle_rss_kb = rss_kb(pid);

    let me = format!("gw-{tag}");
    let password = "bench-gw-pw";
    create_user(&admin, &me, Some(password)).await;
    idle_rooms(&admin, &me, &tag).await;
    let before = gateway_proxy.down();
    client
        .register_by_chat(
            GW,
            &format!(
                "homeserver={} user={me} password={password}",
                gateway_proxy.url()
            ),
        )
        .await;
    settle(&gateway_proxy, Duration::from_secs(5)).await;
    f.initial_sync_bytes = gateway_proxy.down() - before;
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.rooms_rss_kb = rss_kb(pid);
    let mine = login_as(&admin, &me).await;
    let naive = Api {
        base: naive_proxy.url(),
        ..mine.clone()
    };
    let before = naive_proxy.down();
    naive.client(reqwest::Method::GET, "sync", None).await;
    f.naive_initial_sync_bytes = naive_proxy.down() - before;

    for room in rooms {
        let jid = mxmeasure::room_jid(&room.alias, GW);
        let sender = sender_of(&admin, room);
        let ours = mxmeasure::gateway_join(
            &mut client,
            &jid,
            "bench",
            &sender,
            &room.room_id,
            &gateway_proxy,
            pid,
        )
        .await;
        let localpart = format!("naive{}-{tag}", room.spec.members);
        create_user(&admin, &localpart, None).await;
        let theirs = mxmeasure::naive_join(
            &naive_proxy,
            &login_as(&admin, &localpart).await,
            &room.room_id,
        )
        .await;
        eprintln!(
            "{} members: Switchboard {} B in {:.0} ms, naive {} B in {:.0} ms",
            room.spec.members,
            ours.bytes,
            ours.first_message_ms,
            theirs.bytes,
            theirs.first_message_ms
        );
        let localpart = format!("sliding{}-{tag}", room.spec.members);
        create_user(&admin, &localpart, Some(password)).await;
        let sliding = mxmeasure::sliding_join(
            &naive_proxy,
            &mxmeasure::device_login(&admin, &localpart, password).await,
            &room.room_id,
            &sender,
        )
        .await;
        eprintln!(
            "{} members: sliding sync (MSC4186) {} B in {:.0} ms",
            room.spec.members, sliding.bytes, sliding.first_message_ms
        );
        for (who, join) in [
            ("Switchboard", &ours),
            ("naive", &theirs),
            ("sliding", &sliding),
        ] {
            for r in &join.requests {
                eprintln!("  {who}: {} B {}", r.bytes, r.line);
            }
        }
        f.joins.push((room.spec.members, ours, theirs));
        f.sliding.push(sliding);
    }

    let small = &rooms[0];
    let senders: Vec<Api> = small.senders.iter().map(|(_, t)| api(&admin, t)).collect();
    let jid = mxmeasure::room_jid(&small.alias, GW);
    f.to_xmpp = mxmeasure::matrix_to_xmpp(&mut client, &senders, &small.room_id, burst, pid).await;
    eprintln!(
        "Matrix→XMPP {:.0}/s, lost {}",
        f.to_xmpp.per_second, f.to_xmpp.lost
    );
    f.to_matrix =
        mxmeasure::xmpp_to_matrix(&mut client, &jid, &senders[0], &small.room_id, burst, pid).await;
    eprintln!(
        "XMPP→Matrix {:.0}/s, lost {}",
        f.to_matrix.per_second, f.to_matrix.lost
    );

    // The run's users leave the kept rooms again (a kick by their creator).
    for room in rooms {
        let members = room.spec.members;
        for who in [
            me.clone(),
            format!("naive{members}-{tag}"),
            format!("sliding{members}-{tag}"),
        ] {
            let path = format!("rooms/{}/kick", encode(&room.room_id));
            let body = json!({"user_id": user_id(&who)});
            admin.client(reqwest::Method::POST, &path, Some(body)).await;
        }
    }
    drop(gateway);
    f
}

/// An API handle with another token.
fn api(admin: &Api, token: &str) -> Api {
    Api {
        token: token.to_owned(),
        ..admin.clone()
    }
}

/// The room's first sender.
fn sender_of(admin: &Api, room: &BuiltRoom) -> Api {
    api(admin, &room.senders[0].1)
}

/// One row: a figure, Switchboard's value, the naive client's and a
/// minimal sliding sync client's (joins only).
pub type Row = (String, Option<f64>, Option<f64>, Option<f64>);

/// The figures as a Markdown table (Switchboard beside the naive client),
/// and as JSON rows: (figure, Switchboard, naive client).
pub fn table(f: &Figures) -> (String, Vec<Row>) {
    let mut rows: Vec<Row> = Vec::new();
    let sliding = |i: usize, value: fn(&Join) -> f64| f.sliding.get(i).map(value);
    for (i, (members, ours, theirs)) in f.joins.iter().enumerate() {
        rows.push((
            format!("join a room of {members} members: kB downloaded"),
            Some(ours.bytes as f64 / 1000.0),
            Some(theirs.bytes as f64 / 1000.0),
            sliding(i, |j| j.bytes as f64 / 1000.0),
        ));
    }
    for (i, (members, ours, theirs)) in f.joins.iter().enumerate() {
        rows.push((
            format!("join a room of {members} members: ms to a message"),
            Some(ours.first_message_ms),
            Some(theirs.first_message_ms),
            sliding(i, |j| j.first_message_ms),
        ));
    }
    for (members, ours, _) in &f.joins {
        rows.push((
            format!("join a room of {members} members: gateway RSS growth (kB)"),
            ours.rss_growth_kb.map(|k| k as f64),
            None,
            None,
        ));
    }
    rows.push((
        "gateway idle RSS, no user (kB)".into(),
        Some(f.idle_rss_kb as f64),
        None,
        None,
    ));
    rows.push((
        format!("gateway RSS, one Matrix user in {IDLE_ROOMS} rooms (kB)"),
        Some(f.rooms_rss_kb as f64),
        None,
        None,
    ));
    rows.push((
        format!("initial sync of {IDLE_ROOMS} rooms: kB downloaded"),
        Some(f.initial_sync_bytes as f64 / 1000.0),
        Some(f.naive_initial_sync_bytes as f64 / 1000.0),
        None,
    ));
    let n = f.burst_messages;
    rows.push((
        format!("Matrix→XMPP messages/s ({n})"),
        Some(f.to_xmpp.per_second),
        None,
        None,
    ));
    rows.push((
        "Matrix→XMPP gateway CPU ms / 1000 msgs".into(),
        Some(f.to_xmpp.cpu_ms_per_1000),
        None,
        None,
    ));
    rows.push((
        format!("XMPP→Matrix messages/s ({n})"),
        Some(f.to_matrix.per_second),
        None,
        None,
    ));
    rows.push((
        "XMPP→Matrix gateway CPU ms / 1000 msgs".into(),
        Some(f.to_matrix.cpu_ms_per_1000),
        None,
        None,
    ));
    rows.push((
        "messages lost".into(),
        Some((f.to_xmpp.lost + f.to_matrix.lost) as f64),
        None,
        None,
    ));
    let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let mut text = String::from(
        "| figure | Switchboard | naive client | sliding sync (MSC4186) |\n|---|---:|---:|---:|\n",
    );
    for (name, s, n, sl) in &rows {
        text.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            cell(*s),
            cell(*n),
            cell(*sl)
        ));
    }
    (text, rows)
}
