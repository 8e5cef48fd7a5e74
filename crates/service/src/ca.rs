//! Private certificate authorities (API 2020-06-30).

use crate::{Caller, Paging, Result, Service};
use opencas_store::{CaFilter, CaRow, now_millis};
use serde::Serialize;

/// `ValidStatus`: whether the CA is inside its validity period now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Expired,
}

#[derive(Debug, Clone, Default)]
pub struct DescribeCaListRequest {
    pub paging: Option<Paging>,
    pub identifier: Option<String>,
    /// `issue`, `forbidden` or `revoke`, as stored.
    pub ca_status: Option<String>,
    /// `ROOT`, `SUB_ROOT` or `EXTERNAL`, as stored.
    pub certificate_type: Option<String>,
    /// `local`, `iTrusChina` or `external`, as stored.
    pub issuer_type: Option<String>,
    pub validity: Option<Validity>,
    pub resource_group_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCaListResponse {
    pub certificate_list: Vec<CaListItem>,
    pub total_count: i64,
    pub page_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaListItem {
    pub identifier: String,
    pub parent_identifier: String,
    pub certificate_type: String,
    pub status: String,
    pub common_name: String,
    #[serde(rename = "SubjectDN")]
    pub subject_dn: String,
    pub algorithm: String,
    pub key_size: i64,
    pub sign_algorithm: String,
    pub serial_number: String,
    pub before_date: i64,
    pub after_date: i64,
    pub resource_group_id: String,
}

impl From<CaRow> for CaListItem {
    fn from(r: CaRow) -> Self {
        Self {
            identifier: r.identifier,
            parent_identifier: r.parent_identifier.unwrap_or_default(),
            certificate_type: r.certificate_type,
            status: r.status,
            common_name: r.common_name,
            subject_dn: r.subject_dn,
            algorithm: r.algorithm,
            key_size: r.key_size,
            sign_algorithm: r.sign_algorithm,
            serial_number: r.serial_number,
            before_date: r.not_before,
            after_date: r.not_after,
            resource_group_id: r.resource_group_id.unwrap_or_default(),
        }
    }
}

impl Service {
    pub async fn describe_ca_certificate_list(
        &self,
        caller: Caller,
        req: DescribeCaListRequest,
    ) -> Result<DescribeCaListResponse> {
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: 20,
        });
        let now = now_millis();
        let (not_after_from, not_after_to) = match req.validity {
            Some(Validity::Valid) => (Some(now), None),
            Some(Validity::Expired) => (None, Some(now)),
            None => (None, None),
        };
        let filter = CaFilter {
            identifier: req.identifier,
            status: req.ca_status,
            certificate_type: req.certificate_type,
            issuer_type: req.issuer_type,
            resource_group_id: req.resource_group_id,
            not_after_from,
            not_after_to,
        };
        let (rows, total) = self
            .store
            .list_cas(caller.account_id, &filter, paging.page())
            .await?;
        Ok(DescribeCaListResponse {
            certificate_list: rows.into_iter().map(Into::into).collect(),
            total_count: total,
            page_count: paging.page_count(total),
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }
}
