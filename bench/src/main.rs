//! `scripts/bench`: Switchboard and biboumi measured the same way, in the
//! same run, through a real Prosody and a real InspIRCd on loopback.
//!
//! For each gateway, a fresh process: idle memory, one user joined, message
//! bursts both ways (throughput, latency, CPU, nothing lost), then more users
//! joined (memory per user) and all of them gone (memory given back?).
//!
//! `--matrix` runs the Matrix bench instead ([`matrix`]), `--discord` the
//! Discord bench through the Discord double ([`discord`]), `--idle-all` one
//! process with IRC, Discord and Matrix configured ([`idle_all`]).

#[path = "../../tests/e2e/tests/common/bigroom.rs"]
mod bigroom;
#[path = "../../tests/e2e/tests/common/mod.rs"]
mod common;
mod discord;
#[path = "../../tests/e2e/tests/common/discord.rs"]
mod discord_setup;
mod idle_all;
mod matrix;
#[path = "../../tests/e2e/tests/common/matrix_setup.rs"]
mod matrix_setup;
#[path = "../../tests/e2e/tests/common/mxbench.rs"]
mod mxbench;
#[path = "../../tests/e2e/tests/common/mxmeasure.rs"]
mod mxmeasure;
#[path = "../../tests/e2e/tests/common/synapse.rs"]
mod synapse;

use common::support::prosody::{Prosody, DOMAIN};
use common::support::{
    free_port, open_up, shared_tempdir, stop_child, unprivileged, wait_for_port,
};
use common::Client;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const SB_DOMAIN: &str = "irc.localhost";
const BIB_DOMAIN: &str = "biboumi.localhost";
const IRC_HOST: &str = "127.0.0.1";
const SENDERS: usize = 4;

struct Args {
    users: usize,
    messages: usize,
    json: String,
    /// Only this gateway ("switchboard" or "biboumi"), for profiling.
    only: Option<String>,
    /// Bursts each way; the median of each figure is reported.
    runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        users: 100,
        messages: 10_000,
        json: "bench-results.json".into(),
        only: None,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--users" => a.users = v.parse().expect("--users N"),
            "--messages" => a.messages = v.parse().expect("--messages N"),
            "--json" => a.json = v,
            "--runs" => {
                a.runs = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .expect("--runs N (1 or more)")
            }
            "--only" if v == "switchboard" || v == "biboumi" => a.only = Some(v),
            other => panic!(
                "unknown argument {other} {v}; use --users N --messages N --runs N --json FILE \
                 --only switchboard|biboumi"
            ),
        }
    }
    a
}

/// InspIRCd on 127.0.0.1:6667 (biboumi's default port) with flood limits off.
///
/// Its read buffer is raised to the most it allows: InspIRCd reads one
/// buffer from a socket per turn of its loop, and when a full buffer leaves
/// more unread while nothing else happens, the rest waits for its loop's
/// one-second timeout. With the default 10 kB, a sender's last lines sat
/// there and IRC→XMPP bursts took a second more than they needed.
struct Ircd {
    _dir: tempfile::TempDir,
    child: Child,
}

impl Ircd {
    fn start() -> Self {
        let dir = shared_tempdir();
        let conf = format!(
            "<server name=\"irc.localhost\" description=\"bench\" network=\"bench\">\n\
             <admin name=\"bench\" nick=\"bench\" email=\"bench@localhost\">\n\
             <bind address=\"{IRC_HOST}\" port=\"6667\" type=\"clients\">\n\
             <class name=\"all\" commands=\"*\" privs=\"*\" usermodes=\"*\" chanmodes=\"*\">\n\
             <connect name=\"main\" allow=\"*\" commandrate=\"1000000\" threshold=\"1000000\" fakelag=\"no\" \
             localmax=\"100000\" globalmax=\"100000\" maxchans=\"100\" limit=\"100000\" pingfreq=\"600\" \
             timeout=\"60\" sendq=\"100M\" recvq=\"100M\" hardsendq=\"200M\" softsendq=\"100M\" \
             resolvehostnames=\"no\" useident=\"no\">\n\
             <module name=\"deaf\">\n<performance netbuffersize=\"65534\">\n<pid file=\"{}/inspircd.pid\">\n<dns timeout=\"1\">\n<limits maxnick=\"30\" maxchan=\"64\">\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("inspircd.conf"), conf).unwrap();
        open_up(dir.path());
        let child = unprivileged("inspircd")
            .args(["--nofork", "--config"])
            .arg(dir.path().join("inspircd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("inspircd did not start");
        assert!(
            wait_for_port(6667, Duration::from_secs(20)),
            "inspircd did not listen on 6667 (is it taken?)"
        );
        Ircd { _dir: dir, child }
    }
}

impl Drop for Ircd {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(3));
    }
}

/// A gateway process under test.
struct Gateway {
    name: &'static str,
    domain: &'static str,
    /// Whether the room archive is on.
    archive: bool,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn room(&self) -> String {
        format!("#bench%{}@{}", self.irc_server(), self.domain)
    }

    fn irc_server(&self) -> &'static str {
        if self.name == "switchboard" {
            "irc.localhost"
        } else {
            IRC_HOST
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(10));
    }
}

fn start_switchboard(prosody: &Prosody, archive: bool) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
             [archive]\nenabled = {archive}\n[log]\nlevel = \"warn\"\n\
             [networks.irc]\njid = \"{SB_DOMAIN}\"\nsecret = \"sb-bench\"\n\
             [networks.irc.settings]\nflood_control = false\n\
             [networks.irc.settings.servers]\n\"irc.localhost\" = \"{IRC_HOST}:6667\"\n",
            prosody.component_port
        ),
    )
    .unwrap();
    let bin = std::env::var("SWITCHBOARD_BIN").expect("SWITCHBOARD_BIN (scripts/bench sets it)");
    let child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Gateway {
        name: "switchboard",
        domain: SB_DOMAIN,
        archive,
        child,
        _dir: dir,
    }
}

fn start_biboumi(prosody: &Prosody, archive: bool) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("biboumi.cfg");
    std::fs::write(
        &config,
        format!(
            "hostname={BIB_DOMAIN}\npassword=bib-bench\nxmpp_server_ip=127.0.0.1\nport={}\n\
             db_name={}/biboumi.sqlite\nidentd_port=0\nlog_level=3\nrealname_customization=true\n",
            prosody.component_port,
            dir.path().display()
        ),
    )
    .unwrap();
    let child = Command::new("biboumi")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Gateway {
        name: "biboumi",
        domain: BIB_DOMAIN,
        archive,
        child,
        _dir: dir,
    }
}

/// (RSS, anonymous RSS) in kB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// utime + stime in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Waits until the gateway answers disco#info.
async fn wait_up(client: &mut Client, domain: &str) {
    for _ in 0..60 {
        let iq = client.iq(
            domain,
            false,
            Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
        );
        if let Ok(xmpp_parsers::iq::Iq::Result { .. }) =
            tokio::time::timeout(Duration::from_secs(2), iq).await
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{domain} never answered");
}

/// Runs biboumi's `configure` ad-hoc command on `jid`, keeping every field as
/// biboumi filled it in but for `changes`.
async fn biboumi_configure(client: &mut Client, jid: &str, changes: &[(&str, &str)]) {
    let ns = "http://jabber.org/protocol/commands";
    let exec: Element = format!("<command xmlns='{ns}' node='configure' action='execute'/>")
        .parse()
        .unwrap();
    let step = common::result_payload(client.iq(jid, true, exec).await).expect("a form");
    let session = step.attr("sessionid").unwrap_or_default().to_owned();
    let form = step
        .get_child("x", "jabber:x:data")
        .expect("biboumi's configure form");
    let mut fields = String::new();
    for f in form.children().filter(|c| c.name() == "field") {
        let Some(var) = f.attr("var") else { continue };
        let values: Vec<String> = match changes.iter().find(|(k, _)| *k == var) {
            Some((_, v)) => vec![(*v).to_owned()],
            None => f
                .children()
                .filter(|v| v.name() == "value")
                .map(|v| v.text())
                .collect(),
        };
        let values: String = values
            .iter()
            .map(|v| format!("<value>{v}</value>"))
            .collect();
        fields.push_str(&format!("<field var='{var}'>{values}</field>"));
    }
    for (k, _) in changes {
        assert!(
            fields.contains(&format!("var='{k}'")),
            "biboumi's configure form on {jid} has no {k}"
        );
    }
    let submit: Element = format!(
        "<command xmlns='{ns}' node='configure' action='complete' sessionid='{session}'>\
         <x xmlns='jabber:x:data' type='submit'>{fields}</x></command>"
    )
    .parse()
    .unwrap();
    let done = common::result_payload(client.iq(jid, true, submit).await).expect("completed");
    assert_eq!(
        done.attr("status"),
        Some("completed"),
        "biboumi configure: {done:?}"
    );
}

/// Joins the room; returns the time to the self-presence.
async fn join(client: &mut Client, room: &str, nick: &str) -> Duration {
    let occupant: Jid = format!("{room}/{nick}").parse().unwrap();
    let mut p = Presence::available().with_to(occupant.clone());
    p.payloads.push(
        Element::builder("x", "http://jabber.org/protocol/muc")
            .append(
                Element::builder("history", "http://jabber.org/protocol/muc").attr(
                    xmpp_parsers::minidom::rxml::NcName::try_from("maxstanzas").unwrap(),
                    "0",
                ),
            )
            .build(),
    );
    let start = Instant::now();
    client.send(p).await;
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&occupant) && p.type_ == Type::None => {
                Some(())
            }
            Stanza::Presence(p) if p.from.as_ref() == Some(&occupant) && p.type_ == Type::Error => {
                panic!("join refused: {p:?}")
            }
            _ => None,
        })
        .await;
    start.elapsed()
}

#[derive(Default)]
struct Burst {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    lost: usize,
    cpu_ms_per_1000: f64,
}

impl Burst {
    /// Each figure's median over the runs; what was lost, summed.
    fn median(runs: &[Burst]) -> Burst {
        let mid = |f: fn(&Burst) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        Burst {
            per_second: mid(|b| b.per_second),
            p50_ms: mid(|b| b.p50_ms),
            p99_ms: mid(|b| b.p99_ms),
            lost: runs.iter().map(|b| b.lost).sum(),
            cpu_ms_per_1000: mid(|b| b.cpu_ms_per_1000),
        }
    }
}

/// IRC → XMPP: raw IRC clients send `messages` lines; one XMPP user counts them.
async fn burst_irc_to_xmpp(
    gw: &Gateway,
    client: &mut Client,
    messages: usize,
    run: usize,
) -> Burst {
    let port = 6667;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let mut c = common::support::ircd::IrcClient::connect(
            port,
            &format!("s{i}x{}r{run}", gw.name.len()),
        )
        .await;
        c.join("#bench").await;
        // Deaf (+d): in the channel, but not sent its messages. A sender
        // that got the others' lines and left them unread would fill
        // InspIRCd's queue to it, and InspIRCd then stops reading that
        // sender until its one-second tick: bursts took whole seconds more.
        c.send(&format!("MODE {} +d", c.nick)).await;
        senders.push(c);
    }
    // Let the joins reach the XMPP side before timing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let cpu0 = cpu_ticks(gw.pid());
    let start = Instant::now();
    let per = messages / SENDERS;
    let mut tasks = Vec::new();
    for (i, mut c) in senders.into_iter().enumerate() {
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            for n in 0..per {
                let seq = i * per + n;
                sent.lock().unwrap().insert(seq, Instant::now());
                c.send(&format!("PRIVMSG #bench :b {seq}")).await;
            }
            c
        }));
    }
    let mut latencies = Vec::with_capacity(messages);
    let total = per * SENDERS;
    let deadline = Instant::now() + Duration::from_secs(300);
    while latencies.len() < total && Instant::now() < deadline {
        let got = client
            .maybe(Duration::from_secs(10), |s| match s {
                Stanza::Message(m) if m.type_ == MessageType::Groupchat => m
                    .get_best_body(vec![])
                    .and_then(|(_, b)| b.strip_prefix("b ").and_then(|n| n.parse::<usize>().ok())),
                _ => None,
            })
            .await;
        let Some(seq) = got else { break };
        if let Some(t) = sent.lock().unwrap().get(&seq) {
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks(gw.pid()) - cpu0;
    for t in tasks {
        drop(t.await);
    }
    latencies.sort_by(f64::total_cmp);
    Burst {
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        lost: total - latencies.len(),
        cpu_ms_per_1000: cpu as f64 * 10.0 / total as f64 * 1000.0,
    }
}

/// XMPP → IRC: one XMPP user sends `messages` groupchat messages; a raw IRC client counts them.
async fn burst_xmpp_to_irc(
    gw: &Gateway,
    client: &mut Client,
    messages: usize,
    run: usize,
) -> Burst {
    let mut reader =
        common::support::ircd::IrcClient::connect(6667, &format!("r{}r{run}", gw.name.len())).await;
    reader.join("#bench").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let room: Jid = gw.room().parse().unwrap();
    let cpu0 = cpu_ticks(gw.pid());
    let start = Instant::now();
    let mut sent_at = Vec::with_capacity(messages);
    let read = tokio::spawn(async move {
        let mut got: Vec<(usize, Instant)> = Vec::with_capacity(messages);
        while got.len() < messages {
            let line = reader
                .expect_within(Duration::from_secs(20), |l| {
                    l.contains("PRIVMSG #bench :x ")
                })
                .await;
            let Some(line) = line else { break };
            reader.seen.clear();
            if let Some(n) = line.rsplit(' ').next().and_then(|n| n.parse().ok()) {
                got.push((n, Instant::now()));
            }
        }
        got
    });
    for seq in 0..messages {
        let mut m =
            Message::groupchat(Some(room.clone())).with_body(Lang::new(), format!("x {seq}"));
        m.id = Some(xmpp_parsers::message::Id(format!("x{seq}")));
        sent_at.push(Instant::now());
        client.send(m).await;
    }
    let got = read.await.unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks(gw.pid()) - cpu0;
    if got.len() < messages {
        let mut seen = vec![false; messages];
        for (n, _) in &got {
            if let Some(s) = seen.get_mut(*n) {
                *s = true;
            }
        }
        let missing: Vec<usize> = (0..messages).filter(|n| !seen[*n]).collect();
        eprintln!(
            "{}: XMPP→IRC did not arrive: {:?}{}",
            gw.name,
            &missing[..missing.len().min(40)],
            if missing.len() > 40 { " …" } else { "" }
        );
    }
    let mut latencies: Vec<f64> = got
        .iter()
        .filter_map(|(n, at)| {
            sent_at
                .get(*n)
                .map(|s| at.duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Burst {
        per_second: got.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        lost: messages - got.len(),
        cpu_ms_per_1000: cpu as f64 * 10.0 / messages as f64 * 1000.0,
    }
}

/// Fan-out: raw IRC clients send `lines` lines; every joined XMPP user must get them all.
async fn fan_out(gw: &Gateway, clients: &mut [Client], lines: usize) -> Burst {
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let mut c =
            common::support::ircd::IrcClient::connect(6667, &format!("f{i}x{}", gw.name.len()))
                .await;
        c.join("#bench").await;
        senders.push(c);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = cpu_ticks(gw.pid());
    let start = Instant::now();
    let per = lines / SENDERS;
    for c in senders.iter_mut() {
        for n in 0..per {
            c.send(&format!("PRIVMSG #bench :f {n}")).await;
        }
    }
    let total = per * SENDERS;
    let mut lost = 0;
    for client in clients.iter_mut() {
        let mut got = 0;
        while got < total {
            let m = client
                .maybe(Duration::from_secs(10), |s| match s {
                    Stanza::Message(m) if m.type_ == MessageType::Groupchat => m
                        .get_best_body(vec![])
                        .filter(|(_, b)| b.starts_with("f "))
                        .map(|_| ()),
                    _ => None,
                })
                .await;
            if m.is_none() {
                break;
            }
            got += 1;
        }
        lost += total - got;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks(gw.pid()) - cpu0;
    let delivered = (total * clients.len() - lost) as f64;
    Burst {
        per_second: delivered / elapsed,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        lost,
        cpu_ms_per_1000: cpu as f64 * 10.0 / total as f64 * 1000.0,
    }
}

#[derive(Default)]
struct Figures {
    idle_rss: u64,
    idle_anon: u64,
    rss_at: Vec<(usize, u64)>,
    per_user_kb: f64,
    /// The same in anonymous memory (without the program's own pages that
    /// later joins read in).
    per_user_anon_kb: f64,
    /// Anonymous RSS with all users joined.
    joined_anon: u64,
    /// After all but ten left, before the fan-out burst.
    after_most_left_rss: u64,
    after_most_left_anon: u64,
    after_leave_rss: u64,
    join_p50_ms: f64,
    join_p99_ms: f64,
    to_xmpp: Burst,
    to_irc: Burst,
    fan_out: Burst,
}

async fn measure(gw: &Gateway, prosody: &Prosody, a: &Args, users: usize) -> Figures {
    let mut f = Figures::default();
    let mut clients = Vec::new();
    let mut first = Client::login(&format!("u0@{DOMAIN}"), "pass", prosody.c2s_port).await;
    wait_up(&mut first, gw.domain).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    (f.idle_rss, f.idle_anon) = memory(gw.pid());
    eprintln!("{}: idle {} kB RSS", gw.name, f.idle_rss);

    if gw.name == "switchboard" {
        first.register_by_chat(gw.domain, "nick=u0").await;
    } else {
        // biboumi throttles each user unless its server is told not to.
        let server = format!("{IRC_HOST}@{BIB_DOMAIN}");
        biboumi_configure(&mut first, &server, &[("throttle_limit", "-1")]).await;
        if !gw.archive {
            // Its archive is a per-user setting, on by default.
            biboumi_configure(&mut first, BIB_DOMAIN, &[("record_history", "false")]).await;
        }
    }
    let mut joins = vec![join(&mut first, &gw.room(), "u0").await.as_secs_f64() * 1000.0];
    clients.push(first);

    // Memory per joined user, before any burst fills buffers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (one_user, one_user_anon) = memory(gw.pid());
    f.rss_at.push((1, one_user));
    for n in 1..users {
        let mut c = Client::login(&format!("u{n}@{DOMAIN}"), "pass", prosody.c2s_port).await;
        if gw.name == "switchboard" {
            c.register_by_chat(gw.domain, &format!("nick=u{n}")).await;
        }
        joins.push(
            join(&mut c, &gw.room(), &format!("u{n}"))
                .await
                .as_secs_f64()
                * 1000.0,
        );
        clients.push(c);
        if [10, 100, 1000].contains(&(n + 1)) || n + 1 == users {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (rss, anon) = memory(gw.pid());
            f.rss_at.push((n + 1, rss));
            f.joined_anon = anon;
        }
    }
    let (last_n, last_rss) = *f.rss_at.last().unwrap();
    f.per_user_kb = (last_rss as f64 - one_user as f64) / (last_n.max(2) - 1) as f64;
    f.per_user_anon_kb = (f.joined_anon as f64 - one_user_anon as f64) / (last_n.max(2) - 1) as f64;
    joins.sort_by(f64::total_cmp);
    f.join_p50_ms = percentile(&joins, 0.5);
    f.join_p99_ms = percentile(&joins, 0.99);

    // Everyone but the first ten leaves; then fan-out to ten; then they leave too.
    let leave = |n: usize| {
        Presence::unavailable().with_to(format!("{}/u{n}", gw.room()).parse::<Jid>().unwrap())
    };
    for (n, c) in clients.iter_mut().enumerate().skip(10) {
        c.send(leave(n)).await;
    }
    // Given back? Measured before the fan-out, whose burst leaves buffers of its own.
    tokio::time::sleep(Duration::from_secs(5)).await;
    (f.after_most_left_rss, f.after_most_left_anon) = memory(gw.pid());
    if clients.len() >= 10 {
        f.fan_out = fan_out(gw, &mut clients[..10], 1000).await;
        eprintln!("{}: fan-out to 10 users, lost {}", gw.name, f.fan_out.lost);
    }
    for (n, c) in clients.iter_mut().enumerate().take(10).skip(1) {
        c.send(leave(n)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    f.after_leave_rss = memory(gw.pid()).0;

    // Bursts, with the first user alone in the room: each direction
    // `runs` times, alternating, and the median of each figure kept.
    let first = &mut clients[0];
    let (mut to_xmpp, mut to_irc) = (Vec::new(), Vec::new());
    for run in 0..a.runs {
        let b = burst_irc_to_xmpp(gw, first, a.messages, run).await;
        eprintln!(
            "{}: IRC→XMPP {:.0}/s, lost {}",
            gw.name, b.per_second, b.lost
        );
        to_xmpp.push(b);
        let b = burst_xmpp_to_irc(gw, first, a.messages, run).await;
        eprintln!(
            "{}: XMPP→IRC {:.0}/s, lost {}",
            gw.name, b.per_second, b.lost
        );
        to_irc.push(b);
    }
    f.to_xmpp = Burst::median(&to_xmpp);
    f.to_irc = Burst::median(&to_irc);
    f
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 || b.is_nan() || a.is_nan() {
        "-".into()
    } else {
        format!("{:.2}", a / b)
    }
}

/// One table row: a figure for Switchboard and for biboumi (None when not run).
type Row = (String, Option<f64>, Option<f64>);

fn burst_rows(label: &str, sb: Option<&Figures>, bib: Option<&Figures>) -> Vec<Row> {
    type Pick = fn(&Figures) -> f64;
    let figures: [(&str, Pick); 8] = [
        ("IRC→XMPP messages/s", |f| f.to_xmpp.per_second),
        ("IRC→XMPP latency p50 (ms)", |f| f.to_xmpp.p50_ms),
        ("IRC→XMPP latency p99 (ms)", |f| f.to_xmpp.p99_ms),
        ("IRC→XMPP CPU ms / 1000 msgs", |f| {
            f.to_xmpp.cpu_ms_per_1000
        }),
        ("XMPP→IRC messages/s", |f| f.to_irc.per_second),
        ("XMPP→IRC latency p50 (ms)", |f| f.to_irc.p50_ms),
        ("XMPP→IRC latency p99 (ms)", |f| f.to_irc.p99_ms),
        ("XMPP→IRC CPU ms / 1000 msgs", |f| {
            f.to_irc.cpu_ms_per_1000
        }),
    ];
    figures
        .iter()
        .map(|(name, pick)| (format!("{label}: {name}"), sb.map(pick), bib.map(pick)))
        .collect()
}

fn lost(f: &Figures) -> usize {
    f.to_xmpp.lost + f.to_irc.lost + f.fan_out.lost
}

/// On a panic, stops every process this bench started (Prosody, InspIRCd,
/// the gateways): the release profile aborts, so no `Drop` runs, and a
/// server left running would hold its port for the next run.
fn stop_children_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        let me = std::process::id().to_string();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: the comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid == Some(me.as_str()) {
                let _ = Command::new("kill").arg(&pid).status();
            }
        }
    }));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    stop_children_on_panic();
    if std::env::args().nth(1).as_deref() == Some("--matrix") {
        return matrix::main().await;
    }
    if std::env::args().nth(1).as_deref() == Some("--discord") {
        return discord::main().await;
    }
    if std::env::args().nth(1).as_deref() == Some("--idle-all") {
        return idle_all::main().await;
    }
    let a = args();
    // Not at debug level: Prosody would spend more on its log than on routing.
    let prosody = Prosody::start_logging(
        &[(SB_DOMAIN, "sb-bench"), (BIB_DOMAIN, "bib-bench")],
        "warn",
    );
    eprintln!("registering {} XMPP users", a.users);
    for n in 0..a.users {
        prosody.register(&format!("u{n}"), DOMAIN, "pass");
    }
    let _ = free_port();
    let ircd = Ircd::start();

    // Each gateway twice, a fresh process each time: archive off with every
    // figure, then archive on (biboumi's default) with the bursts only.
    let run = |name: &str| a.only.as_deref().is_none_or(|o| o == name);
    let mut sb = (None, None);
    if run("switchboard") {
        let gw = start_switchboard(&prosody, false);
        sb.0 = Some(measure(&gw, &prosody, &a, a.users).await);
        drop(gw);
        let gw = start_switchboard(&prosody, true);
        sb.1 = Some(measure(&gw, &prosody, &a, 1).await);
        drop(gw);
    }
    let mut bib = (None, None);
    if run("biboumi") {
        let gw = start_biboumi(&prosody, false);
        bib.0 = Some(measure(&gw, &prosody, &a, a.users).await);
        drop(gw);
        let gw = start_biboumi(&prosody, true);
        bib.1 = Some(measure(&gw, &prosody, &a, 1).await);
        drop(gw);
    }

    let (s, b) = (sb.0.as_ref(), bib.0.as_ref());
    let both = |name: &str, pick: fn(&Figures) -> f64| -> Row {
        (name.to_owned(), s.map(pick), b.map(pick))
    };
    let mut rows: Vec<Row> = vec![
        both("idle RSS (kB)", |f| f.idle_rss as f64),
        both("idle anonymous RSS (kB)", |f| f.idle_anon as f64),
        both("RSS with one user joined (kB)", |f| f.rss_at[0].1 as f64),
        both("RSS with all users joined (kB)", |f| {
            f.rss_at.last().unwrap().1 as f64
        }),
        both("memory per joined user (kB)", |f| f.per_user_kb),
        both("anonymous memory per joined user (kB)", |f| {
            f.per_user_anon_kb
        }),
        both("RSS after all but ten left (kB)", |f| {
            f.after_most_left_rss as f64
        }),
        both("anonymous RSS with all users joined (kB)", |f| {
            f.joined_anon as f64
        }),
        both("anonymous RSS after all but ten left (kB)", |f| {
            f.after_most_left_anon as f64
        }),
        both("RSS after all but one left, after the fan-out (kB)", |f| {
            f.after_leave_rss as f64
        }),
        both("join latency p50 (ms)", |f| f.join_p50_ms),
        both("join latency p99 (ms)", |f| f.join_p99_ms),
        both("fan-out to 10 users: deliveries/s", |f| {
            f.fan_out.per_second
        }),
        both("fan-out CPU ms / 1000 lines", |f| f.fan_out.cpu_ms_per_1000),
    ];
    rows.extend(burst_rows("archive off", sb.0.as_ref(), bib.0.as_ref()));
    rows.extend(burst_rows("archive on", sb.1.as_ref(), bib.1.as_ref()));
    let sb_lost: usize = sb.0.iter().chain(sb.1.iter()).map(lost).sum();
    let bib_lost: usize = bib.0.iter().chain(bib.1.iter()).map(lost).sum();
    rows.push((
        "messages lost".into(),
        run("switchboard").then_some(sb_lost as f64),
        run("biboumi").then_some(bib_lost as f64),
    ));

    println!(
        "users: {}, messages per burst: {}, bursts each way: {} (medians shown); \
         memory, join and fan-out rows with the archive off",
        a.users, a.messages, a.runs
    );
    println!("| figure | Switchboard | biboumi | ratio |");
    println!("|---|---:|---:|---:|");
    let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let json_cell = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or("null".to_owned(), |v| format!("{v:.3}"))
    };
    let mut json = String::from("{\n");
    for (i, (name, s, b)) in rows.iter().enumerate() {
        let r = match (s, b) {
            (Some(s), Some(b)) => ratio(*s, *b),
            _ => "-".into(),
        };
        println!("| {name} | {} | {} | {r} |", cell(*s), cell(*b));
        json.push_str(&format!(
            "  \"{name}\": {{\"switchboard\": {}, \"biboumi\": {}}}{}\n",
            json_cell(*s),
            json_cell(*b),
            if i + 1 < rows.len() { "," } else { "" }
        ));
    }
    json.push_str("}\n");
    std::fs::write(&a.json, json).unwrap();
    println!("(JSON in {})", a.json);
    if sb_lost > 0 {
        eprintln!("Switchboard lost messages");
        // `exit` runs no destructors: the servers are stopped first.
        drop(ircd);
        drop(prosody);
        std::process::exit(1);
    }
}
