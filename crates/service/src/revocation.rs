//! Revocation: revoking issued certificates, the CRL each CA publishes, and OCSP answers.
//!
//! CRLs are cached per CA and rebuilt only when that CA's revocation state changed (a
//! cheap indexed count) or the cached one is half-way to its nextUpdate, so a revocation
//! is on the served CRL at the next fetch and a busy CRL endpoint signs rarely.

use crate::ca::{ca_not_found, day};
use crate::issuance::{STATUS_REVOKE, cert_not_found};
use crate::{Caller, Paging, Result, Service, ServiceError, blocking};
use opencas_pki::{
    CertId, OcspCertStatus, OcspRequest, OcspResponseStatus, PrivateKey, RevocationReason, RevokedEntry,
    SingleResponse, Sm2Id, build_crl, build_ocsp_response, ocsp_error_response,
};
use opencas_store::{CaRecord, CertFilter, RevocationVersion, now_millis};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const DAY_SECS: i64 = 86_400;

/// A CRL as served, with what it was built from.
#[derive(Clone)]
struct CachedCrl {
    version: RevocationVersion,
    next_update: i64,
    this_update: i64,
    der: Arc<Vec<u8>>,
}

/// Per-process caches of the public PKI endpoints.
#[derive(Default)]
pub struct PkiCache {
    crls: Mutex<HashMap<String, CachedCrl>>,
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
        let (_, cached) = self.current_crl(&ca).await?;
        let version = self.store.revocation_version(&ca.identifier).await?;
        Ok(CrlAddressResponse {
            crl_url: if ca.enable_crl {
                self.crl_url(&ca.identifier)
            } else {
                String::new()
            },
            ca_type: ca.certificate_type.clone(),
            ca_instance_status: ca.status.clone(),
            next_update_time: (cached.next_update * 1000).to_string(),
            hash_code: format!("{:x}-{:x}", version.count, version.latest),
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
        Ok(self.current_crl(&ca).await?.1.der)
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
        self.pki.keys.lock().unwrap().insert(ca.identifier.clone(), key.clone());
        Ok(key)
    }

    /// The cached CRL when still current, else a freshly signed one.
    async fn current_crl(&self, ca: &CaRecord) -> Result<(bool, CachedCrl)> {
        let version = self.store.revocation_version(&ca.identifier).await?;
        let now = now_millis() / 1000;
        if let Some(c) = self.pki.crls.lock().unwrap().get(&ca.identifier).cloned()
            && c.version == version
            && now < c.this_update + (c.next_update - c.this_update) / 2
        {
            return Ok((false, c));
        }
        let entries = self.store.revoked_by_issuer(&ca.identifier).await?;
        let entries = entries
            .into_iter()
            .map(|e| {
                let reason = e.reason.as_deref().and_then(|r| RevocationReason::from_name(r).ok());
                RevokedEntry::from_hex(&e.serial_hex, e.revoked_at / 1000, reason)
            })
            .collect::<opencas_pki::Result<Vec<_>>>()
            .map_err(|e| ServiceError::Internal(format!("stored serial: {e}")))?;
        let mut tx = self.store.begin().await?;
        let number = tx.next_crl_number(&ca.identifier).await?;
        tx.commit().await?;
        let key = self.ca_key(ca).await?;
        let cert = ca.cert_der.clone();
        let next_update = now + ca.crl_day.max(1) * DAY_SECS;
        let sm2_id = sm2_id_of(ca);
        let der = blocking(move || build_crl(&cert, &key, &entries, number as u64, now, next_update, sm2_id))
            .await?
            .map_err(|e| ServiceError::Internal(format!("CRL: {e}")))?;
        let cached = CachedCrl {
            version,
            next_update,
            this_update: now,
            der: Arc::new(der),
        };
        self.pki
            .crls
            .lock()
            .unwrap()
            .insert(ca.identifier.clone(), cached.clone());
        Ok((true, cached))
    }

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

    async fn try_ocsp(&self, request_der: &[u8]) -> std::result::Result<Vec<u8>, OcspFailure> {
        let request = OcspRequest::from_der(request_der).map_err(|_| OcspFailure::Malformed)?;
        let cas = self
            .store
            .all_issuing_cas()
            .await
            .map_err(|e| OcspFailure::Internal(e.to_string()))?;
        let now = now_millis() / 1000;
        // All certificates of one response are answered by one signer: the CA that issued
        // the first one. Others by different CAs are answered unknown.
        let first_issuer = cas.iter().find(|ca| request.cert_ids[0].matches_issuer(&ca.cert_der));
        let Some(signer) = first_issuer else {
            return Ok(ocsp_error_response(OcspResponseStatus::Unauthorized));
        };
        let mut responses = Vec::with_capacity(request.cert_ids.len());
        for id in &request.cert_ids {
            let status = if id.matches_issuer(&signer.cert_der) {
                self.serial_status(signer, id).await?
            } else {
                OcspCertStatus::Unknown
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                status,
                this_update: now,
                next_update: Some(now + DAY_SECS),
            });
        }
        let key = self
            .ca_key(signer)
            .await
            .map_err(|e| OcspFailure::Internal(e.to_string()))?;
        let cert = signer.cert_der.clone();
        let nonce = request.nonce.clone();
        let sm2_id = sm2_id_of(signer);
        blocking(move || build_ocsp_response(&cert, &key, &responses, now, nonce.as_deref(), sm2_id))
            .await
            .map_err(|e| OcspFailure::Internal(e.to_string()))?
            .map_err(|e| OcspFailure::Internal(e.to_string()))
    }

    async fn serial_status(&self, ca: &CaRecord, id: &CertId) -> std::result::Result<OcspCertStatus, OcspFailure> {
        let status = self
            .store
            .serial_status(&ca.identifier, &id.serial_hex())
            .await
            .map_err(|e| OcspFailure::Internal(e.to_string()))?;
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

enum OcspFailure {
    Malformed,
    Internal(String),
}

/// The distinguishing ID a CA signs with (SM2 only).
fn sm2_id_of(ca: &CaRecord) -> Sm2Id {
    if ca.sm2_id.as_deref() == Some("") {
        Sm2Id::Empty
    } else {
        Sm2Id::Standard
    }
}
