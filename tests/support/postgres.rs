//! A real PostgreSQL on loopback, in a temporary folder.

use super::{free_port, shared_tempdir, stop_child, unprivileged, wait_for_port};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A running PostgreSQL with a database `sb` owned by role `sb`.
pub struct Postgres {
    /// Connection URL.
    pub url: String,
    _dir: tempfile::TempDir,
    child: Child,
}

/// The newest installed PostgreSQL's program folder.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

impl Postgres {
    /// Starts a fresh cluster; `None` where PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        let bin = bin_dir()?;
        let dir = shared_tempdir();
        let data = dir.path().join("data");
        let port = free_port();
        let ok = unprivileged(bin.join("initdb").to_str().unwrap())
            .args(["-A", "trust", "-U", "sb", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "initdb failed");
        let child = unprivileged(bin.join("postgres").to_str().unwrap())
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "postgres did not start"
        );
        // The port opens a moment before the server accepts sessions.
        let mut created = false;
        for _ in 0..50 {
            let status = unprivileged(bin.join("createdb").to_str().unwrap())
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "sb", "sb"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if status.success() {
                created = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(created, "createdb failed");
        Some(Postgres {
            url: format!("postgres://sb@127.0.0.1:{port}/sb"),
            _dir: dir,
            child,
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(5));
    }
}
