//! Private-CA side of the store: `UploadPCACert` (a certificate uploaded into a warehouse,
//! read back by Identifier) and `UploadPcaCertToCas` (2020-06-30: certificates issued by the
//! account's private CAs put into the SSL certificate store, where they get a CertId).

use super::upload::{parse_cert_with_optional_key, record_of};
use crate::{Caller, Result, Service, ServiceError, blocking};
use opencas_store::StoreError;
use serde::Serialize;

/// Most identifiers one `UploadPcaCertToCas` call takes.
pub const MAX_SYNC_IDS: usize = 100;

#[derive(Debug, Clone, Default)]
pub struct UploadPcaCertRequest {
    pub warehouse_id: i64,
    pub name: Option<String>,
    pub cert: String,
    pub private_key: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadPcaCertResponse {
    pub identifier: String,
}

impl Service {
    pub async fn upload_pca_cert(&self, caller: Caller, req: UploadPcaCertRequest) -> Result<UploadPcaCertResponse> {
        let (cert, key) = (req.cert.clone(), req.private_key.clone());
        let (chain, key) = blocking(move || parse_cert_with_optional_key(&cert, key.as_deref())).await??;
        let name = req
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| chain.info.subject.common_name.clone());
        let mut record = record_of(caller, &name, &chain, key.is_some());
        record.warehouse_id = Some(req.warehouse_id);
        let key_der = key.as_ref().map(|k| k.to_pkcs8_der());
        let mut tx = self.store.begin().await?;
        // checked inside the transaction: a warehouse deleted meanwhile cannot gain a certificate
        if tx.find_warehouse(caller.account_id, req.warehouse_id).await?.is_none() {
            return Err(crate::warehouses::warehouse_not_found(&req.warehouse_id.to_string()));
        }
        tx.insert_certificate(&record, key_der.as_deref().map(|k| k.as_slice()))
            .await?;
        tx.commit().await?;
        Ok(UploadPcaCertResponse {
            identifier: record.identifier,
        })
    }

    /// All or nothing: every identifier must name a live certificate issued by one of the
    /// account's private CAs. One already in the store stays there.
    pub async fn upload_pca_cert_to_cas(&self, caller: Caller, ids: Vec<String>) -> Result<()> {
        if ids.is_empty() {
            return Err(ServiceError::MissingParameter("Ids"));
        }
        if ids.len() > MAX_SYNC_IDS {
            return Err(ServiceError::invalid(
                "Ids",
                format!("Ids takes at most {MAX_SYNC_IDS} identifiers."),
            ));
        }
        let account = caller.account_id;
        let mut tx = self.store.begin().await?;
        for id in &ids {
            let issued_here = self
                .store
                .find_certificate(account, id)
                .await?
                .is_some_and(|c| c.issuer_identifier.is_some());
            if !issued_here {
                return Err(ServiceError::NotFound {
                    code: "NotFound.Certificate",
                    message: format!("No certificate issued by this account's private CAs has the identifier {id}."),
                });
            }
            match tx.add_to_cert_store(account, id).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => return Err(crate::issuance::cert_not_found(id)),
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
