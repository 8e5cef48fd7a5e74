//! End-entity certificate actions of the private CA (2020-06-30), and
//! `CreateWHClientCertificate` of the SSL certificate service (2020-04-07).

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_pki::{ExtKeyUsage, KeyAlgorithm, KeyUsageFlags};
use opencas_service::audit::EffectAudit;
use opencas_service::issuance::{
    CertKind, CustomProfile, IssueRequest, KeySource, LeafSubjectInput, MAX_BATCH, SanInput, ValidityInput, WH_ACTION,
};
use opencas_service::{Caller, Service};

const V: &str = "2020-06-30";
/// Unix seconds up to the year 9999.
const MAX_UNIX: i64 = 253_402_300_799;

pub fn register(r: &mut Registry) {
    // the issuance actions' only effect is the certificate: it carries the call's records
    r.add_recording(V, "CreateServerCertificate", |s, c, p, a| {
        Box::pin(issue(s, c, p, a, Kind::ServerKey))
    });
    r.add_recording(V, "CreateServerCertificateWithCsr", |s, c, p, a| {
        Box::pin(issue(s, c, p, a, Kind::ServerCsr))
    });
    r.add_recording(V, "CreateClientCertificate", |s, c, p, a| {
        Box::pin(issue(s, c, p, a, Kind::ClientKey))
    });
    r.add_recording(V, "CreateClientCertificateWithCsr", |s, c, p, a| {
        Box::pin(issue(s, c, p, a, Kind::ClientCsr))
    });
    r.add_recording(V, "CreateCustomCertificate", |s, c, p, a| {
        Box::pin(issue_custom(s, c, p, a))
    });
    r.add(V, "ListAllEndEntityInstance", |s, c, p| {
        Box::pin(end_entity_instances(s, c, p))
    });
    r.add_recording("2020-04-07", "CreateWHClientCertificate", |s, c, p, a| {
        Box::pin(issue_wh(s, c, p, a))
    });
    r.add(V, "DescribeClientCertificate", |s, c, p| Box::pin(describe(s, c, p)));
    r.add(V, "DescribeClientCertificateForSerialNumber", |s, c, p| {
        Box::pin(describe_by_serial(s, c, p))
    });
    r.add(V, "ListClientCertificate", |s, c, p| Box::pin(list(s, c, p)));
    r.add(V, "DescribeClientCertificateStatus", |s, c, p| {
        Box::pin(status(s, c, p))
    });
    r.add(V, "DescribeClientCertificateStatusForSerialNumber", |s, c, p| {
        Box::pin(status_by_serial(s, c, p))
    });
    r.add(V, "DeleteClientCertificate", |s, c, p| Box::pin(delete(s, c, p)));
    r.add(V, "DescribeCertificatePrivateKey", |s, c, p| {
        Box::pin(private_key(s, c, p))
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ServerKey,
    ServerCsr,
    ClientKey,
    ClientCsr,
}

fn algorithm(p: &Params) -> Result<Option<KeyAlgorithm>, WireError> {
    p.opt_str("Algorithm")
        .map(|a| {
            KeyAlgorithm::from_api(&a).map_err(|_| {
                let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|k| k.as_api()).collect();
                WireError::invalid(
                    "Algorithm",
                    format!("Algorithm must be one of {}, got '{a}'.", names.join(", ")),
                )
            })
        })
        .transpose()
}

fn flag01(p: &Params, name: &str) -> Result<bool, WireError> {
    Ok(p.opt_i64(name, 0..=1)?.unwrap_or(0) == 1)
}

/// Everything the four create actions (and the WH variant) share.
fn issue_request(p: &Params, kind: Kind, action: &'static str) -> Result<IssueRequest, WireError> {
    let algorithm = algorithm(p)?;
    let key = match kind {
        Kind::ServerCsr | Kind::ClientCsr => KeySource::Csr {
            pem: p.req_str("Csr")?,
            algorithm,
        },
        Kind::ServerKey => KeySource::Generate(Some(algorithm.ok_or_else(|| WireError::missing("Algorithm"))?)),
        Kind::ClientKey => KeySource::Generate(algorithm),
    };
    let server = matches!(kind, Kind::ServerKey | Kind::ServerCsr);
    let common_name = if kind == Kind::ServerKey {
        Some(p.req_str("CommonName")?)
    } else {
        p.opt_str("CommonName")
    };
    let sans = if server {
        let domains = p.comma_list("Domain");
        if domains.is_empty() {
            SanInput::None
        } else {
            SanInput::Domains(domains)
        }
    } else {
        match p.opt_i64("SanType", 0..=8)? {
            None if p.opt_str("SanValue").is_some() => return Err(WireError::missing("SanType")),
            None => SanInput::None,
            Some(t) => {
                let values = p.comma_list("SanValue");
                if values.is_empty() {
                    return Err(WireError::missing("SanValue"));
                }
                SanInput::Typed {
                    san_type: t as u8,
                    values,
                }
            }
        }
    };
    let client_token = match p.opt_str("ClientToken") {
        Some(t) if t.len() > 64 || !t.is_ascii() => {
            return Err(WireError::invalid(
                "ClientToken",
                "ClientToken must be at most 64 ASCII characters.",
            ));
        }
        other => other,
    };
    // AsynchronousFlag: issuance is quick and durable before the response either way; an
    // asynchronous caller gets the identifier only and fetches the certificate later.
    let asynchronous = p.opt_bool("AsynchronousFlag")?.unwrap_or(false);
    let immediately = p.opt_i64("Immediately", 0..=2)?.unwrap_or(0) as u8;
    Ok(IssueRequest {
        action,
        kind: if server { CertKind::Server } else { CertKind::Client },
        parent_identifier: p.req_str("ParentIdentifier")?,
        key,
        subject: LeafSubjectInput {
            common_name,
            organization: p.opt_str("Organization"),
            organization_unit: p.opt_str("OrganizationUnit"),
            locality: p.opt_str("Locality"),
            state: p.opt_str("State"),
            country: p.opt_str("Country"),
        },
        sans,
        validity: ValidityInput {
            days: p.opt_i64("Days", 1..=36_500)?,
            before_time: p.opt_i64("BeforeTime", 0..=MAX_UNIX)?,
            after_time: p.opt_i64("AfterTime", 0..=MAX_UNIX)?,
            years: p.opt_i64("Years", 1..=100)?,
            months: p.opt_i64("Months", 1..=1200)?,
        },
        enable_crl: flag01(p, "EnableCrl")?,
        immediately: if asynchronous { 0 } else { immediately },
        custom_identifier: p.opt_str_max("CustomIdentifier", 64)?,
        alias_name: p.opt_str_max("AliasName", 128)?,
        client_token,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        tags: p.tags("Tags")?,
        custom: None,
        audit: None,
    })
}

async fn issue(
    s: Service,
    caller: Caller,
    p: Params,
    audit: Option<EffectAudit>,
    kind: Kind,
) -> Result<Body, WireError> {
    let action = match kind {
        Kind::ServerKey => "CreateServerCertificate",
        Kind::ServerCsr => "CreateServerCertificateWithCsr",
        Kind::ClientKey => "CreateClientCertificate",
        Kind::ClientCsr => "CreateClientCertificateWithCsr",
    };
    let req = IssueRequest {
        audit,
        ..issue_request(&p, kind, action)?
    };
    to_body(s.issue_certificate(caller, req).await?)
}

async fn issue_wh(s: Service, caller: Caller, p: Params, audit: Option<EffectAudit>) -> Result<Body, WireError> {
    let kind = if p.opt_str("Csr").is_some() {
        Kind::ClientCsr
    } else {
        Kind::ClientKey
    };
    let req = IssueRequest {
        audit,
        ..issue_request(&p, kind, WH_ACTION)?
    };
    to_body(s.issue_wh_client_certificate(caller, req).await?)
}

const PT: &str = "ApiPassthrough";

/// The `KeyUsage` booleans of ApiPassthrough.Extensions.
const KEY_USAGE_BITS: [(&str, KeyUsageFlags); 9] = [
    ("DigitalSignature", KeyUsageFlags::DIGITAL_SIGNATURE),
    ("ContentCommitment", KeyUsageFlags::CONTENT_COMMITMENT),
    ("NonRepudiation", KeyUsageFlags::CONTENT_COMMITMENT),
    ("KeyEncipherment", KeyUsageFlags::KEY_ENCIPHERMENT),
    ("DataEncipherment", KeyUsageFlags::DATA_ENCIPHERMENT),
    ("KeyAgreement", KeyUsageFlags::KEY_AGREEMENT),
    ("EncipherOnly", KeyUsageFlags::ENCIPHER_ONLY),
    ("DecipherOnly", KeyUsageFlags::DECIPHER_ONLY),
    ("CertSign", KeyUsageFlags::KEY_CERT_SIGN),
];

/// `CreateCustomCertificate`: subject, usages, names and serial from the flattened
/// `ApiPassthrough` object.
async fn issue_custom(s: Service, caller: Caller, p: Params, audit: Option<EffectAudit>) -> Result<Body, WireError> {
    let mut key_usage = KeyUsageFlags::empty();
    for (name, bit) in KEY_USAGE_BITS {
        if p.opt_bool(&format!("{PT}.Extensions.KeyUsage.{name}"))?
            .unwrap_or(false)
        {
            key_usage |= bit;
        }
    }
    let extended_key_usages = p
        .list(&format!("{PT}.Extensions.ExtendedKeyUsages"))?
        .iter()
        .map(|n| {
            ExtKeyUsage::from_name(n).map_err(|_| WireError::invalid(PT, format!("Unknown extended key usage '{n}'.")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let serial = match p.opt_str(&format!("{PT}.SerialNumber")) {
        None => None,
        Some(v) => Some(v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            WireError::invalid(
                "ApiPassthrough.SerialNumber",
                "SerialNumber must be a positive long integer.",
            )
        })?),
    };
    let subject = |f: &str| p.opt_str(&format!("{PT}.Subject.{f}"));
    let immediately = p.opt_i64("Immediately", 0..=2)?.unwrap_or(0) as u8;
    let req = IssueRequest {
        action: "CreateCustomCertificate",
        kind: CertKind::Custom,
        parent_identifier: p.req_str("ParentIdentifier")?,
        key: KeySource::Csr {
            pem: p.req_str("Csr")?,
            algorithm: None,
        },
        subject: LeafSubjectInput {
            common_name: subject("CommonName"),
            organization: subject("Organization"),
            organization_unit: subject("OrganizationUnit"),
            locality: subject("Locality"),
            state: subject("State"),
            country: subject("Country"),
        },
        sans: SanInput::Named(p.pairs(&format!("{PT}.Extensions.SubjectAlternativeNames"), "Type", "Value")?),
        validity: ValidityInput::default(),
        enable_crl: flag01(&p, "EnableCrl")?,
        immediately,
        custom_identifier: p
            .opt_str_max("customIdentifier", 64)?
            .or(p.opt_str_max("CustomIdentifier", 64)?),
        alias_name: None,
        client_token: None,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        tags: p.tags("Tags")?,
        custom: Some(CustomProfile {
            key_usage,
            extended_key_usages,
            sans: Vec::new(),
            extra_subject_attributes: p.pairs(
                &format!("{PT}.Subject.CustomAttributes"),
                "ObjectIdentifier",
                "Value",
            )?,
            serial,
            criticals: p.list(&format!("{PT}.Extensions.Criticals"))?,
            validity: p.req_str("Validity")?,
        }),
        audit,
    };
    let mut body = to_body(s.issue_certificate(caller, req).await?)?.into_fields();
    // This action names the certificate `Certificate` where its siblings say `X509Certificate`.
    if let Some(cert) = body.remove("X509Certificate") {
        body.insert("Certificate".into(), cert);
    }
    Ok(body.into())
}

async fn end_entity_instances(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let mut paging = p.paging(20)?;
    if let Some(max) = p.opt_i64("MaxResults", 1..=1000)? {
        paging.show_size = max;
    }
    let parent_id = p.opt_i64("ParentId", 1..=i64::MAX)?;
    to_body(s.list_end_entity_instances(caller, paging, parent_id).await?)
}

async fn describe(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    to_body(s.describe_client_certificate(caller, &identifier).await?)
}

fn batch(p: &Params, name: &str) -> Result<Vec<String>, WireError> {
    let list = p.comma_list(name);
    if list.is_empty() {
        return Err(WireError::missing(name));
    }
    if list.len() > MAX_BATCH {
        return Err(WireError::invalid(
            name,
            format!("At most {MAX_BATCH} values per call."),
        ));
    }
    Ok(list)
}

async fn describe_by_serial(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let serials = batch(&p, "SerialNumber")?;
    to_body(s.describe_client_certificates_by_serial(caller, &serials).await?)
}

async fn list(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let paging = p.paging(20)?;
    let identifier = p.opt_str_max("Identifier", 64)?;
    let resource_group_id = p.opt_str_max("ResourceGroupId", 64)?;
    to_body(
        s.list_client_certificates(caller, paging, identifier, resource_group_id)
            .await?,
    )
}

async fn status(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifiers = batch(&p, "Identifier")?;
    to_body(s.client_certificate_status(caller, &identifiers).await?)
}

async fn status_by_serial(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let serials = batch(&p, "SerialNumber")?;
    to_body(s.client_certificate_status_by_serial(caller, &serials).await?)
}

async fn delete(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    s.delete_client_certificate(caller, &identifier).await?;
    Ok(Body::new())
}

async fn private_key(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p.req_str("Identifier")?;
    let password = p.req_str("EncryptedCode")?;
    to_body(
        s.describe_certificate_private_key(caller, &identifier, password)
            .await?,
    )
}
