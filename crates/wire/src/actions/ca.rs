use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::ca::{DescribeCaListRequest, Validity};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-06-30", "DescribeCACertificateList", |s, c, p| {
        Box::pin(describe_ca_certificate_list(s, c, p))
    });
}

async fn describe_ca_certificate_list(
    s: Service,
    caller: Caller,
    p: Params,
) -> Result<Body, WireError> {
    let certificate_type = p
        .opt_enum("CertType", &["root", "subRoot", "externalCa"])?
        .map(|t| {
            match t.as_str() {
                "root" => "ROOT",
                "subRoot" => "SUB_ROOT",
                _ => "EXTERNAL",
            }
            .to_owned()
        });
    let validity = p.opt_enum("ValidStatus", &["valid", "notValid"])?.map(|v| {
        if v == "valid" {
            Validity::Valid
        } else {
            Validity::Expired
        }
    });
    let req = DescribeCaListRequest {
        paging: Some(p.paging(20)?),
        identifier: p.opt_str_max("Identifier", 64)?,
        ca_status: p.opt_enum("CaStatus", &["issue", "forbidden", "revoke"])?,
        certificate_type,
        issuer_type: p.opt_enum("IssuerType", &["local", "iTrusChina", "external"])?,
        validity,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
    };
    to_body(s.describe_ca_certificate_list(caller, req).await?)
}
