//! A certificate authority made at test time with the `openssl` command,
//! and a server certificate it signs for `irc.localhost` and 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test CA and one server certificate, in a temporary folder.
pub struct TestCa {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl did not run: is it installed?");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TestCa {
    /// Makes the CA (P-256, valid two days) and a server certificate it
    /// signs, valid for `irc.localhost` and 127.0.0.1.
    pub fn new() -> Self {
        let dir = super::shared_tempdir();
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Switchboard test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(d, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=irc.localhost",
        ]);
        openssl(d, &csr);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:irc.localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        super::open_up(d);
        TestCa { dir }
    }

    /// The CA's certificate (PEM).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate (PEM).
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// The server certificate's SHA-256 fingerprint, as `AB:CD:…`.
    pub fn server_fingerprint(&self) -> String {
        let out = openssl(
            self.dir.path(),
            &[
                "x509",
                "-in",
                "server.pem",
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
        );
        out.trim()
            .rsplit_once('=')
            .expect("openssl prints name=fingerprint")
            .1
            .to_owned()
    }
}
