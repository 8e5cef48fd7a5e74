//! Instances of DV orders (2020-04-07): list, detail, summary, update, delete, refund.

use super::orders_dv::instance_id;
use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::orders::{CERTIFICATE_STATUSES, INSTANCE_STATUSES, ListInstancesRequest, UpdateInstanceRequest};
use opencas_service::{Caller, Service};

/// `ListInstances` shows at most this many per page (the SDK's documented maximum).
const MAX_INSTANCE_PAGE: i64 = 100;

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "ListInstances", |s, c, p| Box::pin(list(s, c, p)));
    r.add("2020-04-07", "GetInstanceDetail", |s, c, p| {
        Box::pin(async move { to_body(s.get_instance_detail(c, &instance_id(&p)?).await?) })
    });
    r.add("2020-04-07", "GetInstanceSummary", |s, c, p| {
        Box::pin(async move {
            let test_only = p.opt_enum("InstanceType", &["BUY", "TEST"])?.as_deref() == Some("TEST");
            to_body(s.get_instance_summary(c, test_only).await?)
        })
    });
    r.add("2020-04-07", "UpdateInstance", |s, c, p| Box::pin(update(s, c, p)));
    r.add("2020-04-07", "DeleteInstance", |s, c, p| {
        Box::pin(async move {
            p.opt_str_max("ClientToken", 64)?;
            s.delete_instance(c, &instance_id(&p)?).await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "RefundInstance", |s, c, p| {
        Box::pin(async move {
            s.refund_instance(c, &instance_id(&p)?).await?;
            Ok(Body::new())
        })
    });
}

async fn list(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let paging = p.paging(10)?;
    if paging.show_size > MAX_INSTANCE_PAGE {
        return Err(WireError::invalid("ShowSize", "ShowSize must be between 1 and 100."));
    }
    let req = ListInstancesRequest {
        paging: Some(paging),
        keyword: p.opt_str_max("Keyword", 256)?,
        status: p.opt_enum("Status", &INSTANCE_STATUSES)?,
        certificate_status: p.opt_enum("CertificateStatus", &CERTIFICATE_STATUSES)?,
        instance_type: p.opt_enum("InstanceType", &["BUY", "TEST"])?,
        certificate_type: p.opt_enum("CertificateType", &["DV", "OV", "EV"])?,
        brand: p.opt_str_max("Brand", 64)?,
        auto_reissue_flag: p.opt_i64("AutoReissueFlag", 0..=1)?,
    };
    to_body(s.list_instances(caller, req).await?)
}

async fn update(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    // Re-keying an instance (new names, CSR or algorithm) is a new order here, not an update.
    for name in ["Domain", "Csr", "KeyAlgorithm", "GenerateCsrMethod", "CompanyId"] {
        if p.opt_str(name).is_some() {
            return Err(WireError::invalid(
                name,
                format!("{name} cannot be changed on a DV instance; make a new certificate request instead."),
            ));
        }
    }
    let name = p.opt_str_max("CertificateName", 64)?;
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(WireError::invalid(
            "CertificateName",
            "CertificateName cannot be blank.",
        ));
    }
    let req = UpdateInstanceRequest {
        instance_id: instance_id(&p)?,
        certificate_name: name,
        auto_reissue: p
            .opt_enum("AutoReissue", &["enable", "disable"])?
            .map(|v| v == "enable"),
        validation_method: p.opt_enum("ValidationMethod", &["DNS", "HTTP"])?,
    };
    s.update_instance(caller, req).await?;
    Ok(Body::new())
}
