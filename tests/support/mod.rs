//! Real servers for the tests, on loopback, in temporary folders, stopped by
//! PID when dropped: Prosody and ejabberd (XMPP), PostgreSQL, IRC servers.
#![allow(dead_code)]

pub mod ejabberd;
pub mod hostile_irc;
pub mod ircd;
pub mod postgres;
pub mod prosody;
pub mod test_ca;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The unprivileged user the servers run as (Prosody and PostgreSQL refuse root).
pub const RUN_AS: &str = "nobody";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Waits until something accepts on the port.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A command that runs as [`RUN_AS`] when we are root.
pub fn unprivileged(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            RUN_AS,
            "--regid",
            "nogroup",
            "--clear-groups",
            "--",
            program,
        ]);
        c
    } else {
        Command::new(program)
    }
}

/// Whether the tests run as root (then servers run as unprivileged users).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Makes a temporary folder the unprivileged user can write.
pub fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("switchboard-test")
        .tempdir_in("/tmp")
        .unwrap();
    open_up(dir.path());
    dir
}

/// Gives a folder (and its files) to the unprivileged user.
pub fn open_up(path: &Path) {
    if is_root() {
        let _ = Command::new("chown")
            .args(["-R", &format!("{RUN_AS}:nogroup")])
            .arg(path)
            .status();
    }
}

/// Sends SIGTERM, then SIGKILL after a grace period, to one child we started.
pub fn stop_child(child: &mut std::process::Child, grace: Duration) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
