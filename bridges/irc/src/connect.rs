//! Reaching a server: the operator's policy checked on the name and on
//! every address it resolves to (at every connect, so a name that later
//! resolves elsewhere is caught), then TCP and TLS, each within its timeout,
//! on each port in turn.
//! A checked address is the one connected to: the name is resolved once.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::debug;

use tokio_rustls::rustls::pki_types::ServerName;

use crate::conn::{ConnSettings, Port};
use crate::host::Host;
use crate::tls::certificate_problem;

/// A connection to a server, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Addresses of one name tried, at most.
const MAX_ADDRESSES: usize = 4;

/// Why there is no connection.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The operator's policy refuses this server: not retried. The text is for the user.
    Refused(String),
    /// The server's certificate was refused: not retried, and no other
    /// port tried. The text is for the user.
    Untrusted(String),
    /// This attempt failed and is retried. The text is for the user and
    /// tells nothing of the port's state; the detail is for the log.
    Failed { text: String, detail: String },
}

/// A connection made.
pub(crate) struct Connected {
    /// The stream.
    pub io: Box<dyn Io>,
    /// The port it is on.
    pub port: Port,
}

/// The checks that need no network: the server (its name, or its address
/// when written as one) and every port. A server the operator listed, at
/// the port they gave, passes.
pub(crate) fn check_named(s: &ConnSettings) -> Result<(), String> {
    s.ports
        .iter()
        .try_for_each(|p| check_named_port(s, p.number))
}

fn check_named_port(s: &ConnSettings, port: u16) -> Result<(), String> {
    match s.listed_port {
        Some(listed) if listed == port => Ok(()),
        // The operator's server on a port of the user's choice.
        Some(_) => {
            s.policy.check_port(&s.name, port)?;
            match &s.host {
                Host::Ip(ip) => s.policy.check_address(&s.name, *ip),
                Host::Name(_) => Ok(()),
            }
        }
        None => {
            s.policy.check_server(&s.host)?;
            s.policy.check_port(&s.name, port)
        }
    }
}

/// Connects as the settings say, within the policy and the timeouts: each
/// port in turn, until one connects. A refused certificate ends the
/// attempt at once.
pub(crate) async fn connect(s: &ConnSettings) -> Result<Connected, Failure> {
    check_named(s).map_err(Failure::Refused)?;
    let failed = |text: String, detail: String| Failure::Failed { text, detail };
    let deadline = Instant::now() + s.timeouts.connect;
    let lookup = s.host.lookup_name();
    let resolved: Vec<std::net::IpAddr> =
        match timeout_at(deadline, tokio::net::lookup_host((lookup.as_str(), 0))).await {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            Ok(Err(e)) => return Err(failed(format!("cannot resolve {}", s.name), e.to_string())),
            Err(_) => {
                return Err(failed(
                    format!("cannot resolve {}", s.name),
                    "timed out".into(),
                ))
            }
        };
    let mut last = None;
    for &port in &s.ports {
        match connect_port(s, &resolved, port).await {
            Ok(io) => return Ok(Connected { io, port }),
            Err(f @ (Failure::Refused(_) | Failure::Untrusted(_))) => return Err(f),
            Err(f) => {
                debug!(server = %s.name, port = port.number, failure = ?f, "port failed");
                last = Some(f);
            }
        }
    }
    Err(last.unwrap_or_else(|| failed(format!("cannot connect to {}", s.name), "no port".into())))
}

/// One port: TCP to the first address that answers, then TLS if asked.
async fn connect_port(
    s: &ConnSettings,
    resolved: &[std::net::IpAddr],
    port: Port,
) -> Result<Box<dyn Io>, Failure> {
    let trusted = s.listed_port == Some(port.number);
    let failed = |text: String, detail: String| Failure::Failed { text, detail };
    let deadline = Instant::now() + s.timeouts.connect;
    let mut refusal = None;
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .filter(|ip| {
            trusted
                || match s.policy.check_address(&s.name, **ip) {
                    Ok(()) => true,
                    Err(e) => {
                        refusal.get_or_insert(e);
                        false
                    }
                }
        })
        .take(MAX_ADDRESSES)
        .map(|ip| SocketAddr::new(*ip, port.number))
        .collect();
    if allowed.is_empty() {
        return Err(match refusal {
            Some(text) => Failure::Refused(text),
            None => failed(format!("cannot resolve {}", s.name), "no address".into()),
        });
    }
    let mut last = String::new();
    let mut tcp = None;
    for addr in allowed {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(c)) => {
                tcp = Some(c);
                break;
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => {
                last = format!("{addr}: connect timed out");
                break;
            }
        }
    }
    // Refused, unreachable or silent: one text, so that users cannot tell
    // a closed port from a filtered one.
    let tcp = tcp.ok_or_else(|| failed(format!("cannot connect to {}", s.name), last))?;
    let _ = tcp.set_nodelay(true);
    if !port.tls {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::try_from(s.host.lookup_name()).map_err(|e| {
        failed(
            format!("{} is not a TLS server name", s.name),
            e.to_string(),
        )
    })?;
    let connector = s.trust.connector(&s.verify);
    match timeout(s.timeouts.tls, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(Box::new(tls)),
        Ok(Err(e)) => match certificate_problem(&e) {
            Some(problem) => Err(Failure::Untrusted(format!(
                "TLS with {} failed: {problem}",
                s.name
            ))),
            None => Err(failed(
                format!("TLS with {} failed: {e}", s.name),
                e.to_string(),
            )),
        },
        Err(_) => {
            debug!(server = %s.name, "TLS handshake timed out");
            Err(failed(
                format!(
                    "no TLS handshake from {} within {} s",
                    s.name,
                    s.timeouts.tls.as_secs_f32()
                ),
                "TLS timed out".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::feed_offline_settings;
    use crate::policy::Policy;

    fn settings(ports: &[(u16, bool)]) -> ConnSettings {
        let mut s = feed_offline_settings();
        s.host = Host::Ip([127, 0, 0, 1].into());
        s.policy = std::sync::Arc::new(Policy {
            allow_private_addresses: true,
            allowed_ports: vec![1..=65535],
            ..Policy::default()
        });
        s.ports = ports
            .iter()
            .map(|&(number, tls)| Port { number, tls })
            .collect();
        s
    }

    /// A port nothing listens on.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn ports_are_tried_in_turn_until_one_connects() {
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain_port = plain.local_addr().unwrap().port();
        let s = settings(&[(closed_port(), true), (plain_port, false)]);
        let connected = connect(&s).await.expect("the plain port connects");
        assert_eq!(
            connected.port,
            Port {
                number: plain_port,
                tls: false
            }
        );
    }

    #[tokio::test]
    async fn a_tls_failure_that_is_not_the_certificate_moves_on_to_the_next_port() {
        use tokio::io::AsyncWriteExt;
        // (A refused certificate ends the attempt instead: tests/e2e irc_tls.)
        let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_port = tls.local_addr().unwrap().port();
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        plain.set_nonblocking(true).unwrap();
        let plain_port = plain.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut c, _) = tls.accept().await.unwrap();
            // A fatal TLS alert (handshake_failure) instead of a ServerHello.
            let _ = c.write_all(&[21, 3, 3, 0, 2, 2, 40]).await;
        });
        let s = settings(&[(tls_port, true), (plain_port, false)]);
        let connected = connect(&s).await.expect("the plain port connects");
        assert!(!connected.port.tls);
        assert!(plain.accept().is_ok());
    }
}
