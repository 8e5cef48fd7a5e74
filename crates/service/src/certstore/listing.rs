//! The list views of the certificate store.

use crate::{Caller, Paging, Result, Service};
use opencas_store::{CertFilter, CertListRow, CertQuery, CertRecord, Window, now_millis};
use serde::Serialize;

/// How a list request pages: by number (`CurrentPage`/`ShowSize`) or by token
/// (`NextToken`/`MaxResults`). A token is the id of the last item returned: the next page
/// continues below it in the same newest-first order, so items added meanwhile never shift
/// a token walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRequest {
    Numbered(Paging),
    Token { max_results: i64, after: Option<i64> },
}

impl PageRequest {
    pub(crate) fn window(self) -> Window {
        match self {
            Self::Numbered(p) => Window::Offset(p.page()),
            Self::Token { max_results, after } => Window::Keyset {
                before_id: after,
                limit: max_results,
            },
        }
    }

    pub(crate) fn numbered(self) -> Option<Paging> {
        match self {
            Self::Numbered(p) => Some(p),
            Self::Token { .. } => None,
        }
    }

    pub(crate) fn max_results(self) -> Option<i64> {
        match self {
            Self::Numbered(_) => None,
            Self::Token { max_results, .. } => Some(max_results),
        }
    }
}

/// Which certificates a `Type` filter of ListCert names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedKind {
    Server,
    Client,
    /// Certificates made by CreateCustomCertificate (stored as CUSTOM).
    EndEntity,
}

impl IssuedKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "SERVER" => Some(Self::Server),
            "CLIENT" => Some(Self::Client),
            "END_ENTITY" => Some(Self::EndEntity),
            _ => None,
        }
    }

    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Server => "SERVER",
            Self::Client => "CLIENT",
            Self::EndEntity => "CUSTOM",
        }
    }

    pub(crate) fn api_of_stored(stored: &str) -> &str {
        if stored == "CUSTOM" { "END_ENTITY" } else { stored }
    }
}

/// The filters both ListCert versions understand.
#[derive(Debug, Clone, Default)]
pub struct CertListFilter {
    pub keyword: Option<String>,
    pub warehouse_id: Option<i64>,
    pub status: Option<String>,
    pub source_type: Option<String>,
    pub cert_type: Option<String>,
    pub kind: Option<IssuedKind>,
    pub identifiers: Vec<String>,
    /// The issuing CA (`ParentIdentifier`, or the CA behind an `InstanceUuid`).
    pub parent_identifier: Option<String>,
    /// `BeforeDate`: validity began on or before this day (UTC, `YYYY-MM-DD`).
    pub before_date: Option<time::Date>,
    /// `AfterDate`: still valid on or after this day. With `before_date`, the
    /// certificates in force at some time between the two days.
    pub after_date: Option<time::Date>,
}

const DAY_MS: i64 = 86_400_000;

fn day_start_ms(d: time::Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

impl CertListFilter {
    pub(crate) fn query(&self) -> CertQuery {
        CertQuery {
            keyword: self.keyword.clone(),
            warehouse_id: self.warehouse_id,
            status: self.status.clone(),
            source_type: self.source_type.clone(),
            cert_type: self.cert_type.clone(),
            certificate_types: self.kind.map(|k| vec![k.stored().to_owned()]).unwrap_or_default(),
            identifiers: self.identifiers.clone(),
            issuer_identifier: self.parent_identifier.clone(),
            not_before_until: self.before_date.map(|d| day_start_ms(d) + DAY_MS - 1),
            not_after_from: self.after_date.map(day_start_ms),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListCertRequest {
    pub page: PageRequest,
    pub filter: CertListFilter,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCertResponse {
    pub cert_list: Vec<CertListItem>,
    pub total_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_page: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
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

impl From<CertListRow> for CertListItem {
    fn from(r: CertListRow) -> Self {
        Self {
            identifier: r.identifier,
            wh_instance_id: r.warehouse_id.map(crate::warehouses::instance_id),
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
        let page = self
            .store
            .search_certificates(caller.account_id, &req.filter.query(), req.page.window())
            .await?;
        let numbered = req.page.numbered();
        Ok(ListCertResponse {
            cert_list: page.rows.into_iter().map(Into::into).collect(),
            total_count: page.total,
            current_page: numbered.map(|p| p.current_page),
            show_size: numbered.map(|p| p.show_size),
            max_results: req.page.max_results(),
            next_token: page.next_before.map(|id| id.to_string()),
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
