//! Reads and deletion of one certificate of the store by its CertId, and `ListCertificates`.

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::certstore::list_certificates::{
    CERTIFICATE_SOURCES, CERTIFICATE_STATUSES, LIST_CERTIFICATES_DEFAULT_SHOW_SIZE, LIST_CERTIFICATES_MAX_SHOW_SIZE,
    ListCertificatesRequest,
};
use opencas_service::{Caller, Paging, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "GetUserCertificateDetail", |s, c, p| {
        Box::pin(get_user_certificate_detail(s, c, p))
    });
    r.add("2018-07-13", "DescribeUserCertificateDetail", |s, c, p| {
        Box::pin(describe_user_certificate_detail(s, c, p))
    });
    r.add("2020-04-07", "GetCertificateDetail", |s, c, p| {
        Box::pin(get_certificate_detail(s, c, p))
    });
    r.add("2020-04-07", "DeleteUserCertificate", |s, c, p| {
        Box::pin(delete_user_certificate(s, c, p))
    });
    r.add("2018-07-13", "DeleteUserCertificate", |s, c, p| {
        Box::pin(delete_user_certificate_2018(s, c, p))
    });
    r.add("2020-04-07", "ListCertificates", |s, c, p| {
        Box::pin(list_certificates(s, c, p))
    });
}

fn required_id(p: &Params, name: &str) -> Result<i64, WireError> {
    p.opt_i64(name, 1..=i64::MAX)?.ok_or_else(|| WireError::missing(name))
}

async fn get_user_certificate_detail(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = required_id(&p, "CertId")?;
    let filter = p.opt_bool("CertFilter")?.unwrap_or(false);
    to_body(s.get_user_certificate_detail(caller, id, filter).await?)
}

async fn describe_user_certificate_detail(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = required_id(&p, "CertId")?;
    to_body(s.describe_user_certificate_detail(caller, id).await?)
}

async fn get_certificate_detail(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = required_id(&p, "CertificateId")?;
    to_body(s.get_certificate_detail(caller, id).await?)
}

async fn delete_user_certificate(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = required_id(&p, "CertId")?;
    let token = p.opt_str_max("ClientToken", 64)?;
    s.delete_user_certificate(caller, id, token).await?;
    Ok(Body::new())
}

/// The 2018-07-13 form: no ClientToken; `SourceIp` and `Lang` are accepted and ignored, as by
/// the other 2018-07-13 actions.
async fn delete_user_certificate_2018(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = required_id(&p, "CertId")?;
    s.delete_user_certificate(caller, id, None).await?;
    Ok(Body::new())
}

async fn list_certificates(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let show_size = p
        .opt_i64("ShowSize", 1..=LIST_CERTIFICATES_MAX_SHOW_SIZE)?
        .unwrap_or(LIST_CERTIFICATES_DEFAULT_SHOW_SIZE);
    let req = ListCertificatesRequest {
        paging: Some(Paging {
            show_size,
            ..p.paging(LIST_CERTIFICATES_DEFAULT_SHOW_SIZE)?
        }),
        source: p.opt_enum("CertificateSource", &CERTIFICATE_SOURCES)?,
        status: p.opt_enum("CertificateStatus", &CERTIFICATE_STATUSES)?,
        keyword: p.opt_str_max("Keyword", 256)?,
        instance_id: p.opt_str_max("InstanceId", 128)?,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
    };
    to_body(s.list_certificates(caller, req).await?)
}
