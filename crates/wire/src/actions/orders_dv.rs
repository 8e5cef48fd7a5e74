//! DV orders and packages (2020-04-07) and their 2018-07-13 forms.

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::orders::{
    CreateDvOrderAuditRequest, CreateOrderRequest, OrderKeySource, ValidateType, product_codes,
};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "DescribePackageState", |s, c, p| {
        Box::pin(describe_package_state(s, c, p))
    });
    r.add("2020-04-07", "GetCertificatePackageCount", |s, c, _| {
        Box::pin(async move { to_body(s.get_certificate_package_count(c).await?) })
    });
    r.add("2020-04-07", "CreateCertificateRequest", |s, c, p| {
        Box::pin(create(s, c, p, Form::Generated))
    });
    r.add("2020-04-07", "CreateCertificateWithCsrRequest", |s, c, p| {
        Box::pin(create(s, c, p, Form::WithCsr))
    });
    r.add("2020-04-07", "CreateCertificateForPackageRequest", |s, c, p| {
        Box::pin(create(s, c, p, Form::ForPackage))
    });
    r.add("2020-04-07", "DescribeCertificateState", |s, c, p| {
        Box::pin(async move { to_body(s.describe_certificate_state(c, order_id(&p)?).await?) })
    });
    r.add("2020-04-07", "DeleteCertificateRequest", |s, c, p| {
        Box::pin(async move {
            s.delete_certificate_request(c, order_id(&p)?).await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "CancelCertificateForPackageRequest", |s, c, p| {
        Box::pin(async move {
            s.cancel_certificate_for_package(c, order_id(&p)?).await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "CancelOrderRequest", |s, c, p| {
        Box::pin(async move {
            s.cancel_order_request(c, order_id(&p)?).await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "CancelPendingCertificate", |s, c, p| {
        Box::pin(async move {
            s.cancel_pending_certificate(c, &instance_id(&p)?).await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "RevokeCertificate", |s, c, p| {
        Box::pin(async move {
            let certificate_id = p.opt_i64("CertificateId", 1..=i64::MAX)?;
            s.revoke_instance_certificate(c, &instance_id(&p)?, certificate_id)
                .await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "ApplyCertificate", |s, c, p| {
        Box::pin(async move {
            s.apply_certificate(c, &instance_id(&p)?).await?;
            Ok(Body::new())
        })
    });
    r.add("2020-04-07", "RenewCertificateOrderForPackageRequest", |s, c, p| {
        Box::pin(async move {
            let csr = p.opt_str_max("Csr", 64 * 1024)?;
            to_body(
                s.renew_certificate_order(c, order_id(&p)?, csr, p.tags("Tags")?)
                    .await?,
            )
        })
    });
    r.add("2018-07-13", "CreateDVOrderAudit", |s, c, p| {
        Box::pin(create_dv_order_audit(s, c, p))
    });
    r.add("2018-07-13", "DescribeDVOrderResult", |s, c, p| {
        Box::pin(async move { to_body(s.describe_dv_order_result(c, &instance_id(&p)?).await?) })
    });
    r.add("2018-07-13", "DescribeOrderInstanceList", |s, c, p| {
        Box::pin(async move {
            let start = p.opt_i64("StartIndex", 0..=i64::from(i32::MAX))?.unwrap_or(1);
            to_body(s.describe_order_instance_list(c, start).await?)
        })
    });
}

fn order_id(p: &Params) -> Result<i64, WireError> {
    p.opt_i64("OrderId", 1..=i64::MAX)?
        .ok_or_else(|| WireError::missing("OrderId"))
}

pub(super) fn instance_id(p: &Params) -> Result<String, WireError> {
    let id = p.req_str("InstanceId")?;
    if id.chars().count() > 128 {
        return Err(WireError::invalid(
            "InstanceId",
            "InstanceId must be at most 128 characters.",
        ));
    }
    Ok(id)
}

fn product_code(p: &Params) -> Result<Option<String>, WireError> {
    p.opt_enum("ProductCode", &product_codes())
}

async fn describe_package_state(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    to_body(s.describe_package_state(caller, product_code(&p)?).await?)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Generated,
    WithCsr,
    ForPackage,
}

fn validate_type(p: &Params, name: &str, required: bool) -> Result<ValidateType, WireError> {
    match p.opt_enum(name, &ValidateType::API_VALUES)? {
        Some(v) => Ok(ValidateType::from_api(&v).expect("checked against API_VALUES")),
        None if required => Err(WireError::missing(name)),
        None => Ok(ValidateType::Dns),
    }
}

async fn create(s: Service, caller: Caller, p: Params, form: Form) -> Result<Body, WireError> {
    // The first two actions require the applicant's contact; the package form falls back
    // to none (the real service then uses the account's latest contact).
    let contact = |name: &str, max: usize| -> Result<Option<String>, WireError> {
        let v = p.opt_str_max(name, max)?;
        if v.is_none() && form != Form::ForPackage {
            return Err(WireError::missing(name));
        }
        Ok(v)
    };
    let username = contact("Username", 64)?;
    let email = contact("Email", 128)?;
    let phone = contact("Phone", 32)?;
    let csr = p.opt_str_max("Csr", 64 * 1024)?;
    let key = match (form, csr) {
        (Form::Generated, _) => OrderKeySource::Generate,
        (Form::WithCsr, None) => return Err(WireError::missing("Csr")),
        (_, Some(csr)) => OrderKeySource::Csr(csr),
        (Form::ForPackage, None) => OrderKeySource::Generate,
    };
    let domain = match form {
        Form::Generated => Some(p.req_str("Domain")?),
        Form::WithCsr => None,
        Form::ForPackage => p.opt_str("Domain"),
    };
    if form == Form::ForPackage && domain.is_none() && matches!(key, OrderKeySource::Generate) {
        return Err(WireError::missing("Domain"));
    }
    let req = CreateOrderRequest {
        product_code: product_code(&p)?,
        domain,
        key,
        validate_type: validate_type(&p, "ValidateType", form != Form::ForPackage)?,
        username,
        email,
        phone,
        tags: p.tags("Tags")?,
    };
    to_body(s.create_certificate_order(caller, req).await?)
}

async fn create_dv_order_audit(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = CreateDvOrderAuditRequest {
        instance_id: instance_id(&p)?,
        domain: p.req_str("Domain")?,
        domain_verify_type: validate_type(&p, "DomainVerifyType", true)?,
    };
    s.create_dv_order_audit(caller, req).await?;
    Ok(Body::new())
}
