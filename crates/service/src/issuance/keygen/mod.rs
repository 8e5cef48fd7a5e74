//! Server-side key generation.
//!
//! P-256 keys cost about as much as one signature and are made in place. RSA keys take tens
//! to hundreds of milliseconds of CPU each: they are made on dedicated threads that run at a
//! lower scheduling priority ([`slow`]), so that they may use every core the rest of the
//! server leaves idle but yield it as soon as request work wants it, and a small pool of
//! RSA-2048 keys made ahead of time absorbs bursts. Other curves and SM2 go to the blocking
//! pool as before.

mod slow;
#[cfg(test)]
mod tests;

use crate::{Result, blocking};
use opencas_pki::{KeyAlgorithm, KeyFamily, PrivateKey, os_rng};
use slow::SlowKeys;
use std::sync::Arc;

pub use slow::SlowKeysConfig;

#[derive(Debug, Clone)]
pub struct KeyGenerator {
    slow: Arc<SlowKeys>,
}

impl Default for KeyGenerator {
    fn default() -> Self {
        Self::new(SlowKeysConfig::default())
    }
}

impl KeyGenerator {
    pub fn new(config: SlowKeysConfig) -> Self {
        Self {
            slow: Arc::new(SlowKeys::new(config)),
        }
    }

    /// A fresh key of `algorithm`, never handed out before. The outer error is the service's
    /// (the generator stopped), the inner one the key generation's.
    pub async fn generate(&self, algorithm: KeyAlgorithm) -> Result<opencas_pki::Result<PrivateKey>> {
        match algorithm.family() {
            // about as costly as a signature (tens of µs): a hop to another thread costs more
            _ if algorithm == KeyAlgorithm::EcP256 => Ok(PrivateKey::generate(algorithm, &mut os_rng())),
            KeyFamily::Rsa => self.slow.get(algorithm).await,
            KeyFamily::Ecc | KeyFamily::Sm2 => blocking(move || PrivateKey::generate(algorithm, &mut os_rng())).await,
        }
    }
}
