//! Bad input from the XMPP server, through a fake server socket: malformed
//! XML, oversized stanzas, a DTD, an undeclared entity, an unknown element
//! and an iq error. The process must survive each one, answer an oversized
//! stanza's sender and keep the stream, reconnect where the stream is beyond
//! repair, and keep answering.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOMAIN: &str = "irc.localhost";
const SECRET: &str = "robust-secret";

struct Gateway {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(port: u16) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[xmpp]\nserver = \"127.0.0.1:{port}\"\nmax_stanza_size = 65536\n\
             [users]\nallowed_domains = [\"localhost\"]\n\
             [log]\nlevel = \"info\"\n\
             [networks.irc]\njid = \"{DOMAIN}\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap())
        .spawn()
        .unwrap();
    Gateway { child, _dir: dir }
}

/// One accepted component connection, handshake done.
struct Peer {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

fn sha1_hex(input: &str) -> String {
    let mut child = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..40].to_owned()
}

/// Reads until `needle` shows up; returns what was read.
fn read_until(reader: &mut BufReader<TcpStream>, needle: &str, timeout: Duration) -> String {
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&seen).contains(needle) {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn accept(listener: &TcpListener, timeout: Duration) -> Peer {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + timeout;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("switchboard did not (re)connect within {timeout:?}: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let header = read_until(&mut reader, ">", Duration::from_secs(5));
    assert!(
        header.contains("jabber:component:accept"),
        "stream header: {header}"
    );
    let mut stream_w = stream.try_clone().unwrap();
    let id = "abc123";
    write!(
        stream_w,
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:component:accept' from='{DOMAIN}' id='{id}'>"
    )
    .unwrap();
    let handshake = read_until(&mut reader, "</handshake>", Duration::from_secs(5));
    assert!(
        handshake.contains(&sha1_hex(&format!("{id}{SECRET}"))),
        "handshake digest wrong: {handshake}"
    );
    stream_w.write_all(b"<handshake/>").unwrap();
    Peer { stream, reader }
}

impl Peer {
    fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).unwrap();
    }

    /// Sends a ping and waits for its answer: the stream is alive.
    fn ping(&mut self, id: &str) -> String {
        self.send(&format!(
            "<iq type='get' id='{id}' from='alice@localhost/x' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        let seen = read_until(
            &mut self.reader,
            &format!("id='{id}'"),
            Duration::from_secs(5),
        );
        assert!(
            seen.contains(&format!("id='{id}'")),
            "no answer to ping {id}: {seen}"
        );
        seen
    }

    /// The stream must end (the gateway closes it).
    fn expect_closed(&mut self, what: &str) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    panic!("the stream was not ended after {what}")
                }
                Err(_) => return,
            }
        }
    }
}

fn still_running(g: &mut Gateway) {
    assert!(g.child.try_wait().unwrap().is_none(), "switchboard exited");
}

#[test]
fn bad_input_from_the_server_never_kills_the_process() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut gw = start_gateway(port);
    let mut peer = accept(&listener, Duration::from_secs(20));
    peer.ping("p1");
    // The process restarted itself with glibc's thread caches off (so that
    // freed memory can be given back), and kept its id.
    let environ = std::fs::read(format!("/proc/{}/environ", gw.child.id())).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v.starts_with(b"GLIBC_TUNABLES=")
                && v.ends_with(b"glibc.malloc.tcache_count=0")),
        "running without malloc's thread caches"
    );
    let name = std::fs::read_to_string(format!("/proc/{}/comm", gw.child.id())).unwrap();
    assert_eq!(name.trim(), "switchboard", "the process keeps its name");

    // An iq error: never answered; the stream stays.
    peer.send(&format!(
        "<iq type='error' id='e1' from='alice@localhost/x' to='{DOMAIN}'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    // An unknown iq payload gets service-unavailable.
    peer.send(&format!(
        "<iq type='get' id='u1' from='alice@localhost/x' to='{DOMAIN}'><query xmlns='urn:example:nothing'/></iq>"
    ));
    let seen = peer.ping("p2");
    assert!(
        seen.contains("service-unavailable"),
        "unknown payload answered: {seen}"
    );
    assert!(
        !seen.contains("id='e1'"),
        "an error was answered with an error: {seen}"
    );
    still_running(&mut gw);

    // Stanzas over the size limit (64 KiB here), as the server encodes them:
    // each is dropped, its sender told with an error of its own kind, and
    // the stream goes on (a ping on the same connection is answered).
    let apostrophes = "&apos;".repeat(50_000);
    for (what, xml, answer) in [
        (
            "a message",
            format!(
                "<message from='alice@localhost/x' to='contact%irc.example@{DOMAIN}' id='big-m' \
                 type='chat'><body>{apostrophes}</body></message>"
            ),
            "<message",
        ),
        (
            "an iq",
            format!(
                "<iq type='set' id='big-i' from='alice@localhost/x' to='{DOMAIN}'>\
                 <query xmlns='jabber:iq:register'><username>{apostrophes}</username></query></iq>"
            ),
            "<iq",
        ),
        (
            "a presence",
            format!(
                "<presence from='alice@localhost/x' to='#r%irc.example@{DOMAIN}/nick' id='big-p'>\
                 <status>{apostrophes}</status></presence>"
            ),
            "<presence",
        ),
    ] {
        peer.send(&xml);
        let id = xml
            .split("id='")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap();
        let seen = peer.ping(&format!("after-big-{id}"));
        let reply = seen
            .split_inclusive(&format!("</{}>", &answer[1..]))
            .find(|s| s.contains(&format!("id='{id}'")))
            .unwrap_or_else(|| panic!("no error answered an oversized {what}: {seen}"));
        assert!(
            reply.contains(answer)
                && reply.contains("type='error'")
                && reply.contains("<policy-violation")
                && reply.contains("to='alice@localhost/x'"),
            "an oversized {what} is answered with policy-violation to its sender: {reply}"
        );
        assert!(
            reply.len() < 2_000,
            "the answer does not echo the stanza back: {} bytes",
            reply.len()
        );
    }
    // A stanza whose start tag alone is over the limit names no sender that
    // can be trusted: it is dropped, and the stream still goes on.
    peer.send(&format!(
        "<message from='alice@localhost/x' to='{DOMAIN}' x='{}'><body>x</body></message>",
        "y".repeat(70_000)
    ));
    peer.ping("after-big-head");
    still_running(&mut gw);

    // Each of these breaks the stream: the gateway must reconnect.
    // (An unknown top-level element is a stream error in RFC 6120 §4.9.3.22.)
    let breakers: [(&str, String); 4] = [
        (
            "an unknown stanza type",
            "<foo xmlns='jabber:component:accept'/>".to_owned(),
        ),
        (
            "malformed XML",
            "<message to='irc.localhost'><body>oops</message>".to_owned(),
        ),
        ("a DTD", "<!DOCTYPE x [<!ENTITY a 'b'>]>".to_owned()),
        (
            "an undeclared entity",
            format!("<message from='alice@localhost/x' to='{DOMAIN}'><body>&xxe;</body></message>"),
        ),
    ];
    for (what, xml) in breakers {
        let _ = peer.stream.write_all(xml.as_bytes());
        peer.expect_closed(what);
        still_running(&mut gw);
        peer = accept(&listener, Duration::from_secs(20));
        peer.ping(&format!("after-{}", what.replace(' ', "-")));
    }
    still_running(&mut gw);
    // Each break was logged with its reason, and the secret never was.
    let log = gw.log();
    for reason in [
        "dropped a stanza larger than the limit",
        "undeclared entity",
        "does not match its start tag",
        "a comment or DTD",
    ] {
        assert!(log.contains(reason), "no log line says {reason:?}:\n{log}");
    }
    assert!(
        !log.contains(SECRET),
        "the component secret reached the log"
    );
}

/// `check-config` names every mistake in a bridge's own settings and in
/// network kinds by its full key, and accepts two instances of one kind.
#[test]
fn check_config_names_bridge_settings_and_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[users]\nallowed_domains = [\"localhost\"]\n\
         [networks.irc]\njid = \"irc.localhost\"\nsecret = \"x\"\n\
         [networks.irc.settings]\nallowed_ports = [6697, \"7000-6000\"]\nflood = false\n\
         [networks.irc2]\nkind = \"irc\"\njid = \"irc2.localhost\"\nsecret = \"y\"\n\
         [networks.irc2.settings]\nalowed_servers = [\"irc.libera.chat\"]\n\
         [networks.irc2.settings.servers]\n\"irc.localhost\" = { address = \"nowhere\", tls = false, port = 1 }\n\
         [networks.icq]\njid = \"icq.localhost\"\nsecret = \"z\"\n\
         [networks.chat]\nkind = \"ircv3\"\njid = \"chat.localhost\"\nsecret = \"z\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    let at = file.display().to_string();
    for line in [
        "networks.irc.settings.allowed_ports[1]: the range \"7000-6000\" is empty",
        "networks.irc.settings.flood: unknown key",
        "networks.irc2.settings.alowed_servers: unknown key",
        "networks.irc2.settings.servers.irc.localhost.port: unknown key",
        "networks.irc2.settings.servers.irc.localhost: \"nowhere\": the address must be \"host:port\"",
        "networks.icq: unknown network kind \"icq\"",
        "networks.chat.kind: unknown network kind \"ircv3\"; this build has: irc, discord, matrix",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{at}: {line}"))),
            "{line} not named in:\n{text}"
        );
    }

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[users]\nallowed_domains = [\"localhost\"]\n\
         [networks.irc]\njid = \"irc.localhost\"\nsecret = \"x\"\n\
         [networks.irc.settings]\nallowed_ports = [6697, \"6660-6669\"]\n\
         [networks.irc2]\nkind = \"irc\"\njid = \"irc2.localhost\"\nsecret = \"y\"\n\
         [networks.irc2.settings.servers]\n\"irc.localhost\" = \"127.0.0.1:6667\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(2 networks enabled)"));
}

#[test]
fn check_config_names_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "colour = 1\n[users]\nallowed_domains = []\n[networks.irc]\njid = \"not a domain@@\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    for key in [
        "colour",
        "users.allowed_domains",
        "networks.irc.jid",
        "networks.irc.secret",
    ] {
        assert!(text.contains(key), "{key} not named in:\n{text}");
    }

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[users]\nallowed_domains = [\"localhost\"]\n[networks.irc]\njid = \"irc.localhost\"\nsecret = \"x\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
