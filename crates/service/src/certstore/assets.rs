//! Asset and risk counts over the certificate store, computed from the certificates at the
//! moment of the request (nothing is stored), and ShareCertificate.
//!
//! opencas holds no cloud resources, deployments, expiry notices, trustee management or
//! domain monitoring: counts of such resources are 0, and "not deployed / not noticed /
//! not managed / not monitored" counts are every valid certificate or domain concerned.

use crate::{Caller, Paging, Result, Service, ServiceError};
use opencas_store::{CertClassCounts, now_millis};
use serde::Serialize;

/// "Will expire" means within this many days.
pub const WILL_EXPIRE_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
/// The longest ListAssetCount range, in days.
pub const MAX_ASSET_DAYS: i64 = 366;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssetCountResponse {
    pub upload_certificate_count: i64,
    pub buy_certificate_count: i64,
    pub free_certificate_count: i64,
    pub domain_asset_count: i64,
    pub aliyun_asset_count: i64,
    pub aws_asset_count: i64,
    pub huawei_asset_count: i64,
    pub tencent_asset_count: i64,
    /// Health score: the share (percent) of held certificates neither expired nor expiring.
    pub point: i64,
    /// When the score was computed (seconds).
    pub point_time: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RiskCountResponse {
    pub upload_certificate_expire_count: i64,
    pub upload_certificate_will_expired_count: i64,
    pub upload_certificate_not_deployment_count: i64,
    pub upload_certificate_not_notice_count: i64,
    pub buy_certificate_expire_count: i64,
    pub buy_certificate_will_expired_count: i64,
    pub buy_certificate_not_deployment_count: i64,
    pub buy_certificate_not_trustee_count: i64,
    pub buy_checked_fail_count: i64,
    pub free_certificate_expire_count: i64,
    pub free_certificate_will_expired_count: i64,
    pub free_certificate_not_deployment_count: i64,
    pub free_checked_fail_count: i64,
    pub domain_asset_not_monitor_count: i64,
    pub aliyun_asset_certificate_expired_count: i64,
    pub aliyun_asset_certificate_will_expired_count: i64,
    pub multi_cloud_asset_certificate_expired_count: i64,
    pub multi_cloud_asset_certificate_will_expired_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssetCountItem {
    /// The day (UTC midnight, seconds) the counts describe, as of its end.
    pub count_date: i64,
    pub certificate_count: i64,
    pub domain_asset_count: i64,
    pub aliyun_asset_count: i64,
    pub multi_cloud_asset_count: i64,
    /// Share (percent) of the certificates held that day that were valid at its end.
    pub points: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAssetCountResponse {
    pub asset_count_list: Vec<AssetCountItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
pub struct ShareCertificateResponse {}

fn percent(part: i64, whole: i64) -> i64 {
    if whole == 0 { 100 } else { part * 100 / whole }
}

fn at_risk(c: &CertClassCounts) -> i64 {
    c.expired + c.will_expire
}

impl Service {
    pub async fn get_asset_count(&self, caller: Caller) -> Result<AssetCountResponse> {
        let now = now_millis();
        let c = self
            .store
            .certificate_counts(caller.account_id, now, now + WILL_EXPIRE_DAYS * DAY_MS)
            .await?;
        let total = c.upload.total + c.buy.total + c.free.total;
        let risky = at_risk(&c.upload) + at_risk(&c.buy) + at_risk(&c.free);
        Ok(AssetCountResponse {
            upload_certificate_count: c.upload.total,
            buy_certificate_count: c.buy.total,
            free_certificate_count: c.free.total,
            domain_asset_count: c.domains,
            aliyun_asset_count: 0,
            aws_asset_count: 0,
            huawei_asset_count: 0,
            tencent_asset_count: 0,
            point: percent(total - risky, total),
            point_time: now / 1000,
        })
    }

    pub async fn get_risk_count(&self, caller: Caller) -> Result<RiskCountResponse> {
        let now = now_millis();
        let c = self
            .store
            .certificate_counts(caller.account_id, now, now + WILL_EXPIRE_DAYS * DAY_MS)
            .await?;
        Ok(RiskCountResponse {
            upload_certificate_expire_count: c.upload.expired,
            upload_certificate_will_expired_count: c.upload.will_expire,
            upload_certificate_not_deployment_count: c.upload.valid,
            upload_certificate_not_notice_count: c.upload.valid,
            buy_certificate_expire_count: c.buy.expired,
            buy_certificate_will_expired_count: c.buy.will_expire,
            buy_certificate_not_deployment_count: c.buy.valid,
            buy_certificate_not_trustee_count: c.buy.valid,
            buy_checked_fail_count: c.buy_checked_fail,
            free_certificate_expire_count: c.free.expired,
            free_certificate_will_expired_count: c.free.will_expire,
            free_certificate_not_deployment_count: c.free.valid,
            free_checked_fail_count: c.free_checked_fail,
            domain_asset_not_monitor_count: c.domains,
            aliyun_asset_certificate_expired_count: 0,
            aliyun_asset_certificate_will_expired_count: 0,
            multi_cloud_asset_certificate_expired_count: 0,
            multi_cloud_asset_certificate_will_expired_count: 0,
        })
    }

    /// One entry per UTC day from `start_date` to `end_date` (seconds; default the last 7
    /// days), newest first, each as the store stood at the end of that day.
    pub async fn list_asset_count(
        &self,
        caller: Caller,
        paging: Paging,
        start_date: Option<i64>,
        end_date: Option<i64>,
    ) -> Result<ListAssetCountResponse> {
        let now = now_millis();
        let end_day = end_date.map(|s| s * 1000).unwrap_or(now).div_euclid(DAY_MS);
        let start_day = start_date.map(|s| (s * 1000).div_euclid(DAY_MS)).unwrap_or(end_day - 6);
        if start_day > end_day {
            return Err(ServiceError::invalid(
                "StartDate",
                "StartDate must not be after EndDate.",
            ));
        }
        let days = end_day - start_day + 1;
        if days > MAX_ASSET_DAYS {
            return Err(ServiceError::invalid(
                "StartDate",
                format!("The range may span at most {MAX_ASSET_DAYS} days."),
            ));
        }
        let page = paging.page();
        let mut list = Vec::new();
        for i in page.offset..(page.offset + page.limit).min(days) {
            let day = end_day - i;
            let at = ((day + 1) * DAY_MS - 1).min(now);
            let h = self.store.holdings_at(caller.account_id, at).await?;
            list.push(AssetCountItem {
                count_date: day * DAY_MS / 1000,
                certificate_count: h.certificates,
                domain_asset_count: h.domains,
                aliyun_asset_count: 0,
                multi_cloud_asset_count: 0,
                points: percent(h.valid, h.certificates),
            });
        }
        Ok(ListAssetCountResponse {
            asset_count_list: list,
            total_count: days,
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }

    /// Copies a certificate (with its key) into another account on this server. Sharing
    /// the same certificate with the same account again changes nothing.
    pub async fn share_certificate(
        &self,
        caller: Caller,
        certificate_id: i64,
        target_user_id: i64,
    ) -> Result<ShareCertificateResponse> {
        if target_user_id == caller.account_id {
            return Err(ServiceError::invalid(
                "TargetUserId",
                "A certificate cannot be shared with its own account.",
            ));
        }
        let target_active = self
            .store
            .list_accounts()
            .await?
            .iter()
            .any(|a| a.id == target_user_id && a.status == opencas_store::AccountStatus::Active);
        if !target_active {
            return Err(ServiceError::invalid(
                "TargetUserId",
                format!("TargetUserId {target_user_id} is not an active account of this server."),
            ));
        }
        let mut tx = self.store.begin().await?;
        tx.share_certificate(
            caller.account_id,
            certificate_id,
            target_user_id,
            &crate::new_identifier(),
            now_millis(),
        )
        .await
        .map_err(|e| match e {
            opencas_store::StoreError::NotFound => ServiceError::NotFound {
                code: "NotFound.Certificate",
                message: format!("The certificate {certificate_id} does not exist."),
            },
            other => other.into(),
        })?;
        tx.commit().await?;
        Ok(ShareCertificateResponse {})
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages() {
        assert_eq!(super::percent(0, 0), 100);
        assert_eq!(super::percent(1, 3), 33);
        assert_eq!(super::percent(4, 4), 100);
    }
}
