//! Credentials at rest: sealed with ChaCha20-Poly1305 under a key kept in a
//! file beside the config (made on first run, readable by its owner only).

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::fmt;
use std::path::Path;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Errors of the credential vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file holds something else than a key.
    #[error("key file {0} does not hold a 64-digit hex key")]
    BadKey(String),
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// A sealed value is damaged or was sealed under another key.
    #[error("stored credentials cannot be opened (damaged, or another key)")]
    Open,
}

/// Seals and opens secrets. `Debug` never shows the key.
pub struct Vault {
    cipher: ChaCha20Poly1305,
    /// The root of [`Vault::derive`]'s keys: a keyed hash of the vault key,
    /// so the vault key itself is kept only inside the cipher.
    derive_root: [u8; KEY_LEN],
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(<key>)")
    }
}

impl Vault {
    /// Opens the key file, making a new random key there if it does not exist.
    pub fn from_key_file(path: &Path) -> Result<Self, VaultError> {
        let io_err = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let key = match std::fs::read_to_string(path) {
            Ok(text) => parse_hex_key(text.trim())
                .ok_or_else(|| VaultError::BadKey(path.display().to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                getrandom::fill(&mut key).map_err(|e| VaultError::Random(e.to_string()))?;
                write_private(path, &to_hex(&key)).map_err(io_err)?;
                tracing::info!(path = %path.display(), "made a new credentials key");
                key
            }
            Err(e) => return Err(io_err(e)),
        };
        Ok(Self::from_key(&key))
    }

    /// A vault with the given key.
    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            derive_root: keyed_hash(key, b"switchboard vault: derived keys"),
        }
    }

    /// A secret for `purpose`, stable as long as the key file is: a keyed
    /// BLAKE2b hash of the purpose under (a hash of) the vault key. Keys for
    /// different purposes tell nothing about each other or the vault key.
    pub fn derive(&self, purpose: &str) -> [u8; KEY_LEN] {
        keyed_hash(&self.derive_root, purpose.as_bytes())
    }

    /// Seals `plain` into text for the database: base64 of nonce and ciphertext.
    pub fn seal(&self, plain: &[u8]) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| VaultError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| VaultError::Open)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`Vault::seal`] made.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, VaultError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| VaultError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), data)
            .map_err(|_| VaultError::Open)
    }
}

fn keyed_hash(key: &[u8; KEY_LEN], data: &[u8]) -> [u8; KEY_LEN] {
    use blake2::digest::{consts::U32, KeyInit, Mac};
    let mut mac = <blake2::Blake2bMac<U32> as KeyInit>::new_from_slice(key).expect("a 32-byte key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex_key(text: &str) -> Option<[u8; KEY_LEN]> {
    if text.len() != KEY_LEN * 2 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(key)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let vault = Vault::from_key_file(&path).unwrap();
        let sealed = vault.seal(b"hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        // The same file gives the same key.
        let again = Vault::from_key_file(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), b"hunter2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others");
        }
    }

    #[test]
    fn derived_keys_follow_the_vault_key_and_the_purpose() {
        let a = Vault::from_key(&[1; 32]);
        assert_eq!(a.derive("x"), Vault::from_key(&[1; 32]).derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        assert_ne!(a.derive("x"), Vault::from_key(&[2; 32]).derive("x"));
        assert_ne!(a.derive("x"), [1; 32]);
    }

    #[test]
    fn another_key_cannot_open() {
        let a = Vault::from_key(&[1; 32]);
        let b = Vault::from_key(&[2; 32]);
        let sealed = a.seal(b"secret").unwrap();
        assert!(b.open(&sealed).is_err());
        assert!(a.open("not base64!").is_err());
    }
}
