//! CSR management (API 2020-04-07): requests made here with a generated key (`CreateCsr`)
//! or uploaded (`UploadCsr`), optionally with their private key, kept per account for the
//! issuance actions.

mod create;
mod reads;
#[cfg(test)]
mod service_tests;
mod upload;

pub use create::{CreateCsrRequest, CreateCsrResponse};
pub use reads::{CsrDetailResponse, CsrListItem, ListCsrRequest, ListCsrResponse};
pub use upload::{UploadCsrRequest, UploadCsrResponse};

use crate::{Result, ServiceError};
use opencas_pki::{PrivateKey, San, pem};
use sha2::{Digest, Sha256};

/// The longest `Name` of a CSR.
pub const MAX_NAME_LEN: usize = 50;

pub(crate) fn csr_not_found(id: i64) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFound.Csr",
        message: format!("The CSR {id} does not exist."),
    }
}

fn key_mismatch() -> ServiceError {
    ServiceError::Conflict {
        code: "NotMatch.CsrAndPrivateKey",
        message: "The private key does not belong to the public key of the CSR.".into(),
    }
}

/// `KeySha2`: SHA-256 over the DER `SubjectPublicKeyInfo`, lower-case hex.
pub(crate) fn key_sha256(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// A user-chosen `Name`: at most [`MAX_NAME_LEN`] characters of letters, digits and
/// `extra` (the two actions document different sets).
fn check_name(name: Option<String>, extra: &str) -> Result<Option<String>> {
    let Some(name) = name else { return Ok(None) };
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ServiceError::invalid(
            "Name",
            format!("Name must be at most {MAX_NAME_LEN} characters."),
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c)) {
        let allowed: Vec<String> = extra.chars().map(|c| format!("'{c}'")).collect();
        return Err(ServiceError::invalid(
            "Name",
            format!("Name may contain only letters, digits and {}.", allowed.join(", ")),
        ));
    }
    Ok(Some(name))
}

/// The name a CSR gets when none is given: its common name (or first SAN), cut to size.
fn default_name(common_name: &str, sans: &[String]) -> String {
    let base = if common_name.is_empty() {
        sans.first().map(String::as_str).unwrap_or("csr")
    } else {
        common_name
    };
    base.chars().take(MAX_NAME_LEN).collect()
}

/// The `Sans` of the listing: the secondary names, i.e. every SAN but the common name.
fn secondary_sans(common_name: &str, sans: &[San]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in sans.iter().map(San::value) {
        if v != common_name && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Reads an unencrypted private key given as PEM (PKCS#8, PKCS#1 or SEC1).
fn parse_private_key(text: &str) -> Result<PrivateKey> {
    let blocks = pem::parse_blocks(text)
        .map_err(|e| ServiceError::invalid("Key", format!("The private key is not PEM: {e}.")))?;
    if blocks
        .iter()
        .any(|b| b.label == "ENCRYPTED PRIVATE KEY" || (b.label.ends_with("PRIVATE KEY") && b.encrypted_headers))
    {
        return Err(ServiceError::invalid(
            "Key",
            "Encrypted private keys are not accepted; upload the key unencrypted \
             (for example the output of `openssl pkey -in key.pem`).",
        ));
    }
    let bad = |e: opencas_pki::Error| {
        ServiceError::invalid(
            "Key",
            format!("The private key is not an RSA, ECC or SM2 key in PKCS#8, PKCS#1 or SEC1 PEM: {e}."),
        )
    };
    PrivateKey::from_pem(text).map_err(bad)
}

/// Refuses `key` unless it is the private half of the CSR's public key.
fn check_key_matches(key: &PrivateKey, csr_spki_der: &[u8]) -> Result<()> {
    match opencas_pki::key_matches_spki(key, csr_spki_der) {
        Ok(true) => Ok(()),
        Ok(false) => Err(key_mismatch()),
        Err(e) => Err(ServiceError::Internal(format!("stored CSR key: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name(None, "_-.").unwrap(), None);
        assert_eq!(check_name(Some("a.b_c-1".into()), "_-.").unwrap().unwrap(), "a.b_c-1");
        assert!(check_name(Some("a.b".into()), "_-").is_err());
        assert!(check_name(Some("a b".into()), "_-.").is_err());
        assert!(check_name(Some("ü".into()), "_-.").is_err());
        assert!(check_name(Some("x".repeat(50)), "_-.").is_ok());
        assert!(check_name(Some("x".repeat(51)), "_-.").is_err());
        assert_eq!(default_name(&"y".repeat(60), &[]), "y".repeat(50));
        assert_eq!(default_name("", &["alt.example.com".into()]), "alt.example.com");
    }

    #[test]
    fn secondary_sans_drop_the_common_name_and_duplicates() {
        let sans = [
            San::parse_dns("a.example.com").unwrap(),
            San::parse_dns("b.example.com").unwrap(),
            San::parse_ip("10.0.0.1").unwrap(),
            San::parse_dns("b.example.com").unwrap(),
        ];
        assert_eq!(secondary_sans("a.example.com", &sans), ["b.example.com", "10.0.0.1"]);
    }

    #[test]
    fn encrypted_and_garbage_keys_are_refused_by_name() {
        let enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = parse_private_key(enc).unwrap_err().to_string();
        assert!(err.contains("Encrypted"), "{err}");
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nMAA=\n-----END RSA PRIVATE KEY-----\n";
        let err = parse_private_key(legacy).unwrap_err().to_string();
        assert!(err.contains("Encrypted"), "{err}");
        assert!(matches!(
            parse_private_key("not a key"),
            Err(ServiceError::InvalidParameter { name: "Key", .. })
        ));
    }
}
