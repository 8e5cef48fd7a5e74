//! Certificate packages: granted by the operator, counted by the orders made against them.
//! `TotalCount` is what was granted; `UsedCount` every request made, issued or not
//! (seed 002), until a failed request is deleted; `IssuedCount` the certificates issued.

use super::{DEFAULT_PRODUCT, product_or_invalid};
use crate::{Result, Service, ServiceError};
use opencas_store::{PackageRecord, now_millis};
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribePackageStateResponse {
    pub product_code: String,
    pub total_count: i64,
    pub used_count: i64,
    pub issued_count: i64,
}

/// `GetCertificatePackageCount`: each detail is a JSON document in a string, as the SDK's
/// model types them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PackageCountResponse {
    pub product_count_list: String,
    pub total_count_detail: String,
    pub trustee_count_detail: String,
    pub notice_count_detail: String,
    pub proxy_count_detail: String,
}

impl Service {
    /// Operator CLI: adds `count` certificates of `product_code` to an account's package.
    pub async fn grant_package(&self, account_id: i64, product_code: &str, count: i64) -> Result<PackageRecord> {
        product_or_invalid(product_code)?;
        if !(1..=1_000_000).contains(&count) {
            return Err(ServiceError::invalid(
                "Count",
                "The count must be between 1 and 1000000.",
            ));
        }
        let known = self.store.list_accounts().await?.iter().any(|a| a.id == account_id);
        if !known {
            return Err(ServiceError::NotFound {
                code: "NotFound.Account",
                message: format!("The account {account_id} does not exist."),
            });
        }
        let mut tx = self.store.begin().await?;
        tx.grant_package(account_id, product_code, count, now_millis()).await?;
        tx.commit().await?;
        self.store
            .find_package(account_id, product_code)
            .await?
            .ok_or_else(|| ServiceError::Internal("the granted package is gone".into()))
    }

    pub async fn list_packages(&self, account_id: Option<i64>) -> Result<Vec<PackageRecord>> {
        Ok(self.store.list_packages(account_id).await?)
    }

    pub async fn describe_package_state(
        &self,
        caller: crate::Caller,
        product_code: Option<String>,
    ) -> Result<DescribePackageStateResponse> {
        let code = product_code.unwrap_or_else(|| DEFAULT_PRODUCT.to_owned());
        product_or_invalid(&code)?;
        let p = self.store.find_package(caller.account_id, &code).await?;
        Ok(DescribePackageStateResponse {
            total_count: p.as_ref().map_or(0, |p| p.total_count),
            used_count: p.as_ref().map_or(0, |p| p.used_count),
            issued_count: p.as_ref().map_or(0, |p| p.issued_count),
            product_code: code,
        })
    }

    pub async fn get_certificate_package_count(&self, caller: crate::Caller) -> Result<PackageCountResponse> {
        let packages = self.store.list_packages(Some(caller.account_id)).await?;
        let products: Vec<serde_json::Value> = packages
            .iter()
            .map(|p| {
                serde_json::json!({
                    "ProductCode": p.product_code,
                    "TotalCount": p.total_count,
                    "UsedCount": p.used_count,
                    "IssuedCount": p.issued_count,
                    "RemainCount": p.total_count - p.used_count,
                })
            })
            .collect();
        let total: i64 = packages.iter().map(|p| p.total_count).sum();
        let used: i64 = packages.iter().map(|p| p.used_count).sum();
        let zero = serde_json::json!({ "TotalCount": 0, "UsedCount": 0 }).to_string();
        Ok(PackageCountResponse {
            product_count_list: serde_json::Value::Array(products).to_string(),
            total_count_detail: serde_json::json!({ "TotalCount": total, "UsedCount": used }).to_string(),
            trustee_count_detail: zero.clone(),
            notice_count_detail: zero.clone(),
            proxy_count_detail: zero,
        })
    }
}
