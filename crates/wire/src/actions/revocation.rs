//! Revocation actions (2020-06-30, and RevokeWHClientCertificate of 2020-04-07).

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::{Caller, Service};

const V: &str = "2020-06-30";

pub fn register(r: &mut Registry) {
    r.add(V, "CreateRevokeClientCertificate", |s, c, p| Box::pin(revoke(s, c, p)));
    r.add("2020-04-07", "RevokeWHClientCertificate", |s, c, p| {
        Box::pin(revoke(s, c, p))
    });
    r.add(V, "ListRevokeCertificate", |s, c, p| Box::pin(list(s, c, p)));
    r.add(V, "GetCaInstanceCrlAddress", |s, c, p| Box::pin(crl_address(s, c, p)));
}

async fn revoke(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    s.revoke_certificate(caller, &identifier).await?;
    Ok(Body::new())
}

async fn list(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    to_body(s.list_revoked_certificates(caller, p.paging(20)?).await?)
}

async fn crl_address(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("CaIdentifier")?;
    to_body(s.ca_crl_address(caller, &identifier).await?)
}
