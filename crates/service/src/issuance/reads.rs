//! Reads, status, deletion and key export of issued certificates.

use super::{STATUS_REVOKE, TAG_RESOURCE_TYPE, cert_not_found};
use crate::ca::TagItem;
use crate::{Caller, Paging, Result, Service, ServiceError};
use opencas_pki::pem;
use opencas_store::{CertFilter, CertRecord};
use serde::Serialize;

/// An issued certificate as `ListClientCertificate` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientCertItem {
    pub id: i64,
    pub identifier: String,
    pub parent_identifier: String,
    pub certificate_type: String,
    pub status: String,
    pub alias_name: String,
    pub custom_identifier: String,
    pub common_name: String,
    pub organization: String,
    pub organization_unit: String,
    pub locality: String,
    pub state: String,
    pub country_code: String,
    #[serde(rename = "SubjectDN")]
    pub subject_dn: String,
    pub sans: String,
    pub algorithm: String,
    pub key_size: i64,
    pub sign_algorithm: String,
    pub serial_number: String,
    pub md5: String,
    pub sha2: String,
    pub before_date: i64,
    pub after_date: i64,
    pub days: i64,
    pub resource_group_id: String,
    pub x509_certificate: String,
}

impl From<&CertRecord> for ClientCertItem {
    fn from(c: &CertRecord) -> Self {
        Self {
            id: c.id,
            identifier: c.identifier.clone(),
            parent_identifier: c.issuer_identifier.clone().unwrap_or_default(),
            certificate_type: c.certificate_type.clone().unwrap_or_default(),
            status: c.status.clone(),
            alias_name: c.name.clone(),
            custom_identifier: c.custom_identifier.clone().unwrap_or_default(),
            common_name: c.common_name.clone(),
            organization: c.organization.clone().unwrap_or_default(),
            organization_unit: c.organization_unit.clone().unwrap_or_default(),
            locality: c.city.clone().unwrap_or_default(),
            state: c.province.clone().unwrap_or_default(),
            country_code: c.country.clone().unwrap_or_default(),
            subject_dn: c.subject_dn.clone(),
            sans: c.sans.clone(),
            algorithm: c.algorithm.clone(),
            key_size: c.key_size,
            sign_algorithm: c.sign_algorithm.clone(),
            serial_number: c.serial_no.clone(),
            md5: c.fingerprint_md5.clone(),
            sha2: c.fingerprint_sha256.clone(),
            before_date: c.not_before,
            after_date: c.not_after,
            days: c.days,
            resource_group_id: c.resource_group_id.clone().unwrap_or_default(),
            x509_certificate: pem::cert_der_to_pem(&c.cert_der),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientCertDetail {
    #[serde(flatten)]
    pub summary: ClientCertItem,
    pub full_algorithm: String,
    pub cert_chain: String,
    pub upload_flag: i64,
    pub tags: Vec<TagItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeClientCertResponse {
    pub certificate: ClientCertDetail,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientCertListResponse {
    pub certificate_list: Vec<ClientCertItem>,
    pub total_count: i64,
    pub page_count: i64,
    pub current_page: i64,
    pub show_size: i64,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SerialListResponse {
    pub certificate_list: Vec<ClientCertItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusItem {
    pub serial_number: String,
    /// `good`, `revoked` or `unknown`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_time: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusResponse {
    pub certificate_status: Vec<StatusItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrivateKeyResponse {
    pub encrypted_data: String,
}

/// Identifiers or serial numbers asked for in one call.
pub const MAX_BATCH: usize = 100;

fn status_of(c: Option<&CertRecord>, serial: &str) -> StatusItem {
    match c {
        Some(c) if c.status == STATUS_REVOKE => StatusItem {
            serial_number: c.serial_no.clone(),
            status: "revoked".into(),
            revoke_time: c.revoked_at,
        },
        Some(c) => StatusItem {
            serial_number: c.serial_no.clone(),
            status: "good".into(),
            revoke_time: None,
        },
        None => StatusItem {
            serial_number: serial.to_owned(),
            status: "unknown".into(),
            revoke_time: None,
        },
    }
}

/// Issued here: the store also holds uploaded and ordered certificates.
fn issued(c: Option<CertRecord>) -> Option<CertRecord> {
    c.filter(|c| c.issuer_identifier.is_some())
}

impl Service {
    async fn issued_or_404(&self, caller: Caller, identifier: &str) -> Result<CertRecord> {
        issued(self.store.find_certificate(caller.account_id, identifier).await?)
            .ok_or_else(|| cert_not_found(identifier))
    }

    pub async fn describe_client_certificate(
        &self,
        caller: Caller,
        identifier: &str,
    ) -> Result<DescribeClientCertResponse> {
        let c = self.issued_or_404(caller, identifier).await?;
        let tags = self
            .store
            .tags_of(caller.account_id, TAG_RESOURCE_TYPE, identifier)
            .await?;
        Ok(DescribeClientCertResponse {
            certificate: ClientCertDetail {
                full_algorithm: c.key_algorithm.clone(),
                cert_chain: c.chain_pem.clone(),
                upload_flag: 0,
                tags: tags
                    .into_iter()
                    .map(|(tag_key, tag_value)| TagItem { tag_key, tag_value })
                    .collect(),
                summary: ClientCertItem::from(&c),
            },
        })
    }

    pub async fn describe_client_certificates_by_serial(
        &self,
        caller: Caller,
        serials: &[String],
    ) -> Result<SerialListResponse> {
        let mut list = Vec::new();
        for serial in serials {
            if let Some(c) = issued(self.store.find_certificate_by_serial(caller.account_id, serial).await?) {
                list.push(ClientCertItem::from(&c));
            }
        }
        Ok(SerialListResponse { certificate_list: list })
    }

    pub async fn list_client_certificates(
        &self,
        caller: Caller,
        paging: Paging,
        identifier: Option<String>,
        resource_group_id: Option<String>,
    ) -> Result<ClientCertListResponse> {
        let filter = CertFilter {
            identifiers: identifier.into_iter().collect(),
            resource_group_id,
            certificate_types: vec!["SERVER".into(), "CLIENT".into(), "CUSTOM".into()],
            ..Default::default()
        };
        let (rows, total) = self
            .store
            .list_certificates(caller.account_id, &filter, paging.page())
            .await?;
        Ok(ClientCertListResponse {
            certificate_list: rows.iter().map(Into::into).collect(),
            total_count: total,
            page_count: paging.page_count(total),
            current_page: paging.current_page,
            show_size: paging.show_size,
            max_results: paging.show_size,
        })
    }

    pub async fn client_certificate_status(&self, caller: Caller, identifiers: &[String]) -> Result<StatusResponse> {
        let mut out = Vec::new();
        for id in identifiers {
            let c = issued(self.store.find_certificate(caller.account_id, id).await?);
            out.push(status_of(c.as_ref(), ""));
        }
        out.retain(|s| !s.serial_number.is_empty());
        Ok(StatusResponse {
            certificate_status: out,
        })
    }

    pub async fn client_certificate_status_by_serial(
        &self,
        caller: Caller,
        serials: &[String],
    ) -> Result<StatusResponse> {
        let mut out = Vec::new();
        for serial in serials {
            let c = issued(self.store.find_certificate_by_serial(caller.account_id, serial).await?);
            out.push(status_of(c.as_ref(), serial));
        }
        Ok(StatusResponse {
            certificate_status: out,
        })
    }

    /// Only a revoked certificate may be deleted: a valid one must be revoked first, so
    /// that relying parties learn of it.
    pub async fn delete_client_certificate(&self, caller: Caller, identifier: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let c = issued(self.store.find_certificate(caller.account_id, identifier).await?)
            .ok_or_else(|| cert_not_found(identifier))?;
        if c.status != STATUS_REVOKE {
            return Err(ServiceError::Conflict {
                code: "InvalidStatus.Certificate",
                message: format!(
                    "The certificate {identifier} is {}; revoke it before deleting it.",
                    c.status
                ),
            });
        }
        tx.delete_certificate(caller.account_id, identifier, opencas_store::now_millis())
            .await?;
        tx.replace_tags(caller.account_id, TAG_RESOURCE_TYPE, identifier, &[])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The certificate's private key as encrypted PKCS#8 PEM under `password`.
    pub async fn describe_certificate_private_key(
        &self,
        caller: Caller,
        identifier: &str,
        password: String,
    ) -> Result<PrivateKeyResponse> {
        let ok = !password.is_empty()
            && password.len() <= 32
            && password
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b",.+-_#".contains(&b));
        if !ok {
            return Err(ServiceError::invalid(
                "EncryptedCode",
                "EncryptedCode must be 1-32 characters of letters, digits and , . + - _ #.",
            ));
        }
        self.issued_or_404(caller, identifier).await?;
        let key = self
            .store
            .certificate_private_key(caller.account_id, identifier)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "NotFound.PrivateKey",
                message: format!("The private key of {identifier} is not held here (the certificate came from a CSR)."),
            })?;
        let encrypted = super::download::encrypt_key(key, password).await?;
        Ok(PrivateKeyResponse {
            encrypted_data: encrypted,
        })
    }
}
