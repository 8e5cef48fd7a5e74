//! Sealing of secrets at rest: AES-256-GCM under a data key derived from the master key.
//!
//! The record's identity is the associated data, so a sealed value copied onto another
//! record fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use std::io::Write;
use std::path::Path;

const NONCE_LEN: usize = 12;
/// Format tag in front of every sealed blob, so the scheme can change later.
const VERSION: u8 = 1;

/// The 32-byte master key. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("sealed value does not open (wrong master key, or moved between records)")]
    Open,
}

impl MasterKey {
    /// Decodes a key given as 64 hex characters (the `OPENCAS_MASTER_KEY` form).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::MasterKey("not hex".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SealError::MasterKey("must be 32 bytes (64 hex characters)".into()))?;
        Ok(Self(key))
    }

    /// Loads `path`, or creates it with a fresh random key and mode 0600 when absent.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let fail = |e: std::io::Error| SealError::MasterKey(format!("{}: {e}", path.display()));
                // Written whole under a name of its own, then linked into place: replicas
                // starting together on one data directory see either no key or the whole
                // key, never an empty file, and the link fails for all but the first.
                let staged = path.with_extension(format!("new.{}", hex::encode(&key[..8])));
                write_private_file(&staged, hex::encode(key).as_bytes()).map_err(fail)?;
                let linked = std::fs::hard_link(&staged, path);
                let _ = std::fs::remove_file(&staged);
                match linked {
                    Ok(()) => Ok(Self(key)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::from_hex(&std::fs::read_to_string(path).map_err(fail)?)
                    }
                    Err(e) => Err(fail(e)),
                }
            }
            Err(e) => Err(SealError::MasterKey(format!("{}: {e}", path.display()))),
        }
    }
}

/// Writes a file readable by its owner only, failing if it already exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Seals and opens values for one purpose (a separate data key per purpose).
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(master: &MasterKey, purpose: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"opencas-seal-v1"), &master.0);
        let mut data_key = [0u8; 32];
        hk.expand(purpose.as_bytes(), &mut data_key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let cipher = Aes256Gcm::new_from_slice(&data_key).expect("32-byte key");
        Self { cipher }
    }

    /// `record` names the row the value belongs to, e.g. `access_key:LTAI...`.
    pub fn seal(&self, record: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: record.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, record: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                &Nonce::try_from(nonce).map_err(|_| SealError::Open)?,
                Payload {
                    msg: ciphertext,
                    aad: record.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_hex(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn round_trip() {
        let s = Sealer::new(&key(), "test");
        let sealed = s.seal("rec:1", b"secret");
        assert_ne!(&sealed[13..], b"secret");
        assert_eq!(s.open("rec:1", &sealed).unwrap(), b"secret");
    }

    #[test]
    fn processes_creating_the_master_key_together_all_get_the_same_one() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("master.key");
            let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| MasterKey::load_or_create(&path).unwrap().0))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(keys.windows(2).all(|w| w[0] == w[1]), "two keys were handed out");
            assert_eq!(MasterKey::load_or_create(&path).unwrap().0, keys[0]);
            // nothing staged is left behind
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn bound_to_record_and_purpose() {
        let s = Sealer::new(&key(), "test");
        let sealed = s.seal("rec:1", b"secret");
        assert!(s.open("rec:2", &sealed).is_err());
        assert!(Sealer::new(&key(), "other").open("rec:1", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(s.open("rec:1", &tampered).is_err());
    }

    #[test]
    fn master_key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(MasterKey::from_hex("abcd").is_err());
    }
}
