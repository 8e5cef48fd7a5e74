//! Server-side key generation. RSA keys take tens to hundreds of milliseconds of CPU each;
//! left unbounded, a burst of RSA requests occupies every core and stalls the cheap ECC
//! issuances queued behind them. RSA generation therefore runs on the blocking pool behind a
//! gate that admits at most half the cores; elliptic-curve keys cost microseconds and go
//! straight through.

use crate::{Result, blocking};
use opencas_pki::{KeyAlgorithm, KeyFamily, PrivateKey, os_rng};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct KeyGenerator {
    slow_gate: Arc<Semaphore>,
}

impl Default for KeyGenerator {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_slow_slots((cores / 2).max(1))
    }
}

impl KeyGenerator {
    pub fn with_slow_slots(slots: usize) -> Self {
        Self {
            slow_gate: Arc::new(Semaphore::new(slots)),
        }
    }

    pub async fn generate(&self, algorithm: KeyAlgorithm) -> Result<opencas_pki::Result<PrivateKey>> {
        let _slot = match algorithm.family() {
            KeyFamily::Rsa => Some(
                self.slow_gate
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the key generation gate is never closed"),
            ),
            KeyFamily::Ecc | KeyFamily::Sm2 => None,
        };
        blocking(move || PrivateKey::generate(algorithm, &mut os_rng())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_bounds_concurrent_rsa_generation_only() {
        let keys = KeyGenerator::with_slow_slots(1);
        let held = keys.slow_gate.clone().acquire_owned().await.unwrap();
        // the only RSA slot is taken: an RSA request waits, an EC one does not
        let ec = keys.generate(KeyAlgorithm::EcP256).await.unwrap().unwrap();
        assert_eq!(ec.algorithm(), KeyAlgorithm::EcP256);
        let waiting = tokio::spawn({
            let keys = keys.clone();
            async move { keys.generate(KeyAlgorithm::Rsa2048).await }
        });
        // with the gate working this holds however slow the machine; without it, an RSA-2048
        // key would be ready well within the second
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(held);
        let rsa = waiting.await.unwrap().unwrap().unwrap();
        assert_eq!(rsa.algorithm(), KeyAlgorithm::Rsa2048);
    }
}
