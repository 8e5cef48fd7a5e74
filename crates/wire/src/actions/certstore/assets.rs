use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "GetAssetCount", |s, c, _| Box::pin(get_asset_count(s, c)));
    r.add("2020-04-07", "GetRiskCount", |s, c, _| Box::pin(get_risk_count(s, c)));
    r.add("2020-04-07", "ListAssetCount", |s, c, p| {
        Box::pin(list_asset_count(s, c, p))
    });
    r.add("2020-04-07", "ShareCertificate", |s, c, p| {
        Box::pin(share_certificate(s, c, p))
    });
}

async fn get_asset_count(s: Service, caller: Caller) -> Result<Body, WireError> {
    to_body(s.get_asset_count(caller).await?)
}

async fn get_risk_count(s: Service, caller: Caller) -> Result<Body, WireError> {
    to_body(s.get_risk_count(caller).await?)
}

/// Seconds from 1970 to 9999-12-31.
const MAX_SECONDS: i64 = 253_402_300_799;

async fn list_asset_count(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let paging = p.paging(50)?;
    let start = p.opt_i64("StartDate", 0..=MAX_SECONDS)?;
    let end = p.opt_i64("EndDate", 0..=MAX_SECONDS)?;
    to_body(s.list_asset_count(caller, paging, start, end).await?)
}

async fn share_certificate(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let certificate_id = p
        .opt_i64("CertificateId", 1..=i64::MAX)?
        .ok_or_else(|| WireError::missing("CertificateId"))?;
    let target = p
        .opt_i64("TargetUserId", 1..=i64::MAX)?
        .ok_or_else(|| WireError::missing("TargetUserId"))?;
    to_body(s.share_certificate(caller, certificate_id, target).await?)
}
