//! The 2018-07-13 view of DV orders: `CreateDVOrderAudit`, `DescribeDVOrderResult`,
//! `DescribeOrderInstanceList` (lower-camel field names where the documents use them).

use super::domains::ValidateType;
use super::state::OrderView;
use super::{order_state_error, product, status};
use crate::{Caller, Result, Service, ServiceError};
use serde::Serialize;

/// Orders one `DescribeOrderInstanceList` page returns.
const LEGACY_PAGE: i64 = 50;

#[derive(Debug, Clone)]
pub struct CreateDvOrderAuditRequest {
    pub instance_id: String,
    pub domain: String,
    pub domain_verify_type: ValidateType,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDvOrderResultResponse {
    pub order_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeOrderInstanceListResponse {
    pub total_count: i64,
    pub order_list: Vec<LegacyOrderItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LegacyOrderItem {
    pub id: i64,
    pub instance_id: String,
    pub cert_type: String,
    pub source: String,
    pub status: String,
}

fn legacy_status(s: &str) -> &'static str {
    match s {
        status::CHECKING => "Verifying",
        status::CHECKED_FAIL => "Verification Failed",
        status::ISSUED => "Issued",
        _ => "Paid",
    }
}

impl Service {
    /// `CreateDVOrderAudit`: submits an instance pending application for its domains.
    /// The names are those the instance was bought for (its key and CSR name them).
    pub async fn create_dv_order_audit(&self, caller: Caller, req: CreateDvOrderAuditRequest) -> Result<()> {
        let order = self.instance_or_404(caller, &req.instance_id).await?;
        if order.status != status::PAYED {
            return Err(order_state_error(format!(
                "Instance {} is {}; only one pending application can be submitted.",
                req.instance_id, order.status
            )));
        }
        let product = product(&order.product_code)
            .ok_or_else(|| ServiceError::Internal(format!("unknown product {}", order.product_code)))?;
        let mut asked = super::domains::parse_domains(&req.domain, product, req.domain_verify_type)?;
        let mut have: Vec<String> = order.domain.split(',').map(str::to_owned).collect();
        asked.sort();
        have.sort();
        if asked != have {
            return Err(ServiceError::invalid(
                "Domain",
                format!("Instance {} is for {}.", req.instance_id, order.domain),
            ));
        }
        let mut tx = self.store.begin().await?;
        tx.set_order_contact(
            caller.account_id,
            order.id,
            &order.domain,
            order.domain_count,
            req.domain_verify_type.as_api(),
        )
        .await?;
        tx.commit().await?;
        self.apply_certificate(caller, &req.instance_id).await
    }

    pub async fn describe_dv_order_result(
        &self,
        caller: Caller,
        instance_id: &str,
    ) -> Result<DescribeDvOrderResultResponse> {
        let order = self.instance_or_404(caller, instance_id).await?;
        let mut r = DescribeDvOrderResultResponse::default();
        match self.order_view(&order).await? {
            OrderView::DomainVerify {
                kind,
                name,
                value,
                domain,
            } => {
                r.order_status = "checking".into();
                r.check_name = Some(if kind == "DNS" {
                    name
                } else {
                    format!("{}{name}", domain.trim_start_matches("*."))
                });
                r.check_type = Some(kind);
                r.check_value = Some(value);
            }
            OrderView::Process | OrderView::Payed => r.order_status = "checking".into(),
            OrderView::Failed(_) => r.order_status = "check_fail".into(),
            OrderView::Issued {
                certificate,
                private_key,
                ..
            } => {
                r.order_status = "issued".into();
                r.certificate = Some(certificate);
                r.private_key = private_key;
            }
        }
        Ok(r)
    }

    pub async fn describe_order_instance_list(
        &self,
        caller: Caller,
        start_index: i64,
    ) -> Result<DescribeOrderInstanceListResponse> {
        let offset = (start_index.max(1) - 1).min(i64::from(i32::MAX));
        let (orders, total) = self
            .store
            .list_dv_orders(caller.account_id, offset, LEGACY_PAGE)
            .await?;
        Ok(DescribeOrderInstanceListResponse {
            total_count: total,
            order_list: orders
                .into_iter()
                .map(|o| LegacyOrderItem {
                    id: o.id,
                    cert_type: format!("{} SSL", o.cert_type),
                    source: o.product_code.clone(),
                    status: legacy_status(&o.status).into(),
                    instance_id: o.instance_id,
                })
                .collect(),
        })
    }
}
