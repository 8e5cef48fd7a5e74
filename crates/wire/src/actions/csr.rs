//! CSR management actions of the SSL certificate service (2020-04-07).

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::csr::{CreateCsrRequest, ListCsrRequest, UploadCsrRequest};
use opencas_service::{Caller, Service};

const V: &str = "2020-04-07";

pub fn register(r: &mut Registry) {
    r.add(V, "CreateCsr", |s, c, p| Box::pin(create_csr(s, c, p)));
    r.add(V, "UploadCsr", |s, c, p| Box::pin(upload_csr(s, c, p)));
    r.add(V, "ListCsr", |s, c, p| Box::pin(list_csr(s, c, p)));
    r.add(V, "GetCsrDetail", |s, c, p| Box::pin(get_csr_detail(s, c, p)));
    r.add(V, "UpdateCsr", |s, c, p| Box::pin(update_csr(s, c, p)));
    r.add(V, "DeleteCsr", |s, c, p| Box::pin(delete_csr(s, c, p)));
}

fn csr_id(p: &Params) -> Result<i64, WireError> {
    p.opt_i64("CsrId", 1..=i64::MAX)?
        .ok_or_else(|| WireError::missing("CsrId"))
}

async fn create_csr(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = CreateCsrRequest {
        algorithm: p.req_str("Algorithm")?,
        key_size: p
            .opt_i64("KeySize", 1..=i64::from(u16::MAX))?
            .ok_or_else(|| WireError::missing("KeySize"))?,
        common_name: p.req_str("CommonName")?,
        sans: p.opt_str("Sans"),
        country_code: p.req_str("CountryCode")?,
        province: p.req_str("Province")?,
        locality: p.req_str("Locality")?,
        corp_name: p.opt_str("CorpName"),
        department: p.opt_str("Department"),
        name: p.opt_str("Name"),
    };
    to_body(s.create_csr(caller, req).await?)
}

async fn upload_csr(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = UploadCsrRequest {
        csr: p.req_str("Csr")?,
        key: p.opt_str("Key"),
        name: p.opt_str("Name"),
    };
    to_body(s.upload_csr(caller, req).await?)
}

async fn list_csr(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = ListCsrRequest {
        paging: Some(p.paging(50)?),
        keyword: p.opt_str_max("KeyWord", 256)?,
        algorithm: p.opt_enum("Algorithm", &["RSA", "ECC", "SM2"])?,
    };
    to_body(s.list_csr(caller, req).await?)
}

async fn get_csr_detail(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    to_body(s.get_csr_detail(caller, csr_id(&p)?).await?)
}

async fn update_csr(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = csr_id(&p)?;
    s.update_csr(caller, id, &p.req_str("Key")?).await?;
    Ok(Body::new())
}

async fn delete_csr(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    s.delete_csr(caller, csr_id(&p)?).await?;
    Ok(Body::new())
}
