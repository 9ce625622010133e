//! `scripts/bench --idle-all`: one gateway process with IRC, Discord and
//! Matrix configured (three components, three domains, one config), its
//! memory idle and with one registered user on each network; beside it,
//! each network alone, so that a network's share of the idle figure shows.
//!
//! The far sides are the other benches' and tests': InspIRCd on
//! 127.0.0.1:6667 ([`crate::Ircd`]), the Discord double with its small
//! guild, the test Synapse (a fresh one; a user in a few rooms another made);
//! Prosody and real XMPP clients. Each run starts fresh gateway processes
//! (the servers are kept): IRC alone, Discord alone, Matrix alone, then all
//! three idle, after which one XMPP user registers on IRC and joins a
//! channel, one registers on Discord (the double's bot token) and joins a
//! channel, and one registers on Matrix and joins `--rooms` rooms, the
//! memory read after each. Arguments: `--runs N` (default 3), `--rooms N`
//! (default 5), `--json FILE`.

use std::time::Duration;

use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

use crate::common::room::muc_info;
use crate::common::support::prosody::{Prosody, DOMAIN};
use crate::common::{Client, Switchboard};
use crate::synapse::{MatrixUser, Synapse, SERVER_NAME};
use crate::{discord_setup, matrix_setup, IRC_HOST, SB_DOMAIN};

/// The IRC component's secret in this bench.
const IRC_SECRET: &str = "sb-bench";
/// The target for the three networks idle in one process.
const TARGET_KB: u64 = 20_000;
/// How long the gateway is left alone before a reading.
const SETTLE: Duration = Duration::from_secs(3);

struct Args {
    runs: usize,
    rooms: usize,
    json: String,
}

fn args() -> Args {
    let mut a = Args {
        runs: 3,
        rooms: 5,
        json: "bench-idle-all-results.json".into(),
    };
    let mut it = std::env::args().skip(2);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--runs" => a.runs = v.parse().ok().filter(|n| *n > 0).expect("--runs N"),
            "--rooms" => a.rooms = v.parse().expect("--rooms N"),
            "--json" => a.json = v,
            other => {
                panic!(
                    "unknown argument {other} {v}; use --idle-all --runs N --rooms N --json FILE"
                )
            }
        }
    }
    a
}

/// A process's memory as `/proc/PID/status` gives it.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    /// `VmRSS`, kB.
    rss: u64,
    /// `RssAnon`, kB: the heap and the threads' stacks.
    anon: u64,
    /// `RssFile`, kB: the program's pages read in (code, read-only data).
    file: u64,
    /// `Threads`.
    threads: u64,
}

fn mem(pid: u32) -> Mem {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        threads: field("Threads:"),
    }
}

/// The networks a gateway process is configured with.
#[derive(Clone, Copy)]
struct Networks {
    irc: bool,
    discord: bool,
    matrix: bool,
}

const IRC_ONLY: Networks = Networks {
    irc: true,
    discord: false,
    matrix: false,
};

/// The servers every gateway process of the bench talks to.
struct Far {
    _ircd: crate::Ircd,
    synapse: Synapse,
    /// Prosody, the double and the current gateway (the Discord setup's
    /// shape, so its registration helper serves).
    setup: discord_setup::Setup,
    /// The Matrix rooms' aliases (the registering user is in them).
    rooms: Vec<String>,
}

/// The config with the `on` networks, each as its own bench or tests
/// configure it, for Prosody's component port and the double's API.
fn config(component_port: u16, discord_api: &str, on: Networks) -> String {
    let mut c = format!(
        "[xmpp]\nserver = \"127.0.0.1:{component_port}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n[log]\nlevel = \"warn\"\n"
    );
    if on.irc {
        c.push_str(&format!(
            "[networks.irc]\njid = \"{SB_DOMAIN}\"\nsecret = \"{IRC_SECRET}\"\n\
             [networks.irc.settings]\nflood_control = false\n\
             [networks.irc.settings.servers]\n\"irc.localhost\" = \"{IRC_HOST}:6667\"\n"
        ));
    }
    if on.discord {
        c.push_str(&format!(
            "[networks.discord]\njid = \"{}\"\nsecret = \"{}\"\n\
             [networks.discord.settings]\napi = \"{discord_api}\"\n",
            discord_setup::GW,
            discord_setup::SECRET,
        ));
    }
    if on.matrix {
        c.push_str(&format!(
            "[networks.matrix]\njid = \"{}\"\nsecret = \"{}\"\n\
             [networks.matrix.settings]\nallow_private_addresses = true\n",
            matrix_setup::GW,
            matrix_setup::SECRET
        ));
    }
    c
}

impl Far {
    /// A fresh gateway process with `on`, once each component answers
    /// `watch`'s disco#info and a settle has passed; its pid.
    async fn start(&mut self, on: Networks, watch: &mut Client) -> u32 {
        let config = config(
            self.setup.prosody.component_port,
            &self.setup.double.api_url(),
            on,
        );
        // The old process stops first (its IRC connections close).
        self.setup.gateway.stop();
        self.setup.gateway = Switchboard::start(&config);
        for (wanted, domain) in [
            (on.irc, SB_DOMAIN),
            (on.discord, discord_setup::GW),
            (on.matrix, matrix_setup::GW),
        ] {
            if wanted {
                crate::wait_up(watch, domain).await;
            }
        }
        tokio::time::sleep(SETTLE).await;
        self.setup.gateway.pid().expect("the gateway runs")
    }
}

/// Joins a room by MUC and waits for the self-presence (status 110: the
/// gateway may give another nick than the one asked). A Matrix room the
/// user is already in, asked for by alias once the gateway's sync has it,
/// answers with a redirect to its id's room JID: followed, as a client does.
async fn join_muc(client: &mut Client, room: &str, nick: &str) {
    let mut room = room.to_owned();
    for _ in 0..2 {
        let to: Jid = format!("{room}/{nick}").parse().unwrap();
        let bare: BareJid = to.to_bare();
        let mut p = Presence::available().with_to(to);
        p.payloads
            .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
        client.send(p).await;
        let redirect = client
            .wait_for(|s| match s {
                Stanza::Presence(p)
                    if p.from.as_ref().map(Jid::to_bare).as_ref() == Some(&bare) =>
                {
                    match p.type_ {
                        Type::None if muc_info(p).0.iter().any(|c| c == "110") => Some(None),
                        Type::Error => {
                            Some(Some(redirect_of(p).unwrap_or_else(|| {
                                panic!("join of {} refused: {p:?}", bare)
                            })))
                        }
                        _ => None,
                    }
                }
                _ => None,
            })
            .await;
        match redirect {
            None => return,
            Some(target) => room = target,
        }
    }
    panic!("join of {room}: redirected twice");
}

/// The room JID a join error redirects to (`xmpp:JID?join`), if it does.
fn redirect_of(p: &Presence) -> Option<String> {
    let error = p.payloads.iter().find(|e| e.name() == "error")?;
    let text = error
        .get_child("redirect", "urn:ietf:params:xml:ns:xmpp-stanzas")?
        .text();
    let jid = text.strip_prefix("xmpp:")?;
    Some(jid.split('?').next().unwrap_or(jid).to_owned())
}

/// The figures of one run, in the order printed.
type Run = Vec<(&'static str, Mem)>;

/// One run: each network alone, then the three idle and with a user each.
async fn run(far: &mut Far, watch: &mut Client, n: usize) -> Run {
    let none = Networks {
        irc: false,
        discord: false,
        matrix: false,
    };
    let mut figures = Vec::new();
    for (label, on) in [
        ("IRC alone, idle", Networks { irc: true, ..none }),
        (
            "Discord alone, idle",
            Networks {
                discord: true,
                ..none
            },
        ),
        (
            "Matrix alone, idle",
            Networks {
                matrix: true,
                ..none
            },
        ),
    ] {
        let pid = far.start(on, watch).await;
        figures.push((label, mem(pid)));
    }
    let all = Networks {
        irc: true,
        discord: true,
        matrix: true,
    };
    let pid = far.start(all, watch).await;
    figures.push(("IRC + Discord + Matrix, idle", mem(pid)));

    // IRC: a user registers and joins a channel.
    let name = format!("i{n}");
    far.setup.prosody.register(&name, DOMAIN, "pass");
    let c2s = far.setup.prosody.c2s_port;
    let mut irc = Client::login(&format!("{name}@{DOMAIN}"), "pass", c2s).await;
    irc.register_by_chat(SB_DOMAIN, &format!("nick={name}"))
        .await;
    crate::join(
        &mut irc,
        &format!("#bench%irc.localhost@{SB_DOMAIN}"),
        &name,
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    figures.push(("+ an IRC user in a channel", mem(pid)));

    // Discord: a user registers with the double's bot and joins a channel.
    let name = format!("d{n}");
    let mut dc = discord_setup::registered(&far.setup, &name).await;
    discord_setup::join(&mut dc, discord::GENERAL_ID, &name).await;
    tokio::time::sleep(SETTLE).await;
    figures.push(("+ a Discord user in the guild, a channel joined", mem(pid)));

    // Matrix: a user registers (in every room already) and joins each.
    let name = format!("m{n}");
    far.setup.prosody.register(&name, DOMAIN, "pass");
    let mut mx = Client::login(&format!("{name}@{DOMAIN}"), "pass", c2s).await;
    let command = matrix_setup::register_command(&far.synapse, matrix_setup::ALICE_PASSWORD);
    mx.say(matrix_setup::GW, &command).await;
    let done = mx.reply_from(matrix_setup::GW).await;
    assert!(done.contains("You are registered"), "{done}");
    for room in &far.rooms {
        join_muc(&mut mx, &matrix_setup::room_jid(room), &name).await;
    }
    tokio::time::sleep(SETTLE).await;
    figures.push(("+ a Matrix user, its rooms joined", mem(pid)));
    drop((irc, dc, mx));
    figures
}

/// "a / b / c" of one figure over the runs.
fn spread(runs: &[Run], row: usize, pick: fn(&Mem) -> u64) -> String {
    let v: Vec<String> = runs.iter().map(|r| pick(&r[row].1).to_string()).collect();
    v.join(" / ")
}

/// The idle-all bench's entry point.
pub async fn main() {
    let a = args();
    // InspIRCd's port is fixed: another bench on the machine may hold it.
    for waited in 0.. {
        if std::net::TcpListener::bind((IRC_HOST, 6667)).is_ok() {
            break;
        }
        assert!(waited < 120, "{IRC_HOST}:6667 stayed taken for ten minutes");
        if waited == 0 {
            eprintln!("{IRC_HOST}:6667 is taken (another bench?): waiting for it");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let ircd = crate::Ircd::start();
    let double = Double::start().await.unwrap();
    let synapse = Synapse::start();
    synapse.register("alice", matrix_setup::ALICE_PASSWORD);
    let alice = MatrixUser::login(&synapse, "alice", matrix_setup::ALICE_PASSWORD).await;
    // bob makes the rooms and stays in them: a run's user leaves them when
    // its client goes, and a room with no local member left cannot be
    // joined again by its id (room version 12 ids name no server).
    synapse.register("bob", "bob-idle-pw");
    let bob = MatrixUser::login(&synapse, "bob", "bob-idle-pw").await;
    let mut rooms = Vec::new();
    for i in 0..a.rooms {
        bob.create_room(&format!("idle{i}"), &format!("Idle room {i}"))
            .await;
        let alias = format!("#idle{i}:{SERVER_NAME}");
        alice.join(&alias).await;
        rooms.push(alias);
    }
    let prosody = Prosody::start_logging(
        &[
            (SB_DOMAIN, IRC_SECRET),
            (discord_setup::GW, discord_setup::SECRET),
            (matrix_setup::GW, matrix_setup::SECRET),
        ],
        "warn",
    );
    prosody.register("watch", DOMAIN, "pass");
    // Replaced by each run's first process (the setup holds one).
    let gateway = Switchboard::start(&config(prosody.component_port, &double.api_url(), IRC_ONLY));
    let mut far = Far {
        _ircd: ircd,
        synapse,
        setup: discord_setup::Setup {
            double,
            prosody,
            gateway,
        },
        rooms,
    };
    let mut watch = Client::login(
        &format!("watch@{DOMAIN}"),
        "pass",
        far.setup.prosody.c2s_port,
    )
    .await;

    let mut runs = Vec::new();
    for n in 0..a.runs {
        let r = run(&mut far, &mut watch, n).await;
        eprintln!(
            "run {}: all three idle {} kB, with a user each {} kB",
            n + 1,
            r[3].1.rss,
            r.last().unwrap().1.rss
        );
        runs.push(r);
    }

    println!(
        "one gateway process, release build; {} runs (each a fresh process per row group); \
         Matrix user in {} rooms; the Discord double's small guild",
        a.runs, a.rooms
    );
    println!("| figure | RSS (kB) | anonymous (kB) | file-backed (kB) | threads |");
    println!("|---|---:|---:|---:|---:|");
    let mut json = String::from("{\n");
    for (i, (label, _)) in runs[0].iter().enumerate() {
        println!(
            "| {label} | {} | {} | {} | {} |",
            spread(&runs, i, |m| m.rss),
            spread(&runs, i, |m| m.anon),
            spread(&runs, i, |m| m.file),
            spread(&runs, i, |m| m.threads),
        );
        let rss: Vec<String> = runs.iter().map(|r| r[i].1.rss.to_string()).collect();
        json.push_str(&format!(
            "  \"{label}\": [{}]{}\n",
            rss.join(", "),
            if i + 1 < runs[0].len() { "," } else { "" }
        ));
    }
    json.push_str("}\n");
    std::fs::write(&a.json, json).unwrap();
    let worst = runs.iter().map(|r| r[3].1.rss).max().unwrap_or(0);
    println!(
        "target: IRC + Discord + Matrix idle ≤ {TARGET_KB} kB: {} (highest run {worst} kB)",
        if worst <= TARGET_KB { "met" } else { "missed" }
    );
    println!("(JSON in {})", a.json);
    drop(watch);
    drop(far);
}
