//! `CreateCsr`: a fresh key pair and a request signed with it, both kept (the key sealed).

use super::{check_name, default_name, key_sha256};
use crate::{Caller, Result, Service, ServiceError, blocking};
use opencas_pki::{KeyAlgorithm, PrivateKey, San, Sm2Id, SubjectFields, build_csr, is_iso3166_alpha2, os_rng, pem};
use opencas_store::{CsrRow, NewCsr, now_millis};
use serde::Serialize;

/// Longest `CommonName`: X.509's ub-common-name (RFC 5280, appendix A.1). A longer DNS name
/// goes in `Sans` only; CAs refuse a CSR whose CN is longer (Let's Encrypt among them), so
/// making one would only fail later, at the order.
pub const MAX_COMMON_NAME_LEN: usize = 64;
/// Most names in `Sans`.
pub const MAX_SANS: usize = 100;
/// Longest `Province` / `Locality`.
pub const MAX_PLACE_LEN: usize = 128;
/// Longest `CorpName` / `Department`.
pub const MAX_ORG_LEN: usize = 255;

/// The parameters as they arrive; every rule is checked here.
#[derive(Debug, Clone, Default)]
pub struct CreateCsrRequest {
    pub algorithm: String,
    pub key_size: i64,
    pub common_name: String,
    /// Comma-separated secondary names.
    pub sans: Option<String>,
    pub country_code: String,
    pub province: String,
    pub locality: String,
    pub corp_name: Option<String>,
    pub department: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCsrResponse {
    pub csr_id: i64,
    pub csr: String,
}

/// A request whose every field passed its rule.
#[derive(Debug)]
struct Checked {
    algorithm: KeyAlgorithm,
    subject: SubjectFields,
    /// The common name first (when it is a name a SAN can carry), then the secondary names.
    sans: Vec<San>,
    secondary: Vec<String>,
    name: Option<String>,
}

fn key_algorithm(algorithm: &str, key_size: i64) -> Result<KeyAlgorithm> {
    let alg = match (algorithm, key_size) {
        ("RSA", 2048) => KeyAlgorithm::Rsa2048,
        ("RSA", 3072) => KeyAlgorithm::Rsa3072,
        ("RSA", 4096) => KeyAlgorithm::Rsa4096,
        ("ECC", 256) => KeyAlgorithm::EcP256,
        ("SM2", 256) => KeyAlgorithm::Sm2,
        ("RSA", _) => {
            return Err(ServiceError::invalid(
                "KeySize",
                "KeySize of RSA must be 2048, 3072 or 4096.",
            ));
        }
        ("ECC" | "SM2", _) => return Err(ServiceError::invalid("KeySize", "KeySize of ECC and SM2 must be 256.")),
        (other, _) => {
            return Err(ServiceError::invalid(
                "Algorithm",
                format!("Algorithm must be one of RSA, ECC, SM2, got '{other}'."),
            ));
        }
    };
    Ok(alg)
}

/// A DNS name (a leading `*.` allowed) or an IP address.
fn domain(param: &'static str, value: &str) -> Result<San> {
    San::parse_ip(value)
        .or_else(|_| San::parse_dns(value))
        .map_err(|e| ServiceError::invalid(param, format!("'{value}' is not a domain name or IP address: {e}.")))
}

/// A subject attribute of at most `max` characters, neither blank nor with control characters.
fn attribute(param: &'static str, value: Option<String>, max: usize) -> Result<Option<String>> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(ServiceError::invalid(
            param,
            format!("{param} must be at most {max} characters."),
        ));
    }
    if v.trim().is_empty() || v.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            param,
            format!("{param} must not be blank or contain control characters."),
        ));
    }
    Ok(Some(v))
}

fn check(req: CreateCsrRequest) -> Result<Checked> {
    let algorithm = key_algorithm(&req.algorithm, req.key_size)?;
    let cn = req.common_name;
    if cn.chars().count() > MAX_COMMON_NAME_LEN {
        return Err(ServiceError::invalid(
            "CommonName",
            format!("CommonName must be at most {MAX_COMMON_NAME_LEN} characters."),
        ));
    }
    let mut sans = vec![domain("CommonName", &cn)?];
    let secondary: Vec<String> = req
        .sans
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if secondary.len() > MAX_SANS {
        return Err(ServiceError::invalid(
            "Sans",
            format!("Sans may name at most {MAX_SANS} domains, got {}.", secondary.len()),
        ));
    }
    let mut kept = Vec::with_capacity(secondary.len());
    for s in secondary {
        let san = domain("Sans", &s)?;
        if !sans.contains(&san) {
            sans.push(san);
            kept.push(s);
        }
    }
    let country = req.country_code.to_ascii_uppercase();
    if !is_iso3166_alpha2(&country) {
        return Err(ServiceError::invalid(
            "CountryCode",
            format!(
                "CountryCode must be an ISO 3166-1 alpha-2 code such as CN or US, got '{}'.",
                req.country_code.chars().take(16).collect::<String>()
            ),
        ));
    }
    let required = |param: &'static str, v: String| {
        attribute(param, Some(v), MAX_PLACE_LEN)?.ok_or(ServiceError::MissingParameter(param))
    };
    let subject = SubjectFields {
        common_name: cn,
        organization: attribute("CorpName", req.corp_name, MAX_ORG_LEN)?,
        organizational_unit: attribute("Department", req.department, MAX_ORG_LEN)?,
        locality: Some(required("Locality", req.locality)?),
        state: Some(required("Province", req.province)?),
        country_code: Some(country),
    };
    Ok(Checked {
        algorithm,
        subject,
        sans,
        secondary: kept,
        name: check_name(req.name, "_-.")?,
    })
}

impl Service {
    pub async fn create_csr(&self, caller: Caller, req: CreateCsrRequest) -> Result<CreateCsrResponse> {
        let c = check(req)?;
        let (alg, subject, sans) = (c.algorithm, c.subject.clone(), c.sans.clone());
        // The GM/T default ID: what CAs verifying SM2 requests expect (OpenSSL needs
        // `-vfyopt distid:1234567812345678`); our own CSR parser accepts either ID.
        let (key, csr_der) = blocking(move || {
            let key = PrivateKey::generate(alg, &mut os_rng())?;
            let der = build_csr(&key, &subject, &sans, Sm2Id::Standard)?;
            Ok::<_, opencas_pki::Error>((key, der))
        })
        .await?
        .map_err(|e| match e {
            opencas_pki::Error::InvalidSubject(m) => ServiceError::invalid("CommonName", m),
            other => ServiceError::Internal(format!("CSR generation: {other}")),
        })?;
        let s = c.subject;
        let row = CsrRow {
            id: 0,
            name: c.name.unwrap_or_else(|| default_name(&s.common_name, &c.secondary)),
            common_name: s.common_name,
            sans: c.secondary.join(","),
            algorithm: alg.family().as_api().into(),
            key_size: alg.key_size_bits().into(),
            corp_name: s.organization,
            department: s.organizational_unit,
            country_code: s.country_code,
            province: s.state,
            locality: s.locality,
            key_sha256: key_sha256(key.public_key_spki_der()),
            has_private_key: true,
        };
        let new = NewCsr {
            account_id: caller.account_id,
            row,
            csr_der,
            created_at: now_millis(),
        };
        let mut tx = self.store.begin().await?;
        let id = tx.insert_csr(&new, Some(&key.to_pkcs8_der())).await?;
        tx.commit().await?;
        Ok(CreateCsrResponse {
            csr_id: id,
            csr: pem::encode("CERTIFICATE REQUEST", &new.csr_der),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_req() -> CreateCsrRequest {
        CreateCsrRequest {
            algorithm: "ECC".into(),
            key_size: 256,
            common_name: "www.example.com".into(),
            sans: Some("a.example.com, *.example.com,10.0.0.1,,www.example.com".into()),
            country_code: "cn".into(),
            province: "Zhejiang".into(),
            locality: "Hangzhou".into(),
            corp_name: None,
            department: Some("Ops".into()),
            name: Some("my-csr.1".into()),
        }
    }

    fn refused(f: impl FnOnce(&mut CreateCsrRequest)) -> &'static str {
        let mut r = ok_req();
        f(&mut r);
        match check(r) {
            Err(ServiceError::InvalidParameter { name, .. }) => name,
            Err(ServiceError::MissingParameter(name)) => name,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_good_request_is_normalised() {
        let c = check(ok_req()).unwrap();
        assert_eq!(c.algorithm, KeyAlgorithm::EcP256);
        assert_eq!(c.subject.country_code.as_deref(), Some("CN"));
        assert_eq!(c.subject.organization, None);
        assert_eq!(c.secondary, ["a.example.com", "*.example.com", "10.0.0.1"]);
        assert_eq!(c.sans.len(), 4);
        assert_eq!(c.sans[0], San::Dns("www.example.com".into()));
    }

    #[test]
    fn algorithms_and_sizes() {
        for (a, s, want) in [
            ("RSA", 2048, KeyAlgorithm::Rsa2048),
            ("RSA", 3072, KeyAlgorithm::Rsa3072),
            ("RSA", 4096, KeyAlgorithm::Rsa4096),
            ("ECC", 256, KeyAlgorithm::EcP256),
            ("SM2", 256, KeyAlgorithm::Sm2),
        ] {
            assert_eq!(key_algorithm(a, s).unwrap(), want);
        }
        for (a, s, param) in [
            ("RSA", 1024, "KeySize"),
            ("RSA", 256, "KeySize"),
            ("ECC", 384, "KeySize"),
            ("SM2", 2048, "KeySize"),
            ("rsa", 2048, "Algorithm"),
            ("DSA", 2048, "Algorithm"),
        ] {
            match key_algorithm(a, s) {
                Err(ServiceError::InvalidParameter { name, .. }) => assert_eq!(name, param, "{a} {s}"),
                other => panic!("{a} {s}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_field_rule() {
        assert_eq!(
            refused(|r| r.common_name = format!("{}.example.com", "a".repeat(53))),
            "CommonName"
        );
        let mut r = ok_req();
        r.common_name = format!("{}.example.com", "a".repeat(52));
        assert_eq!(check(r).unwrap().subject.common_name.len(), 64);
        assert_eq!(refused(|r| r.common_name = "not a domain".into()), "CommonName");
        let hundred: Vec<String> = (0..100).map(|i| format!("h{i}.example.com")).collect();
        let mut r = ok_req();
        r.sans = Some(hundred.join(","));
        assert_eq!(check(r).unwrap().secondary.len(), 100);
        let too_many: Vec<String> = (0..101).map(|i| format!("h{i}.example.com")).collect();
        assert_eq!(refused(|r| r.sans = Some(too_many.join(","))), "Sans");
        assert_eq!(refused(|r| r.sans = Some("ok.example.com,bad_name!".into())), "Sans");
        assert_eq!(refused(|r| r.country_code = "XX".into()), "CountryCode");
        assert_eq!(refused(|r| r.country_code = "CHN".into()), "CountryCode");
        assert_eq!(refused(|r| r.province = "p".repeat(129)), "Province");
        assert_eq!(refused(|r| r.province = "  ".into()), "Province");
        assert_eq!(refused(|r| r.locality = "l".repeat(129)), "Locality");
        assert_eq!(refused(|r| r.locality = "".into()), "Locality");
        assert_eq!(refused(|r| r.corp_name = Some("c".repeat(256))), "CorpName");
        assert_eq!(refused(|r| r.department = Some("a\nb".into())), "Department");
        assert_eq!(refused(|r| r.name = Some("with space".into())), "Name");
        let mut r = ok_req();
        r.corp_name = Some("c".repeat(255));
        r.province = "p".repeat(128);
        assert!(check(r).is_ok());
    }
}
