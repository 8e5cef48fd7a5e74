use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::csr::ListCsrRequest;
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "ListCsr", |s, c, p| Box::pin(list_csr(s, c, p)));
}

async fn list_csr(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = ListCsrRequest {
        paging: Some(p.paging(50)?),
        keyword: p.opt_str_max("KeyWord", 256)?,
        algorithm: p.opt_enum("Algorithm", &["RSA", "ECC", "SM2"])?,
    };
    to_body(s.list_csr(caller, req).await?)
}
