//! TLS to IRC servers: which certificates are trusted (Mozilla's roots and
//! the operator's own CAs, a user's SHA-256 pin, or none at all), and the
//! words a user reads when a certificate is refused.

use std::fmt;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    ring as ring_provider, verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

/// How a server's certificate is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// Signed by a trusted CA, for the server's name (the default).
    #[default]
    Ca,
    /// Exactly this certificate (SHA-256 of its DER), whoever signed it.
    Pin([u8; 32]),
    /// Any certificate: encrypted, but not authenticated.
    Off,
}

/// The CAs trusted for every server: Mozilla's, and the operator's own.
#[derive(Clone)]
pub struct Trust {
    /// The client settings for [`Verify::Ca`], made once.
    ca: Arc<ClientConfig>,
}

impl Trust {
    /// Mozilla's roots and `extra` (DER certificates the operator trusts).
    pub fn new(extra: &[Vec<u8>]) -> Self {
        let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra {
            // Checked when the operator's file was read ([`read_ca_file`]).
            let _ = roots.add(CertificateDer::from(der.clone()));
        }
        let ca = builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Trust { ca: Arc::new(ca) }
    }

    /// A connector that checks certificates as `verify` says.
    pub fn connector(&self, verify: &Verify) -> tokio_rustls::TlsConnector {
        let config = match verify {
            Verify::Ca => Arc::clone(&self.ca),
            Verify::Pin(pin) => custom(Some(*pin)),
            Verify::Off => custom(None),
        };
        tokio_rustls::TlsConnector::from(config)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring_provider::default_provider())
}

fn builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
}

fn custom(pin: Option<[u8; 32]>) -> Arc<ClientConfig> {
    let verifier = Arc::new(Pinned {
        pin,
        algorithms: provider().signature_verification_algorithms,
    });
    Arc::new(
        builder()
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    )
}

/// Accepts the certificate whose SHA-256 is `pin` (any, when `None`); the
/// handshake's signatures are still checked with ring's algorithms, so the
/// server must hold the certificate's key.
#[derive(Debug)]
struct Pinned {
    pin: Option<[u8; 32]>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

/// The certificate is not the pinned one.
#[derive(Debug)]
struct PinMismatch {
    presented: [u8; 32],
    pinned: [u8; 32],
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate has the SHA-256 fingerprint {}, not the pinned {}",
            hex(&self.presented),
            hex(&self.pinned)
        )
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pinned) = self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        let presented = sha256(end_entity);
        if presented == pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch { presented, pinned })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A SHA-256 fingerprint in hex, with or without colons (or spaces).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let bad = || "must be a SHA-256 fingerprint: 64 hex digits, colons allowed".to_owned();
    if digits.len() != 64 || !digits.is_ascii() {
        return Err(bad());
    }
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Reads the CA certificates of a PEM file (DER each), checking that
/// there is at least one and that each can be a trust anchor.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("{}: not a CA certificate: {e}", path.display()))?;
        certs.push(cert.to_vec());
    }
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// Whether a failed handshake failed on the server's certificate, and if
/// so in words for the user (a certificate problem is not retried, nor is
/// another port tried: a plain or other port would not be safer).
pub fn certificate_problem(e: &std::io::Error) -> Option<String> {
    let rustls::Error::InvalidCertificate(cert) = e.get_ref()?.downcast_ref::<rustls::Error>()?
    else {
        return None;
    };
    Some(match cert {
        CertificateError::Other(other) => other.to_string(),
        CertificateError::UnknownIssuer => "the server's certificate could not be verified: \
            it is not signed by a CA this gateway trusts (pin its SHA-256 fingerprint \
            in the server's settings, or ask the operator to trust its CA)"
            .to_owned(),
        other => format!("the server's certificate could not be verified: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_with_or_without_colons() {
        let plain = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let pin = parse_fingerprint(plain).unwrap();
        assert_eq!(pin[1], 0x11);
        assert_eq!(parse_fingerprint(&hex(&pin)).unwrap(), pin);
        assert!(parse_fingerprint("00:11").is_err());
        assert!(parse_fingerprint(&plain.replace('0', "g")).is_err());
    }

    #[test]
    fn a_pin_mismatch_names_both_fingerprints() {
        let v = Pinned {
            pin: Some([0xAB; 32]),
            algorithms: provider().signature_verification_algorithms,
        };
        let cert = CertificateDer::from(vec![1, 2, 3]);
        let name = ServerName::try_from("irc.example.net").unwrap();
        let err = v
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .unwrap_err();
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        let text = certificate_problem(&io).unwrap();
        assert!(text.contains(&hex(&sha256(&[1, 2, 3]))), "{text}");
        assert!(text.contains(&hex(&[0xAB; 32])), "{text}");
        let v = Pinned {
            pin: Some(sha256(&[1, 2, 3])),
            ..v
        };
        assert!(v
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .is_ok());
    }

    #[test]
    fn a_ca_file_needs_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not pem").unwrap();
        assert!(read_ca_file(&path)
            .unwrap_err()
            .contains("no PEM certificate"));
        assert!(read_ca_file(&dir.path().join("missing")).is_err());
    }
}
