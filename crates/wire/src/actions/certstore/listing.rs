use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::certstore::{LIST_CERT_DEFAULT_SHOW_SIZE, ListCertRequest};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "ListCert", |s, c, p| Box::pin(list_cert(s, c, p)));
    r.add("2018-07-13", "DescribeUserCertificateList", |s, c, p| {
        Box::pin(describe_user_certificate_list(s, c, p))
    });
}

async fn list_cert(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = ListCertRequest {
        paging: Some(p.paging(LIST_CERT_DEFAULT_SHOW_SIZE)?),
        keyword: p.opt_str_max("KeyWord", 256)?,
        warehouse_id: p.opt_i64("WarehouseId", 1..=i64::MAX)?,
        status: p.opt_enum("Status", &["ISSUE", "REVOKE"])?,
        source_type: p.opt_enum("SourceType", &["upload", "aliyun"])?,
        cert_type: p.opt_enum("CertType", &["CA", "CERT"])?,
        identifiers: p.comma_list("Identifiers"),
    };
    to_body(s.list_cert(caller, req).await?)
}

async fn describe_user_certificate_list(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let paging = p.paging(50)?;
    to_body(s.describe_user_certificate_list(caller, paging).await?)
}
