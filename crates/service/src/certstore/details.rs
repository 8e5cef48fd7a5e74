//! Reads of one certificate of the store by its CertId: `GetUserCertificateDetail`,
//! `GetCertificateDetail` (2020-04-07) and `DescribeUserCertificateDetail` (2018-07-13).

use super::iso_date;
use super::upload::instance_id;
use crate::issuance::TAG_RESOURCE_TYPE;
use crate::{Caller, Result, Service, ServiceError};
use opencas_pki::{ChainEntry, pem};
use opencas_store::{CertRecord, now_millis};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

pub(crate) const DAY_MS: i64 = 86_400_000;
/// A certificate is "about to expire" within this many days of its end.
pub(crate) const WILL_EXPIRE_DAYS: i64 = 30;
/// The region every `CertIdentifier` names: opencas is one site.
pub const REGION: &str = "cn-hangzhou";

pub(crate) fn cert_id_not_found(id: i64) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFound.Certificate",
        message: format!("The certificate {id} does not exist."),
    }
}

/// `issued`, `willExpire`, `expired` or `revoked`, as `GetCertificateDetail` spells them.
pub(crate) fn lifecycle_status(r: &CertRecord, now: i64) -> &'static str {
    if r.status == crate::issuance::STATUS_REVOKE {
        "revoked"
    } else if r.not_after < now {
        "expired"
    } else if r.not_after < now + WILL_EXPIRE_DAYS * DAY_MS {
        "willExpire"
    } else {
        "issued"
    }
}

/// `UPLOAD` for uploads, `BUY` for anything the service issued.
pub(crate) fn certificate_source(r: &CertRecord) -> &'static str {
    if r.source_type == "upload" { "UPLOAD" } else { "BUY" }
}

fn remain_days(not_after: i64, now: i64) -> i64 {
    ((not_after - now).div_euclid(DAY_MS)).max(0)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagItem {
    pub tag_key: String,
    pub tag_value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertChainItem {
    pub common_name: String,
    pub issuer_common_name: String,
    pub not_before: i64,
    pub not_after: i64,
    pub remain_day: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserCertificateDetail {
    pub id: i64,
    pub name: String,
    pub instance_id: String,
    pub cert_identifier: String,
    pub common: String,
    pub sans: String,
    pub issuer: String,
    pub org_name: String,
    pub country: String,
    pub province: String,
    pub city: String,
    pub algorithm: String,
    pub fingerprint: String,
    pub sha2: String,
    pub cert_sha2: String,
    pub serial_no: String,
    pub not_before: i64,
    pub not_after: i64,
    pub start_date: String,
    pub end_date: String,
    pub expired: bool,
    pub buy_in_aliyun: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
    pub cert_chain: Vec<CertChainItem>,
    pub tags: Vec<TagItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypt_cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypt_private_key: Option<String>,
}

/// `DescribeUserCertificateDetail` (2018-07-13): the SDK model's keys, PascalCase.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LegacyCertificateDetail {
    pub id: i64,
    pub name: String,
    pub common: String,
    pub sans: String,
    pub issuer: String,
    pub org_name: String,
    pub country: String,
    pub province: String,
    pub city: String,
    pub fingerprint: String,
    pub start_date: String,
    pub end_date: String,
    pub expired: bool,
    pub buy_in_aliyun: bool,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChainListItem {
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub remain_day: i64,
}

/// `GetCertificateDetail` and the items of `ListCertificates`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateSummary {
    pub certificate_id: i64,
    pub certificate_name: String,
    pub cert_identifier: String,
    pub instance_id: String,
    pub certificate_source: String,
    pub certificate_status: String,
    pub common_name: String,
    pub domain: String,
    pub subject_alternative_names: Vec<String>,
    pub issuer: String,
    pub algorithm: String,
    pub key_size: i64,
    pub serial: String,
    pub finger_print: String,
    pub not_before: i64,
    pub not_after: i64,
    pub exist_private_key: bool,
    pub using_product_list: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateDetail {
    #[serde(flatten)]
    pub summary: CertificateSummary,
    pub certificate_chain_list: Vec<ChainListItem>,
    pub tags: Vec<TagItem>,
}

pub(crate) fn summary(r: &CertRecord, now: i64) -> CertificateSummary {
    let sans: Vec<String> = r.sans.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    CertificateSummary {
        certificate_id: r.id,
        certificate_name: r.name.clone(),
        cert_identifier: format!("{}-{REGION}", r.id),
        instance_id: instance_id(r),
        certificate_source: certificate_source(r).into(),
        certificate_status: lifecycle_status(r, now).into(),
        common_name: r.common_name.clone(),
        domain: r.sans.clone(),
        subject_alternative_names: sans,
        issuer: r.issuer.clone(),
        algorithm: r.algorithm.clone(),
        key_size: r.key_size,
        serial: r.serial_no.clone(),
        finger_print: r.fingerprint_sha1.clone(),
        not_before: r.not_before,
        not_after: r.not_after,
        exist_private_key: r.has_private_key,
        using_product_list: Vec::new(),
    }
}

/// The certificate and the chain stored with it, leaf first.
fn chain_ders(r: &CertRecord) -> Result<Vec<Vec<u8>>> {
    let mut ders = vec![r.cert_der.clone()];
    ders.extend(pem::certs_from_pem(&r.chain_pem).map_err(|e| ServiceError::Internal(format!("stored chain: {e}")))?);
    Ok(ders)
}

/// Chain certificates already described, by their DER: the same few CA certificates sit
/// behind thousands of stored certificates, and decoding them is most of a detail read's
/// own work. The entry is a function of the DER alone.
static CHAIN_SEEN: LazyLock<Mutex<HashMap<Vec<u8>, ChainEntry>>> = LazyLock::new(Mutex::default);
/// Entries kept before the memo starts over.
const CHAIN_SEEN_MAX: usize = 1_024;

/// `chain_entries` of `ders` (leaf first); the chain after the leaf through `CHAIN_SEEN`.
fn describe_chain(ders: &[Vec<u8>]) -> Result<Vec<ChainEntry>> {
    let bad = |e: opencas_pki::Error| ServiceError::Internal(format!("stored certificate: {e}"));
    let Some((leaf, chain)) = ders.split_first() else {
        return Ok(Vec::new());
    };
    let mut out = opencas_pki::chain_entries(std::slice::from_ref(leaf)).map_err(bad)?;
    for der in chain {
        let known = CHAIN_SEEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(der)
            .cloned();
        let entry = match known {
            Some(e) => e,
            None => {
                let e = opencas_pki::chain_entries(std::slice::from_ref(der))
                    .map_err(bad)?
                    .remove(0);
                let mut seen = CHAIN_SEEN.lock().unwrap_or_else(PoisonError::into_inner);
                if seen.len() >= CHAIN_SEEN_MAX {
                    seen.clear();
                }
                seen.insert(der.clone(), e.clone());
                e
            }
        };
        out.push(entry);
    }
    Ok(out)
}

fn full_pem(r: &CertRecord) -> String {
    format!("{}{}", pem::cert_der_to_pem(&r.cert_der), r.chain_pem)
}

fn key_pem(der: &[u8]) -> String {
    pem::encode("PRIVATE KEY", der)
}

impl Service {
    pub(crate) async fn store_cert_or_404(&self, caller: Caller, id: i64) -> Result<CertRecord> {
        self.store
            .find_store_certificate(caller.account_id, id)
            .await?
            .ok_or_else(|| cert_id_not_found(id))
    }

    async fn tag_items(&self, caller: Caller, r: &CertRecord) -> Result<Vec<TagItem>> {
        Ok(self
            .store
            .tags_of(caller.account_id, TAG_RESOURCE_TYPE, &r.identifier)
            .await?
            .into_iter()
            .map(|(tag_key, tag_value)| TagItem { tag_key, tag_value })
            .collect())
    }

    async fn own_key_pem(&self, caller: Caller, r: &CertRecord) -> Result<Option<String>> {
        if !r.has_private_key {
            return Ok(None);
        }
        let key = self
            .store
            .certificate_private_key(caller.account_id, &r.identifier)
            .await?;
        Ok(key.map(|k| key_pem(&k)))
    }

    /// `GetUserCertificateDetail`; with `cert_filter` the certificate and key contents are left out.
    pub async fn get_user_certificate_detail(
        &self,
        caller: Caller,
        id: i64,
        cert_filter: bool,
    ) -> Result<UserCertificateDetail> {
        let r = self.store_cert_or_404(caller, id).await?;
        let now = now_millis();
        let ders = chain_ders(&r)?;
        let cert_chain = describe_chain(&ders)?
            .into_iter()
            .map(|c| CertChainItem {
                remain_day: remain_days(c.not_after_ms, now),
                common_name: c.common_name,
                issuer_common_name: c.issuer_common_name,
                not_before: c.not_before_ms,
                not_after: c.not_after_ms,
            })
            .collect();
        let mut d = UserCertificateDetail {
            id: r.id,
            name: r.name.clone(),
            instance_id: instance_id(&r),
            cert_identifier: format!("{}-{REGION}", r.id),
            common: r.common_name.clone(),
            sans: r.sans.clone(),
            issuer: r.issuer.clone(),
            org_name: r.organization.clone().unwrap_or_default(),
            country: r.country.clone().unwrap_or_default(),
            province: r.province.clone().unwrap_or_default(),
            city: r.city.clone().unwrap_or_default(),
            algorithm: r.algorithm.clone(),
            fingerprint: r.fingerprint_sha1.clone(),
            sha2: r.fingerprint_sha256.clone(),
            cert_sha2: r.fingerprint_sha256.clone(),
            serial_no: r.serial_no.clone(),
            not_before: r.not_before,
            not_after: r.not_after,
            start_date: iso_date(r.not_before),
            end_date: iso_date(r.not_after),
            expired: r.not_after < now,
            buy_in_aliyun: r.source_type != "upload",
            resource_group_id: r.resource_group_id.clone(),
            cert_chain,
            tags: self.tag_items(caller, &r).await?,
            cert: None,
            key: None,
            sign_cert: None,
            sign_private_key: None,
            encrypt_cert: None,
            encrypt_private_key: None,
        };
        if cert_filter {
            return Ok(d);
        }
        let key = self.own_key_pem(caller, &r).await?;
        match self.store.encryption_pair(caller.account_id, &r.identifier).await? {
            Some(enc) => {
                d.sign_cert = Some(full_pem(&r));
                d.sign_private_key = key;
                d.encrypt_cert = Some(pem::cert_der_to_pem(&enc.cert_der));
                d.encrypt_private_key = Some(key_pem(&enc.key_pkcs8_der));
            }
            None => {
                d.cert = Some(full_pem(&r));
                d.key = key;
            }
        }
        Ok(d)
    }

    /// `DescribeUserCertificateDetail` (2018-07-13).
    pub async fn describe_user_certificate_detail(&self, caller: Caller, id: i64) -> Result<LegacyCertificateDetail> {
        let r = self.store_cert_or_404(caller, id).await?;
        let now = now_millis();
        let key = self.own_key_pem(caller, &r).await?.unwrap_or_default();
        Ok(LegacyCertificateDetail {
            id: r.id,
            cert: full_pem(&r),
            key,
            common: r.common_name,
            sans: r.sans,
            issuer: r.issuer,
            org_name: r.organization.unwrap_or_default(),
            country: r.country.unwrap_or_default(),
            province: r.province.unwrap_or_default(),
            city: r.city.unwrap_or_default(),
            fingerprint: r.fingerprint_sha1,
            start_date: iso_date(r.not_before),
            end_date: iso_date(r.not_after),
            expired: r.not_after < now,
            buy_in_aliyun: r.source_type != "upload",
            name: r.name,
        })
    }

    /// `GetCertificateDetail`.
    pub async fn get_certificate_detail(&self, caller: Caller, id: i64) -> Result<CertificateDetail> {
        let r = self.store_cert_or_404(caller, id).await?;
        let now = now_millis();
        let ders = chain_ders(&r)?;
        let chain = describe_chain(&ders)?
            .into_iter()
            .map(|c| ChainListItem {
                remain_day: remain_days(c.not_after_ms, now),
                subject: c.common_name,
                issuer: c.issuer_common_name,
                not_before: c.not_before_ms,
                not_after: c.not_after_ms,
            })
            .collect();
        Ok(CertificateDetail {
            summary: summary(&r, now),
            certificate_chain_list: chain,
            tags: self.tag_items(caller, &r).await?,
        })
    }
}
