//! Replay protection shared by replicas. The wire layer remembers accepted nonces in
//! memory; when the database is shared with other processes that memory sees only this
//! replica's requests, so the nonce is also claimed in the database.

use crate::{Result, Service};
use opencas_store::now_millis;
use std::sync::atomic::{AtomicI64, Ordering};

/// Expired claims are deleted at most this often per process (seconds).
const PURGE_EVERY_SECS: i64 = 60;

static LAST_PURGE: AtomicI64 = AtomicI64::new(0);

impl Service {
    /// Whether nonces must be claimed in the database (`claim_nonce`) to be seen by every
    /// process serving the API: true on a database other processes may share.
    pub fn nonces_shared(&self) -> bool {
        self.store().is_shared()
    }

    /// Claims `nonce` of `credential` until `expires_at` (unix seconds); `false` when any
    /// process already accepted it and that claim has not expired.
    pub async fn claim_nonce(&self, credential: &str, nonce: &str, expires_at: i64) -> Result<bool> {
        let now = now_millis() / 1000;
        let last = LAST_PURGE.load(Ordering::Relaxed);
        if now - last >= PURGE_EVERY_SECS
            && LAST_PURGE
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // Bounded by the replay window's traffic; a failure only delays the cleanup.
            if let Err(e) = self.store().purge_nonces(now).await {
                tracing::warn!(error = %e, "purging expired nonces");
            }
        }
        Ok(self.store().claim_nonce(credential, nonce, now, expires_at).await?)
    }
}
