//! Private CA actions (2020-06-30).

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_pki::{ExtKeyUsage, KeyAlgorithm};
use opencas_service::ca::{
    CaStatusChange, CreateExternalRequest, CreateRootRequest, CreateSubRequest, DescribeCaListRequest,
    PcaAndExternalListRequest, SubjectInput, SubjectOverride, Validity,
};
use opencas_service::{Caller, Service};

const V: &str = "2020-06-30";

pub fn register(r: &mut Registry) {
    r.add(V, "CreateRootCACertificate", |s, c, p| Box::pin(create_root(s, c, p)));
    r.add(V, "CreateSubCACertificate", |s, c, p| Box::pin(create_sub(s, c, p)));
    r.add(V, "CreateExternalCACertificate", |s, c, p| {
        Box::pin(create_external(s, c, p))
    });
    r.add(V, "DescribeCACertificate", |s, c, p| Box::pin(describe(s, c, p)));
    r.add(V, "DescribeCACertificateList", |s, c, p| {
        Box::pin(describe_list(s, c, p))
    });
    r.add(V, "DescribeCACertificateCount", |s, c, _| Box::pin(count(s, c)));
    r.add(V, "DescribePcaAndExternalCACertificateList", |s, c, p| {
        Box::pin(pca_and_external(s, c, p))
    });
    r.add(V, "ListPcaCaCertificate", |s, c, p| Box::pin(list_pca(s, c, p)));
    r.add(V, "GetCAInstanceStatus", |s, c, p| Box::pin(instance_status(s, c, p)));
    r.add(V, "ListCACertificateLog", |s, c, p| Box::pin(logs(s, c, p)));
    r.add(V, "UpdateCACertificateStatus", |s, c, p| {
        Box::pin(update_status(s, c, p))
    });
    r.add(V, "UpdatePcaCertificate", |s, c, p| Box::pin(update_pca(s, c, p)));
    r.add(V, "AssignCertificateCount", |s, c, p| Box::pin(assign_count(s, c, p)));
}

fn algorithm(p: &Params, default: Option<KeyAlgorithm>) -> Result<KeyAlgorithm, WireError> {
    match p.opt_str("Algorithm") {
        None => default.ok_or_else(|| WireError::missing("Algorithm")),
        Some(a) => KeyAlgorithm::from_api(&a).map_err(|_| {
            let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|k| k.as_api()).collect();
            WireError::invalid(
                "Algorithm",
                format!("Algorithm must be one of {}, got '{a}'.", names.join(", ")),
            )
        }),
    }
}

fn subject(p: &Params) -> Result<SubjectInput, WireError> {
    Ok(SubjectInput {
        common_name: p.req_str("CommonName")?,
        organization: p.req_str("Organization")?,
        organization_unit: p.req_str("OrganizationUnit")?,
        locality: p.req_str("Locality")?,
        state: p.req_str("State")?,
        country_code: p.opt_str("CountryCode"),
    })
}

/// A ClientToken: at most 64 ASCII characters, as the API documents.
fn client_token(p: &Params) -> Result<Option<String>, WireError> {
    match p.opt_str("ClientToken") {
        Some(t) if t.len() > 64 || !t.is_ascii() => Err(WireError::invalid(
            "ClientToken",
            "ClientToken must be at most 64 ASCII characters.",
        )),
        other => Ok(other),
    }
}

fn years(p: &Params) -> Result<i64, WireError> {
    p.opt_i64("Years", 5..=10)?.ok_or_else(|| WireError::missing("Years"))
}

async fn create_root(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = CreateRootRequest {
        subject: subject(&p)?,
        algorithm: algorithm(&p, Some(KeyAlgorithm::Rsa2048))?,
        years: years(&p)?,
        client_token: client_token(&p)?,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        tags: p.tags("Tags")?,
    };
    to_body(s.create_root_ca(caller, req).await?)
}

async fn create_sub(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let extended_key_usages = ext_key_usages(&p.list("ExtendedKeyUsages")?)?;
    let enable_crl = p.opt_bool("EnableCrl")?.unwrap_or(false);
    let req = CreateSubRequest {
        parent_identifier: p.opt_str_max("ParentIdentifier", 64)?,
        subject: subject(&p)?,
        algorithm: algorithm(&p, None)?,
        years: years(&p)?,
        path_len: p.opt_i64("PathLenConstraint", 0..=8)?.unwrap_or(0) as u8,
        extended_key_usages,
        cert_max_time_days: p.opt_i64("CertMaxTime", 1..=36_600)?,
        certificate_policies: Vec::new(),
        enable_crl,
        crl_day: p.opt_i64("CrlDay", 1..=365)?.unwrap_or(30),
        client_token: client_token(&p)?,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        tags: p.tags("Tags")?,
    };
    to_body(s.create_sub_ca(caller, req).await?)
}

fn ext_key_usages(names: &[String]) -> Result<Vec<ExtKeyUsage>, WireError> {
    names
        .iter()
        .map(|name| {
            ExtKeyUsage::from_name(name).map_err(|_| {
                WireError::invalid(
                    "ExtendedKeyUsages",
                    format!(
                        "Unknown extended key usage '{name}' (serverAuth, clientAuth, codeSigning, emailProtection, \
                         timeStamping, OCSPSigning)."
                    ),
                )
            })
        })
        .collect()
}

/// `ApiPassthrough`, sent as one JSON string: `{"Subject": {...}, "Extensions": {...}}`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Passthrough {
    subject: Option<PassthroughSubject>,
    extensions: Option<PassthroughExtensions>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PassthroughSubject {
    common_name: Option<String>,
    organization: Option<String>,
    organization_unit: Option<String>,
    locality: Option<String>,
    state: Option<String>,
    country: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PassthroughExtensions {
    extended_key_usages: Option<Vec<String>>,
    path_len_constraint: Option<u8>,
}

async fn create_external(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let passthrough: Passthrough = match p.opt_str("ApiPassthrough") {
        None => Passthrough::default(),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            WireError::invalid(
                "ApiPassthrough",
                format!("ApiPassthrough is not the documented JSON: {e}."),
            )
        })?,
    };
    let extensions = passthrough.extensions;
    let path_len = extensions.as_ref().and_then(|e| e.path_len_constraint);
    if path_len.is_some_and(|n| n > 8) {
        return Err(WireError::invalid(
            "ApiPassthrough",
            "PathLenConstraint must be between 0 and 8.",
        ));
    }
    let extended_key_usages = extensions
        .and_then(|e| e.extended_key_usages)
        .map(|n| ext_key_usages(&n))
        .transpose()?;
    let req = CreateExternalRequest {
        instance_id: p.opt_str_max("InstanceId", 128)?,
        csr: p.req_str("Csr")?,
        subject: passthrough.subject.map(|s| SubjectOverride {
            common_name: s.common_name,
            organization: s.organization,
            organization_unit: s.organization_unit,
            locality: s.locality,
            state: s.state,
            country: s.country,
        }),
        extended_key_usages,
        path_len,
        validity: p.opt_str_max("Validity", 64)?,
        cert_max_time_days: p.opt_i64("CertMaxTime", 1..=36_600)?,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        tags: p.tags("Tags")?,
    };
    to_body(s.create_external_ca(caller, req).await?)
}

async fn describe(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    to_body(s.describe_ca_certificate(caller, &identifier).await?)
}

async fn describe_list(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let certificate_type = p.opt_enum("CertType", &["root", "subRoot", "externalCa"])?.map(|t| {
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
        ca_status: p
            .opt_enum("CaStatus", &["issue", "forbidden", "revoke"])?
            .map(|s| s.to_uppercase()),
        certificate_type,
        issuer_type: p.opt_enum("IssuerType", &["local", "iTrusChina", "external"])?,
        validity,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
    };
    to_body(s.describe_ca_certificate_list(caller, req).await?)
}

async fn count(s: Service, caller: Caller) -> Result<Body, WireError> {
    to_body(s.describe_ca_certificate_count(caller).await?)
}

async fn pca_and_external(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = PcaAndExternalListRequest {
        paging: Some(p.paging(50)?),
        keyword: p.opt_str_max("KeyWord", 256)?,
        identifiers: p.comma_list("Identifiers"),
    };
    to_body(s.describe_pca_and_external_list(caller, req).await?)
}

async fn list_pca(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let max_results = p.opt_i64("MaxResults", 1..=2000)?.unwrap_or(20);
    let next_token = match p.opt_str("NextToken") {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| WireError::invalid("NextToken", "NextToken is not one this service returned."))?,
        ),
    };
    to_body(s.list_pca_ca_certificate(caller, max_results, next_token).await?)
}

async fn instance_status(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.opt_str_max("Identifier", 64)?;
    let instance = p.opt_str_max("InstanceId", 128)?;
    to_body(s.get_ca_instance_status(caller, identifier, instance).await?)
}

async fn logs(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    to_body(s.list_ca_certificate_log(caller, &identifier).await?)
}

async fn update_status(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    client_token(&p)?;
    let change = match p.opt_enum("Status", &["REVOKE", "FORBIDDEN", "ISSUE"])?.as_deref() {
        Some("REVOKE") | None => CaStatusChange::Revoke,
        Some("FORBIDDEN") => CaStatusChange::Disable,
        _ => CaStatusChange::Enable,
    };
    s.update_ca_status(caller, &identifier, change).await?;
    Ok(Body::new())
}

async fn update_pca(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    client_token(&p)?;
    let alias = p.opt_str("AliasName");
    let resource_group_id = p.opt_str_max("ResourceGroupId", 64)?;
    let tags = p.tags("Tags")?;
    let tags = (!tags.is_empty()).then_some(tags);
    s.update_pca_certificate(
        caller,
        &identifier,
        alias.as_deref(),
        resource_group_id.as_deref(),
        tags.as_deref(),
    )
    .await?;
    Ok(Body::new())
}

async fn assign_count(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("CaIdentifier")?;
    let total = p
        .opt_i64("CertTotalCount", 0..=100_000_000)?
        .ok_or_else(|| WireError::missing("CertTotalCount"))?;
    to_body(s.assign_certificate_count(caller, &identifier, total).await?)
}
