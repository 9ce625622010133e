//! A real Prosody on loopback with the given components.

use super::{free_port, open_up, shared_tempdir, stop_child, unprivileged, wait_for_port};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

/// The XMPP domain of test users.
pub const DOMAIN: &str = "localhost";
/// The XEP-0363 upload service's JID, with [`Prosody::start_with_upload`].
pub const UPLOAD: &str = "upload.localhost";
/// A second domain, not allowed to register.
pub const OTHER_DOMAIN: &str = "other.localhost";

/// The user profile modules a Prosody runs.
#[derive(Clone, Copy)]
enum Profiles {
    /// None.
    None,
    /// `mod_pep` (XEP-0163, XEP-0084).
    Pep,
    /// `mod_pep` and `mod_vcard_legacy`, as Prosody's default configuration.
    Vcard,
}

/// A running Prosody.
pub struct Prosody {
    /// Client port.
    pub c2s_port: u16,
    /// Component port.
    pub component_port: u16,
    /// HTTP port of the XEP-0363 upload service (`upload.localhost`), when
    /// started with [`Prosody::start_with_upload`].
    pub http_port: Option<u16>,
    /// The components' XEP-0356 privileges, when started privileged.
    privileges: Option<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Prosody {
    /// Starts Prosody with one `Component` block per `(domain, secret)`,
    /// logging every stanza (for a failing test to show).
    pub fn start(components: &[(&str, &str)]) -> Self {
        Self::start_logging(components, "debug")
    }

    /// Starts Prosody logging from `level` up. A benchmark wants `"warn"`:
    /// at `"debug"` Prosody writes each stanza to its log twice, which costs
    /// more than routing it.
    pub fn start_logging(components: &[(&str, &str)], level: &str) -> Self {
        Self::start_full(components, level, None, None, Profiles::None)
    }

    /// Starts Prosody with `mod_http_file_share` as the component
    /// [`UPLOAD`] (XEP-0363), files up to `limit` bytes, on an HTTP port of
    /// its own on 127.0.0.1.
    pub fn start_with_upload(components: &[(&str, &str)], limit: u64) -> Self {
        Self::start_full(components, "debug", Some(limit), None, Profiles::None)
    }

    /// [`Prosody::start_with_upload`] with the user profile modules of
    /// Prosody's default configuration: PEP (`mod_pep`) and
    /// `mod_vcard_legacy` (a vcard-temp set publishes the XEP-0084
    /// avatar, a vcard-temp get to a user's bare JID is answered from it,
    /// and each presence a user sends carries its XEP-0153 hash).
    pub fn start_with_upload_and_profiles(components: &[(&str, &str)], limit: u64) -> Self {
        Self::start_full(components, "debug", Some(limit), None, Profiles::Vcard)
    }

    /// [`Prosody::start_with_upload`] with PEP (`mod_pep`: XEP-0084
    /// avatars) and no vCard module: a vcard-temp request to a user is
    /// refused.
    pub fn start_with_upload_and_pep(components: &[(&str, &str)], limit: u64) -> Self {
        Self::start_full(components, "debug", Some(limit), None, Profiles::Pep)
    }

    /// Starts Prosody with mod_privilege (XEP-0356, Debian's
    /// prosody-modules) granting each component these privileges on the
    /// users' host, written as its config reads them:
    /// `roster = "both"; message = "outgoing";`. PEP (`mod_pep`) is on, for
    /// the `iq` privilege on pubsub (XEP-0402 bookmarks).
    pub fn start_privileged(components: &[(&str, &str)], privileges: &str) -> Self {
        Self::start_full(components, "debug", None, Some(privileges), Profiles::None)
    }

    fn start_full(
        components: &[(&str, &str)],
        level: &str,
        upload: Option<u64>,
        privileges: Option<&str>,
        profiles: Profiles,
    ) -> Self {
        let dir = shared_tempdir();
        let c2s_port = free_port();
        let component_port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut cfg = format!(
            r#"
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{data}"
log = {{ {level} = "{dir}/prosody.log", error = "*stderr" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
component_ports = {{ {component_port} }}
component_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "presence"; "posix"; {privilege}}}
modules_disabled = {{ "s2s"; "tls"; "offline"; }}
VirtualHost "{DOMAIN}"
{granted}
VirtualHost "{OTHER_DOMAIN}"
"#,
            dir = dir.path().display(),
            data = data.display(),
            privilege = match (privileges.is_some(), profiles) {
                (true, Profiles::None | Profiles::Pep) => "\"privilege\"; \"pep\"; ",
                (true, Profiles::Vcard) => "\"privilege\"; \"pep\"; \"vcard_legacy\"; ",
                (false, Profiles::None) => "",
                (false, Profiles::Pep) => "\"pep\"; ",
                (false, Profiles::Vcard) => "\"pep\"; \"vcard_legacy\"; ",
            },
            granted = match privileges {
                Some(p) => {
                    let entities: String = components
                        .iter()
                        .map(|(domain, _)| format!("[\"{domain}\"] = {{ {p} }}; "))
                        .collect();
                    format!("    privileged_entities = {{ {entities}}}")
                }
                None => String::new(),
            },
        );
        let http_port = upload.map(|limit| {
            let port = free_port();
            cfg = cfg.replace(
                "http_ports = { }",
                &format!("http_ports = {{ {port} }}\nhttp_interfaces = {{ \"127.0.0.1\" }}"),
            );
            cfg.push_str(&format!(
                "Component \"{UPLOAD}\" \"http_file_share\"\n    \
                 http_host = \"127.0.0.1\"\n    \
                 http_file_share_size_limit = {limit}\n"
            ));
            port
        });
        for (domain, secret) in components {
            cfg.push_str(&format!(
                "Component \"{domain}\"\n    component_secret = \"{secret}\"\n"
            ));
            if privileges.is_some() {
                cfg.push_str("    modules_enabled = { \"privilege\" }\n");
            }
        }
        std::fs::write(dir.path().join("prosody.cfg.lua"), cfg).unwrap();
        open_up(dir.path());
        let mut p = Prosody {
            c2s_port,
            component_port,
            http_port,
            privileges: privileges.map(str::to_owned),
            dir,
            child: None,
        };
        p.launch();
        p
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    /// Prosody's own log, for a failing test to print.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default()
    }

    fn launch(&mut self) {
        let child = unprivileged("prosody")
            .arg("--config")
            .arg(self.config())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prosody did not start: is it installed (scripts/install-test-deps)?");
        self.child = Some(child);
        for port in [self.c2s_port, self.component_port] {
            assert!(
                wait_for_port(port, Duration::from_secs(20)),
                "prosody did not open port {port}; log:\n{}",
                self.log()
            );
        }
    }

    /// Creates a user account (`user@domain`).
    pub fn register(&self, user: &str, domain: &str, password: &str) {
        let status = unprivileged("prosodyctl")
            .arg("--config")
            .arg(self.config())
            .args(["register", user, domain, password])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "prosodyctl register {user}@{domain} failed"
        );
    }

    /// Stops Prosody.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(5));
        }
    }

    /// Grants the components these privileges in place of those it was
    /// started with (written as [`Prosody::start_privileged`] takes them)
    /// and restarts Prosody on the same ports and data: an operator
    /// changing mod_privilege's configuration.
    pub fn regrant(&mut self, privileges: &str) {
        let old = self
            .privileges
            .replace(privileges.to_owned())
            .expect("started with Prosody::start_privileged");
        let config = std::fs::read_to_string(self.config()).unwrap();
        let (old, new) = (format!("{{ {old} }}"), format!("{{ {privileges} }}"));
        assert!(config.contains(&old), "{config}");
        std::fs::write(self.config(), config.replace(&old, &new)).unwrap();
        self.restart();
    }

    /// Stops Prosody and starts it again on the same ports.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- last lines of prosody.log ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        self.stop();
    }
}
