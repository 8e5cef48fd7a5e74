//! `UploadCsr` (a request made elsewhere, optionally with its key) and `UpdateCsr`
//! (attaching the key later). A key is kept only when it is the CSR's.

use super::{
    check_key_matches, check_name, csr_not_found, default_name, key_sha256, parse_private_key, secondary_sans,
};
use crate::{Caller, Result, Service, ServiceError};
use opencas_pki::{CsrPolicy, ParsedCsr};
use opencas_store::{CsrRow, NewCsr, now_millis};
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct UploadCsrRequest {
    /// `CERTIFICATE REQUEST` PEM.
    pub csr: String,
    /// The private key, PEM.
    pub key: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadCsrResponse {
    pub csr_id: i64,
}

/// The strict issuance parser: self-signature checked, RSA-1024, SHA-1/MD5 and curves
/// outside P-256/384/521 and SM2 refused.
pub(super) fn parse_csr(pem: &str) -> Result<ParsedCsr> {
    use opencas_pki::Error as E;
    ParsedCsr::from_pem(pem, CsrPolicy::default()).map_err(|e| {
        let why = match e {
            E::BadSignature => "its signature does not verify".to_string(),
            E::MalformedCsr(m) | E::Pem(m) => format!("it cannot be parsed: {m}"),
            E::UnsupportedKey(m) => format!("its key is not accepted: {m}"),
            E::UnsupportedAlgorithm(m) => format!("its signature algorithm is not accepted: {m}"),
            other => other.to_string(),
        };
        ServiceError::invalid("Csr", format!("The CSR is refused: {why}."))
    })
}

impl Service {
    pub async fn upload_csr(&self, caller: Caller, req: UploadCsrRequest) -> Result<UploadCsrResponse> {
        let name = check_name(req.name, "_-")?;
        let parsed = parse_csr(&req.csr)?;
        let s = &parsed.subject;
        if s.common_name.is_empty() && parsed.sans.is_empty() {
            return Err(ServiceError::invalid(
                "Csr",
                "The CSR names neither a common name nor a subject alternative name.",
            ));
        }
        let key = match req.key.as_deref() {
            None => None,
            Some(text) => {
                let key = parse_private_key(text)?;
                check_key_matches(&key, &parsed.public_key_spki_der)?;
                Some(key)
            }
        };
        let secondary = secondary_sans(&s.common_name, &parsed.sans);
        let alg = parsed.key_algorithm;
        let row = CsrRow {
            id: 0,
            name: name.unwrap_or_else(|| default_name(&s.common_name, &secondary)),
            common_name: s.common_name.clone(),
            sans: secondary.join(","),
            algorithm: alg.family().as_api().into(),
            key_size: alg.key_size_bits().into(),
            corp_name: s.organization.clone(),
            department: s.organizational_unit.clone(),
            country_code: s.country_code.clone(),
            province: s.state.clone(),
            locality: s.locality.clone(),
            key_sha256: key_sha256(&parsed.public_key_spki_der),
            has_private_key: key.is_some(),
        };
        let new = NewCsr {
            account_id: caller.account_id,
            row,
            csr_der: parsed.der,
            created_at: now_millis(),
        };
        let key_der = key.as_ref().map(|k| k.to_pkcs8_der());
        let mut tx = self.store.begin().await?;
        let id = tx.insert_csr(&new, key_der.as_ref().map(|k| k.as_slice())).await?;
        tx.commit().await?;
        Ok(UploadCsrResponse { csr_id: id })
    }

    /// Attaches (or replaces with the same) the private key of a CSR.
    pub async fn update_csr(&self, caller: Caller, csr_id: i64, key_pem: &str) -> Result<()> {
        let (_, der) = self
            .store
            .find_csr(caller.account_id, csr_id)
            .await?
            .ok_or_else(|| csr_not_found(csr_id))?;
        let key = parse_private_key(key_pem)?;
        let parsed = ParsedCsr::from_der(&der, CsrPolicy::default())
            .map_err(|e| ServiceError::Internal(format!("stored CSR {csr_id}: {e}")))?;
        check_key_matches(&key, &parsed.public_key_spki_der)?;
        let mut tx = self.store.begin().await?;
        tx.set_csr_key(caller.account_id, csr_id, &key.to_pkcs8_der())
            .await
            .map_err(|e| match e {
                opencas_store::StoreError::NotFound => csr_not_found(csr_id),
                other => other.into(),
            })?;
        tx.commit().await?;
        Ok(())
    }
}
