//! The operator's policy on where users' IRC connections may go, the
//! connect timeouts and the per-user limits, end to end: a real Prosody, the
//! switchboard process, a real XMPP client, ngircd for the operator's server,
//! and plain TCP listeners that count the connections the gateway opens.

mod common;

use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "policy-secret";
const POLICY: &str = "refused by this gateway's IRC server policy";

/// A port that accepts connections, counts them, keeps them open and
/// never writes a byte: a silent server, or a witness that nothing came.
struct Listener {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Listener {
    fn bind(addr: &str) -> Self {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (count, keep) = (accepted.clone(), open.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                keep.lock().unwrap().push(stream);
            }
        });
        Self {
            addr,
            accepted,
            open,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many accepted connections the gateway has not closed.
    fn still_open(&self) -> usize {
        use std::io::Read;
        let mut open = self.open.lock().unwrap();
        open.retain_mut(|s| {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 512];
            loop {
                match s.read(&mut b) {
                    Ok(0) => return false,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
        });
        open.len()
    }
}

fn config(prosody: &Prosody, settings: &str, servers: &str) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_control = false\n{settings}\n\
         [networks.irc.settings.servers]\n{servers}\n",
        prosody.component_port
    )
}

/// Joins `room` (an escaped room JID's local part) as `nick`.
async fn join(client: &mut Client, room: &str, nick: &str) {
    let mut p =
        Presence::available().with_to(format!("{room}@{GW}/{nick}").parse::<Jid>().unwrap());
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    client.send(p).await;
}

async fn leave(client: &mut Client, room: &str, nick: &str) {
    let p = Presence::unavailable().with_to(format!("{room}@{GW}/{nick}").parse::<Jid>().unwrap());
    client.send(p).await;
}

/// The text of the error presence that answers a join of `room`.
async fn join_error(client: &mut Client, room: &str) -> String {
    let from: Jid = format!("{room}@{GW}").parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&from) && p.type_ == Type::Error => {
                Some(error_text(&p.payloads))
            }
            _ => None,
        })
        .await
}

fn error_text(payloads: &[Element]) -> String {
    payloads
        .iter()
        .find(|e| e.name() == "error")
        .and_then(|e| e.children().find(|c| c.name() == "text"))
        .map(|t| t.text())
        .unwrap_or_default()
}

/// Waits for the self-presence (status 110) of a joined room.
async fn joined(client: &mut Client, room: &str) {
    let prefix = format!("{room}@{GW}/");
    client
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == Type::None
                    && p.from
                        .as_ref()
                        .is_some_and(|f| f.to_string().starts_with(&prefix))
                    && p.payloads.iter().any(|x| {
                        x.children()
                            .any(|c| c.name() == "status" && c.attr("code") == Some("110"))
                    }) =>
            {
                Some(())
            }
            _ => None,
        })
        .await
}

/// Waits for a chat message from the gateway itself containing `part`.
async fn told(client: &mut Client, part: &str) -> String {
    let from: Jid = GW.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.type_ != MessageType::Error =>
            {
                m.get_best_body(vec![])
                    .map(|(_, b)| b.clone())
                    .filter(|b| b.contains(part))
            }
            _ => None,
        })
        .await
}

/// Sets a server's settings through its ad-hoc `configure` command.
async fn configure(client: &mut Client, server: &str, fields: &[(&str, &str)]) {
    let (status, note) = common::configure(client, &format!("{server}@{GW}"), fields).await;
    assert_eq!(status, "completed", "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_ports_and_names_are_refused_before_any_connection() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    // Witnesses at the address the room names point to (6697: the port a
    // server without settings is reached at), and at a port a user asks for.
    let tls_port = Listener::bind("127.77.0.1:6697");
    let asked = Listener::bind("127.77.0.1:0");
    let operators = Listener::bind("127.77.0.1:0");
    let _gateway = Switchboard::start(&config(
        &prosody,
        "",
        &format!(
            "\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n\"other.localhost\" = \"{}\"",
            ircd.port, operators.addr
        ),
    ));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#ok").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    // Loopback in any spelling, IPv4-mapped IPv6 included: refused, with
    // the policy named, and nothing reaches the port.
    for room in [
        "#x%127.77.0.1",
        "#x%2135752705",
        "#x%127.77.1",
        "#x%0x7f.0x4d.0.01",
        "#x%[\\3a\\3affff\\3a127.77.0.1]",
    ] {
        join(&mut alice, room, "alice").await;
        let text = join_error(&mut alice, room).await;
        assert!(
            text.contains(POLICY) && text.contains("loopback"),
            "{room}: {text}"
        );
    }
    // A name that resolves to loopback: refused on its resolved address.
    join(&mut alice, "#x%localhost", "alice").await;
    let text = join_error(&mut alice, "#x%localhost").await;
    assert!(
        text.contains(POLICY) && text.contains("localhost") && text.contains("loopback"),
        "{text}"
    );

    // The operator's own server is theirs to choose: it works.
    join(&mut alice, &format!("#ok%{IRC_HOST}"), "alice").await;
    joined(&mut alice, &format!("#ok%{IRC_HOST}")).await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("JOIN :#ok"))
        .await;

    // A port the policy does not allow, set in a server's settings: refused.
    configure(
        &mut alice,
        "other.localhost",
        &[("port", &asked.addr.port().to_string())],
    )
    .await;
    join(&mut alice, "#y%other.localhost", "alice").await;
    let text = join_error(&mut alice, "#y%other.localhost").await;
    assert!(
        text.contains(POLICY) && text.contains(&format!("port {}", asked.addr.port())),
        "{text}"
    );

    assert_eq!(tls_port.accepted(), 0, "connections to a refused address");
    assert_eq!(asked.accepted(), 0, "connections to a refused port");
    assert_eq!(operators.accepted(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_servers_time_out_and_leaving_ends_the_attempts() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let silent = Listener::bind("127.77.0.2:0");
    let silent_tls = Listener::bind("127.77.0.2:0");
    let fourth = Listener::bind("127.77.0.2:0");
    // A policy that lets users reach private addresses on these ports, with
    // small timeouts, at most three servers and four rooms each.
    let settings = format!(
        "allow_private_addresses = true\nallowed_ports = [{}, {}]\n\
         connect_timeout_secs = 1\ntls_timeout_secs = 1\nregistration_timeout_secs = 1\n\
         max_servers_per_user = 3\nmax_rooms_per_user = 4",
        silent.addr.port(),
        silent_tls.addr.port()
    );
    let _gateway = Switchboard::start(&config(
        &prosody,
        &settings,
        &format!(
            "\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n\
             \"tls.localhost\" = {{ address = \"{}\", tls = true }}\n\
             \"fourth.localhost\" = \"{}\"",
            ircd.port, silent_tls.addr, fourth.addr
        ),
    ));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#ok").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    // A server the user set up on a private address (allowed here) that
    // accepts and never answers: no welcome in time, told once.
    configure(
        &mut alice,
        "127.77.0.2",
        &[("port", &silent.addr.port().to_string()), ("tls", "false")],
    )
    .await;
    join(&mut alice, "#a%127.77.0.2", "alice").await;
    let text = told(&mut alice, "no welcome from 127.77.0.2 within 1 s").await;
    assert!(text.contains("trying again"), "{text}");
    // A TLS server that never answers the handshake.
    join(&mut alice, "#t%tls.localhost", "alice").await;
    told(&mut alice, "no TLS handshake from tls.localhost within 1 s").await;
    assert!(silent_tls.accepted() >= 1);

    // The session still works for other servers.
    join(&mut alice, &format!("#ok%{IRC_HOST}"), "alice").await;
    joined(&mut alice, &format!("#ok%{IRC_HOST}")).await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("JOIN :#ok"))
        .await;
    // Three servers: the most this policy allows; a fourth is refused and
    // not connected to.
    join(&mut alice, "#f%fourth.localhost", "alice").await;
    let text = join_error(&mut alice, "#f%fourth.localhost").await;
    assert!(
        text.contains("connected to 3 IRC servers, the most this gateway allows"),
        "{text}"
    );
    // Four rooms: a fifth is refused.
    join(&mut alice, &format!("#more%{IRC_HOST}"), "alice").await;
    joined(&mut alice, &format!("#more%{IRC_HOST}")).await;
    join(&mut alice, &format!("#most%{IRC_HOST}"), "alice").await;
    let text = join_error(&mut alice, &format!("#most%{IRC_HOST}")).await;
    assert!(
        text.contains("in 4 IRC rooms, the most this gateway allows"),
        "{text}"
    );

    // Still being retried; the user leaves those rooms: the attempts end,
    // and the connections the gateway had open are closed.
    let before_silent = silent.accepted();
    assert!(before_silent >= 1);
    leave(&mut alice, "#a%127.77.0.2", "alice").await;
    leave(&mut alice, "#t%tls.localhost", "alice").await;
    // A round trip through the gateway, so that the leaves were handled.
    configure(
        &mut alice,
        "127.77.0.2",
        &[("port", &silent.addr.port().to_string()), ("tls", "false")],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after_silent, after_tls) = (silent.accepted(), silent_tls.accepted());
    // Longer than the next backoffs (1 s, 2 s, 4 s) and timeouts together.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(silent.accepted(), after_silent, "attempts after the leave");
    assert_eq!(silent_tls.accepted(), after_tls, "attempts after the leave");
    assert_eq!(silent.still_open(), 0, "connections left open");
    assert_eq!(silent_tls.still_open(), 0, "connections left open");
    assert_eq!(fourth.accepted(), 0, "connections over the server limit");
    eprintln!(
        "attempts: plain {before_silent} before the leave, {after_silent} at it, {} after; \
         TLS {after_tls} at it, {} after",
        silent.accepted(),
        silent_tls.accepted()
    );

    // Joining again and unregistering ends them too.
    join(&mut alice, "#a%127.77.0.2", "alice").await;
    let from: Jid = format!("#a%127.77.0.2@{GW}").parse().unwrap();
    let refused = alice
        .maybe(Duration::from_secs(2), |s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&from) && p.type_ == Type::Error => {
                Some(error_text(&p.payloads))
            }
            _ => None,
        })
        .await;
    assert_eq!(refused, None, "joining again");
    told(&mut alice, "no welcome from 127.77.0.2").await;
    alice.say(GW, "unregister").await;
    told(&mut alice, "unregistered").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_unregister = silent.accepted();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        silent.accepted(),
        at_unregister,
        "attempts after unregistering"
    );
    assert_eq!(silent.still_open(), 0, "connections left open");
}
