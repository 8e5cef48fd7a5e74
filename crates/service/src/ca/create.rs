//! Creating root and subordinate CAs: key generation and signing off the async workers,
//! then one transaction that stores the CA, its log entry, its tags and its ClientToken.

use super::{ROOT, STATUS_ISSUE, SUB_ROOT, TAG_RESOURCE_TYPE, add_years, ca_not_found, day, ensure_usable};
use crate::revocation::sm2_id_of;
use crate::{Caller, Result, Service, ServiceError, blocking, new_identifier, tags};
use opencas_pki::{
    CaProfile, CertInfo, CertValidity, ExtKeyUsage, KeyAlgorithm, PrivateKey, SubjectFields, build_root_ca,
    build_sub_ca, os_rng, pem,
};
use opencas_store::{CaRecord, NewCa, StoreError, now_millis};
use serde::Serialize;

/// The subject attributes of a new CA, as the API names them.
#[derive(Debug, Clone, Default)]
pub struct SubjectInput {
    pub common_name: String,
    pub organization: String,
    pub organization_unit: String,
    pub locality: String,
    pub state: String,
    pub country_code: Option<String>,
}

impl SubjectInput {
    fn to_fields(&self) -> Result<SubjectFields> {
        let fields = SubjectFields {
            common_name: self.common_name.clone(),
            organization: Some(self.organization.clone()),
            // the built-in DV issuer has none (CA/B Forum BR 7.1.2.10.2)
            organizational_unit: Some(self.organization_unit.clone()).filter(|ou| !ou.is_empty()),
            locality: Some(self.locality.clone()),
            state: Some(self.state.clone()),
            country_code: self.country_code.clone(),
        };
        if let Some(code) = &self.country_code
            && !opencas_pki::is_iso3166_alpha2(code)
        {
            return Err(ServiceError::invalid(
                "CountryCode",
                format!("CountryCode {code} is not an ISO 3166-1 alpha-2 country code."),
            ));
        }
        if let Some(attribute) = fields.exceeds_rfc5280_bounds() {
            let (name, max) = match attribute {
                "commonName" => ("CommonName", opencas_pki::UB_COMMON_NAME),
                "organizationName" => ("Organization", opencas_pki::UB_ORGANIZATION),
                "organizationalUnitName" => ("OrganizationUnit", opencas_pki::UB_ORGANIZATIONAL_UNIT),
                "localityName" => ("Locality", opencas_pki::UB_LOCALITY),
                _ => ("State", opencas_pki::UB_STATE),
            };
            return Err(ServiceError::invalid(
                name,
                format!("{name} must be at most {max} characters."),
            ));
        }
        // Building the name checks blank values and control characters.
        fields
            .to_name()
            .map_err(|e| ServiceError::invalid("CommonName", e.to_string()))?;
        Ok(fields)
    }
}

#[derive(Debug, Clone)]
pub struct CreateRootRequest {
    pub subject: SubjectInput,
    pub algorithm: KeyAlgorithm,
    pub years: i64,
    pub client_token: Option<String>,
    pub resource_group_id: Option<String>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct CreateSubRequest {
    pub parent_identifier: Option<String>,
    pub subject: SubjectInput,
    pub algorithm: KeyAlgorithm,
    pub years: i64,
    pub path_len: u8,
    pub extended_key_usages: Vec<ExtKeyUsage>,
    pub cert_max_time_days: Option<i64>,
    /// certificatePolicies OIDs (dotted) of the new CA; the API sets none.
    pub certificate_policies: Vec<String>,
    pub enable_crl: bool,
    pub crl_day: i64,
    pub client_token: Option<String>,
    pub resource_group_id: Option<String>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCaResponse {
    pub certificate: String,
    pub certificate_chain: String,
    pub identifier: String,
}

const CREATE_ROOT: &str = "CreateRootCACertificate";
const CREATE_SUB: &str = "CreateSubCACertificate";
/// Days of CRL validity when a CA publishes a CRL without saying how long.
const DEFAULT_CRL_DAYS: i64 = 30;

pub(super) fn pki_error(e: opencas_pki::Error) -> ServiceError {
    match e {
        opencas_pki::Error::ValidityOutsideIssuer => {
            ServiceError::invalid("Years", "The validity lies outside the issuing CA's validity.")
        }
        opencas_pki::Error::PathLenExceeded => ServiceError::invalid(
            "PathLenConstraint",
            "The issuing CA's path length constraint does not allow this CA.",
        ),
        opencas_pki::Error::InvalidSubject(m) => ServiceError::invalid("CommonName", m),
        opencas_pki::Error::InvalidCountryCode(c) => ServiceError::invalid(
            "CountryCode",
            format!("CountryCode {c} is not an ISO 3166-1 alpha-2 code."),
        ),
        other => ServiceError::Internal(format!("pki: {other}")),
    }
}

impl Service {
    /// The response of an earlier create with the same ClientToken, if there was one.
    async fn replay(&self, caller: Caller, action: &str, token: Option<&str>) -> Result<Option<CreateCaResponse>> {
        let Some(token) = token else { return Ok(None) };
        match self.store.find_idempotency(caller.account_id, action, token).await? {
            Some(identifier) => Ok(Some(self.created_response(caller, &identifier).await?)),
            None => Ok(None),
        }
    }

    async fn created_response(&self, caller: Caller, identifier: &str) -> Result<CreateCaResponse> {
        let ca = self
            .store
            .find_ca(caller.account_id, identifier)
            .await?
            .ok_or_else(|| ca_not_found(identifier))?;
        Ok(CreateCaResponse {
            certificate: pem::cert_der_to_pem(&ca.cert_der),
            certificate_chain: ca.chain_pem,
            identifier: ca.identifier,
        })
    }

    pub async fn create_root_ca(&self, caller: Caller, req: CreateRootRequest) -> Result<CreateCaResponse> {
        if let Some(done) = self.replay(caller, CREATE_ROOT, req.client_token.as_deref()).await? {
            return Ok(done);
        }
        if !(5..=10).contains(&req.years) {
            return Err(ServiceError::invalid("Years", "Years must be between 5 and 10."));
        }
        tags::validate(&req.tags)?;
        let fields = req.subject.to_fields()?;
        let now = now_millis() / 1000;
        let validity = CertValidity {
            not_before: now,
            not_after: add_years(now, req.years)?,
        };
        let algorithm = req.algorithm;
        let root_profile = CaProfile {
            sm2_id: self.config.sm2_id,
            allow_rsa_1024: algorithm == KeyAlgorithm::Rsa1024,
            ..CaProfile::default()
        };
        let (key_der, cert_der) = blocking(move || -> opencas_pki::Result<_> {
            let key = PrivateKey::generate(algorithm, &mut os_rng())?;
            let cert = build_root_ca(&key, &fields, validity, &root_profile, &mut os_rng())?;
            Ok((key.to_pkcs8_der().to_vec(), cert))
        })
        .await?
        .map_err(pki_error)?;

        let identifier = new_identifier();
        let cert_pem = pem::cert_der_to_pem(&cert_der);
        let record = self.ca_record(
            caller,
            &identifier,
            None,
            &req.subject,
            req.algorithm,
            req.years,
            &cert_der,
        )?;
        let record = CaRecord {
            certificate_type: ROOT.into(),
            chain_pem: cert_pem.clone(),
            enable_crl: true,
            crl_day: DEFAULT_CRL_DAYS,
            cert_total_count: self.config.root_certificate_quota,
            resource_group_id: req.resource_group_id.clone(),
            ..record
        };
        let stored = self
            .store_new_ca(
                caller,
                CREATE_ROOT,
                req.client_token.as_deref(),
                &record,
                Some(&key_der),
                &req.tags,
                None,
            )
            .await?;
        if let Some(existing) = stored {
            return Ok(existing);
        }
        Ok(CreateCaResponse {
            certificate: cert_pem.clone(),
            certificate_chain: cert_pem,
            identifier,
        })
    }

    pub async fn create_sub_ca(&self, caller: Caller, req: CreateSubRequest) -> Result<CreateCaResponse> {
        if let Some(done) = self.replay(caller, CREATE_SUB, req.client_token.as_deref()).await? {
            return Ok(done);
        }
        if !(5..=10).contains(&req.years) {
            return Err(ServiceError::invalid("Years", "Years must be between 5 and 10."));
        }
        tags::validate(&req.tags)?;
        let fields = req.subject.to_fields()?;
        let parent = self.parent_for_sub_ca(caller, req.parent_identifier.as_deref()).await?;
        let now_ms = now_millis();
        ensure_usable(&parent, now_ms)?;
        if parent.key_algorithm.split('_').next() != Some(req.algorithm.family().as_api()) {
            return Err(ServiceError::invalid(
                "Algorithm",
                format!(
                    "The sub CA's algorithm must be of the root's family ({}); {} is not.",
                    parent.algorithm,
                    req.algorithm.as_api()
                ),
            ));
        }
        let now = now_ms / 1000;
        let mut validity = CertValidity {
            not_before: now,
            not_after: add_years(now, req.years)?,
        };
        // Years are whole calendar years, so a sub CA asked for with its root's Years on the day the root
        // was made overshoots the root by the seconds in between: it ends with its root instead.
        let overshoot_ms = validity.not_after * 1000 - parent.not_after;
        if overshoot_ms > 0 && overshoot_ms <= super::MS_PER_DAY {
            validity.not_after = parent.not_after / 1000;
        }
        if validity.not_after * 1000 > parent.not_after {
            return Err(ServiceError::invalid(
                "Years",
                format!(
                    "A sub CA of {} years would outlive its root, which expires on {}.",
                    req.years,
                    day(parent.not_after)
                ),
            ));
        }
        let lifetime_days = (validity.not_after - validity.not_before) * 1000 / super::MS_PER_DAY;
        if let Some(max) = req.cert_max_time_days
            && !(1..=lifetime_days).contains(&max)
        {
            return Err(ServiceError::invalid(
                "CertMaxTime",
                format!("CertMaxTime must be between 1 and the sub CA's lifetime ({lifetime_days} days)."),
            ));
        }
        let public_url = &self.config.public_url;
        let profile = CaProfile {
            path_len: Some(req.path_len),
            extended_key_usages: req.extended_key_usages.clone(),
            crl_distribution_point: Some(format!("{public_url}/crl/{}.crl", parent.identifier)),
            ca_issuers_uri: Some(format!("{public_url}/ca/{}.crt", parent.identifier)),
            // the parent signs the sub CA with the ID it was made with
            sm2_id: sm2_id_of(&parent),
            allow_rsa_1024: req.algorithm == KeyAlgorithm::Rsa1024,
            certificate_policies: req.certificate_policies.clone(),
            ..CaProfile::default()
        };
        let parent_key = self.store.ca_private_key(caller.account_id, &parent.identifier).await?;
        let parent_cert = parent.cert_der.clone();
        let algorithm = req.algorithm;
        let (key_der, cert_der) = blocking(move || -> opencas_pki::Result<_> {
            let issuer_key = PrivateKey::from_pkcs8_der(&parent_key)?;
            let key = PrivateKey::generate(algorithm, &mut os_rng())?;
            let cert = build_sub_ca(
                &parent_cert,
                &issuer_key,
                key.public_key_spki_der(),
                &fields,
                validity,
                &profile,
                &mut os_rng(),
            )?;
            Ok((key.to_pkcs8_der().to_vec(), cert))
        })
        .await?
        .map_err(pki_error)?;

        let identifier = new_identifier();
        let cert_pem = pem::cert_der_to_pem(&cert_der);
        let record = self.ca_record(
            caller,
            &identifier,
            Some(&parent),
            &req.subject,
            req.algorithm,
            req.years,
            &cert_der,
        )?;
        let record = CaRecord {
            certificate_type: SUB_ROOT.into(),
            chain_pem: format!(
                "{}{}",
                pem::cert_der_to_pem(&parent.cert_der),
                parent_chain_above(&parent)
            ),
            path_len: Some(req.path_len.into()),
            ext_key_usages: req
                .extended_key_usages
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
                .join(","),
            cert_max_time_days: req.cert_max_time_days,
            enable_crl: req.enable_crl,
            crl_day: req.crl_day,
            resource_group_id: req.resource_group_id.clone(),
            ..record
        };
        let chain = record.chain_pem.clone();
        let stored = self
            .store_new_ca(
                caller,
                CREATE_SUB,
                req.client_token.as_deref(),
                &record,
                Some(&key_der),
                &req.tags,
                Some(&parent),
            )
            .await?;
        if let Some(existing) = stored {
            return Ok(existing);
        }
        Ok(CreateCaResponse {
            certificate: cert_pem,
            certificate_chain: chain,
            identifier,
        })
    }

    /// The named root, or the account's only root when none is named.
    async fn parent_for_sub_ca(&self, caller: Caller, identifier: Option<&str>) -> Result<CaRecord> {
        let parent = match identifier {
            Some(id) => self
                .store
                .find_ca(caller.account_id, id)
                .await?
                .ok_or_else(|| ca_not_found(id))?,
            None => self.only_root(caller).await?,
        };
        if parent.certificate_type != ROOT {
            return Err(ServiceError::invalid(
                "ParentIdentifier",
                format!(
                    "Only a root CA can issue a sub CA; {} is a {}.",
                    parent.identifier, parent.certificate_type
                ),
            ));
        }
        Ok(parent)
    }

    /// The account's root CA, when it has exactly one.
    pub(super) async fn only_root(&self, caller: Caller) -> Result<CaRecord> {
        let filter = opencas_store::CaFilter {
            certificate_type: Some(ROOT.into()),
            ..Default::default()
        };
        let (roots, total) = self
            .store
            .list_cas(caller.account_id, &filter, opencas_store::Page { offset: 0, limit: 2 })
            .await?;
        match (total, roots.into_iter().next()) {
            (1, Some(root)) => Ok(root),
            (0, _) => Err(ServiceError::MissingParameter("ParentIdentifier")),
            _ => Err(ServiceError::invalid(
                "ParentIdentifier",
                "The account has several root CAs: name the parent with ParentIdentifier.",
            )),
        }
    }

    /// The stored form of a freshly signed CA certificate; fields are read back from the
    /// certificate itself, never copied from the request.
    #[allow(clippy::too_many_arguments)]
    fn ca_record(
        &self,
        caller: Caller,
        identifier: &str,
        parent: Option<&CaRecord>,
        subject: &SubjectInput,
        algorithm: KeyAlgorithm,
        years: i64,
        cert_der: &[u8],
    ) -> Result<CaRecord> {
        let info = CertInfo::parse(cert_der).map_err(pki_error)?;
        Ok(CaRecord {
            account_id: caller.account_id,
            identifier: identifier.to_owned(),
            parent_identifier: parent.map(|p| p.identifier.clone()),
            issuer_identifier: parent.map_or_else(|| identifier.to_owned(), |p| p.identifier.clone()),
            issuer_type: "local".into(),
            status: STATUS_ISSUE.into(),
            common_name: subject.common_name.clone(),
            organization: info.subject.organization.clone(),
            organization_unit: info.subject.organizational_unit.clone(),
            locality: info.subject.locality.clone(),
            state: info.subject.state.clone(),
            country_code: info.subject.country_code.clone(),
            subject_dn: info.subject_dn,
            algorithm: algorithm.family().as_api().into(),
            key_algorithm: algorithm.as_api().into(),
            key_size: i64::from(info.key_size_bits),
            sign_algorithm: info.signature_algorithm,
            sm2_id: (algorithm.family() == opencas_pki::KeyFamily::Sm2).then(|| self.config.sm2_id.as_str().to_owned()),
            serial_number: info.serial_hex,
            not_before: info.not_before_ms,
            not_after: info.not_after_ms,
            years,
            md5: info.fingerprints.md5_hex(),
            sha256: info.fingerprints.sha256_hex(),
            cert_der: cert_der.to_vec(),
            created_at: now_millis(),
            ..Default::default()
        })
    }

    /// Stores a new CA with its log entry, tags and ClientToken in one transaction. When
    /// the token was taken meanwhile by a concurrent request, returns that request's CA.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store_new_ca(
        &self,
        caller: Caller,
        action: &str,
        client_token: Option<&str>,
        record: &CaRecord,
        key_der: Option<&[u8]>,
        tags: &[(String, String)],
        parent: Option<&CaRecord>,
    ) -> Result<Option<CreateCaResponse>> {
        let account = caller.account_id;
        let now = record.created_at;
        let mut tx = self.store.begin().await?;
        let mut record = record.clone();
        if let Some(parent) = parent {
            // Re-read under the write lock: the root may have been disabled meanwhile.
            let current = tx
                .find_ca(account, &parent.identifier)
                .await?
                .ok_or_else(|| ca_not_found(&parent.identifier))?;
            ensure_usable(&current, now)?;
            // An external CA's key is elsewhere: it issues nothing here and takes no quota.
            if record.issuer_type == "local" {
                let assigned = tx.sub_ca_quota_sum(account, &parent.identifier, "").await?;
                let available = (current.cert_total_count - assigned).max(0);
                record.cert_total_count = self.config.sub_ca_initial_quota.min(available);
            }
            tx.add_ca_issued_count(account, &parent.identifier, 1)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => ServiceError::Conflict {
                        code: "QuotaExceeded.CertificateCount",
                        message: format!("The root CA {} has no certificate quota left.", parent.identifier),
                    },
                    other => other.into(),
                })?;
            tx.add_ca_log(
                account,
                &parent.identifier,
                "UPDATE",
                &format!("Issued sub CA {}", record.identifier),
                now,
            )
            .await?;
        }
        tx.insert_ca(NewCa {
            record: &record,
            key_pkcs8_der: key_der,
        })
        .await?;
        let kind = match (parent.is_some(), record.issuer_type.as_str()) {
            (false, _) => "root CA",
            (true, "external") => "external sub CA",
            (true, _) => "sub CA",
        };
        let content = format!(
            "Created {kind} {} ({}, serial {})",
            record.subject_dn, record.key_algorithm, record.serial_number
        );
        tx.add_ca_log(account, &record.identifier, "ADD", &content, now).await?;
        tx.replace_tags(account, TAG_RESOURCE_TYPE, &record.identifier, tags)
            .await?;
        if let Some(token) = client_token {
            match tx
                .record_idempotency(account, action, token, &record.identifier, now)
                .await
            {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    return self.replay(caller, action, Some(token)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(None)
    }
}

/// The chain above `ca` (its issuers), as stored with it.
fn parent_chain_above(ca: &CaRecord) -> String {
    if ca.certificate_type == ROOT {
        String::new()
    } else {
        ca.chain_pem.clone()
    }
}
