//! `ListUserCertificateOrder`: the CPACK / BUY views list orders; CERT / UPLOAD the
//! store's certificates, as the real service does.

use crate::certstore::iso_date;
use crate::{Caller, Paging, Result, Service};
use opencas_store::{CertFilter, CertRecord, DvOrder, OrderFilter, now_millis};
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;
/// A certificate is "about to expire" within this many days of its end.
const WILL_EXPIRE_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    Cpack,
    Buy,
    Upload,
    Cert,
}

impl OrderType {
    pub const API_VALUES: [&'static str; 4] = ["CPACK", "BUY", "UPLOAD", "CERT"];

    pub fn from_api(s: &str) -> Option<Self> {
        Some(match s {
            "CPACK" => Self::Cpack,
            "BUY" => Self::Buy,
            "UPLOAD" => Self::Upload,
            "CERT" => Self::Cert,
            _ => return None,
        })
    }
}

pub const ORDER_STATUSES: [&str; 8] = [
    "PAYED",
    "CHECKING",
    "CHECKED_FAIL",
    "ISSUED",
    "WILLEXPIRED",
    "EXPIRED",
    "NOTACTIVATED",
    "REVOKED",
];

#[derive(Debug, Clone)]
pub struct ListUserCertificateOrderRequest {
    pub paging: Option<Paging>,
    pub keyword: Option<String>,
    pub order_type: OrderType,
    pub status: Option<String>,
    pub resource_group_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUserCertificateOrderResponse {
    pub certificate_order_list: Vec<OrderListItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

/// One entry; which fields are present depends on the `OrderType` asked for.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderListItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buy_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sans: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
}

fn order_item(r: DvOrder) -> OrderListItem {
    let instance_id = if r.instance_id.is_empty() {
        format!("cas-ivauto-{}", r.id)
    } else {
        r.instance_id
    };
    OrderListItem {
        order_id: Some(r.id),
        instance_id: Some(instance_id),
        product_code: Some(r.product_code),
        cert_type: Some(r.cert_type),
        algorithm: Some(r.algorithm),
        domain: Some(r.domain),
        domain_count: Some(r.domain_count),
        domain_type: Some(r.domain_type),
        buy_date: Some(r.buy_date),
        certificate_id: r.certificate_id,
        status: r.status,
        resource_group_id: r.resource_group_id,
        ..Default::default()
    }
}

fn cert_status(r: &CertRecord, now: i64) -> &'static str {
    if r.status == "REVOKE" {
        "REVOKED"
    } else if r.not_after < now {
        "EXPIRED"
    } else if r.not_after < now + WILL_EXPIRE_DAYS * DAY_MS {
        "WILLEXPIRED"
    } else {
        "ISSUED"
    }
}

fn cert_item(r: CertRecord, now: i64) -> OrderListItem {
    OrderListItem {
        status: cert_status(&r, now).to_owned(),
        certificate_id: Some(r.id),
        instance_id: Some(crate::certstore::upload::instance_id(&r)),
        expired: Some(r.not_after < now),
        upload: Some(r.source_type == "upload"),
        start_date: Some(iso_date(r.not_before)),
        end_date: Some(iso_date(r.not_after)),
        name: Some(r.name),
        common_name: Some(r.common_name),
        sans: Some(r.sans),
        issuer: Some(r.issuer),
        org_name: r.organization,
        country: r.country,
        province: r.province,
        city: r.city,
        fingerprint: Some(r.fingerprint_sha1),
        sha2: Some(r.fingerprint_sha256),
        serial_no: Some(r.serial_no),
        source_type: Some(r.source_type),
        ..Default::default()
    }
}

impl Service {
    pub async fn list_user_certificate_order(
        &self,
        caller: Caller,
        req: ListUserCertificateOrderRequest,
    ) -> Result<ListUserCertificateOrderResponse> {
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: 50,
        });
        let now = now_millis();
        let (items, total) = match req.order_type {
            OrderType::Cpack | OrderType::Buy => {
                let filter = OrderFilter {
                    order_type: Some(
                        if req.order_type == OrderType::Cpack {
                            "CPACK"
                        } else {
                            "BUY"
                        }
                        .into(),
                    ),
                    status: req.status,
                    keyword: req.keyword,
                    resource_group_id: req.resource_group_id,
                };
                let (rows, total) = self
                    .store
                    .list_orders(caller.account_id, &filter, paging.page())
                    .await?;
                (rows.into_iter().map(order_item).collect(), total)
            }
            OrderType::Cert | OrderType::Upload => {
                let Some(filter) = cert_view_filter(&req, now) else {
                    return Ok(ListUserCertificateOrderResponse {
                        certificate_order_list: Vec::new(),
                        total_count: 0,
                        current_page: paging.current_page,
                        show_size: paging.show_size,
                    });
                };
                let (rows, total) = self
                    .store
                    .list_certificates(caller.account_id, &filter, paging.page())
                    .await?;
                (rows.into_iter().map(|r| cert_item(r, now)).collect(), total)
            }
        };
        Ok(ListUserCertificateOrderResponse {
            certificate_order_list: items,
            total_count: total,
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }
}

/// The certificate filter for the CERT / UPLOAD views, or `None` when the status asked
/// for cannot apply to a stored certificate (the list is then empty).
fn cert_view_filter(req: &ListUserCertificateOrderRequest, now: i64) -> Option<CertFilter> {
    let will_expire = now + WILL_EXPIRE_DAYS * DAY_MS;
    let mut f = CertFilter {
        keyword: req.keyword.clone(),
        source_type: (req.order_type == OrderType::Upload).then(|| "upload".to_owned()),
        status: Some("ISSUE".into()),
        cert_store_only: true,
        ..Default::default()
    };
    match req.status.as_deref() {
        // valid certificates by default: issued or about to expire
        None => f.not_after_from = Some(now),
        Some("ISSUED") => f.not_after_from = Some(will_expire),
        Some("WILLEXPIRED") => (f.not_after_from, f.not_after_to) = (Some(now), Some(will_expire)),
        Some("EXPIRED") => f.not_after_to = Some(now),
        Some("REVOKED") => f.status = Some("REVOKE".into()),
        Some(_) => return None,
    }
    Some(f)
}
