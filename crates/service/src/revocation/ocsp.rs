//! OCSP (RFC 6960) at scale. The issuer a request names is found in an in-memory index of
//! the CAs' issuer hashes, and answers about one certificate without a nonce are pre-signed
//! and cached per CertID, so a busy responder mostly copies bytes. A cached answer is
//! dropped when half its validity has passed, and re-checked against the store when its
//! CA's revocation state changed: a revocation in this process shows at once, one in
//! another replica within `VERSION_TTL_MS`. A nonce is echoed in the signed data, so
//! such answers are always signed fresh. Nothing here writes to the store.

use super::{DAY_SECS, MAX_CAS, insert_capped, sm2_id_of};
use crate::{Service, blocking};
use opencas_pki::{
    CertId, KeyAlgorithm, OcspCertStatus, OcspHashAlgorithm, OcspRequest, OcspResponseStatus, RevocationReason,
    SingleResponse, build_ocsp_response, ocsp_error_response,
};
use opencas_store::{CaRecord, RevocationVersion, now_millis};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// How long a CA's revocation version is trusted from memory.
const VERSION_TTL_MS: i64 = 500;
/// Validity of an answer (nextUpdate - thisUpdate).
const VALIDITY_SECS: i64 = DAY_SECS;

type IssuerKey = (OcspHashAlgorithm, Vec<u8>, Vec<u8>);

#[derive(Default)]
struct IssuerIndex {
    by_hashes: HashMap<IssuerKey, Arc<CaRecord>>,
    /// (count, highest id) of the issuing CAs it was built from.
    mark: (i64, i64),
}

#[derive(Clone)]
struct CachedAnswer {
    version: RevocationVersion,
    status: OcspCertStatus,
    /// Unix seconds after which it is signed again.
    refresh_at: i64,
    der: Arc<Vec<u8>>,
}

#[derive(Default)]
pub(super) struct OcspCache {
    issuers: RwLock<IssuerIndex>,
    versions: Mutex<HashMap<String, (RevocationVersion, i64)>>,
    /// Keyed by the request's CertID DER, which names issuer, hash algorithm and serial.
    answers: Mutex<HashMap<Vec<u8>, CachedAnswer>>,
}

impl OcspCache {
    /// Makes the next answer about a certificate of `issuer` re-read its revocation state.
    pub(super) fn forget_version(&self, issuer: &str) {
        self.versions.lock().unwrap().remove(issuer);
    }

    fn lookup(&self, id: &CertId) -> Option<Arc<CaRecord>> {
        let key = (
            id.hash_algorithm(),
            id.issuer_name_hash().to_vec(),
            id.issuer_key_hash().to_vec(),
        );
        self.issuers.read().unwrap().by_hashes.get(&key).cloned()
    }

    /// Stores an answer, keeping at most `capacity`: when full, expired answers go first,
    /// then an arbitrary half (cheaper than tracking recency on every hit).
    fn put(&self, key: &[u8], answer: CachedAnswer, capacity: usize, now: i64) {
        if capacity == 0 {
            return;
        }
        let mut answers = self.answers.lock().unwrap();
        if answers.len() >= capacity && !answers.contains_key(key) {
            answers.retain(|_, a| now < a.refresh_at);
            if answers.len() >= capacity {
                let mut n = 0usize;
                answers.retain(|_, _| {
                    n += 1;
                    n.is_multiple_of(2)
                });
            }
        }
        answers.insert(key.to_vec(), answer);
    }
}

pub(super) enum OcspFailure {
    Malformed,
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> OcspFailure {
    OcspFailure::Internal(e.to_string())
}

type OcspResult<T> = std::result::Result<T, OcspFailure>;

impl Service {
    /// Answers a DER OCSP request (RFC 6960). Malformed requests get a malformedRequest
    /// response, never an HTTP error: OCSP clients read the response status.
    pub async fn ocsp(&self, request_der: &[u8]) -> Vec<u8> {
        match self.try_ocsp(request_der).await {
            Ok(der) => der,
            Err(OcspFailure::Malformed) => ocsp_error_response(OcspResponseStatus::MalformedRequest),
            Err(OcspFailure::Internal(e)) => {
                tracing::error!(error = %e, "OCSP failure");
                ocsp_error_response(OcspResponseStatus::InternalError)
            }
        }
    }

    async fn try_ocsp(&self, request_der: &[u8]) -> OcspResult<Vec<u8>> {
        let request = OcspRequest::from_der(request_der).map_err(|_| OcspFailure::Malformed)?;
        // All certificates of one response are answered by one signer: the CA that issued
        // the first one. Others by different CAs are answered unknown.
        let Some(signer) = self.ocsp_issuer(&request.cert_ids[0]).await? else {
            return Ok(ocsp_error_response(OcspResponseStatus::Unauthorized));
        };
        let cache = &self.pki.ocsp;
        let now = now_millis() / 1000;
        if let [id] = &request.cert_ids[..]
            && request.nonce.is_none()
        {
            let version = self.ca_version(&signer.identifier).await?;
            let cached = cache.answers.lock().unwrap().get(id.as_der()).cloned();
            let mut known = None;
            if let Some(mut hit) = cached.filter(|a| now < a.refresh_at) {
                if hit.version == version {
                    return Ok(hit.der.to_vec());
                }
                let status = self.serial_status(&signer, id).await?;
                if status == hit.status {
                    hit.version = version;
                    let der = hit.der.to_vec();
                    cache.put(id.as_der(), hit, self.config.ocsp_cache_entries, now);
                    return Ok(der);
                }
                known = Some(status);
            }
            let status = match known {
                Some(s) => s,
                None => self.serial_status(&signer, id).await?,
            };
            let der = Arc::new(
                self.sign_ocsp(&signer, vec![answer(id, status, now)], None, now)
                    .await?,
            );
            let answer = CachedAnswer {
                version,
                status,
                refresh_at: now + VALIDITY_SECS / 2,
                der: der.clone(),
            };
            cache.put(id.as_der(), answer, self.config.ocsp_cache_entries, now);
            return Ok(der.to_vec());
        }
        // Signed fresh, but a status the cache holds for the CA's current revocation state
        // saves the store a read.
        let version = self.ca_version(&signer.identifier).await?;
        let mut responses = Vec::with_capacity(request.cert_ids.len());
        for id in &request.cert_ids {
            let known = cache
                .answers
                .lock()
                .unwrap()
                .get(id.as_der())
                .filter(|a| a.version == version && now < a.refresh_at)
                .map(|a| a.status);
            let status = match known {
                Some(s) => s,
                None if cache.lookup(id).is_some_and(|ca| ca.identifier == signer.identifier) => {
                    self.serial_status(&signer, id).await?
                }
                None => OcspCertStatus::Unknown,
            };
            responses.push(answer(id, status, now));
        }
        self.sign_ocsp(&signer, responses, request.nonce, now).await
    }

    async fn sign_ocsp(
        &self,
        signer: &CaRecord,
        responses: Vec<SingleResponse>,
        nonce: Option<Vec<u8>>,
        now: i64,
    ) -> OcspResult<Vec<u8>> {
        let key = self.ca_key(signer).await.map_err(internal)?;
        let sm2_id = sm2_id_of(signer);
        // A P-256 signature (about 30 µs) costs about as much as the hand-off to the blocking
        // pool and back (two thread wake-ups): sign in place. RSA (about 0.7 ms for 2048 bits),
        // the larger curves and SM2 would hold an async worker too long.
        if key.algorithm() == KeyAlgorithm::EcP256 {
            return build_ocsp_response(&signer.cert_der, &key, &responses, now, nonce.as_deref(), sm2_id)
                .map_err(internal);
        }
        let cert = signer.cert_der.clone();
        blocking(move || build_ocsp_response(&cert, &key, &responses, now, nonce.as_deref(), sm2_id))
            .await
            .map_err(internal)?
            .map_err(internal)
    }

    /// The CA holding a key here that `id` names as issuer.
    async fn ocsp_issuer(&self, id: &CertId) -> OcspResult<Option<Arc<CaRecord>>> {
        let cache = &self.pki.ocsp;
        if let Some(ca) = cache.lookup(id) {
            return Ok(Some(ca));
        }
        // An unknown issuer costs one cheap read; the index is rebuilt only when CAs were
        // added since, so requests naming foreign issuers cannot make it reload.
        let mark = self.store.issuing_ca_mark().await.map_err(internal)?;
        if cache.issuers.read().unwrap().mark == mark {
            // current already, possibly rebuilt by a concurrent request since the miss above
            return Ok(cache.lookup(id));
        }
        let cas = self.store.all_issuing_cas().await.map_err(internal)?;
        let by_hashes = blocking(move || {
            let mut map = HashMap::new();
            for ca in cas {
                let ca = Arc::new(ca);
                for alg in [
                    OcspHashAlgorithm::Sha1,
                    OcspHashAlgorithm::Sha256,
                    OcspHashAlgorithm::Sha384,
                    OcspHashAlgorithm::Sha512,
                ] {
                    // A CertID of any serial carries the issuer's hashes.
                    if let Ok(probe) = CertId::new(alg, &ca.cert_der, &[1]) {
                        let key = (alg, probe.issuer_name_hash().to_vec(), probe.issuer_key_hash().to_vec());
                        // Two CAs sharing name and key: the first (oldest) answers, as before.
                        map.entry(key).or_insert_with(|| ca.clone());
                    }
                }
            }
            map
        })
        .await
        .map_err(internal)?;
        *cache.issuers.write().unwrap() = IssuerIndex { by_hashes, mark };
        Ok(cache.lookup(id))
    }

    /// The revocation version of a CA, trusted from memory for `VERSION_TTL_MS`.
    async fn ca_version(&self, identifier: &str) -> OcspResult<RevocationVersion> {
        let now = now_millis();
        if let Some((v, at)) = self.pki.ocsp.versions.lock().unwrap().get(identifier)
            && now - at < VERSION_TTL_MS
        {
            return Ok(*v);
        }
        let v = self.store.revocation_version(identifier).await.map_err(internal)?;
        insert_capped(
            &mut self.pki.ocsp.versions.lock().unwrap(),
            identifier.to_owned(),
            (v, now),
            MAX_CAS,
        );
        Ok(v)
    }

    async fn serial_status(&self, ca: &CaRecord, id: &CertId) -> OcspResult<OcspCertStatus> {
        let status = self
            .store
            .serial_status(&ca.identifier, &id.serial_hex())
            .await
            .map_err(internal)?;
        Ok(match status {
            None => OcspCertStatus::Unknown,
            Some(s) => match s.revoked_at {
                None => OcspCertStatus::Good,
                Some(at) => OcspCertStatus::Revoked {
                    time: at / 1000,
                    reason: s.reason.as_deref().and_then(|r| RevocationReason::from_name(r).ok()),
                },
            },
        })
    }
}

fn answer(id: &CertId, status: OcspCertStatus, now: i64) -> SingleResponse {
    SingleResponse {
        cert_id: id.clone(),
        status,
        this_update: now,
        next_update: Some(now + VALIDITY_SECS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_answers_never_exceed_the_capacity() {
        let cache = OcspCache::default();
        let answer = |refresh_at| CachedAnswer {
            version: RevocationVersion::default(),
            status: OcspCertStatus::Good,
            refresh_at,
            der: Arc::new(vec![0; 10]),
        };
        // fresh answers (nothing to expire) and stale ones
        for i in 0u32..1_000 {
            let refresh_at = if i % 3 == 0 { 50 } else { 1_000 };
            cache.put(&i.to_be_bytes(), answer(refresh_at), 64, 100);
            assert!(cache.answers.lock().unwrap().len() <= 64);
            assert!(cache.answers.lock().unwrap().contains_key(i.to_be_bytes().as_slice()));
        }
        cache.put(b"none", answer(1_000), 0, 100);
        assert!(!cache.answers.lock().unwrap().contains_key(b"none".as_slice()));
    }

    #[test]
    fn per_ca_maps_are_capped_and_keep_the_new_entry() {
        let mut versions = HashMap::new();
        for i in 0..MAX_CAS * 2 {
            insert_capped(&mut versions, i.to_string(), (RevocationVersion::default(), 0), MAX_CAS);
            assert!(versions.len() <= MAX_CAS);
            assert!(versions.contains_key(&i.to_string()));
        }
    }
}
