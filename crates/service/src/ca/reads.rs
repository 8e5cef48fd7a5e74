//! Reads of CAs: lists, details, counts, instance status and the lifecycle log.

use super::{ROOT, STATUS_REVOKE, TAG_RESOURCE_TYPE, ca_not_found};
use crate::{Caller, Paging, Result, Service, ServiceError};
use opencas_pki::pem;
use opencas_store::{CaFilter, CaRecord, Page, now_millis};
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
    /// `ISSUE`, `FORBIDDEN` or `REVOKE`.
    pub ca_status: Option<String>,
    /// `ROOT` or `SUB_ROOT`.
    pub certificate_type: Option<String>,
    /// `local`, `iTrusChina` or `external`.
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

/// A CA as the list actions show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaListItem {
    pub identifier: String,
    pub parent_identifier: String,
    pub certificate_type: String,
    pub status: String,
    pub alias: String,
    pub common_name: String,
    pub organization: String,
    pub organization_unit: String,
    pub locality: String,
    pub state: String,
    pub country_code: String,
    #[serde(rename = "SubjectDN")]
    pub subject_dn: String,
    pub algorithm: String,
    pub key_size: i64,
    pub sign_algorithm: String,
    pub serial_number: String,
    pub md5: String,
    pub sha2: String,
    pub sans: String,
    pub before_date: i64,
    pub after_date: i64,
    pub years: i64,
    pub gift: i64,
    pub trial: i64,
    pub resource_group_id: String,
    pub x509_certificate: String,
}

impl From<&CaRecord> for CaListItem {
    fn from(r: &CaRecord) -> Self {
        Self {
            identifier: r.identifier.clone(),
            parent_identifier: r.parent_identifier.clone().unwrap_or_default(),
            certificate_type: r.certificate_type.clone(),
            status: r.status.clone(),
            alias: r.alias.clone().unwrap_or_default(),
            common_name: r.common_name.clone(),
            organization: r.organization.clone().unwrap_or_default(),
            organization_unit: r.organization_unit.clone().unwrap_or_default(),
            locality: r.locality.clone().unwrap_or_default(),
            state: r.state.clone().unwrap_or_default(),
            country_code: r.country_code.clone().unwrap_or_default(),
            subject_dn: r.subject_dn.clone(),
            algorithm: r.algorithm.clone(),
            key_size: r.key_size,
            sign_algorithm: r.sign_algorithm.clone(),
            serial_number: r.serial_number.clone(),
            md5: r.md5.clone(),
            sha2: r.sha256.clone(),
            sans: String::new(),
            before_date: r.not_before,
            after_date: r.not_after,
            years: r.years,
            gift: 0,
            trial: 0,
            resource_group_id: r.resource_group_id.clone().unwrap_or_default(),
            x509_certificate: pem::cert_der_to_pem(&r.cert_der),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagItem {
    pub tag_key: String,
    pub tag_value: String,
}

/// A CA as `DescribeCACertificate` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaDetail {
    #[serde(flatten)]
    pub summary: CaListItem,
    pub full_algorithm: String,
    pub issuer_type: String,
    pub ca_cert_chain: String,
    pub cert_total_count: i64,
    pub cert_issued_count: i64,
    pub cert_remaining_count: i64,
    pub cert_max_time: Option<i64>,
    pub crl_status: String,
    pub crl_day: i64,
    pub crl_url: String,
    pub cluster_id: String,
    pub key_index: i64,
    pub tags: Vec<TagItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCaResponse {
    pub certificate: CaDetail,
    pub years: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CountResponse {
    pub total_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaLogResponse {
    pub log_list: Vec<CaLogItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaLogItem {
    pub identifier: String,
    pub op_type: String,
    pub content: String,
    pub create_time: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceStatusResponse {
    pub instance_status_list: Vec<InstanceStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceStatus {
    pub instance_id: String,
    pub identifier: String,
    pub status: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub before_time: i64,
    pub after_time: i64,
    pub use_expire_time: i64,
    pub cert_total_count: i64,
    pub cert_issued_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPcaCaResponse {
    pub list: Vec<PcaCaItem>,
    pub total_count: i64,
    pub max_results: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PcaCaItem {
    pub cert_identifier: String,
    pub common_name: String,
    pub issuer_identifier: String,
    pub private_ca_instance_id: String,
    pub private_ca_region_id: String,
    pub status: String,
    pub user_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct PcaAndExternalListRequest {
    pub paging: Option<Paging>,
    pub keyword: Option<String>,
    pub identifiers: Vec<String>,
}

/// A sub CA as `ListAllEndEntityInstance` shows it: the instance end-entity
/// certificates are issued from, with its quota.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndEntityInstance {
    pub id: i64,
    pub instance_id: String,
    pub identifier: String,
    pub parent_identifier: String,
    pub common_name: String,
    pub algorithm: String,
    pub status: String,
    pub cert_total_count: i64,
    pub cert_issued_count: i64,
    pub cert_remaining_count: i64,
    pub before_time: i64,
    pub after_time: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndEntityInstancesResponse {
    pub list: Vec<EndEntityInstance>,
    pub total_count: i64,
    pub page_count: i64,
    pub current_page: i64,
    pub show_size: i64,
    pub max_results: i64,
}

/// The private-CA "instance" id of a CA: opencas has no purchases, every CA is its own
/// instance.
pub fn instance_id(identifier: &str) -> String {
    format!("cas-pca-{identifier}")
}

/// The region the instances report; opencas is one self-hosted region.
pub const REGION_ID: &str = "local";

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
            ..Default::default()
        };
        self.ca_list_page(caller, &filter, paging).await
    }

    pub async fn describe_pca_and_external_list(
        &self,
        caller: Caller,
        req: PcaAndExternalListRequest,
    ) -> Result<DescribeCaListResponse> {
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: 50,
        });
        let filter = CaFilter {
            keyword: req.keyword,
            identifiers: req.identifiers,
            ..Default::default()
        };
        self.ca_list_page(caller, &filter, paging).await
    }

    async fn ca_list_page(&self, caller: Caller, filter: &CaFilter, paging: Paging) -> Result<DescribeCaListResponse> {
        let (rows, total) = self.store.list_cas(caller.account_id, filter, paging.page()).await?;
        Ok(DescribeCaListResponse {
            certificate_list: rows.iter().map(Into::into).collect(),
            total_count: total,
            page_count: paging.page_count(total),
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }

    pub(crate) async fn ca_or_404(&self, caller: Caller, identifier: &str) -> Result<CaRecord> {
        self.store
            .find_ca(caller.account_id, identifier)
            .await?
            .ok_or_else(|| ca_not_found(identifier))
    }

    /// Quota a CA still has: for a sub CA what it may still issue, for a root what it
    /// may still hand to its sub CAs.
    async fn remaining_count(&self, caller: Caller, ca: &CaRecord) -> Result<i64> {
        if ca.certificate_type == ROOT {
            let assigned = self.store.sub_ca_quota_sum(caller.account_id, &ca.identifier).await?;
            Ok((ca.cert_total_count - assigned).max(0))
        } else {
            Ok(ca.cert_total_count - ca.cert_issued_count)
        }
    }

    pub async fn describe_ca_certificate(&self, caller: Caller, identifier: &str) -> Result<DescribeCaResponse> {
        let ca = self.ca_or_404(caller, identifier).await?;
        let tags = self
            .store
            .tags_of(caller.account_id, TAG_RESOURCE_TYPE, identifier)
            .await?;
        let remaining = self.remaining_count(caller, &ca).await?;
        let summary = CaListItem::from(&ca);
        let chain = format!(
            "{}{}",
            summary.x509_certificate,
            if ca.certificate_type == ROOT { "" } else { &ca.chain_pem }
        );
        let detail = CaDetail {
            full_algorithm: ca.key_algorithm.clone(),
            issuer_type: ca.issuer_type.clone(),
            ca_cert_chain: chain,
            cert_total_count: ca.cert_total_count,
            cert_issued_count: ca.cert_issued_count,
            cert_remaining_count: remaining,
            cert_max_time: ca.cert_max_time_days,
            crl_status: if ca.enable_crl { "ENABLE" } else { "DISABLE" }.into(),
            crl_day: ca.crl_day,
            crl_url: if ca.enable_crl {
                self.crl_url(&ca.identifier)
            } else {
                String::new()
            },
            cluster_id: String::new(),
            key_index: 0,
            tags: tags
                .into_iter()
                .map(|(tag_key, tag_value)| TagItem { tag_key, tag_value })
                .collect(),
            summary,
        };
        Ok(DescribeCaResponse {
            years: ca.years,
            certificate: detail,
        })
    }

    /// The DER certificate of a CA for the public AIA endpoint; no account is involved.
    pub async fn public_ca_certificate(&self, identifier: &str) -> Result<Vec<u8>> {
        let valid = identifier.len() == 32 && identifier.bytes().all(|b| b.is_ascii_hexdigit());
        let found = if valid {
            self.store.public_ca_certificate(identifier).await?
        } else {
            None
        };
        found.ok_or_else(|| ca_not_found(identifier))
    }

    /// Where the CRL of the CA `identifier` is published.
    pub fn crl_url(&self, identifier: &str) -> String {
        format!("{}/crl/{identifier}.crl", self.config.public_url)
    }

    pub async fn describe_ca_certificate_count(&self, caller: Caller) -> Result<CountResponse> {
        let (_, total) = self
            .store
            .list_cas(caller.account_id, &CaFilter::default(), Page { offset: 0, limit: 0 })
            .await?;
        Ok(CountResponse { total_count: total })
    }

    pub async fn list_ca_certificate_log(&self, caller: Caller, identifier: &str) -> Result<CaLogResponse> {
        self.ca_or_404(caller, identifier).await?;
        let logs = self.store.ca_logs(caller.account_id, identifier).await?;
        Ok(CaLogResponse {
            log_list: logs
                .into_iter()
                .map(|l| CaLogItem {
                    identifier: l.identifier,
                    op_type: l.op_type,
                    content: l.content,
                    create_time: l.created_at,
                })
                .collect(),
        })
    }

    /// `identifier` or `instance` (`cas-pca-<identifier>`) picks one CA; neither lists all.
    pub async fn get_ca_instance_status(
        &self,
        caller: Caller,
        identifier: Option<String>,
        instance: Option<String>,
    ) -> Result<InstanceStatusResponse> {
        let wanted = match (identifier, instance) {
            (Some(id), _) => Some(id),
            (None, Some(inst)) => {
                Some(
                    inst.strip_prefix("cas-pca-")
                        .map(str::to_owned)
                        .ok_or_else(|| ServiceError::NotFound {
                            code: "NotFound.Instance",
                            message: format!("The private CA instance {inst} does not exist."),
                        })?,
                )
            }
            (None, None) => None,
        };
        let cas = match wanted {
            Some(id) => vec![self.ca_or_404(caller, &id).await?],
            None => {
                let all = Page {
                    offset: 0,
                    limit: i64::MAX,
                };
                self.store
                    .list_cas(caller.account_id, &CaFilter::default(), all)
                    .await?
                    .0
            }
        };
        let list = cas
            .iter()
            .map(|ca| InstanceStatus {
                instance_id: instance_id(&ca.identifier),
                identifier: ca.identifier.clone(),
                status: if ca.status == STATUS_REVOKE { "REVOKE" } else { "USED" }.into(),
                kind: ca.certificate_type.clone(),
                before_time: ca.not_before,
                after_time: ca.not_after,
                use_expire_time: ca.not_after,
                cert_total_count: ca.cert_total_count,
                cert_issued_count: ca.cert_issued_count,
            })
            .collect();
        Ok(InstanceStatusResponse {
            instance_status_list: list,
        })
    }

    /// The sub CAs that issue end-entity certificates (optionally those of the root with
    /// numeric id `parent_id`), with their quotas.
    pub async fn list_end_entity_instances(
        &self,
        caller: Caller,
        paging: Paging,
        parent_id: Option<i64>,
    ) -> Result<EndEntityInstancesResponse> {
        let parent_identifier = match parent_id {
            None => None,
            Some(id) => Some(
                self.store
                    .find_ca_by_id(caller.account_id, id)
                    .await?
                    .ok_or_else(|| ca_not_found(&id.to_string()))?
                    .identifier,
            ),
        };
        let filter = CaFilter {
            certificate_type: Some(super::SUB_ROOT.into()),
            parent_identifier,
            ..Default::default()
        };
        let (rows, total) = self.store.list_cas(caller.account_id, &filter, paging.page()).await?;
        Ok(EndEntityInstancesResponse {
            list: rows
                .iter()
                .map(|r| EndEntityInstance {
                    id: r.id,
                    instance_id: instance_id(&r.identifier),
                    identifier: r.identifier.clone(),
                    parent_identifier: r.parent_identifier.clone().unwrap_or_default(),
                    common_name: r.common_name.clone(),
                    algorithm: r.key_algorithm.clone(),
                    status: r.status.clone(),
                    cert_total_count: r.cert_total_count,
                    cert_issued_count: r.cert_issued_count,
                    cert_remaining_count: r.cert_total_count - r.cert_issued_count,
                    before_time: r.not_before,
                    after_time: r.not_after,
                })
                .collect(),
            total_count: total,
            page_count: paging.page_count(total),
            current_page: paging.current_page,
            show_size: paging.show_size,
            max_results: paging.show_size,
        })
    }

    /// Token pagination: `next_token` is the position after which to continue.
    pub async fn list_pca_ca_certificate(
        &self,
        caller: Caller,
        max_results: i64,
        next_token: Option<i64>,
    ) -> Result<ListPcaCaResponse> {
        let after = next_token.unwrap_or(0);
        let (rows, total) = self
            .store
            .list_cas_after(caller.account_id, after, max_results + 1)
            .await?;
        let more = rows.len() as i64 > max_results;
        let page: Vec<&CaRecord> = rows.iter().take(max_results as usize).collect();
        let next_token = if more {
            page.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(ListPcaCaResponse {
            list: page
                .into_iter()
                .map(|r| PcaCaItem {
                    cert_identifier: r.identifier.clone(),
                    common_name: r.common_name.clone(),
                    issuer_identifier: r.issuer_identifier.clone(),
                    private_ca_instance_id: instance_id(&r.identifier),
                    private_ca_region_id: REGION_ID.into(),
                    status: r.status.clone(),
                    user_id: caller.account_id.to_string(),
                })
                .collect(),
            total_count: total,
            max_results,
            next_token,
        })
    }
}
