//! A real ejabberd (Debian's 23.01) on loopback with the given components.
//!
//! Each instance runs `ejabberdctl foreground` in a temporary folder of its
//! own (config, Mnesia spool, logs) as the `ejabberd` user, in the test's
//! process group (a test runner that kills a hung test's group ends it too).
//! Erlang distribution (which `ejabberdctl register` needs)
//! listens on a free loopback port given by `ERL_DIST_PORT`: the node and
//! `ejabberdctl` then find each other by that port alone, so no epmd is
//! started or asked, and instances never see one another. The node name is
//! unique per instance all the same.

use super::{free_port, is_root, stop_child, wait_for_port};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::prosody::{DOMAIN, OTHER_DOMAIN};

/// The system user the Debian package made; `ejabberdctl` runs as no other.
const EJABBERD_USER: &str = "ejabberd";

/// The modules of Debian's default configuration that need neither TLS
/// nor HTTP, as lines of `modules:`.
const MODULES: &str = "  mod_adhoc: {}
  mod_blocking: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_disco: {}
  mod_last: {}
  mod_muc: {}
  mod_offline: {}
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_roster:
    versioning: true
  mod_stream_mgmt: {}
  mod_vcard:
    search: false
  mod_version: {}
";

/// A running ejabberd.
pub struct Ejabberd {
    /// Client port.
    pub c2s_port: u16,
    /// Component port.
    pub component_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Ejabberd {
    /// Starts ejabberd with one `ejabberd_service` host per `(domain, secret)`
    /// and the modules of Debian's default configuration that need neither
    /// TLS nor HTTP (mod_muc among them: without it ejabberd 23.01's mod_caps
    /// crashes on every presence with caps, and asks nobody for them).
    pub fn start(components: &[(&str, &str)]) -> Self {
        Self::start_full(components, None, false)
    }

    /// [`Ejabberd::start`] with `mod_http_upload` (XEP-0363) as
    /// `upload.localhost`, files up to `limit` bytes, on an HTTP port of its
    /// own on 127.0.0.1, open to every JID (ejabberd's default, `local`,
    /// refuses a component, which is no local user). Returns the port too.
    pub fn start_with_upload(components: &[(&str, &str)], limit: u64) -> (Self, u16) {
        let port = free_port();
        (
            Self::start_full(components, Some((port, limit)), false),
            port,
        )
    }

    /// The same with mod_privilege (XEP-0356) granting every component
    /// roster `both` and message `outgoing` (ejabberd 23.01 speaks
    /// `urn:xmpp:privilege:1`).
    pub fn start_privileged(components: &[(&str, &str)]) -> Self {
        Self::start_full(components, None, true)
    }

    fn start_full(
        components: &[(&str, &str)],
        upload: Option<(u16, u64)>,
        privileged: bool,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-ejabberd")
            .tempdir_in("/tmp")
            .unwrap();
        let c2s_port = free_port();
        let component_port = free_port();
        let dist_port = free_port();
        let hosts: String = components
            .iter()
            .map(|(domain, secret)| {
                format!("      \"{domain}\":\n        password: \"{secret}\"\n")
            })
            .collect();
        let (privileged_acl, privileged_rule, privilege_module) = if privileged {
            let servers: String = components
                .iter()
                .map(|(domain, _)| format!("      - \"{domain}\"\n"))
                .collect();
            (
                format!("  privileged:\n    server:\n{servers}"),
                "  privileged:\n    allow: privileged\n",
                "  mod_privilege:\n    roster:\n      both: privileged\n    message:\n      outgoing: privileged\n",
            )
        } else {
            (String::new(), "", "")
        };
        let (http_listener, upload_module) = match upload {
            Some((port, limit)) => (
                format!(
                    "  -\n    port: {port}\n    ip: \"127.0.0.1\"\n    module: ejabberd_http\n    \
                     request_handlers:\n      \"/upload\": mod_http_upload\n"
                ),
                // On the first domain only (one `put_url` serves one host);
                // a host's `modules` replace the global ones, so all of them.
                format!(
                    "host_config:\n  \"{DOMAIN}\":\n    modules:\n{}      mod_http_upload:\n        \
                     host: \"upload.{DOMAIN}\"\n        \
                     put_url: \"http://127.0.0.1:{port}/upload\"\n        \
                     docroot: \"{}\"\n        max_size: {limit}\n        access: upload\n",
                    MODULES.lines().chain(privilege_module.lines()).map(|l| format!("    {l}\n")).collect::<String>(),
                    dir.path().join("upload").display()
                ),
            ),
            None => (String::new(), String::new()),
        };
        let yml = format!(
            r#"hosts:
  - "{DOMAIN}"
  - "{OTHER_DOMAIN}"
loglevel: debug
log_rotate_count: 0
listen:
  -
    port: {c2s_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
  -
    port: {component_port}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
{hosts}{http_listener}auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
{privileged_acl}access_rules:
  local:
    allow: local
{privileged_rule}  c2s:
    allow: all
  upload:
    allow: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper_rules:
  max_user_sessions: 10
modules:
{MODULES}{privilege_module}{upload_module}"#
        );
        let path = dir.path();
        std::fs::write(path.join("ejabberd.yml"), yml).unwrap();
        // A cookie of this instance's own; loopback only, like everything here.
        let cookie = format!("sb{}x{dist_port}", std::process::id());
        let ctl = format!(
            "ERLANG_NODE=sb{dist_port}@localhost\n\
             ERL_DIST_PORT={dist_port}\n\
             ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0 -setcookie {cookie} -kernel inet_dist_use_interface {{127,0,0,1}}\"\n\
             EJABBERD_PID_PATH={pid}\n\
             EJABBERD_BYPASS_WARNINGS=true\n",
            pid = path.join("ejabberd.pid").display(),
        );
        std::fs::write(path.join("ejabberdctl.cfg"), ctl).unwrap();
        std::fs::write(
            path.join("inetrc"),
            "{lookup,[\"file\",\"native\"]}.\n{host,{127,0,0,1},[\"localhost\"]}.\n",
        )
        .unwrap();
        for sub in ["spool", "logs", "upload"] {
            std::fs::create_dir_all(path.join(sub)).unwrap();
        }
        give_to_ejabberd(path);
        let mut e = Ejabberd {
            c2s_port,
            component_port,
            dir,
            child: None,
        };
        e.launch();
        e
    }

    /// ejabberd's own log, for a failing test to print.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/ejabberd.log")).unwrap_or_default()
    }

    /// `ejabberdctl` for this instance, as the `ejabberd` user.
    fn ctl(&self) -> Command {
        let path = self.dir.path();
        let mut c = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                EJABBERD_USER,
                "--regid",
                EJABBERD_USER,
                "--clear-groups",
                "--",
                "ejabberdctl",
            ]);
            c
        } else {
            Command::new("ejabberdctl")
        };
        c.arg("--config-dir")
            .arg(path)
            .arg("--spool")
            .arg(path.join("spool"))
            .arg("--logs")
            .arg(path.join("logs"))
            .env("HOME", path)
            .current_dir(path);
        c
    }

    /// Starts the node and waits until both listeners accept. Not by the
    /// ports: ejabberd binds them before it has finished starting (a
    /// `register` then fails in its auth cache), and logs "Start accepting"
    /// for each once it has.
    fn launch(&mut self) {
        let logged_before = self.log().len();
        let child = self
            .ctl()
            .arg("foreground")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "ejabberdctl did not start: is ejabberd installed (scripts/install-test-deps)?",
            );
        self.child = Some(child);
        let ready = [self.c2s_port, self.component_port]
            .map(|port| format!("Start accepting TCP connections at 127.0.0.1:{port} "));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            let new = log.get(logged_before..).unwrap_or("");
            if ready.iter().all(|line| new.contains(line.as_str())) {
                break;
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            assert!(
                !exited && Instant::now() < deadline,
                "ejabberd did not start listening on {} and {}; log:\n{new}",
                self.c2s_port,
                self.component_port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        for port in [self.c2s_port, self.component_port] {
            assert!(wait_for_port(port, Duration::from_secs(5)));
        }
    }

    /// Creates a user account (`user@domain`) with `ejabberdctl register`.
    pub fn register(&self, user: &str, domain: &str, password: &str) {
        let out = self
            .ctl()
            .args(["register", user, domain, password])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ejabberdctl register {user}@{domain} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops ejabberd: SIGTERM to its Erlang VM (a clean `init:stop`), then
    /// waits for `ejabberdctl`, which ends when the VM has; SIGKILL to both
    /// if that takes over 20 seconds.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let vm = vm_pid(&child).or_else(|| self.pid_file());
        match vm {
            Some(vm) => signal(vm, "TERM"),
            None => signal(child.id(), "TERM"),
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(vm) = vm {
            signal(vm, "KILL");
        }
        stop_child(&mut child, Duration::from_secs(1));
    }

    /// The VM's PID from the file ejabberd writes (gone once stopped).
    fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("ejabberd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops ejabberd and starts it again on the same ports and spool.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Ejabberd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- last lines of ejabberd.log ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        self.stop();
    }
}

/// The Erlang VM: the one child of our `ejabberdctl` (which runs `erl`,
/// which becomes the VM), once it has started.
fn vm_pid(ctl: &Child) -> Option<u32> {
    let id = ctl.id();
    std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Sends a signal to one process we started.
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Gives the instance's folder to the `ejabberd` user when we are root.
fn give_to_ejabberd(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", &format!("{EJABBERD_USER}:{EJABBERD_USER}")])
            .arg(path)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "chown to {EJABBERD_USER} failed: is ejabberd installed?"
        );
    }
}
