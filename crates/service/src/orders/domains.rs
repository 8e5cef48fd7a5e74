//! The names an order asks for, and the challenge each must publish.

use super::Product;
use super::upstream::DomainChallenge;
use crate::{Result, ServiceError};
use opencas_pki::{ParsedCsr, San};
use opencas_store::ChallengeRecord;

/// `DNS` or `FILE`, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidateType {
    Dns,
    File,
}

impl ValidateType {
    pub const API_VALUES: [&'static str; 2] = ["DNS", "FILE"];

    pub fn from_api(s: &str) -> Option<Self> {
        match s {
            "DNS" => Some(Self::Dns),
            "FILE" => Some(Self::File),
            _ => None,
        }
    }

    pub fn as_api(self) -> &'static str {
        match self {
            Self::Dns => "DNS",
            Self::File => "FILE",
        }
    }
}

/// The file a FILE challenge serves, under each domain.
pub const FILE_PATH: &str = "/.well-known/pki-validation/fileauth.txt";
/// The label a DNS challenge's TXT record sits under.
pub const DNS_LABEL: &str = "_dnsauth";

/// Parses `Domain` (comma-separated) against the product's rules: DNS names of at least
/// two labels, lower-cased, no repeats; at most the product's count; wildcards only for a
/// wildcard product, only with DNS validation, and not mixed with plain names.
pub fn parse_domains(text: &str, product: &Product, validate: ValidateType) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = raw.to_ascii_lowercase();
        San::parse_dns(&name)
            .map_err(|e| ServiceError::invalid("Domain", format!("'{raw}' is not a valid domain name: {e}.")))?;
        if !name.trim_start_matches("*.").contains('.') {
            return Err(ServiceError::invalid(
                "Domain",
                format!("'{raw}' is not a public domain name (it needs at least two labels)."),
            ));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(ServiceError::MissingParameter("Domain"));
    }
    if out.len() > product.max_domains {
        return Err(ServiceError::invalid(
            "Domain",
            format!(
                "{} allows at most {} domain name(s); {} were given.",
                product.code,
                product.max_domains,
                out.len()
            ),
        ));
    }
    let wildcards = out.iter().filter(|d| d.starts_with("*.")).count();
    if wildcards > 0 {
        if !product.wildcard {
            return Err(ServiceError::invalid(
                "Domain",
                format!("{} does not cover wildcard domain names.", product.code),
            ));
        }
        if validate != ValidateType::Dns {
            return Err(ServiceError::invalid(
                "ValidateType",
                "A wildcard domain name can only be validated by DNS.",
            ));
        }
        if wildcards != out.len() {
            return Err(ServiceError::invalid(
                "Domain",
                "Single and wildcard domain names cannot be mixed in one certificate.",
            ));
        }
    }
    Ok(out)
}

/// Checks that a CSR names exactly the order's domains (CN and DNS SANs together).
/// Without `Domain`, the CSR's names are the order's.
pub fn csr_domains(csr: &ParsedCsr, asked: Option<&[String]>) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    let cn = csr.subject.common_name.to_ascii_lowercase();
    if !cn.is_empty() {
        names.push(cn);
    }
    for san in &csr.sans {
        match san {
            San::Dns(d) => {
                let d = d.to_ascii_lowercase();
                if !names.contains(&d) {
                    names.push(d);
                }
            }
            other => {
                return Err(ServiceError::invalid(
                    "Csr",
                    format!(
                        "A DV certificate names domains only; the CSR asks for {}.",
                        other.value()
                    ),
                ));
            }
        }
    }
    if names.is_empty() {
        return Err(ServiceError::invalid("Csr", "The CSR names no domain (CN or DNS SAN)."));
    }
    if let Some(asked) = asked {
        let mut a: Vec<&String> = asked.iter().collect();
        let mut n: Vec<&String> = names.iter().collect();
        a.sort();
        n.sort();
        if a != n {
            return Err(ServiceError::invalid(
                "Csr",
                format!(
                    "The CSR's names ({}) are not the order's domains ({}).",
                    names.join(","),
                    asked.join(",")
                ),
            ));
        }
        return Ok(asked.to_vec());
    }
    Ok(names)
}

/// A random token of lower-case letters and digits.
pub fn token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The challenge each domain must publish for the built-in issuer.
pub fn builtin_challenges(domains: &[String], validate: ValidateType) -> Vec<ChallengeRecord> {
    domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let base = d.trim_start_matches("*.");
            let (record_name, kind) = match validate {
                ValidateType::Dns => (format!("{DNS_LABEL}.{base}"), "DNS"),
                ValidateType::File => (FILE_PATH.to_owned(), "FILE"),
            };
            ChallengeRecord {
                position: i as i64,
                domain: d.clone(),
                kind: kind.into(),
                record_name,
                value: token(64),
                validated_at: None,
            }
        })
        .collect()
}

pub fn to_challenge(c: &ChallengeRecord) -> DomainChallenge {
    if c.kind == "DNS" {
        DomainChallenge::DnsTxt {
            record_name: c.record_name.clone(),
            value: c.value.clone(),
        }
    } else {
        DomainChallenge::HttpFile {
            domain: c.domain.clone(),
            path: c.record_name.clone(),
            content: c.value.clone(),
        }
    }
}

pub fn from_challenge(position: usize, domain: &str, c: &DomainChallenge) -> ChallengeRecord {
    let (kind, record_name, value) = match c {
        DomainChallenge::DnsTxt { record_name, value } => ("DNS", record_name.clone(), value.clone()),
        DomainChallenge::HttpFile { path, content, .. } => ("FILE", path.clone(), content.clone()),
    };
    ChallengeRecord {
        position: position as i64,
        domain: domain.to_owned(),
        kind: kind.into(),
        record_name,
        value,
        validated_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::product;

    #[test]
    fn domain_rules() {
        let free = product("symantec-free-1-free").unwrap();
        let wild = product("geotrust-dv-w-starter").unwrap();
        let multi = product("geotrust-dv-1-starter").unwrap();
        assert_eq!(
            parse_domains(" WWW.Example.com ", free, ValidateType::File).unwrap(),
            ["www.example.com"]
        );
        let code = |r: Result<Vec<String>>| match r.unwrap_err() {
            ServiceError::InvalidParameter { name, .. } => name,
            ServiceError::MissingParameter(n) => n,
            e => panic!("{e:?}"),
        };
        assert_eq!(code(parse_domains("a.com,b.com", free, ValidateType::Dns)), "Domain");
        assert_eq!(code(parse_domains("*.a.com", free, ValidateType::Dns)), "Domain");
        assert_eq!(code(parse_domains("*.a.com", wild, ValidateType::File)), "ValidateType");
        assert_eq!(
            code(parse_domains("*.a.com,b.a.com", wild, ValidateType::Dns)),
            "Domain"
        );
        assert_eq!(code(parse_domains("localhost", multi, ValidateType::Dns)), "Domain");
        assert_eq!(code(parse_domains("a_b.com", multi, ValidateType::Dns)), "Domain");
        assert_eq!(code(parse_domains(" , ", multi, ValidateType::Dns)), "Domain");
        assert_eq!(
            code(parse_domains(
                "a.com,b.com,c.com,d.com,e.com,f.com",
                multi,
                ValidateType::Dns
            )),
            "Domain"
        );
        assert_eq!(
            parse_domains("*.a.com,*.b.com", wild, ValidateType::Dns).unwrap(),
            ["*.a.com", "*.b.com"]
        );
        let ch = builtin_challenges(&["*.a.com".into()], ValidateType::Dns);
        assert_eq!(ch[0].record_name, "_dnsauth.a.com");
        assert_eq!(ch[0].value.len(), 64);
        let ch = builtin_challenges(&["b.com".into()], ValidateType::File);
        assert_eq!((ch[0].kind.as_str(), ch[0].record_name.as_str()), ("FILE", FILE_PATH));
    }
}
