//! Instances: each DV order is one certificate slot the console calls an instance.
//! `ListInstances`, `GetInstanceDetail`, `GetInstanceSummary` (counted from the rows, never
//! stored), `UpdateInstance`, `DeleteInstance`, `RefundInstance` (within 7 days of purchase
//! and only while nothing was issued, seed 001).

use super::{order_state_error, product, status, worker};
use crate::{Caller, Paging, Result, Service, ServiceError};
use opencas_store::{DvOrder, now_millis};
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;
const REFUND_DAYS: i64 = 7;
const WILL_EXPIRE_DAYS: i64 = 30;
/// A tenant's instances are read whole to filter and count them; this bounds the read.
const MAX_INSTANCES: i64 = 100_000;
pub(crate) const REFUNDED: &str = "REFUND";

pub const INSTANCE_STATUSES: [&str; 7] = [
    "inactive",
    "pending",
    "willExpire",
    "expired",
    "refund",
    "normal",
    "closed",
];
pub const CERTIFICATE_STATUSES: [&str; 4] = ["issued", "revoked", "willExpire", "expired"];

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// The console's status of an instance, and of its certificate.
fn instance_status(o: &DvOrder, now: i64) -> (&'static str, Option<&'static str>) {
    match o.status.as_str() {
        status::CHECKING => ("pending", None),
        status::ISSUED => match o.cert_not_after {
            Some(end) if end <= now => ("expired", Some("expired")),
            Some(end) if end <= now + WILL_EXPIRE_DAYS * DAY_MS => ("willExpire", Some("willExpire")),
            _ => ("normal", Some("issued")),
        },
        REFUNDED => ("refund", None),
        _ => ("inactive", None),
    }
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceItem {
    pub instance_id: String,
    pub instance_type: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_status: Option<String>,
    pub certificate_type: String,
    pub brand: String,
    pub spec: String,
    pub domain: String,
    pub certificate_name: String,
    pub auto_reissue: String,
    pub full_domain_count: i64,
    pub wildcard_domain_count: i64,
    pub order_start_time: i64,
    pub key_algorithm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_not_after: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
}

fn item(o: &DvOrder, now: i64) -> InstanceItem {
    let (st, cert_st) = instance_status(o, now);
    let wildcards = o.domain.split(',').filter(|d| d.starts_with("*.")).count() as i64;
    let issued = o.status == status::ISSUED;
    InstanceItem {
        instance_id: o.instance_id.clone(),
        instance_type: "BUY".into(),
        status: st.into(),
        certificate_status: cert_st.map(Into::into),
        certificate_type: o.cert_type.clone(),
        brand: product(&o.product_code).map_or("", |p| p.brand).into(),
        spec: o.product_code.clone(),
        domain: o.domain.clone(),
        certificate_name: o.instance_name.clone().unwrap_or_else(|| o.instance_id.clone()),
        auto_reissue: if o.auto_reissue { "enable" } else { "disable" }.into(),
        full_domain_count: o.domain_count - wildcards,
        wildcard_domain_count: wildcards,
        order_start_time: secs(o.buy_date),
        key_algorithm: if o.algorithm == "RSA" {
            "RSA_2048".into()
        } else {
            o.algorithm.clone()
        },
        certificate_id: o.certificate_id.filter(|_| issued),
        cert_identifier: o
            .certificate_id
            .filter(|_| issued)
            .map(|id| format!("{id}-cn-hangzhou")),
        certificate_domain: issued.then(|| o.domain.clone()),
        certificate_not_after: o.cert_not_after.filter(|_| issued).map(secs),
        instance_end_time: o.cert_not_after.filter(|_| issued).map(secs),
        pending_result: o.fail_reason.clone(),
        resource_group_id: o.resource_group_id.clone(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListInstancesRequest {
    pub paging: Option<Paging>,
    pub keyword: Option<String>,
    pub status: Option<String>,
    pub certificate_status: Option<String>,
    pub instance_type: Option<String>,
    pub certificate_type: Option<String>,
    pub brand: Option<String>,
    pub auto_reissue_flag: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInstancesResponse {
    pub instance_list: Vec<InstanceItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
    pub enable_reissue_count: i64,
    pub disable_reissue_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceDetailResponse {
    #[serde(flatten)]
    pub item: InstanceItem,
    pub validation_method: String,
    pub generate_csr_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    pub auto_reissue_flag: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceSummaryResponse {
    pub total_count: i64,
    pub inactive_count: i64,
    pub will_expire_count: i64,
    /// Certificates left in the account's packages.
    pub certificate_count: i64,
    pub auto_reissue_count: i64,
}

#[derive(Debug, Clone, Default)]
pub struct UpdateInstanceRequest {
    pub instance_id: String,
    pub certificate_name: Option<String>,
    pub auto_reissue: Option<bool>,
    /// `DNS` or `HTTP`, only while the instance is pending application.
    pub validation_method: Option<String>,
}

impl Service {
    async fn all_instances(&self, caller: Caller) -> Result<Vec<DvOrder>> {
        Ok(self.store.list_dv_orders(caller.account_id, 0, MAX_INSTANCES).await?.0)
    }

    pub async fn list_instances(&self, caller: Caller, req: ListInstancesRequest) -> Result<ListInstancesResponse> {
        let now = now_millis();
        let keyword = req.keyword.as_deref().map(str::to_ascii_lowercase);
        let all = self.all_instances(caller).await?;
        let matching: Vec<InstanceItem> = all
            .iter()
            .map(|o| item(o, now))
            .filter(|i| {
                keyword.as_deref().is_none_or(|k| {
                    i.domain.contains(k) || i.instance_id.contains(k) || i.certificate_name.to_lowercase().contains(k)
                }) && req.status.as_deref().is_none_or(|s| i.status == s)
                    && req
                        .certificate_status
                        .as_deref()
                        .is_none_or(|s| i.certificate_status.as_deref() == Some(s))
                    && req.instance_type.as_deref().is_none_or(|t| i.instance_type == t)
                    && req.certificate_type.as_deref().is_none_or(|t| i.certificate_type == t)
                    && req.brand.as_deref().is_none_or(|b| i.brand.eq_ignore_ascii_case(b))
                    && req
                        .auto_reissue_flag
                        .is_none_or(|f| (i.auto_reissue == "enable") == (f == 1))
            })
            .collect();
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: 10,
        });
        let enable = matching.iter().filter(|i| i.auto_reissue == "enable").count() as i64;
        let total = matching.len() as i64;
        let page = paging.page();
        let list = matching
            .into_iter()
            .skip(page.offset.max(0) as usize)
            .take(page.limit.max(0) as usize)
            .collect();
        Ok(ListInstancesResponse {
            instance_list: list,
            total_count: total,
            current_page: paging.current_page,
            show_size: paging.show_size,
            enable_reissue_count: enable,
            disable_reissue_count: total - enable,
        })
    }

    pub async fn get_instance_detail(&self, caller: Caller, instance_id: &str) -> Result<InstanceDetailResponse> {
        let o = self.instance_or_404(caller, instance_id).await?;
        Ok(InstanceDetailResponse {
            item: item(&o, now_millis()),
            validation_method: match o.validate_type.as_deref() {
                Some("FILE") => "HTTP".into(),
                _ => "DNS".into(),
            },
            generate_csr_method: if o.has_key { "online" } else { "upload" }.into(),
            csr: o
                .csr_der
                .as_deref()
                .map(|der| opencas_pki::pem::encode("CERTIFICATE REQUEST", der)),
            auto_reissue_flag: 0,
        })
    }

    /// `test_only`: the summary of test certificates, of which opencas sells none.
    pub async fn get_instance_summary(&self, caller: Caller, test_only: bool) -> Result<InstanceSummaryResponse> {
        let now = now_millis();
        let items: Vec<InstanceItem> = if test_only {
            Vec::new()
        } else {
            self.all_instances(caller).await?.iter().map(|o| item(o, now)).collect()
        };
        let count = |s: &str| items.iter().filter(|i| i.status == s).count() as i64;
        let packages = self.store.list_packages(Some(caller.account_id)).await?;
        Ok(InstanceSummaryResponse {
            total_count: items.len() as i64,
            inactive_count: count("inactive"),
            will_expire_count: count("willExpire"),
            certificate_count: if test_only {
                0
            } else {
                packages.iter().map(|p| p.total_count - p.used_count).sum()
            },
            auto_reissue_count: 0,
        })
    }

    pub async fn update_instance(&self, caller: Caller, req: UpdateInstanceRequest) -> Result<()> {
        let o = self.instance_or_404(caller, &req.instance_id).await?;
        if o.status == REFUNDED {
            return Err(order_state_error(format!(
                "Instance {} was refunded and cannot be changed.",
                req.instance_id
            )));
        }
        let mut tx = self.store.begin().await?;
        if let Some(method) = &req.validation_method {
            let wanted = if method == "HTTP" { "FILE" } else { "DNS" };
            if o.validate_type.as_deref() != Some(wanted) {
                if o.status != status::PAYED {
                    return Err(order_state_error(format!(
                        "The validation method of instance {} can change only while it is pending application.",
                        req.instance_id
                    )));
                }
                if wanted == "FILE" && o.domain.split(',').any(|d| d.starts_with("*.")) {
                    return Err(ServiceError::invalid(
                        "ValidationMethod",
                        "A wildcard domain name can only be validated by DNS.",
                    ));
                }
                tx.set_order_contact(caller.account_id, o.id, &o.domain, o.domain_count, wanted)
                    .await?;
            }
        }
        let name = req.certificate_name.clone().or(o.instance_name.clone());
        let auto = req.auto_reissue.unwrap_or(o.auto_reissue);
        tx.set_instance_settings(caller.account_id, o.id, name.as_deref(), auto)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `DeleteInstance`: an instance with no certificate in use (pending application,
    /// failed, refunded or expired). One under review or with a valid certificate stays.
    pub async fn delete_instance(&self, caller: Caller, instance_id: &str) -> Result<()> {
        let o = self.instance_or_404(caller, instance_id).await?;
        let (st, _) = instance_status(&o, now_millis());
        if !matches!(st, "inactive" | "refund" | "expired") {
            return Err(order_state_error(format!(
                "Instance {instance_id} is {st}; only an inactive, refunded or expired instance can be deleted."
            )));
        }
        let mut tx = self.store.begin().await?;
        tx.cancel_job(worker::JOB_KIND, caller.account_id, o.id).await?;
        tx.delete_dv_order(caller.account_id, o.id, now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `RefundInstance`: within 7 days of purchase and unused (no certificate issued);
    /// the unit leaves the package.
    pub async fn refund_instance(&self, caller: Caller, instance_id: &str) -> Result<()> {
        let o = self.instance_or_404(caller, instance_id).await?;
        let open = [status::PAYED, status::CHECKING, status::CHECKED_FAIL];
        if !open.contains(&o.status.as_str()) {
            return Err(order_state_error(format!(
                "Instance {instance_id} has been used ({}); only an unused instance can be refunded.",
                instance_status(&o, now_millis()).0
            )));
        }
        if now_millis() > o.buy_date + REFUND_DAYS * DAY_MS {
            return Err(order_state_error(format!(
                "Instance {instance_id} was bought more than {REFUND_DAYS} days ago and can no longer be refunded."
            )));
        }
        let mut tx = self.store.begin().await?;
        tx.set_order_status(caller.account_id, o.id, &open, REFUNDED, None)
            .await
            .map_err(|_| order_state_error(format!("Instance {instance_id} changed state; try again.")))?;
        tx.refund_package_unit(caller.account_id, &o.product_code, o.counted)
            .await?;
        if o.counted {
            tx.set_order_counted(caller.account_id, o.id, false).await?;
        }
        tx.cancel_job(worker::JOB_KIND, caller.account_id, o.id).await?;
        tx.commit().await?;
        Ok(())
    }
}
