use crate::error::WireError;
use crate::params::{MAX_SHOW_SIZE, Params};
use crate::registry::{Body, Registry, to_body};
use opencas_service::certstore::{
    CertListFilter, IssuedKind, LIST_CERT_DEFAULT_SHOW_SIZE, ListCertRequest, PageRequest,
};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "ListCert", |s, c, p| Box::pin(list_cert(s, c, p)));
    r.add("2020-06-30", "ListCert", |s, c, p| Box::pin(list_pca_cert(s, c, p)));
    r.add("2018-07-13", "DescribeUserCertificateList", |s, c, p| {
        Box::pin(describe_user_certificate_list(s, c, p))
    });
}

/// `NextToken`/`MaxResults` when either is given, else `CurrentPage`/`ShowSize`.
pub(crate) fn page_request(p: &Params, default_size: i64) -> Result<PageRequest, WireError> {
    let token = p.opt_str("NextToken");
    let max_results = p.opt_i64("MaxResults", 1..=MAX_SHOW_SIZE)?;
    if token.is_none() && max_results.is_none() {
        return Ok(PageRequest::Numbered(p.paging(default_size)?));
    }
    Ok(PageRequest::Token {
        max_results: max_results.unwrap_or(default_size),
        after: token.map(|t| next_token(&t)).transpose()?,
    })
}

/// Tokens this service hands out are the decimal id of the last item returned.
pub(crate) fn next_token(text: &str) -> Result<i64, WireError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| WireError::invalid("NextToken", "NextToken is not one this service returned."))
}

fn date(p: &Params, name: &str) -> Result<Option<time::Date>, WireError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    p.opt_str(name)
        .map(|v| {
            time::Date::parse(v.trim(), &format)
                .map_err(|_| WireError::invalid(name, format!("{name} must be a date as YYYY-MM-DD.")))
        })
        .transpose()
}

/// The filters of the seed's ListCert, shared by both versions.
fn filter(p: &Params) -> Result<CertListFilter, WireError> {
    let instance_ca = p
        .opt_str_max("InstanceUuid", 128)?
        .map(|u| u.strip_prefix("cas-pca-").map(str::to_owned).unwrap_or(u));
    let parent = p.opt_str_max("ParentIdentifier", 64)?;
    if let (Some(a), Some(b)) = (&instance_ca, &parent)
        && a != b
    {
        return Err(WireError::invalid(
            "InstanceUuid",
            "InstanceUuid and ParentIdentifier name different CAs.",
        ));
    }
    Ok(CertListFilter {
        keyword: p.opt_str_max("KeyWord", 256)?,
        warehouse_id: p.opt_i64("WarehouseId", 1..=i64::MAX)?,
        status: p.opt_enum("Status", &["ISSUE", "REVOKE"])?,
        source_type: p.opt_enum("SourceType", &["upload", "aliyun"])?,
        cert_type: p.opt_enum("CertType", &["CA", "CERT"])?,
        kind: p
            .opt_enum("Type", &["SERVER", "CLIENT", "END_ENTITY"])?
            .and_then(|t| IssuedKind::parse(&t)),
        identifiers: p.comma_list("Identifiers"),
        parent_identifier: parent.or(instance_ca),
        before_date: date(p, "BeforeDate")?,
        after_date: date(p, "AfterDate")?,
    })
}

async fn list_cert(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = ListCertRequest {
        page: page_request(&p, LIST_CERT_DEFAULT_SHOW_SIZE)?,
        filter: filter(&p)?,
    };
    to_body(s.list_cert(caller, req).await?)
}

async fn list_pca_cert(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let page = page_request(&p, 20)?;
    to_body(s.list_pca_cert(caller, page, filter(&p)?).await?)
}

async fn describe_user_certificate_list(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let paging = p.paging(50)?;
    to_body(s.describe_user_certificate_list(caller, paging).await?)
}
