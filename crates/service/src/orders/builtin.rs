//! The built-in public issuer: a root and a DV intermediate that opencas creates on first
//! start and keeps (sealed) under a reserved account no tenant can act as. Its CRLs, OCSP
//! answers and CA certificates come from the same public endpoints as every private CA's.

use crate::ca::{CreateRootRequest, CreateSubRequest, SUB_ROOT, SubjectInput};
use crate::{Caller, Result, Service, ServiceError, blocking};
use opencas_pki::{
    CertInfo, CertValidity, ExtKeyUsage, KeyAlgorithm, KeyFamily, KeyUsageFlags, LeafKind, LeafProfile, ParsedCsr, San,
    SubjectFields, build_leaf, os_rng, pem,
};
use opencas_store::{CaFilter, CaRecord, CertRecord, Page, now_millis};

/// The account the built-in issuer's CAs belong to (created by the migration, disabled,
/// without access keys).
pub const BUILTIN_ISSUER_ACCOUNT: i64 = 0;
const ISSUER: Caller = Caller {
    account_id: BUILTIN_ISSUER_ACCOUNT,
};
/// CA/B Forum BR 6.3.2: at most 200 days for certificates issued from 2026-03-15 on; one day
/// less keeps clear of the boundary, which pkilint warns about.
pub const MAX_DV_DAYS: i64 = 199;
/// The CA/B Forum reserved policy OID for domain-validated certificates (BR 7.1.6.1).
const CABF_DOMAIN_VALIDATED: &str = "2.23.140.1.2.1";

fn subject(cn: &str) -> SubjectInput {
    SubjectInput {
        common_name: cn.into(),
        organization: "opencas".into(),
        organization_unit: String::new(),
        locality: "Internet".into(),
        state: "Internet".into(),
        // CA/B Forum BR 7.1.2.10.2: a CA's subject carries a country
        country_code: Some("CN".into()),
    }
}

impl Service {
    /// The DV intermediate of the built-in issuer, created (with its root) when missing.
    pub async fn builtin_issuer(&self) -> Result<CaRecord> {
        if let Some(ca) = self.find_builtin_intermediate().await? {
            return Ok(ca);
        }
        let root = self
            .create_root_ca(
                ISSUER,
                CreateRootRequest {
                    subject: subject("opencas Public Root CA"),
                    algorithm: KeyAlgorithm::EcP384,
                    years: 10,
                    client_token: Some("builtin-public-root".into()),
                    resource_group_id: None,
                    tags: Vec::new(),
                },
            )
            .await?;
        self.create_sub_ca(
            ISSUER,
            CreateSubRequest {
                parent_identifier: Some(root.identifier),
                subject: subject("opencas DV Issuing CA"),
                algorithm: KeyAlgorithm::EcP256,
                years: 5,
                path_len: 0,
                extended_key_usages: vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth],
                cert_max_time_days: Some(MAX_DV_DAYS),
                certificate_policies: vec![CABF_DOMAIN_VALIDATED.into()],
                enable_crl: true,
                crl_day: 7,
                client_token: Some("builtin-public-dv".into()),
                resource_group_id: None,
                tags: Vec::new(),
            },
        )
        .await?;
        self.find_builtin_intermediate()
            .await?
            .ok_or_else(|| ServiceError::Internal("the built-in issuer was not created".into()))
    }

    async fn find_builtin_intermediate(&self) -> Result<Option<CaRecord>> {
        let filter = CaFilter {
            certificate_type: Some(SUB_ROOT.into()),
            ..Default::default()
        };
        let (cas, _) = self
            .store
            .list_cas(BUILTIN_ISSUER_ACCOUNT, &filter, Page { offset: 0, limit: 1 })
            .await?;
        Ok(cas.into_iter().next())
    }

    /// The built-in issuer's root certificate (PEM), for relying parties to trust.
    pub async fn builtin_root_pem(&self) -> Result<String> {
        let sub = self.builtin_issuer().await?;
        let root = sub
            .parent_identifier
            .as_deref()
            .ok_or_else(|| ServiceError::Internal("the built-in intermediate has no parent".into()))?;
        let root = self.ca_or_404(ISSUER, root).await?;
        Ok(pem::cert_der_to_pem(&root.cert_der))
    }

    /// Signs a DV certificate for `csr_der` naming `domains`, with the baseline profile:
    /// CN the first domain, SANs every domain, serverAuth + clientAuth, digitalSignature
    /// (+ keyEncipherment for RSA), AKI/SKI, AIA (caIssuers, OCSP) and a CRL DP here.
    /// Returns the record to store in the tenant's account.
    pub(crate) async fn builtin_sign(&self, account_id: i64, csr_der: &[u8], domains: &[String]) -> Result<CertRecord> {
        let ca = self.builtin_issuer().await?;
        let csr = ParsedCsr::from_der(csr_der, Default::default())
            .map_err(|e| ServiceError::Internal(format!("stored CSR: {e}")))?;
        let mut ku = KeyUsageFlags::DIGITAL_SIGNATURE;
        if csr.key_algorithm.family() == KeyFamily::Rsa {
            ku |= KeyUsageFlags::KEY_ENCIPHERMENT;
        }
        let public_url = &self.config.public_url;
        let profile = LeafProfile {
            crl_distribution_point: Some(self.crl_url(&ca.identifier)),
            ca_issuers_uri: Some(format!("{public_url}/ca/{}.crt", ca.identifier)),
            ocsp_uri: Some(format!("{public_url}/ocsp")),
            certificate_policies: vec![CABF_DOMAIN_VALIDATED.into()],
            ..LeafProfile::new(LeafKind::Custom {
                key_usage: ku,
                extended_key_usages: vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth],
            })
        };
        let now = now_millis() / 1000;
        let days = self.config.orders.builtin_validity_days.clamp(1, MAX_DV_DAYS);
        let not_after = (now + days * 86_400 - 1).min(ca.not_after / 1000);
        let validity = CertValidity {
            not_before: now,
            not_after,
        };
        let subject = SubjectFields {
            common_name: domains[0].clone(),
            ..Default::default()
        };
        let sans: Vec<San> = domains.iter().map(|d| San::Dns(d.clone())).collect();
        let key = self.ca_key(&ca).await?;
        let ca_cert = ca.cert_der.clone();
        let spki = csr.public_key_spki_der.clone();
        let der = blocking(move || {
            build_leaf(
                &ca_cert,
                &key,
                &spki,
                &subject,
                &sans,
                validity,
                &profile,
                &mut os_rng(),
            )
        })
        .await?
        .map_err(|e| ServiceError::Internal(format!("DV certificate: {e}")))?;
        let chain = format!("{}{}", pem::cert_der_to_pem(&ca.cert_der), ca.chain_pem);
        let mut record = cert_record(account_id, &der, chain, &ca.common_name)?;
        record.issuer_identifier = Some(ca.identifier.clone());
        record.days = days;
        Ok(record)
    }
}

/// A stored certificate for a DV certificate issued to `account_id` (`SourceType` aliyun).
pub(crate) fn cert_record(account_id: i64, der: &[u8], chain_pem: String, issuer: &str) -> Result<CertRecord> {
    let info = CertInfo::parse(der).map_err(|e| ServiceError::Internal(format!("issued certificate: {e}")))?;
    let parsed = crate::certstore::record::parsed_record(&info, der);
    Ok(CertRecord {
        account_id,
        source_type: "aliyun".into(),
        cert_type: "CERT".into(),
        certificate_type: Some("SERVER".into()),
        issuer: if issuer.is_empty() {
            parsed.issuer.clone()
        } else {
            issuer.to_owned()
        },
        chain_pem,
        ..parsed
    })
}
