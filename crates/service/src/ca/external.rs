//! External subordinate CAs: a root here signs a CA certificate for a key held
//! elsewhere (`CreateExternalCACertificate`). opencas stores the certificate, never a key,
//! so such a CA cannot issue through this service.

use super::create::pki_error;
use super::{ROOT, STATUS_ISSUE, SUB_ROOT, add_years, ca_not_found, day, ensure_usable};
use crate::{Caller, Result, Service, ServiceError, blocking, new_identifier, tags};
use opencas_pki::{
    CaProfile, CertInfo, CertValidity, CsrPolicy, ExtKeyUsage, ParsedCsr, PrivateKey, SubjectFields, build_sub_ca,
    os_rng, pem,
};
use opencas_store::{CaRecord, now_millis};

use super::CreateCaResponse;

/// `ApiPassthrough.Subject`: fields that replace the CSR's subject.
#[derive(Debug, Clone, Default)]
pub struct SubjectOverride {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organization_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateExternalRequest {
    /// The issuing root: `cas-pca-<Identifier>` or the root's Identifier; optional when the
    /// account has one root.
    pub instance_id: Option<String>,
    pub csr: String,
    pub subject: Option<SubjectOverride>,
    pub extended_key_usages: Option<Vec<ExtKeyUsage>>,
    pub path_len: Option<u8>,
    /// `5y`, `6m`, `30d`, `<NotAfter>` or `<NotBefore>/<NotAfter>` (UTC, `yyyy-MM-ddTHH:mm:ssZ`).
    pub validity: Option<String>,
    pub cert_max_time_days: Option<i64>,
    pub resource_group_id: Option<String>,
    pub tags: Vec<(String, String)>,
}

const ACTION: &str = "CreateExternalCACertificate";
/// Years of validity when the request names none.
const DEFAULT_YEARS: i64 = 5;

fn bad_validity(text: &str) -> ServiceError {
    ServiceError::invalid(
        "Validity",
        format!("Validity '{text}' is neither a relative time (5y, 6m, 30d) nor NotAfter or NotBefore/NotAfter."),
    )
}

fn parse_instant(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .filter(|t| t.offset().is_utc())
        .map(|t| t.unix_timestamp())
}

/// `(not_before, not_after)` in unix seconds.
pub(crate) fn parse_validity(text: &str, now: i64) -> Result<(i64, i64)> {
    let text = text.trim();
    if let Some((from, to)) = text.split_once('/') {
        let (a, b) = (
            parse_instant(from).ok_or_else(|| bad_validity(text))?,
            parse_instant(to).ok_or_else(|| bad_validity(text))?,
        );
        return if a < b { Ok((a, b)) } else { Err(bad_validity(text)) };
    }
    if let Some(end) = parse_instant(text) {
        return if end > now {
            Ok((now, end))
        } else {
            Err(bad_validity(text))
        };
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| (1..=36_500).contains(n))
        .ok_or_else(|| bad_validity(text))?;
    let end = match unit {
        "y" | "Y" => add_years(now, n)?,
        "m" | "M" => crate::issuance::validity::add_months(now, n)?,
        "d" | "D" => now + n * 86_400,
        _ => return Err(bad_validity(text)),
    };
    Ok((now, end))
}

impl Service {
    pub async fn create_external_ca(&self, caller: Caller, req: CreateExternalRequest) -> Result<CreateCaResponse> {
        tags::validate(&req.tags)?;
        let root = self.external_parent(caller, req.instance_id.as_deref()).await?;
        let now_ms = now_millis();
        ensure_usable(&root, now_ms)?;
        let csr = ParsedCsr::from_pem(&req.csr, CsrPolicy::default()).map_err(|e| match e {
            opencas_pki::Error::BadSignature => ServiceError::invalid("Csr", "The CSR's signature does not verify."),
            other => ServiceError::invalid("Csr", format!("The CSR is not accepted: {other}.")),
        })?;
        if csr.key_algorithm.family().as_api() != root.algorithm {
            return Err(ServiceError::invalid(
                "Csr",
                format!("The CSR's key must be of the root's family ({}).", root.algorithm),
            ));
        }
        let subject = override_subject(&csr.subject, req.subject.as_ref());
        if subject.common_name.is_empty() {
            return Err(ServiceError::MissingParameter("ApiPassthrough.Subject.CommonName"));
        }
        if let Some(attribute) = subject.exceeds_rfc5280_bounds() {
            return Err(ServiceError::invalid(
                "ApiPassthrough",
                format!("The subject's {attribute} is longer than RFC 5280 allows."),
            ));
        }
        let now = now_ms / 1000;
        let (not_before, not_after) = match &req.validity {
            Some(v) => parse_validity(v, now)?,
            None => (now, add_years(now, DEFAULT_YEARS)?),
        };
        if not_before * 1000 < root.not_before || not_after * 1000 > root.not_after {
            return Err(ServiceError::invalid(
                "Validity",
                format!(
                    "The CA would be valid outside its root's validity ({} to {}).",
                    day(root.not_before),
                    day(root.not_after)
                ),
            ));
        }
        let lifetime_days = (not_after - not_before) / 86_400;
        if let Some(max) = req.cert_max_time_days
            && max > lifetime_days
        {
            return Err(ServiceError::invalid(
                "CertMaxTime",
                format!("CertMaxTime must be at most the CA's lifetime ({lifetime_days} days)."),
            ));
        }
        let public_url = &self.config.public_url;
        let profile = CaProfile {
            path_len: Some(req.path_len.unwrap_or(0)),
            extended_key_usages: req.extended_key_usages.clone().unwrap_or_default(),
            crl_distribution_point: Some(self.crl_url(&root.identifier)),
            ca_issuers_uri: Some(format!("{public_url}/ca/{}.crt", root.identifier)),
            sm2_id: crate::revocation::sm2_id_of(&root),
            ..CaProfile::default()
        };
        let root_key = self.store.ca_private_key(caller.account_id, &root.identifier).await?;
        let root_cert = root.cert_der.clone();
        let spki = csr.public_key_spki_der.clone();
        let fields = subject.clone();
        let validity = CertValidity { not_before, not_after };
        let cert_der = blocking(move || -> opencas_pki::Result<Vec<u8>> {
            let issuer_key = PrivateKey::from_pkcs8_der(&root_key)?;
            build_sub_ca(
                &root_cert,
                &issuer_key,
                &spki,
                &fields,
                validity,
                &profile,
                &mut os_rng(),
            )
        })
        .await?
        .map_err(pki_error)?;

        let info = CertInfo::parse(&cert_der).map_err(pki_error)?;
        let identifier = new_identifier();
        let record = CaRecord {
            account_id: caller.account_id,
            identifier: identifier.clone(),
            parent_identifier: Some(root.identifier.clone()),
            issuer_identifier: root.identifier.clone(),
            certificate_type: SUB_ROOT.into(),
            issuer_type: "external".into(),
            status: STATUS_ISSUE.into(),
            common_name: info.subject.common_name.clone(),
            organization: info.subject.organization.clone(),
            organization_unit: info.subject.organizational_unit.clone(),
            locality: info.subject.locality.clone(),
            state: info.subject.state.clone(),
            country_code: info.subject.country_code.clone(),
            subject_dn: info.subject_dn.clone(),
            algorithm: csr.key_algorithm.family().as_api().into(),
            key_algorithm: csr.key_algorithm.as_api().into(),
            key_size: i64::from(info.key_size_bits),
            sign_algorithm: info.signature_algorithm.clone(),
            serial_number: info.serial_hex.clone(),
            not_before: info.not_before_ms,
            not_after: info.not_after_ms,
            years: (not_after - not_before) / (365 * 86_400),
            path_len: Some(req.path_len.unwrap_or(0).into()),
            ext_key_usages: req
                .extended_key_usages
                .unwrap_or_default()
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
                .join(","),
            cert_max_time_days: req.cert_max_time_days,
            md5: info.fingerprints.md5_hex(),
            sha256: info.fingerprints.sha256_hex(),
            cert_der: cert_der.clone(),
            chain_pem: pem::cert_der_to_pem(&root.cert_der),
            resource_group_id: req.resource_group_id.clone(),
            created_at: now_ms,
            ..Default::default()
        };
        self.store_new_ca(caller, ACTION, None, &record, None, &req.tags, Some(&root))
            .await?;
        Ok(CreateCaResponse {
            certificate: pem::cert_der_to_pem(&cert_der),
            certificate_chain: record.chain_pem,
            identifier,
        })
    }

    async fn external_parent(&self, caller: Caller, instance: Option<&str>) -> Result<CaRecord> {
        let root = match instance {
            Some(inst) => {
                let id = inst.strip_prefix("cas-pca-").unwrap_or(inst);
                self.store
                    .find_ca(caller.account_id, id)
                    .await?
                    .ok_or_else(|| ca_not_found(inst))?
            }
            None => self.only_root(caller).await?,
        };
        if root.certificate_type != ROOT {
            return Err(ServiceError::invalid(
                "InstanceId",
                "An external CA is signed by a root CA.",
            ));
        }
        Ok(root)
    }
}

fn override_subject(csr: &SubjectFields, with: Option<&SubjectOverride>) -> SubjectFields {
    let Some(o) = with else { return csr.clone() };
    let or = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
    SubjectFields {
        common_name: o.common_name.clone().unwrap_or_else(|| csr.common_name.clone()),
        organization: or(&o.organization, &csr.organization),
        organizational_unit: or(&o.organization_unit, &csr.organizational_unit),
        locality: or(&o.locality, &csr.locality),
        state: or(&o.state, &csr.state),
        country_code: or(&o.country, &csr.country_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn validity_forms() {
        assert_eq!(parse_validity("30d", NOW).unwrap(), (NOW, NOW + 30 * 86_400));
        assert_eq!(parse_validity("1y", NOW).unwrap().1, 1_798_761_600);
        // calendar months: 2026-01-01 + 18 months = 2027-07-01
        assert_eq!(parse_validity("18m", NOW).unwrap().1, 1_814_400_000);
        assert_eq!(
            parse_validity("2030-01-01T00:00:00Z", NOW).unwrap(),
            (NOW, 1_893_456_000)
        );
        let both = parse_validity("2026-06-01T00:00:00Z/2030-01-01T00:00:00Z", NOW).unwrap();
        assert_eq!(both, (1_780_272_000, 1_893_456_000));
        for bad in [
            "",
            "5",
            "5w",
            "0d",
            "2020-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z/2029-01-01T00:00:00Z",
            "x/y",
        ] {
            assert!(parse_validity(bad, NOW).is_err(), "{bad}");
        }
    }
}
