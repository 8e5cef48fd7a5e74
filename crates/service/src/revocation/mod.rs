//! Revocation: revoking issued certificates, the CRL each CA publishes (`crl`: cached,
//! persisted, re-signed in the background) and OCSP answers (`ocsp`: pre-signed and cached).

mod crl;
mod entries;
mod ocsp;
#[cfg(test)]
mod tests;

use crate::ca::{ca_not_found, day};
use crate::issuance::{STATUS_REVOKE, cert_not_found};
use crate::{Caller, Paging, Result, Service, ServiceError, blocking};
use opencas_pki::{PrivateKey, Sm2Id};
use opencas_store::{CaRecord, CertFilter, now_millis};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use crl::crl_refresh_tick;

const DAY_SECS: i64 = 86_400;
/// Entries kept per CA in each per-process map below (keys, CRL tails, signing locks, OCSP
/// revocation versions). Each is derived from the store and costs one read to rebuild, so a
/// full map is emptied rather than tracked for recency: it bounds memory by this count instead
/// of by the number of CAs a process ever served.
const MAX_CAS: usize = 4096;

/// Inserts into a map of at most `cap` entries, emptying it first when full.
fn insert_capped<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, key: K, value: V, cap: usize) {
    if map.len() >= cap && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}

/// Per-process caches of the public PKI endpoints.
#[derive(Default)]
pub struct PkiCache {
    crls: crl::CrlCache,
    ocsp: ocsp::OcspCache,
    /// Parsed CA keys by identifier: a CA's key never changes.
    keys: Mutex<HashMap<String, Arc<PrivateKey>>>,
}

impl std::fmt::Debug for PkiCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkiCache")
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokedItem {
    pub identifier: String,
    pub parent_identifier: String,
    pub certificate_type: String,
    pub status: String,
    pub common_name: String,
    #[serde(rename = "SubjectDN")]
    pub subject_dn: String,
    pub sans: String,
    pub serial_number: String,
    pub algorithm: String,
    pub key_size: i64,
    pub sign_algorithm: String,
    pub md5: String,
    pub sha2: String,
    pub custom_identifier: String,
    pub organization: String,
    pub organization_unit: String,
    pub locality: String,
    pub state: String,
    pub country_code: String,
    pub before_date: String,
    pub after_date: String,
    pub revoke_date: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokedListResponse {
    pub certificate_list: Vec<RevokedItem>,
    pub total_count: i64,
    pub page_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrlAddressResponse {
    pub crl_url: String,
    pub ca_type: String,
    pub ca_instance_status: String,
    pub next_update_time: String,
    pub hash_code: String,
}

/// `yyyy-MM-ddT00:00Z` of a unix-millisecond instant, as ListRevokeCertificate documents.
fn api_day(ms: i64) -> String {
    format!("{}T00:00Z", day(ms))
}

impl Service {
    /// Revokes an issued certificate. Idempotent: revoking again succeeds and keeps the
    /// first revocation time.
    pub async fn revoke_certificate(&self, caller: Caller, identifier: &str) -> Result<()> {
        let cert = self
            .store
            .find_certificate(caller.account_id, identifier)
            .await?
            .filter(|c| c.issuer_identifier.is_some())
            .ok_or_else(|| cert_not_found(identifier))?;
        if cert.status == STATUS_REVOKE {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        tx.revoke_certificate(caller.account_id, identifier, None, now_millis())
            .await?;
        tx.commit().await?;
        if let Some(issuer) = &cert.issuer_identifier {
            // this process's OCSP answers show it at once, other replicas' within their poll
            self.pki.ocsp.forget_version(issuer);
        }
        Ok(())
    }

    pub async fn list_revoked_certificates(&self, caller: Caller, paging: Paging) -> Result<RevokedListResponse> {
        let filter = CertFilter {
            status: Some(STATUS_REVOKE.into()),
            certificate_types: vec!["SERVER".into(), "CLIENT".into(), "CUSTOM".into()],
            ..Default::default()
        };
        let (rows, total) = self
            .store
            .list_certificates(caller.account_id, &filter, paging.page())
            .await?;
        let list = rows
            .into_iter()
            .map(|c| RevokedItem {
                identifier: c.identifier,
                parent_identifier: c.issuer_identifier.unwrap_or_default(),
                certificate_type: c.certificate_type.unwrap_or_default(),
                status: c.status,
                common_name: c.common_name,
                subject_dn: c.subject_dn,
                sans: c.sans,
                serial_number: c.serial_no,
                algorithm: c.algorithm,
                key_size: c.key_size,
                sign_algorithm: c.sign_algorithm,
                md5: c.fingerprint_md5,
                sha2: c.fingerprint_sha256,
                custom_identifier: c.custom_identifier.unwrap_or_default(),
                organization: c.organization.unwrap_or_default(),
                organization_unit: c.organization_unit.unwrap_or_default(),
                locality: c.city.unwrap_or_default(),
                state: c.province.unwrap_or_default(),
                country_code: c.country.unwrap_or_default(),
                before_date: api_day(c.not_before),
                after_date: api_day(c.not_after),
                revoke_date: api_day(c.revoked_at.unwrap_or_default()),
            })
            .collect();
        Ok(RevokedListResponse {
            certificate_list: list,
            total_count: total,
            page_count: paging.page_count(total),
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }

    pub async fn ca_crl_address(&self, caller: Caller, identifier: &str) -> Result<CrlAddressResponse> {
        let ca = self.ca_or_404(caller, identifier).await?;
        let cached = self.current_crl(&ca).await?;
        Ok(CrlAddressResponse {
            crl_url: if ca.enable_crl {
                self.crl_url(&ca.identifier)
            } else {
                String::new()
            },
            ca_type: ca.certificate_type.clone(),
            ca_instance_status: ca.status.clone(),
            next_update_time: (cached.next_update * 1000).to_string(),
            hash_code: cached.version.to_string(),
        })
    }

    /// The DER CRL of the CA `identifier` (public: the address is in the certificates).
    pub async fn public_crl(&self, identifier: &str) -> Result<Arc<Vec<u8>>> {
        let valid = identifier.len() == 32 && identifier.bytes().all(|b| b.is_ascii_hexdigit());
        let ca = match valid {
            true => self.store.find_ca_public(identifier).await?,
            false => None,
        }
        .filter(|ca| ca.enable_crl && ca.issuer_type == "local")
        .ok_or_else(|| ca_not_found(identifier))?;
        Ok(self.current_crl(&ca).await?.der)
    }

    /// The parsed private key of a CA, cached: a CA key never changes.
    pub(crate) async fn ca_key(&self, ca: &CaRecord) -> Result<Arc<PrivateKey>> {
        if let Some(k) = self.pki.keys.lock().unwrap().get(&ca.identifier) {
            return Ok(k.clone());
        }
        let der = self.store.ca_private_key_public(&ca.identifier).await?;
        let key = blocking(move || PrivateKey::from_pkcs8_der(&der))
            .await?
            .map_err(|e| ServiceError::Internal(format!("CA key: {e}")))?;
        let key = Arc::new(key);
        insert_capped(
            &mut self.pki.keys.lock().unwrap(),
            ca.identifier.clone(),
            key.clone(),
            MAX_CAS,
        );
        Ok(key)
    }
}

/// The distinguishing ID a CA signs with (SM2 only).
pub(crate) fn sm2_id_of(ca: &CaRecord) -> Sm2Id {
    if ca.sm2_id.as_deref() == Some("") {
        Sm2Id::Empty
    } else {
        Sm2Id::Standard
    }
}
