//! ListCert of API 2020-06-30: the certificates the account's private CAs issued, with the
//! same filters and page styles as the certificate store's ListCert.

use super::listing::{CertListFilter, IssuedKind, PageRequest};
use crate::issuance::TAG_RESOURCE_TYPE;
use crate::{Caller, Result, Service};
use opencas_store::CertListRow;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PcaListCertResponse {
    pub list: Vec<PcaCertItem>,
    pub total_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_page: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PcaCertItem {
    pub id: i64,
    pub identifier: String,
    pub alias_name: String,
    pub custom_identifier: String,
    /// SERVER, CLIENT or END_ENTITY: the vocabulary of the `Type` filter.
    pub certificate_type: String,
    pub status: String,
    pub common_name: String,
    pub organization: String,
    pub organization_unit: String,
    pub subject_dn: String,
    pub algorithm: String,
    pub serial_number: String,
    /// Validity start and end, RFC 3339 UTC.
    pub before_date: String,
    pub after_date: String,
    pub before_time: i64,
    pub after_time: i64,
    pub key_exportable: bool,
    /// `key:value` per tag.
    pub tags: Vec<String>,
}

fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn item(r: CertListRow, tags: Vec<(String, String)>) -> PcaCertItem {
    PcaCertItem {
        id: r.id,
        certificate_type: IssuedKind::api_of_stored(r.certificate_type.as_deref().unwrap_or_default()).to_owned(),
        identifier: r.identifier,
        alias_name: r.name,
        custom_identifier: r.custom_identifier.unwrap_or_default(),
        status: r.status,
        common_name: r.common_name,
        organization: r.organization.unwrap_or_default(),
        organization_unit: r.organization_unit.unwrap_or_default(),
        subject_dn: r.subject_dn,
        algorithm: r.algorithm,
        serial_number: r.serial_no,
        before_date: rfc3339(r.not_before),
        after_date: rfc3339(r.not_after),
        before_time: r.not_before,
        after_time: r.not_after,
        key_exportable: r.has_private_key,
        tags: tags.into_iter().map(|(k, v)| format!("{k}:{v}")).collect(),
    }
}

impl Service {
    pub async fn list_pca_cert(
        &self,
        caller: Caller,
        page: PageRequest,
        filter: CertListFilter,
    ) -> Result<PcaListCertResponse> {
        let mut query = filter.query();
        if query.certificate_types.is_empty() {
            query.certificate_types = [IssuedKind::Server, IssuedKind::Client, IssuedKind::EndEntity]
                .iter()
                .map(|k| k.stored().to_owned())
                .collect();
        }
        let found = self
            .store
            .search_certificates(caller.account_id, &query, page.window())
            .await?;
        let mut list = Vec::with_capacity(found.rows.len());
        for r in found.rows {
            let tags = self
                .store
                .tags_of(caller.account_id, TAG_RESOURCE_TYPE, &r.identifier)
                .await?;
            list.push(item(r, tags));
        }
        let numbered = page.numbered();
        Ok(PcaListCertResponse {
            list,
            total_count: found.total,
            current_page: numbered.map(|p| p.current_page),
            show_size: numbered.map(|p| p.show_size),
            page_count: numbered.map(|p| p.page_count(found.total)),
            max_results: page.max_results(),
            next_token: found.next_before.map(|id| id.to_string()),
        })
    }
}
