//! CRLs: one per CRL-enabled CA, persisted with its schedule (`crls` table) so a restart
//! serves the same CRL and the background refresher resumes where it was.
//!
//! A CRL is re-signed when the CA's revocation state changed (checked with one indexed read
//! per fetch, never a count over the revoked rows) or when the refresher finds it due: at
//! half its lifetime, or sooner when `crl_refresh_interval_secs` says so. Re-signing an
//! unchanged CRL reuses the encoded entries of the previous one, so a million entries cost
//! one hash pass and one signature, not a table scan.

use super::entries::Tail;
use super::{DAY_SECS, MAX_CAS, insert_capped, sm2_id_of};
use crate::{Result, Service, ServiceConfig, ServiceError, blocking};
use opencas_pki::build_crl_from_encoded;
use opencas_store::{CaRecord, RevocationVersion, StoredCrlMeta, now_millis};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a refresher's claim on a CRL lasts: a worker that dies while signing delays
/// that CRL by this much, while a live one finishes long before.
const CLAIM_LEASE_SECS: i64 = 300;
/// The refresher looks for due CRLs at least this often.
const MAX_TICK_SECS: i64 = 60;

/// A CRL as served, with what it lists.
#[derive(Clone)]
pub(super) struct CachedCrl {
    pub number: i64,
    pub version: RevocationVersion,
    pub next_update: i64,
    pub der: Arc<Vec<u8>>,
}

/// Bytes of CRLs kept in memory across all CAs. A CA with a million revoked certificates has
/// a CRL of about 37 MB; past this budget other CAs' CRLs are dropped and re-read from the
/// store on their next fetch, so memory does not grow with the number of large CRLs served.
const CRL_CACHE_BYTES: usize = 256 << 20;

#[derive(Default)]
struct CachedCrls {
    by_ca: HashMap<String, CachedCrl>,
    bytes: usize,
}

#[derive(Default)]
pub(super) struct CrlCache {
    crls: Mutex<CachedCrls>,
    /// Where the next change of each CA's entries can start from.
    tails: Mutex<HashMap<String, Tail>>,
    /// One signer per CA in this process: concurrent fetches after a revocation wait for
    /// one new CRL instead of each signing their own.
    signing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl CrlCache {
    pub(super) fn get(&self, identifier: &str) -> Option<CachedCrl> {
        self.crls.lock().unwrap().by_ca.get(identifier).cloned()
    }

    fn put(&self, identifier: &str, crl: CachedCrl) {
        self.put_within(identifier, crl, CRL_CACHE_BYTES);
    }

    fn put_within(&self, identifier: &str, crl: CachedCrl, budget: usize) {
        let mut crls = self.crls.lock().unwrap();
        if crls.by_ca.get(identifier).is_some_and(|c| c.number >= crl.number) {
            return;
        }
        if let Some(old) = crls.by_ca.remove(identifier) {
            crls.bytes -= old.der.len();
        }
        // the new CRL stays even when it alone is over budget: it is about to be served
        while crls.bytes + crl.der.len() > budget {
            let Some(other) = crls.by_ca.keys().next().cloned() else {
                break;
            };
            let dropped = crls.by_ca.remove(&other).expect("key just seen");
            crls.bytes -= dropped.der.len();
        }
        crls.bytes += crl.der.len();
        crls.by_ca.insert(identifier.to_owned(), crl);
    }

    pub(super) fn tail(&self, identifier: &str) -> Option<Tail> {
        self.tails.lock().unwrap().get(identifier).cloned()
    }

    fn put_tail(&self, identifier: &str, tail: Tail) {
        insert_capped(&mut self.tails.lock().unwrap(), identifier.to_owned(), tail, MAX_CAS);
    }

    fn signing_lock(&self, identifier: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut signing = self.signing.lock().unwrap();
        if signing.len() >= MAX_CAS && !signing.contains_key(identifier) {
            // a lock nobody holds or waits for can go: the next signer makes a new one
            signing.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        signing.entry(identifier.to_owned()).or_default().clone()
    }
}

/// How often `opencas serve` should call [`Service::refresh_due_crls`].
pub fn crl_refresh_tick(config: &ServiceConfig) -> Duration {
    let secs = match config.crl_refresh_interval_secs {
        Some(i) => (i / 2).clamp(1, MAX_TICK_SECS),
        None => MAX_TICK_SECS,
    };
    Duration::from_secs(secs as u64)
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

impl Service {
    /// (nextUpdate, when the refresher re-signs) of a CRL of `ca` signed at `this_update`.
    fn crl_schedule(&self, ca: &CaRecord, this_update: i64) -> (i64, i64) {
        let life = ca.crl_day.max(1) * DAY_SECS;
        let mut wait = life / 2;
        if let Some(i) = self.config.crl_refresh_interval_secs {
            wait = wait.min(i.max(1));
        }
        (this_update + life, this_update + wait)
    }

    /// The CRL to serve for `ca`: the last one signed when it lists every revocation made
    /// before this call and is still valid, else a new one.
    ///
    /// A fetch that waited for another's signing accepts the CRL that one made if it covers
    /// the state seen when the fetch began, even if revocations arrived meanwhile: comparing
    /// with the state after the wait instead made every waiter sign once more, one after
    /// another, so under a steady stream of revocations fetches queued for seconds.
    pub(super) async fn current_crl(&self, ca: &CaRecord) -> Result<CachedCrl> {
        let wanted = self.store.revocation_version(&ca.identifier).await?;
        if let Some(c) = self.valid_crl(ca, wanted).await? {
            return Ok(c);
        }
        let lock = self.pki.crls.signing_lock(&ca.identifier);
        let _signer = lock.lock().await;
        if let Some(c) = self.valid_crl(ca, wanted).await? {
            return Ok(c);
        }
        let version = self.store.revocation_version(&ca.identifier).await?;
        self.sign_crl(ca, version).await
    }

    /// The last CRL signed for `ca` (by any process), when it lists at least the revocations
    /// of `version` and its nextUpdate has not passed.
    async fn valid_crl(&self, ca: &CaRecord, version: RevocationVersion) -> Result<Option<CachedCrl>> {
        let Some(meta) = self.store.crl_meta(&ca.identifier).await? else {
            return Ok(None);
        };
        if !meta.signed || !meta.version.is_some_and(|v| v.covers(version)) || now_secs() >= meta.next_update {
            return Ok(None);
        }
        self.load_crl(&ca.identifier, &meta).await
    }

    /// The CRL `meta` describes, from memory or else from the store.
    pub(super) async fn load_crl(&self, identifier: &str, meta: &StoredCrlMeta) -> Result<Option<CachedCrl>> {
        if let Some(c) = self.pki.crls.get(identifier)
            && c.number == meta.crl_number
        {
            return Ok(Some(c));
        }
        let (Some(der), Some(version)) = (self.store.crl_der(identifier, meta.crl_number).await?, meta.version) else {
            return Ok(None);
        };
        let crl = CachedCrl {
            number: meta.crl_number,
            version,
            next_update: meta.next_update,
            der: Arc::new(der),
        };
        self.pki.crls.put(identifier, crl.clone());
        Ok(Some(crl))
    }

    /// Signs, persists and caches a new CRL of `ca` listing `version`. Callers hold the
    /// CA's signing lock.
    async fn sign_crl(&self, ca: &CaRecord, version: RevocationVersion) -> Result<CachedCrl> {
        let started = Instant::now();
        let (entries, tail) = self.crl_entries(ca, version).await?;
        let entries_ms = started.elapsed().as_millis();
        let mut tx = self.store.begin().await?;
        let number = tx.next_crl_number(&ca.identifier).await?;
        tx.commit().await?;
        let key = self.ca_key(ca).await?;
        let cert = ca.cert_der.clone();
        let now = now_secs();
        let (next_update, refresh_at) = self.crl_schedule(ca, now);
        let sm2_id = sm2_id_of(ca);
        // Signing a large CRL takes a while: keep it off the async workers so that other
        // requests are not held up behind it.
        let der =
            blocking(move || build_crl_from_encoded(&cert, &key, &entries, number as u64, now, next_update, sm2_id))
                .await?
                .map_err(|e| ServiceError::Internal(format!("CRL: {e}")))?;
        let signed_ms = started.elapsed().as_millis();
        let meta = StoredCrlMeta {
            crl_number: number,
            this_update: now,
            next_update,
            refresh_at,
            version: Some(version),
            signed: true,
        };
        let mut tx = self.store.begin().await?;
        tx.save_crl(&ca.identifier, &meta, &der).await?;
        tx.commit().await?;
        tracing::info!(
            ca = %ca.identifier, number, bytes = der.len(), entries_ms, signed_ms,
            total_ms = started.elapsed().as_millis(), "CRL signed"
        );
        let crl = CachedCrl {
            number,
            version,
            next_update,
            der: Arc::new(der),
        };
        self.pki.crls.put(&ca.identifier, crl.clone());
        if let Some(tail) = tail {
            self.pki.crls.put_tail(&ca.identifier, tail.listed_by(number));
        }
        Ok(crl)
    }

    /// Re-signs every CRL that is due (or was never signed), claiming each in the store
    /// first so that no two workers sign the same one. Returns how many it signed; one
    /// CA's failure is logged and does not stop the others.
    pub async fn refresh_due_crls(&self) -> Result<usize> {
        let now = now_secs();
        let mut signed = 0;
        for identifier in self.store.crls_due(now).await? {
            let mut tx = self.store.begin().await?;
            let claimed = tx.claim_crl_refresh(&identifier, now, now + CLAIM_LEASE_SECS).await?;
            tx.commit().await?;
            if !claimed {
                continue;
            }
            let Some(ca) = self.store.find_ca_public(&identifier).await? else {
                continue;
            };
            let lock = self.pki.crls.signing_lock(&identifier);
            let _signer = lock.lock().await;
            let result = match self.store.revocation_version(&identifier).await {
                Ok(version) => self.sign_crl(&ca, version).await,
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(_) => signed += 1,
                Err(e) => tracing::warn!(ca = %identifier, error = %e, "CRL refresh failed"),
            }
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crl(number: i64, bytes: usize) -> CachedCrl {
        CachedCrl {
            number,
            version: RevocationVersion::default(),
            next_update: 0,
            der: Arc::new(vec![0; bytes]),
        }
    }

    fn held_bytes(cache: &CrlCache) -> usize {
        let crls = cache.crls.lock().unwrap();
        assert_eq!(crls.bytes, crls.by_ca.values().map(|c| c.der.len()).sum::<usize>());
        crls.bytes
    }

    #[test]
    fn crls_in_memory_stay_within_the_byte_budget() {
        let cache = CrlCache::default();
        for i in 0..50 {
            cache.put_within(&format!("ca{i}"), crl(1, 100), 1_000);
            assert!(held_bytes(&cache) <= 1_000);
            assert_eq!(cache.get(&format!("ca{i}")).unwrap().number, 1, "the new CRL is kept");
        }
        assert_eq!(cache.crls.lock().unwrap().by_ca.len(), 10);
        // a newer CRL of a cached CA replaces it and its bytes; an older one is ignored
        cache.put_within("ca49", crl(2, 300), 1_000);
        cache.put_within("ca49", crl(1, 900), 1_000);
        assert_eq!(cache.get("ca49").unwrap().der.len(), 300);
        assert!(held_bytes(&cache) <= 1_000);
        // one CRL larger than the whole budget is still served, alone
        cache.put_within("big", crl(1, 5_000), 1_000);
        assert_eq!(held_bytes(&cache), 5_000);
        assert!(cache.get("big").is_some());
    }

    #[test]
    fn tails_and_signing_locks_are_bounded_and_a_held_lock_survives() {
        let cache = CrlCache::default();
        let held = cache.signing_lock("held");
        let _guard = held.try_lock().unwrap();
        for i in 0..MAX_CAS + 100 {
            let id = format!("ca{i}");
            drop(cache.signing_lock(&id));
            cache.put_tail(&id, Tail::default());
        }
        assert!(cache.signing.lock().unwrap().len() <= MAX_CAS);
        assert!(cache.tails.lock().unwrap().len() <= MAX_CAS);
        assert!(
            Arc::ptr_eq(&cache.signing_lock("held"), &held),
            "a lock in use must not be replaced: two signers of one CA would race"
        );
    }
}
