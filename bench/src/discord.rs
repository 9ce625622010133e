//! `scripts/bench --discord`: the Discord bridge through the Discord
//! double (a guild of 5,000 members, 248 of them listed as Discord lists a
//! large guild's, and 200 channels), a real Prosody and real XMPP clients.
//!
//! Rows: the gateway's RSS idle (network configured, nobody registered),
//! with one user in the guild (a channel joined), and per further user
//! (`--users N`, default 5); the gateway's CPU time for `--messages N`
//! (default 1,000) Discord → XMPP (said in the channel, each seen by the
//! first user's client) and XMPP → Discord (sent by that client, each
//! posted through the webhook and reflected), and how many were lost
//! (must be 0). Arguments: `--users N --messages N --json FILE`, and
//! `--pause SECONDS` to wait once all have joined (to profile the gateway).

use std::time::{Duration, Instant};

use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};

use crate::common::Client;
use crate::discord_setup::{join, registered, room_jid, setup_with};
use crate::mxmeasure::{cpu_ticks, rss_kb};

/// How long after a user's join their RSS is read: past the gateway's
/// trim, two seconds after the join.
const SETTLE: Duration = Duration::from_secs(3);

struct Args {
    users: usize,
    messages: usize,
    json: String,
    /// Seconds to wait, once every user has joined, before the messages
    /// (time to take a heap profile of the gateway).
    pause: u64,
}

fn args() -> Args {
    let mut a = Args {
        users: 5,
        messages: 1000,
        json: "bench-discord-results.json".into(),
        pause: 0,
    };
    let mut it = std::env::args().skip(2);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--users" => a.users = v.parse().expect("--users N"),
            "--messages" => a.messages = v.parse().expect("--messages N"),
            "--json" => a.json = v,
            "--pause" => a.pause = v.parse().expect("--pause SECONDS"),
            other => panic!(
                "unknown argument {other} {v}; use --discord --users N --messages N --json FILE --pause SECONDS"
            ),
        }
    }
    assert!(a.users >= 2, "--users: 2 or more (per-user RSS)");
    a
}

/// How many of the bodies `want` arrive as groupchat messages in the
/// channel's room (from any occupant), within `patience` of the last one.
async fn count_bodies(client: &mut Client, prefix: &str, want: usize, patience: Duration) -> usize {
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();
    let mut seen = 0;
    while seen < want {
        let got = client
            .maybe(patience, |s| match s {
                Stanza::Message(m)
                    if m.type_ == MessageType::Groupchat
                        && m.from
                            .as_ref()
                            .is_some_and(|f| f.to_bare() == room.to_bare())
                        && m.bodies.values().any(|b| b.starts_with(prefix)) =>
                {
                    Some(())
                }
                _ => None,
            })
            .await;
        if got.is_none() {
            break;
        }
        seen += 1;
    }
    seen
}

/// The Discord bench's entry point.
pub async fn main() {
    let a = args();
    let setup = setup_with(Double::start_large(200, 248, 5000).await.unwrap());
    let pid = setup.gateway.pid().expect("the gateway runs");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kb(pid);

    let mut clients = Vec::new();
    let mut rss_after = Vec::new();
    for i in 0..a.users {
        let name = format!("u{i}");
        let mut client = registered(&setup, &name).await;
        join(&mut client, discord::GENERAL_ID, &name).await;
        let text = format!("hello {i}");
        setup
            .double
            .say(discord::GENERAL_ID, discord::ALICE_ID, &text);
        assert_eq!(
            count_bodies(&mut client, &text, 1, Duration::from_secs(30)).await,
            1,
            "user {i} joined and reads the channel"
        );
        clients.push(client);
        // The gateway gives the join's freed memory back two seconds after
        // it (`memory::release_soon`): measure once that is done.
        tokio::time::sleep(SETTLE).await;
        rss_after.push(rss_kb(pid));
    }
    let one = rss_after[0];
    let all = *rss_after.last().unwrap();
    let per_user = (all as f64 - one as f64) / (a.users - 1) as f64;
    if a.pause > 0 {
        eprintln!("all {} users joined; pausing {} s", a.users, a.pause);
        tokio::time::sleep(Duration::from_secs(a.pause)).await;
    }

    // Discord → XMPP: said in the channel, read by the first user.
    let first = &mut clients[0];
    let before = cpu_ticks(pid);
    let start = Instant::now();
    for n in 0..a.messages {
        setup
            .double
            .say(discord::GENERAL_ID, discord::ALICE_ID, &format!("in {n}"));
    }
    let inbound = count_bodies(first, "in ", a.messages, Duration::from_secs(30)).await;
    let in_time = start.elapsed();
    let in_cpu = cpu_ticks(pid) - before;

    // XMPP → Discord: sent by the first user, posted and reflected.
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();
    let before = cpu_ticks(pid);
    let start = Instant::now();
    for n in 0..a.messages {
        let mut m =
            Message::groupchat(Some(room.clone())).with_body(Lang::new(), format!("out {n}"));
        m.id = Some(xmpp_parsers::message::Id(format!("out-{n}")));
        first.send(m).await;
    }
    let reflected = count_bodies(first, "out ", a.messages, Duration::from_secs(30)).await;
    let out_time = start.elapsed();
    let out_cpu = cpu_ticks(pid) - before;
    let posted = setup
        .double
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path.contains("/webhooks/")
                && r.body["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("out "))
        })
        .count();

    let lost_in = a.messages - inbound;
    let lost_out = a.messages - posted.min(reflected);
    let per_k = |ticks: u64| ticks as f64 * 10.0 * 1000.0 / a.messages as f64;
    println!(
        "Discord through the double: a guild of 5,000 members (248 listed), 200 channels; {} users; {} messages each way",
        a.users, a.messages
    );
    println!("| figure | switchboard |");
    println!("|---|---:|");
    println!("| RSS idle, Discord configured (kB) | {idle} |");
    println!("| RSS, one user in the guild, a channel joined (kB) | {one} |");
    println!("| RSS per further user (kB) | {per_user:.0} |");
    println!(
        "| CPU per 1,000 messages Discord → XMPP (ms) | {:.0} ({} in {:.1} s) |",
        per_k(in_cpu),
        inbound,
        in_time.as_secs_f64()
    );
    println!(
        "| CPU per 1,000 messages XMPP → Discord (ms) | {:.0} ({} posted, {} reflected in {:.1} s) |",
        per_k(out_cpu),
        posted,
        reflected,
        out_time.as_secs_f64()
    );
    println!("| lost (Discord → XMPP, XMPP → Discord) | {lost_in}, {lost_out} |");
    let json = format!(
        "{{\n  \"idle_rss_kb\": {idle},\n  \"one_user_rss_kb\": {one},\n  \"per_user_rss_kb\": {per_user:.0},\n  \
         \"cpu_ms_per_1000_to_xmpp\": {:.0},\n  \"cpu_ms_per_1000_to_discord\": {:.0},\n  \
         \"lost_to_xmpp\": {lost_in},\n  \"lost_to_discord\": {lost_out}\n}}\n",
        per_k(in_cpu),
        per_k(out_cpu)
    );
    std::fs::write(&a.json, json).unwrap();
    println!("(JSON in {})", a.json);
    drop(clients);
    drop(setup);
    if lost_in + lost_out > 0 {
        eprintln!("Switchboard lost messages");
        std::process::exit(1);
    }
}
