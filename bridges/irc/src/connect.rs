//! Reaching a server: the operator's policy checked on the name and on
//! every address it resolves to (at every connect, so a name that later
//! resolves elsewhere is caught), then TCP and TLS, each within its timeout.
//! A checked address is the one connected to: the name is resolved once.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::debug;

use crate::conn::ConnSettings;
use crate::host::Host;

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
    /// This attempt failed and is retried. The text is for the user and
    /// tells nothing of the port's state; the detail is for the log.
    Failed { text: String, detail: String },
}

/// The checks that need no network: the server (its name, or its address
/// when written as one) and the port. A server the operator listed, at
/// the port they gave, passes.
pub(crate) fn check_named(s: &ConnSettings) -> Result<(), String> {
    match s.listed_port {
        Some(port) if port == s.port => Ok(()),
        // The operator's server on a port of the user's choice.
        Some(_) => {
            s.policy.check_port(&s.name, s.port)?;
            match &s.host {
                Host::Ip(ip) => s.policy.check_address(&s.name, *ip),
                Host::Name(_) => Ok(()),
            }
        }
        None => {
            s.policy.check_server(&s.host)?;
            s.policy.check_port(&s.name, s.port)
        }
    }
}

/// Connects as the settings say, within the policy and the timeouts.
pub(crate) async fn connect(s: &ConnSettings) -> Result<Box<dyn Io>, Failure> {
    check_named(s).map_err(Failure::Refused)?;
    let trusted = s.listed_port == Some(s.port);
    let failed = |text: String, detail: String| Failure::Failed { text, detail };
    let deadline = Instant::now() + s.timeouts.connect;
    let lookup = s.host.lookup_name();
    let resolved: Vec<SocketAddr> =
        match timeout_at(deadline, tokio::net::lookup_host((lookup.as_str(), s.port))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => return Err(failed(format!("cannot resolve {}", s.name), e.to_string())),
            Err(_) => {
                return Err(failed(
                    format!("cannot resolve {}", s.name),
                    "timed out".into(),
                ))
            }
        };
    let mut refusal = None;
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| {
            trusted
                || match s.policy.check_address(&s.name, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refusal.get_or_insert(e);
                        false
                    }
                }
        })
        .take(MAX_ADDRESSES)
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
    if !s.tls {
        return Ok(Box::new(tcp));
    }
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(lookup).map_err(|e| {
        failed(
            format!("{} is not a TLS server name", s.name),
            e.to_string(),
        )
    })?;
    match timeout(s.timeouts.tls, tls_connector().connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(Box::new(tls)),
        Ok(Err(e)) => Err(failed(
            format!("TLS with {} failed: {e}", s.name),
            e.to_string(),
        )),
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

fn tls_connector() -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(Arc::clone(config))
}
