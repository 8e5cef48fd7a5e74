//! `ListCsr`, `GetCsrDetail` and `DeleteCsr`.

use super::csr_not_found;
use crate::{Caller, Paging, Result, Service};
use opencas_pki::pem;
use opencas_store::{CsrFilter, CsrRow, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct ListCsrRequest {
    pub paging: Option<Paging>,
    pub keyword: Option<String>,
    pub algorithm: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCsrResponse {
    pub csr_list: Vec<CsrListItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CsrListItem {
    pub csr_id: i64,
    pub name: String,
    pub common_name: String,
    pub sans: String,
    pub algorithm: String,
    pub key_size: i64,
    pub corp_name: String,
    pub department: String,
    pub country_code: String,
    pub province: String,
    pub locality: String,
    pub key_sha2: String,
    pub has_private_key: bool,
}

impl From<CsrRow> for CsrListItem {
    fn from(r: CsrRow) -> Self {
        Self {
            csr_id: r.id,
            name: r.name,
            common_name: r.common_name,
            sans: r.sans,
            algorithm: r.algorithm,
            key_size: r.key_size,
            corp_name: r.corp_name.unwrap_or_default(),
            department: r.department.unwrap_or_default(),
            country_code: r.country_code.unwrap_or_default(),
            province: r.province.unwrap_or_default(),
            locality: r.locality.unwrap_or_default(),
            key_sha2: r.key_sha256,
            has_private_key: r.has_private_key,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CsrDetailResponse {
    pub csr: String,
    /// Unencrypted PKCS#8 PEM; absent when no key is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

impl Service {
    pub async fn list_csr(&self, caller: Caller, req: ListCsrRequest) -> Result<ListCsrResponse> {
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: 50,
        });
        let filter = CsrFilter {
            keyword: req.keyword,
            algorithm: req.algorithm,
        };
        let (rows, total) = self.store.list_csrs(caller.account_id, &filter, paging.page()).await?;
        Ok(ListCsrResponse {
            csr_list: rows.into_iter().map(Into::into).collect(),
            total_count: total,
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }

    pub async fn get_csr_detail(&self, caller: Caller, csr_id: i64) -> Result<CsrDetailResponse> {
        let (_, der) = self
            .store
            .find_csr(caller.account_id, csr_id)
            .await?
            .ok_or_else(|| csr_not_found(csr_id))?;
        let key = self
            .store
            .csr_private_key(caller.account_id, csr_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => csr_not_found(csr_id),
                other => other.into(),
            })?;
        // Stored as the canonical PKCS#8 DER the key parser produced.
        let private_key = key.map(|der| pem::encode("PRIVATE KEY", &der));
        Ok(CsrDetailResponse {
            csr: pem::encode("CERTIFICATE REQUEST", &der),
            private_key,
        })
    }

    pub async fn delete_csr(&self, caller: Caller, csr_id: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.delete_csr(caller.account_id, csr_id).await.map_err(|e| match e {
            StoreError::NotFound => csr_not_found(csr_id),
            other => other.into(),
        })?;
        // SQLite may hand the id of the newest CSR to the next one: its tags must not carry over.
        tx.remove_tags(
            caller.account_id,
            opencas_store::TagKind::Csr,
            &csr_id.to_string(),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
