//! Certificates and keys uploaded by a user: parsed for real, never trusted.
//!
//! A `Cert` field holds the certificate followed by its chain (issuer first, root last); each
//! certificate must be issued by the next one, by name and by signature, so that a stored
//! chain can be served to TLS clients as is. A `Key` field holds one unencrypted private key
//! (PKCS#8, PKCS#1, SEC1; RSA, ECDSA or SM2) which must belong to the first certificate.

use der::Decode;
use spki::SubjectPublicKeyInfoRef;
use x509_cert::certificate::{CertificateInner, Raw};

use crate::alg::KeyFamily;
use crate::error::{Error, Result};
use crate::inspect::CertInfo;
use crate::keys::PrivateKey;
use crate::name::SubjectFields;
use crate::pem;
use crate::verify::verify_certificate_signature_any_sm2_id;

/// Most certificates accepted in one `Cert` field (leaf included). Real chains have two to four.
pub const MAX_CHAIN_LEN: usize = 10;

/// A parsed `Cert` field: the certificate and the chain that came with it.
#[derive(Clone, Debug)]
pub struct UploadedChain {
    /// The certificate itself, DER.
    pub cert_der: Vec<u8>,
    /// What the API reports about it.
    pub info: CertInfo,
    /// Its issuer's name fields (CN, O, ...).
    pub issuer: SubjectFields,
    /// The certificates after it, DER, issuer first.
    pub chain_der: Vec<Vec<u8>>,
}

/// One certificate of a chain as the detail views describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEntry {
    /// Subject commonName.
    pub common_name: String,
    /// Issuer commonName.
    pub issuer_common_name: String,
    /// notBefore, Unix milliseconds.
    pub not_before_ms: i64,
    /// notAfter, Unix milliseconds.
    pub not_after_ms: i64,
}

fn parse_raw(der: &[u8]) -> Result<CertificateInner<Raw>> {
    CertificateInner::<Raw>::from_der(der).map_err(Error::malformed_cert)
}

/// The issuer name fields of a DER certificate.
pub fn issuer_fields(cert_der: &[u8]) -> Result<SubjectFields> {
    Ok(SubjectFields::from_name(
        parse_raw(cert_der)?.tbs_certificate().issuer(),
    ))
}

/// Describes every certificate of `ders` (CN, issuer CN, validity). Detail reads call this for
/// every stored certificate they show, so it decodes the four fields and nothing else (no key,
/// extension or fingerprint work, one decode per certificate).
pub fn chain_entries(ders: &[Vec<u8>]) -> Result<Vec<ChainEntry>> {
    ders.iter()
        .map(|d| {
            let cert = parse_raw(d)?;
            let tbs = cert.tbs_certificate();
            let v = tbs.validity();
            Ok(ChainEntry {
                common_name: SubjectFields::from_name(tbs.subject()).common_name,
                issuer_common_name: SubjectFields::from_name(tbs.issuer()).common_name,
                not_before_ms: crate::issue::time_to_unix(&v.not_before) * 1000,
                not_after_ms: crate::issue::time_to_unix(&v.not_after) * 1000,
            })
        })
        .collect()
}

/// Parses a `Cert` field: one or more `CERTIFICATE` PEM blocks and nothing else.
///
/// Errors: [`Error::Pem`] for text that is not PEM, holds no certificate, holds another kind of
/// block (a private key pasted into the certificate field is refused rather than dropped) or more
/// than [`MAX_CHAIN_LEN`] certificates; [`Error::MalformedCertificate`] for a block that is not an
/// X.509 certificate, or a chain whose certificates do not issue each other in order.
pub fn parse_uploaded_chain(text: &str) -> Result<UploadedChain> {
    let blocks = pem::parse_blocks(text)?;
    if let Some(other) = blocks.iter().find(|b| b.label != "CERTIFICATE") {
        return Err(Error::Pem(format!(
            "only CERTIFICATE blocks are accepted here, found {}",
            other.label
        )));
    }
    if blocks.is_empty() {
        return Err(Error::Pem("no CERTIFICATE block".into()));
    }
    if blocks.len() > MAX_CHAIN_LEN {
        return Err(Error::Pem(format!(
            "{} certificates; at most {MAX_CHAIN_LEN} are accepted",
            blocks.len()
        )));
    }
    let ders: Vec<Vec<u8>> = blocks.into_iter().map(|b| b.der).collect();
    let parsed = ders.iter().map(|d| parse_raw(d)).collect::<Result<Vec<_>>>()?;
    let info = CertInfo::parse(&ders[0])?;
    for (i, pair) in parsed.windows(2).enumerate() {
        let (child, parent) = (pair[0].tbs_certificate(), pair[1].tbs_certificate());
        if child.issuer() != parent.subject() {
            return Err(Error::MalformedCertificate(format!(
                "certificate {} of the chain was not issued by certificate {}: the chain must run from the \
                 certificate to its root, each certificate followed by its issuer",
                i + 1,
                i + 2
            )));
        }
        let parent_spki = der::Encode::to_der(parent.subject_public_key_info())?;
        verify_certificate_signature_any_sm2_id(&ders[i], &parent_spki).map_err(|_| {
            Error::MalformedCertificate(format!(
                "the signature of certificate {} does not verify with the key of certificate {}",
                i + 1,
                i + 2
            ))
        })?;
    }
    Ok(UploadedChain {
        issuer: SubjectFields::from_name(parsed[0].tbs_certificate().issuer()),
        cert_der: ders[0].clone(),
        info,
        chain_der: ders[1..].to_vec(),
    })
}

/// Loads a `Key` field: one unencrypted private key, PKCS#8 / PKCS#1 / SEC1 PEM.
///
/// Errors: [`Error::PasswordRequired`] for an encrypted PKCS#8 key (no upload action carries a
/// password), [`Error::UnsupportedKey`] for a legacy OpenSSL-encrypted key or an unsupported
/// algorithm or size, [`Error::Pem`] / [`Error::MalformedKey`] for anything else.
///
/// OpenSSL writes SM2 keys in SEC1 form under the label `SM2 PRIVATE KEY`; such a block is read as
/// SEC1 and must hold a key on the SM2 curve.
pub fn parse_uploaded_key(text: &str) -> Result<PrivateKey> {
    let blocks = pem::parse_blocks(text)?;
    if let Some(b) = blocks.iter().find(|b| b.label == "SM2 PRIVATE KEY") {
        if b.encrypted_headers {
            return Err(Error::UnsupportedKey(
                "legacy OpenSSL-encrypted PEM; convert with `openssl pkcs8 -topk8`".into(),
            ));
        }
        let key = PrivateKey::from_sec1_der(&b.der)?;
        if key.family() != KeyFamily::Sm2 {
            return Err(Error::MalformedKey(
                "an SM2 PRIVATE KEY block holding a non-SM2 key".into(),
            ));
        }
        return Ok(key);
    }
    PrivateKey::from_pem(text)
}

/// Checks that `key` is the private key of the certificate `cert_der`, by comparing public keys
/// (the bits only: an SM2 certificate may name `id-ecPublicKey` or `id-sm2`).
pub fn check_key_matches(cert_der: &[u8], key: &PrivateKey) -> Result<()> {
    let cert = parse_raw(cert_der)?;
    let cert_bits = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    let key_spki = SubjectPublicKeyInfoRef::from_der(key.public_key_spki_der()).map_err(Error::malformed_key)?;
    if cert_bits == key_spki.subject_public_key.raw_bytes() {
        Ok(())
    } else {
        Err(Error::KeyMismatch)
    }
}

/// Whether the certificate's key is an SM2 key.
pub fn is_sm2(info: &CertInfo) -> bool {
    info.key_family == Some(KeyFamily::Sm2)
}
