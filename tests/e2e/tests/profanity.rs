//! A real XMPP client with a user's view: profanity (Debian's 0.13) in a
//! detached tmux session, against a real Prosody, the switchboard process and
//! a real IRC server (ngircd) with a raw IRC client on the other side. The
//! test types what a user would type and reads the screen
//! (`tmux capture-pane`): login, registration by chat message, joining a
//! channel, the greeter's line, the occupants, a line and a `/me` line sent
//! (each shown exactly once), and `/close`.

mod common;

use common::support::ejabberd::Ejabberd;
use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::Switchboard;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const GW: &str = "irc.localhost";
const SECRET: &str = "profanity-secret";
const GREETING: &str = "Welcome alice, I am the greeter";

fn config(component_port: u16, ircd: &Ircd) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n",
        component_port, ircd.port
    )
}

/// profanity in a detached tmux session of its own (own socket, fixed size,
/// clean HOME), driven by `send-keys` and read by `capture-pane`.
struct Profanity {
    home: tempfile::TempDir,
    socket: PathBuf,
}

impl Profanity {
    /// Columns and rows of the terminal: every line of the test fits on one screen.
    const SIZE: (&'static str, &'static str) = ("160", "50");

    /// Starts profanity with one account (`jid`, password, server on
    /// loopback, TLS off), not yet connected.
    fn start(jid: &str, password: &str, c2s_port: u16) -> Self {
        let home = tempfile::Builder::new()
            .prefix("switchboard-profanity")
            .tempdir()
            .unwrap();
        let data = home.path().join(".local/share/profanity");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(home.path().join(".config/profanity")).unwrap();
        let accounts = data.join("accounts");
        std::fs::write(
            &accounts,
            format!(
                "[{jid}]\nenabled=true\njid={jid}\nserver=127.0.0.1\nport={c2s_port}\n\
                 tls.policy=disable\npassword={password}\nresource=profanity\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&accounts, std::fs::Permissions::from_mode(0o600)).unwrap();
        let socket = home.path().join("tmux.sock");
        let p = Profanity { home, socket };
        let run = format!(
            "exec env -i HOME={home} TERM=xterm-256color LANG=C.UTF-8 PATH=/usr/bin:/bin profanity",
            home = p.home.path().display()
        );
        let status = p
            .tmux()
            .args(["new-session", "-d", "-s", "prof", "-x", Self::SIZE.0, "-y"])
            .arg(Self::SIZE.1)
            .arg(run)
            .status()
            .expect("tmux did not start: is it installed (scripts/install-test-deps)?");
        assert!(status.success(), "tmux new-session failed");
        p
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).stdin(Stdio::null());
        c
    }

    /// Types a line and presses Enter.
    fn type_line(&self, line: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "prof", "-l", line])
            .status()
            .unwrap()
            .success()
            && self
                .tmux()
                .args(["send-keys", "-t", "prof", "Enter"])
                .status()
                .unwrap()
                .success();
        assert!(ok, "tmux send-keys failed for {line:?}");
    }

    /// What the terminal shows now.
    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "prof"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `done` accepts it (30 s at most); returns it.
    async fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_within(Duration::from_secs(30), what, done)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "profanity: {what}: not on the screen; it shows:\n{}\n--- profanity.log ---\n{}",
                    self.screen(),
                    self.log()
                )
            })
    }

    async fn wait_within(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return Some(screen);
            }
            if tokio::time::Instant::now() > deadline {
                eprintln!("profanity: still waiting for {what}");
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        let path = self
            .home
            .path()
            .join(".local/share/profanity/logs/profanity.log");
        tail(&path, 40)
    }
}

impl Drop for Profanity {
    fn drop(&mut self) {
        // Only this test's tmux server (its own socket) and the profanity in it.
        let _ = self
            .tmux()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The lines of the screen that contain `text`.
fn count(screen: &str, text: &str) -> usize {
    screen.lines().filter(|l| l.contains(text)).count()
}

/// Message lines (`HH:MM:SS - …`, occupants column cut off) shown more than once.
fn duplicates(screen: &str) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for line in screen.lines() {
        let Some((_, rest)) = line.split_once(" - ") else {
            continue;
        };
        let text = rest.split("   ").next().unwrap_or("").trim().to_owned();
        if !text.is_empty() {
            *seen.entry(text).or_default() += 1;
        }
    }
    let mut dups: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(t, n)| format!("{n}× {t}"))
        .collect();
    dups.sort();
    dups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profanity_registers_joins_talks_and_leaves() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    smoke(prosody.c2s_port, prosody.component_port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profanity_through_ejabberd() {
    let ejabberd = Ejabberd::start(&[(GW, SECRET)]);
    ejabberd.register("alice", DOMAIN, "pass");
    smoke(ejabberd.c2s_port, ejabberd.component_port).await;
}

/// The user's session in profanity, through the XMPP server on those ports.
async fn smoke(c2s_port: u16, component_port: u16) {
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(component_port, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;

    let prof = Profanity::start(&format!("alice@{DOMAIN}"), "pass", c2s_port);
    prof.wait("the welcome screen", |s| s.contains("/help"))
        .await;
    prof.type_line(&format!("/connect alice@{DOMAIN}"));
    prof.wait("login", |s| s.contains("logged in successfully"))
        .await;

    // Registration by chat message to the gateway (retried while its
    // component may still be connecting: the server bounces those).
    let mut registered = false;
    for _ in 0..5 {
        prof.type_line(&format!("/msg {GW} register nick=alice"));
        if prof
            .wait_within(Duration::from_secs(6), "registration", |s| {
                s.contains("You are registered")
            })
            .await
            .is_some()
        {
            registered = true;
            break;
        }
    }
    assert!(
        registered,
        "profanity never saw the registration answer:\n{}",
        prof.screen()
    );

    // Join the channel; bob greets on IRC when alice arrives.
    prof.type_line(&format!("/join #test%{IRC_HOST}@{GW} nick alice"));
    prof.wait("the join", |s| {
        s.contains("You have joined the room as alice")
    })
    .await;
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;
    bob.send(&format!("PRIVMSG #test :{GREETING}")).await;
    prof.wait("the greeter's line", |s| {
        s.contains(&format!("bob: {GREETING}"))
    })
    .await;

    // The occupants: the panel and /who.
    prof.type_line("/occupants show");
    prof.type_line("/who");
    let screen = prof
        .wait("the occupants", |s| s.contains("2 occupants: alice, bob"))
        .await;
    assert!(
        screen.contains("Moderators") && screen.contains("Participants"),
        "the occupants panel: {screen}"
    );

    // A line and a /me line; IRC gets both.
    prof.type_line("hello from profanity");
    bob.expect(|l| l.ends_with("PRIVMSG #test :hello from profanity"))
        .await;
    prof.type_line("/me waves at bob");
    bob.expect(|l| l.ends_with("PRIVMSG #test :\x01ACTION waves at bob\x01"))
        .await;
    // bob's next line comes after the reflections of alice's two: once it
    // shows, every copy of hers that will ever show has.
    bob.send("PRIVMSG #test :that was all").await;
    let screen = prof
        .wait("bob's last line", |s| s.contains("bob: that was all"))
        .await;
    eprintln!("--- profanity's screen ---\n{screen}");
    assert_eq!(count(&screen, &format!("bob: {GREETING}")), 1, "{screen}");
    assert_eq!(count(&screen, "alice: hello from profanity"), 1, "{screen}");
    assert_eq!(count(&screen, "*alice waves at bob"), 1, "{screen}");
    assert_eq!(duplicates(&screen), Vec::<String>::new(), "{screen}");

    // Leave: profanity 0.13 has /close (no /leave); IRC sees the part.
    prof.type_line("/close");
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" PART #test"))
        .await;
    prof.wait("the closed window", |s| s.contains("Closed window"))
        .await;
}
