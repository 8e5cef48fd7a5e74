//! `ListCertificates` (2020-04-07): the certificates of the SSL certificate store.

use super::details::{CertificateSummary, DAY_MS, WILL_EXPIRE_DAYS, summary};
use crate::{Caller, Paging, Result, Service};
use opencas_store::{CertFilter, now_millis};
use serde::Serialize;

pub const LIST_CERTIFICATES_DEFAULT_SHOW_SIZE: i64 = 10;
pub const LIST_CERTIFICATES_MAX_SHOW_SIZE: i64 = 100;
pub const CERTIFICATE_SOURCES: [&str; 3] = ["BUY", "TEST", "UPLOAD"];
pub const CERTIFICATE_STATUSES: [&str; 4] = ["issued", "revoked", "willExpire", "expired"];

#[derive(Debug, Clone, Default)]
pub struct ListCertificatesRequest {
    pub paging: Option<Paging>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub keyword: Option<String>,
    pub instance_id: Option<String>,
    pub resource_group_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCertificatesResponse {
    pub certificate_list: Vec<CertificateSummary>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

/// The Identifier inside an instance id (`cas-upload-<Identifier>`, `cas-pca-<Identifier>`).
fn identifier_of_instance(instance: &str) -> Option<&str> {
    let rest = instance
        .strip_prefix("cas-upload-")
        .or_else(|| instance.strip_prefix("cas-pca-"))?;
    (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())).then_some(rest)
}

/// The filter for a request, or `None` when nothing can match (TEST certificates are never
/// stored here; an instance id of another shape names nothing).
fn filter_of(req: &ListCertificatesRequest, now: i64) -> Option<CertFilter> {
    let will_expire = now + WILL_EXPIRE_DAYS * DAY_MS;
    let mut f = CertFilter {
        cert_store_only: true,
        resource_group_id: req.resource_group_id.clone(),
        ..Default::default()
    };
    match req.source.as_deref() {
        Some("UPLOAD") => f.source_type = Some("upload".into()),
        Some("BUY") => f.source_type = Some("aliyun".into()),
        Some(_) => return None,
        None => {}
    }
    match req.status.as_deref() {
        Some("issued") => (f.status, f.not_after_from) = (Some("ISSUE".into()), Some(will_expire)),
        Some("willExpire") => {
            f.status = Some("ISSUE".into());
            (f.not_after_from, f.not_after_to) = (Some(now), Some(will_expire));
        }
        Some("expired") => (f.status, f.not_after_to) = (Some("ISSUE".into()), Some(now)),
        Some("revoked") => f.status = Some("REVOKE".into()),
        _ => {}
    }
    if let Some(instance) = &req.instance_id {
        f.identifiers = vec![identifier_of_instance(instance)?.to_owned()];
    }
    // a resource id as keyword finds its certificate; anything else is matched against names
    match req.keyword.as_deref().map(str::trim) {
        Some(k) if identifier_of_instance(k).is_some() => {
            f.identifiers.push(identifier_of_instance(k)?.to_owned());
        }
        Some(k) if !k.is_empty() => f.keyword = Some(k.to_owned()),
        _ => {}
    }
    Some(f)
}

impl Service {
    pub async fn list_certificates(
        &self,
        caller: Caller,
        req: ListCertificatesRequest,
    ) -> Result<ListCertificatesResponse> {
        let paging = req.paging.unwrap_or(Paging {
            current_page: 1,
            show_size: LIST_CERTIFICATES_DEFAULT_SHOW_SIZE,
        });
        let now = now_millis();
        let (rows, total) = match filter_of(&req, now) {
            Some(f) => {
                self.store
                    .list_certificates(caller.account_id, &f, paging.page())
                    .await?
            }
            None => (Vec::new(), 0),
        };
        Ok(ListCertificatesResponse {
            certificate_list: rows.iter().map(|r| summary(r, now)).collect(),
            total_count: total,
            current_page: paging.current_page,
            show_size: paging.show_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_and_filters() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(identifier_of_instance(&format!("cas-upload-{id}")), Some(id));
        assert_eq!(identifier_of_instance(&format!("cas-pca-{id}")), Some(id));
        assert_eq!(identifier_of_instance("cas-upload-xyz"), None);
        let req = |source: Option<&str>, status: Option<&str>| ListCertificatesRequest {
            source: source.map(Into::into),
            status: status.map(Into::into),
            ..Default::default()
        };
        assert!(filter_of(&req(Some("TEST"), None), 0).is_none());
        let f = filter_of(&req(Some("UPLOAD"), Some("expired")), 1000).unwrap();
        assert_eq!(f.source_type.as_deref(), Some("upload"));
        assert_eq!(f.not_after_to, Some(1000));
        assert!(f.cert_store_only);
        let f = filter_of(&req(None, Some("revoked")), 0).unwrap();
        assert_eq!(f.status.as_deref(), Some("REVOKE"));
        let mut r = req(None, None);
        r.keyword = Some(format!("cas-upload-{id}"));
        assert_eq!(filter_of(&r, 0).unwrap().identifiers, vec![id.to_owned()]);
    }
}
