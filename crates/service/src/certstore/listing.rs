//! The list views of the certificate store.

use crate::{Caller, Paging, Result, Service};
use opencas_store::{CertFilter, CertRecord, now_millis};
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct ListCertRequest {
    pub paging: Option<Paging>,
    pub keyword: Option<String>,
    pub warehouse_id: Option<i64>,
    pub status: Option<String>,
    pub source_type: Option<String>,
    pub cert_type: Option<String>,
    pub identifiers: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCertResponse {
    pub cert_list: Vec<CertListItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertListItem {
    pub identifier: String,
    pub wh_id: Option<i64>,
    pub wh_instance_id: Option<String>,
    pub status: String,
    pub source_type: String,
    pub cert_type: String,
    pub common_name: String,
    pub sans: String,
    pub issuer: String,
    pub algorithm: String,
    pub sign_algorithm: String,
    pub serial_no: String,
    pub before_date: i64,
    pub after_date: i64,
    pub exist_private_key: bool,
}

impl From<CertRecord> for CertListItem {
    fn from(r: CertRecord) -> Self {
        Self {
            identifier: r.identifier,
            wh_instance_id: r.warehouse_id.map(|id| format!("cas-wh-{id}")),
            wh_id: r.warehouse_id,
            status: r.status,
            source_type: r.source_type,
            cert_type: r.cert_type,
            common_name: r.common_name,
            sans: r.sans,
            issuer: r.issuer,
            algorithm: r.algorithm,
            sign_algorithm: r.sign_algorithm,
            serial_no: r.serial_no,
            before_date: r.not_before,
            after_date: r.not_after,
            exist_private_key: r.has_private_key,
        }
    }
}

pub const LIST_CERT_DEFAULT_SHOW_SIZE: i64 = 50;

/// The 2018-07-13 legacy list (lowerCamel item keys, dates as `YYYY-MM-DD`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeUserCertificateListResponse {
    pub certificate_list: Vec<LegacyCertItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyCertItem {
    pub id: i64,
    pub name: String,
    pub common: String,
    pub fingerprint: String,
    pub issuer: String,
    pub org_name: String,
    pub province: String,
    pub city: String,
    pub country: String,
    pub start_date: String,
    pub end_date: String,
    pub sans: String,
    pub expired: bool,
    pub buy_in_aliyun: bool,
}

/// `YYYY-MM-DD` (UTC) of a unix-millisecond instant.
pub fn iso_date(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

impl LegacyCertItem {
    fn from_row(r: CertRecord, now: i64) -> Self {
        Self {
            id: r.id,
            name: r.name,
            common: r.common_name,
            fingerprint: r.fingerprint_sha1,
            issuer: r.issuer,
            org_name: r.organization.unwrap_or_default(),
            province: r.province.unwrap_or_default(),
            city: r.city.unwrap_or_default(),
            country: r.country.unwrap_or_default(),
            start_date: iso_date(r.not_before),
            end_date: iso_date(r.not_after),
            sans: r.sans,
            expired: r.not_after < now,
            buy_in_aliyun: r.source_type == "aliyun",
        }
    }
}

impl Service {
    pub async fn list_cert(&self, caller: Caller, req: ListCertRequest) -> Result<ListCertResponse> {
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: LIST_CERT_DEFAULT_SHOW_SIZE,
        });
        let filter = CertFilter {
            keyword: req.keyword,
            warehouse_id: req.warehouse_id,
            status: req.status,
            source_type: req.source_type,
            cert_type: req.cert_type,
            identifiers: req.identifiers,
            ..Default::default()
        };
        let (rows, total) = self
            .store
            .list_certificates(caller.account_id, &filter, paging.page())
            .await?;
        Ok(ListCertResponse {
            cert_list: rows.into_iter().map(Into::into).collect(),
            total_count: total,
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }

    pub async fn describe_user_certificate_list(
        &self,
        caller: Caller,
        paging: Paging,
    ) -> Result<DescribeUserCertificateListResponse> {
        let (rows, total) = self
            .store
            .list_certificates(caller.account_id, &CertFilter::default(), paging.page())
            .await?;
        let now = now_millis();
        Ok(DescribeUserCertificateListResponse {
            certificate_list: rows.into_iter().map(|r| LegacyCertItem::from_row(r, now)).collect(),
            total_count: total,
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso_date(0), "1970-01-01");
        assert_eq!(super::iso_date(1_508_112_000_000), "2017-10-16");
    }
}
