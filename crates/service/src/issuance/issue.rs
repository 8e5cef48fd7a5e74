//! Issuing one end-entity certificate: bind the key (generated or from a CSR), the subject
//! and the SANs, check the issuing sub CA and the validity, sign off the async workers,
//! then store the certificate and take one unit of quota in one transaction.

use super::{CertKind, TAG_RESOURCE_TYPE, ValidityInput};
use crate::audit::EffectAudit;
use crate::ca::{SUB_ROOT, ca_not_found, day, ensure_usable};
use crate::{Caller, Result, Service, ServiceError, blocking, tags};
use opencas_pki::{
    CertInfo, CertValidity, Criticals, CsrPolicy, ExtKeyUsage, KeyAlgorithm, KeyUsageFlags, LeafKind, LeafProfile,
    ParsedCsr, San, SubjectFields, build_leaf_described, os_rng, pem,
};
use opencas_store::{CaRecord, CertRecord, IssuedWrite, StoreError, now_millis};
use serde::Serialize;
use std::sync::Arc;

/// Where the certificate's key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Generated here in this algorithm (default: the issuing CA's); the service keeps
    /// the private key.
    Generate(Option<KeyAlgorithm>),
    /// The requester's CSR (PEM). `algorithm` is what the caller declared, if anything:
    /// only an explicit `RSA_1024` admits a 1024-bit RSA key.
    Csr {
        pem: String,
        algorithm: Option<KeyAlgorithm>,
    },
}

/// Subject attributes as requested; what is missing comes from the CSR, then the CA.
#[derive(Debug, Clone, Default)]
pub struct LeafSubjectInput {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organization_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

impl LeafSubjectInput {
    fn has_any(&self) -> bool {
        [
            &self.common_name,
            &self.organization,
            &self.organization_unit,
            &self.locality,
            &self.state,
            &self.country,
        ]
        .iter()
        .any(|f| f.is_some())
    }
}

/// Subject alternative names as the API spells them.
#[derive(Debug, Clone, Default)]
pub enum SanInput {
    #[default]
    None,
    /// Server certificates: `Domain`, DNS names and IP addresses.
    Domains(Vec<String>),
    /// Client certificates: `SanType` 1 (email), 2 (DNS), 6 (URI), 7 (IP) and `SanValue`.
    Typed { san_type: u8, values: Vec<String> },
    /// Custom certificates: `(Type, Value)` with the X.509 type names (rfc822Name, dNSName,
    /// uniformResourceIdentifier, iPAddress).
    Named(Vec<(String, String)>),
}

/// What `CreateCustomCertificate`'s ApiPassthrough chooses.
#[derive(Debug, Clone, Default)]
pub struct CustomProfile {
    /// KeyUsage bits; empty means digitalSignature.
    pub key_usage: KeyUsageFlags,
    pub extended_key_usages: Vec<ExtKeyUsage>,
    /// `(Type, Value)`: rfc822Name, dNSName, uniformResourceIdentifier, iPAddress.
    pub sans: Vec<(String, String)>,
    /// `(dotted OID, value)` subject attributes beyond the standard six.
    pub extra_subject_attributes: Vec<(String, String)>,
    pub serial: Option<u64>,
    /// Names of the extensions to mark critical.
    pub criticals: Vec<String>,
    /// `Validity`: replaces the Days/BeforeTime/AfterTime/Years/Months forms.
    pub validity: String,
}

#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The action, for ClientToken bookkeeping.
    pub action: &'static str,
    pub kind: CertKind,
    pub parent_identifier: String,
    pub key: KeySource,
    pub subject: LeafSubjectInput,
    pub sans: SanInput,
    pub validity: ValidityInput,
    pub enable_crl: bool,
    /// 0: return nothing, 1: the certificate, 2: the certificate and its chain.
    pub immediately: u8,
    pub custom_identifier: Option<String>,
    pub alias_name: Option<String>,
    pub client_token: Option<String>,
    pub resource_group_id: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Set for `CertKind::Custom` only.
    pub custom: Option<CustomProfile>,
    /// The call's records, written with the certificate (only where `Service::records_effects`).
    pub audit: Option<EffectAudit>,
}

pub const WH_ACTION: &str = "CreateWHClientCertificate";

/// `CreateWHClientCertificate` (2020-04-07): the certificate with its issuer and root.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WhIssueResponse {
    pub identifier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x509_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_chain: Option<String>,
    pub parent_x509_certificate: String,
    pub root_x509_certificate: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IssueResponse {
    pub identifier: String,
    pub serial_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x509_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_chain: Option<String>,
}

fn pki_error(e: opencas_pki::Error) -> ServiceError {
    use opencas_pki::Error as E;
    match e {
        E::MalformedCsr(m) | E::Pem(m) => ServiceError::invalid("Csr", format!("The CSR cannot be parsed: {m}.")),
        E::BadSignature => ServiceError::invalid("Csr", "The CSR's signature does not verify."),
        E::UnsupportedKey(m) => ServiceError::invalid("Csr", format!("The CSR's key is not accepted: {m}.")),
        E::InvalidSan(m) => ServiceError::invalid("SanValue", m),
        E::InvalidSubject(m) => ServiceError::invalid("CommonName", m),
        E::InvalidCountryCode(c) => ServiceError::invalid("Country", format!("{c} is not an ISO 3166-1 alpha-2 code.")),
        E::ValidityOutsideIssuer => ServiceError::invalid("Days", "The validity lies outside the issuing CA's."),
        E::InvalidExtension(m) => ServiceError::invalid("ApiPassthrough", m),
        E::InvalidSerial(m) => ServiceError::invalid("ApiPassthrough.SerialNumber", m),
        other => ServiceError::Internal(format!("pki: {other}")),
    }
}

fn response(c: &CertRecord, immediately: u8) -> IssueResponse {
    let cert = pem::cert_der_to_pem(&c.cert_der);
    IssueResponse {
        identifier: c.identifier.clone(),
        serial_number: c.serial_no.clone(),
        certificate_chain: (immediately >= 2).then(|| c.chain_pem.clone()),
        x509_certificate: (immediately >= 1).then_some(cert),
    }
}

/// The SANs to put in the certificate.
fn collect_sans(kind: CertKind, input: &SanInput, common_name: &str, from_csr: &[San]) -> Result<Vec<San>> {
    let mut sans: Vec<San> = Vec::new();
    let bad = |v: &str, e: opencas_pki::Error| ServiceError::invalid("SanValue", format!("'{v}': {e}"));
    match input {
        SanInput::None => {}
        SanInput::Domains(values) => {
            for v in values {
                let san = San::parse_ip(v).or_else(|_| San::parse_dns(v)).map_err(|e| {
                    ServiceError::invalid(
                        "Domain",
                        format!("'{v}' is neither a DNS name nor an IP address ({e})."),
                    )
                })?;
                sans.push(san);
            }
        }
        SanInput::Typed { san_type, values } => {
            if kind == CertKind::Server {
                return Err(ServiceError::invalid(
                    "SanType",
                    "Server certificates take their names from Domain.",
                ));
            }
            if ![1, 2, 6, 7].contains(san_type) {
                return Err(ServiceError::invalid(
                    "SanType",
                    "SanType must be 1 (email), 2 (DNS), 6 (URI) or 7 (IP).",
                ));
            }
            for v in values {
                sans.push(San::from_cas_type(*san_type, v).map_err(|e| bad(v, e))?);
            }
        }
        SanInput::Named(named) => {
            for (type_name, v) in named {
                let san = San::from_type_name(type_name, v).map_err(|e| {
                    ServiceError::invalid(
                        "ApiPassthrough",
                        format!("SubjectAlternativeNames '{type_name}' '{v}': {e}"),
                    )
                })?;
                sans.push(san);
            }
        }
    }
    // A server certificate names its host in the SAN too: clients ignore the CN.
    if kind == CertKind::Server
        && let Ok(san) = San::parse_ip(common_name).or_else(|_| San::parse_dns(common_name))
    {
        sans.insert(0, san);
    }
    sans.extend(from_csr.iter().cloned());
    let mut unique: Vec<San> = Vec::with_capacity(sans.len());
    for s in sans {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    Ok(unique)
}

/// `overrides_csr`: the request's fields win over the CSR's, CN included
/// (`CreateCustomCertificate`); otherwise the CSR's CN wins, as the seed says.
fn merge_subject(
    req: &LeafSubjectInput,
    csr: Option<&SubjectFields>,
    ca: &CaRecord,
    overrides_csr: bool,
) -> Result<SubjectFields> {
    // A custom certificate without ApiPassthrough.Subject keeps the CSR's subject as it
    // is; otherwise what the request and the CSR leave open comes from the issuing CA.
    let ca_defaults = !overrides_csr || req.has_any();
    let pick = |asked: &Option<String>, from_csr: Option<&Option<String>>, from_ca: &Option<String>| {
        asked
            .clone()
            .or_else(|| from_csr.cloned().flatten())
            .or_else(|| if ca_defaults { from_ca.clone() } else { None })
    };
    let from_csr = csr.map(|s| s.common_name.clone()).filter(|cn| !cn.is_empty());
    let common_name = if overrides_csr {
        req.common_name.clone().or(from_csr)
    } else {
        from_csr.or_else(|| req.common_name.clone())
    }
    .ok_or(ServiceError::MissingParameter("CommonName"))?;
    if let Some(c) = &req.country
        && !opencas_pki::is_iso3166_alpha2(c)
    {
        return Err(ServiceError::invalid(
            "Country",
            format!("{c} is not an ISO 3166-1 alpha-2 country code."),
        ));
    }
    let fields = SubjectFields {
        common_name,
        organization: pick(&req.organization, csr.map(|s| &s.organization), &ca.organization),
        organizational_unit: pick(
            &req.organization_unit,
            csr.map(|s| &s.organizational_unit),
            &ca.organization_unit,
        ),
        locality: pick(&req.locality, csr.map(|s| &s.locality), &ca.locality),
        state: pick(&req.state, csr.map(|s| &s.state), &ca.state),
        country_code: pick(&req.country, csr.map(|s| &s.country_code), &ca.country_code),
    };
    if let Some(attribute) = fields.exceeds_rfc5280_bounds() {
        return Err(ServiceError::invalid(
            "CommonName",
            format!("The {attribute} is longer than RFC 5280 allows."),
        ));
    }
    Ok(fields)
}

impl Service {
    async fn existing_issue(&self, caller: Caller, req: &IssueRequest) -> Result<Option<IssueResponse>> {
        if let Some(token) = &req.client_token
            && let Some(id) = self
                .store
                .find_idempotency(caller.account_id, req.action, token)
                .await?
            && let Some(c) = self.store.find_certificate(caller.account_id, &id).await?
        {
            return Ok(Some(response(&c, req.immediately)));
        }
        if let Some(custom) = &req.custom_identifier
            && let Some(c) = self
                .store
                .find_certificate_by_custom_identifier(caller.account_id, custom)
                .await?
        {
            return Ok(Some(response(&c, req.immediately)));
        }
        Ok(None)
    }

    /// The sub CA that will sign, checked to be able to. Its counters may be behind (see
    /// `Store::find_issuing_ca`): the quota checked here is only a first look, taken for good
    /// by the write.
    async fn issuing_ca(&self, caller: Caller, identifier: &str) -> Result<Arc<CaRecord>> {
        let ca = self
            .store
            .find_issuing_ca(caller.account_id, identifier)
            .await?
            .ok_or_else(|| ca_not_found(identifier))?;
        if ca.certificate_type != SUB_ROOT {
            return Err(ServiceError::invalid(
                "ParentIdentifier",
                format!(
                    "Only a sub CA issues end-entity certificates; {identifier} is a {}.",
                    ca.certificate_type
                ),
            ));
        }
        ensure_usable(&ca, now_millis())?;
        if ca.issuer_type == "external" {
            return Err(external_ca(identifier));
        }
        if ca.cert_issued_count >= ca.cert_total_count {
            return Err(quota_exceeded(identifier));
        }
        Ok(ca)
    }

    pub async fn issue_certificate(&self, caller: Caller, req: IssueRequest) -> Result<IssueResponse> {
        if let Some(done) = self.existing_issue(caller, &req).await? {
            return Ok(done);
        }
        tags::validate(&req.tags)?;
        let ca = self.issuing_ca(caller, &req.parent_identifier).await?;
        let ca_family = ca.key_algorithm.split('_').next().unwrap_or_default().to_owned();
        let family_check = |alg: KeyAlgorithm, what: &'static str| {
            if alg.family().as_api() == ca_family {
                Ok(())
            } else {
                Err(ServiceError::invalid(
                    what,
                    format!(
                        "The key must be of the issuing CA's family ({ca_family}); {} is not.",
                        alg.as_api()
                    ),
                ))
            }
        };
        let (csr, generate) = match &req.key {
            KeySource::Generate(alg) => {
                let alg = match alg {
                    Some(a) => *a,
                    None => KeyAlgorithm::from_api(&ca.key_algorithm)
                        .map_err(|e| ServiceError::Internal(format!("stored CA algorithm: {e}")))?,
                };
                family_check(alg, "Algorithm")?;
                (None, Some(alg))
            }
            KeySource::Csr { pem, algorithm } => {
                if let Some(a) = algorithm {
                    family_check(*a, "Algorithm")?;
                }
                let policy = CsrPolicy {
                    allow_rsa_1024: *algorithm == Some(KeyAlgorithm::Rsa1024),
                };
                let parsed = ParsedCsr::from_pem(pem, policy).map_err(pki_error)?;
                family_check(parsed.key_algorithm, "Csr")?;
                (Some(parsed), None)
            }
        };
        let custom = req.custom.as_ref();
        let subject = merge_subject(&req.subject, csr.as_ref().map(|c| &c.subject), &ca, custom.is_some())?;
        let sans = collect_sans(
            req.kind,
            &req.sans,
            &subject.common_name,
            csr.as_ref().map_or(&[], |c| &c.sans),
        )?;

        let now = now_millis() / 1000;
        let (not_before, not_after, days) = match custom {
            Some(c) => ValidityInput::resolve_text(&c.validity, now)?,
            None => req.validity.resolve(now)?,
        };
        if not_before * 1000 < ca.not_before || not_after * 1000 > ca.not_after {
            return Err(ServiceError::invalid(
                "Days",
                format!(
                    "The certificate would be valid outside its CA's validity ({} to {}).",
                    day(ca.not_before),
                    day(ca.not_after)
                ),
            ));
        }
        if let Some(max) = ca.cert_max_time_days
            && days > max
        {
            return Err(ServiceError::invalid(
                "Days",
                format!("The issuing CA allows at most {max} days."),
            ));
        }

        let public_url = &self.config.public_url;
        let kind = match (req.kind, custom) {
            (CertKind::Server, _) => LeafKind::Server,
            (CertKind::Client, _) => LeafKind::Client,
            (CertKind::Custom, c) => {
                let c = c.cloned().unwrap_or_default();
                let family = csr
                    .as_ref()
                    .map_or(generate, |c| Some(c.key_algorithm))
                    .map(KeyAlgorithm::family);
                check_key_usage_for(family, c.key_usage)?;
                let key_usage = if c.key_usage.is_empty() {
                    KeyUsageFlags::DIGITAL_SIGNATURE
                } else {
                    c.key_usage
                };
                LeafKind::Custom {
                    key_usage,
                    extended_key_usages: c.extended_key_usages,
                }
            }
        };
        let criticals = Criticals::from_names(custom.map_or(&[][..], |c| &c.criticals))
            .map_err(|e| ServiceError::invalid("ApiPassthrough", format!("Criticals: {e}")))?;
        let profile = LeafProfile {
            crl_distribution_point: (req.enable_crl && ca.enable_crl).then(|| self.crl_url(&ca.identifier)),
            ca_issuers_uri: Some(format!("{public_url}/ca/{}.crt", ca.identifier)),
            ocsp_uri: Some(format!("{public_url}/ocsp")),
            extra_subject_attributes: custom.map(|c| c.extra_subject_attributes.clone()).unwrap_or_default(),
            custom_serial: custom.and_then(|c| c.serial),
            criticals,
            sm2_id: crate::revocation::sm2_id_of(&ca),
            // the CSR path admits RSA-1024 only when RSA_1024 was declared
            allow_rsa_1024: match &req.key {
                KeySource::Generate(_) => generate == Some(KeyAlgorithm::Rsa1024),
                KeySource::Csr { algorithm, .. } => *algorithm == Some(KeyAlgorithm::Rsa1024),
            },
            ..LeafProfile::new(kind)
        };
        let issuer_key = self.ca_key(&ca).await.map_err(|e| match e {
            ServiceError::NotFound { .. } => external_ca(&ca.identifier),
            other => other,
        })?;
        let ca_cert = ca.cert_der.clone();
        let subject_for_build = subject.clone();
        let csr_spki = csr.as_ref().map(|c| c.public_key_spki_der.clone());
        let validity = CertValidity { not_before, not_after };
        let (spki, key_der) = match (generate, csr_spki) {
            (Some(alg), _) => {
                let key = self.keygen.generate(alg).await?.map_err(pki_error)?;
                (key.public_key_spki_der().to_vec(), Some(key.to_pkcs8_der().to_vec()))
            }
            (None, Some(spki)) => (spki, None),
            (None, None) => unreachable!("a key source is always given"),
        };
        let in_place = issuer_key.algorithm() == KeyAlgorithm::EcP256;
        let build = move || {
            build_leaf_described(
                &ca_cert,
                &issuer_key,
                &spki,
                &subject_for_build,
                &sans,
                validity,
                &profile,
                &mut os_rng(),
            )
        };
        // Under a P-256 CA the whole build (one signature, no verification) costs about as
        // much as the hand-off to the blocking pool and back, and those extra runnable threads
        // delayed the single issuance writer: build in place. RSA signatures, the larger
        // curves and SM2 (still verified after signing) would hold an async worker too long.
        let (cert_der, info) = if in_place { build() } else { blocking(build).await? }.map_err(pki_error)?;

        let record = leaf_record(caller, &req, &ca, &cert_der, &info, key_der.is_some(), days);
        self.store_issued(caller, &req, &ca, &record, key_der.as_deref()).await
    }

    pub async fn issue_wh_client_certificate(&self, caller: Caller, req: IssueRequest) -> Result<WhIssueResponse> {
        let parent = req.parent_identifier.clone();
        let issued = self.issue_certificate(caller, req).await?;
        let sub = self.ca_or_404(caller, &parent).await?;
        Ok(WhIssueResponse {
            identifier: issued.identifier,
            x509_certificate: issued.x509_certificate,
            certificate_chain: issued.certificate_chain,
            parent_x509_certificate: pem::cert_der_to_pem(&sub.cert_der),
            root_x509_certificate: sub.chain_pem,
        })
    }

    /// One transaction: the CA still usable, one unit of its quota taken, the
    /// certificate, its tags and its ClientToken stored. Concurrent issuances share the
    /// transaction (group commit); each answers only once it is durable.
    async fn store_issued(
        &self,
        caller: Caller,
        req: &IssueRequest,
        ca: &CaRecord,
        record: &CertRecord,
        key_der: Option<&[u8]>,
    ) -> Result<IssueResponse> {
        let answer = response(record, req.immediately);
        let write = IssuedWrite {
            records: req
                .audit
                .as_ref()
                .map(|audit| audit.records_for(&answered_resources(req, &answer))),
            record: record.clone(),
            ca_identifier: ca.identifier.clone(),
            key_pkcs8_der: key_der.map(<[u8]>::to_vec),
            tag_resource_type: TAG_RESOURCE_TYPE,
            tags: req.tags.clone(),
            idempotency: req.client_token.clone().map(|token| (req.action, token)),
        };
        let (ca_identifier, issued_at) = (ca.identifier.clone(), record.created_at);
        let written = self
            .store
            .write_issued(write, move |current| match current {
                None => Err(ca_not_found(&ca_identifier)),
                Some(current) => ensure_usable(current, issued_at),
            })
            .await;
        match written {
            Ok(Ok(())) => Ok(answer),
            Ok(Err(refused)) => Err(refused),
            Err(StoreError::Conflict("quota")) => Err(quota_exceeded(&ca.identifier)),
            Err(StoreError::Conflict("serial")) if req.custom.as_ref().is_some_and(|c| c.serial.is_some()) => {
                Err(ServiceError::invalid(
                    "ApiPassthrough.SerialNumber",
                    "The issuing CA has already used this serial number.",
                ))
            }
            Err(StoreError::Conflict("custom identifier")) => self
                .existing_issue(caller, req)
                .await?
                .ok_or_else(|| ServiceError::invalid("CustomIdentifier", "The CustomIdentifier is taken.")),
            Err(StoreError::Conflict("idempotency token")) => {
                self.existing_issue(caller, req).await?.ok_or_else(|| {
                    ServiceError::Internal("ClientToken taken by a request that left no certificate".into())
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The resource-named fields of the answer `req.action` renders from `answer`, for its `result`
/// record: `CreateWHClientCertificate`'s answer has no `SerialNumber`.
fn answered_resources(req: &IssueRequest, answer: &IssueResponse) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("Identifier".into(), answer.identifier.clone().into());
    if req.action != WH_ACTION {
        fields.insert("SerialNumber".into(), answer.serial_number.clone().into());
    }
    fields
}

/// The stored record of a certificate just issued under `ca`.
fn leaf_record(
    caller: Caller,
    req: &IssueRequest,
    ca: &CaRecord,
    cert_der: &[u8],
    info: &CertInfo,
    has_key: bool,
    days: i64,
) -> CertRecord {
    let ca_pem = pem::cert_der_to_pem(&ca.cert_der);
    let parsed = crate::certstore::record::parsed_record(info, cert_der);
    CertRecord {
        account_id: caller.account_id,
        name: req.alias_name.clone().unwrap_or_else(|| parsed.name.clone()),
        source_type: "aliyun".into(),
        cert_type: "CERT".into(),
        certificate_type: Some(req.kind.as_api().into()),
        issuer_identifier: Some(ca.identifier.clone()),
        custom_identifier: req.custom_identifier.clone(),
        issuer: ca.common_name.clone(),
        days,
        resource_group_id: req.resource_group_id.clone(),
        has_private_key: has_key,
        chain_pem: format!("{ca_pem}{}", ca.chain_pem),
        ..parsed
    }
}

/// Key usages the key's algorithm cannot serve (RFC 4055 §1.2 for RSA, RFC 5480 §3 for
/// elliptic curves) are refused rather than signed into a certificate linters reject.
fn check_key_usage_for(family: Option<opencas_pki::KeyFamily>, ku: KeyUsageFlags) -> Result<()> {
    use opencas_pki::KeyFamily;
    let agreement = KeyUsageFlags::KEY_AGREEMENT | KeyUsageFlags::ENCIPHER_ONLY | KeyUsageFlags::DECIPHER_ONLY;
    let encipherment = KeyUsageFlags::KEY_ENCIPHERMENT | KeyUsageFlags::DATA_ENCIPHERMENT;
    let refused = match family {
        Some(KeyFamily::Rsa) => ku.bits() & agreement.bits() != 0,
        Some(KeyFamily::Ecc) => ku.bits() & encipherment.bits() != 0,
        // SM2 also encrypts (GM/T 0003): SM2 encryption certificates carry keyEncipherment.
        Some(KeyFamily::Sm2) | None => false,
    };
    if refused {
        return Err(ServiceError::invalid(
            "ApiPassthrough",
            "The key usage does not fit the key: RSA keys cannot do key agreement, EC keys cannot encipher keys or data.",
        ));
    }
    Ok(())
}

fn external_ca(identifier: &str) -> ServiceError {
    ServiceError::Conflict {
        code: "InvalidStatus.CACertificate",
        message: format!("The key of CA {identifier} is held outside opencas; it cannot issue here."),
    }
}

fn quota_exceeded(identifier: &str) -> ServiceError {
    ServiceError::Conflict {
        code: "QuotaExceeded.CertificateCount",
        message: format!("The CA {identifier} has no certificate quota left; assign more with AssignCertificateCount."),
    }
}
