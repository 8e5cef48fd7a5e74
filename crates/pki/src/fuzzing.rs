//! Entry points for the `cargo fuzz` targets in `fuzz/` and for the corpus
//! replay test that runs them on stable Rust. Each takes arbitrary bytes and
//! drives the same parsers the upload, issuance and convert paths use; errors
//! are expected, only a panic, hang or abort is a finding.

use crate::csr::{CsrPolicy, ParsedCsr};
use crate::formats::{JKS_MAGIC, jks_digest, jks_read};
use crate::inspect::CertInfo;
use crate::keys::PrivateKey;
use crate::pkcs12_read::pkcs12_read;
use crate::upload::{check_key_matches, parse_uploaded_chain, parse_uploaded_key};
use crate::{pem, verify};

/// The password the keystore target tries; the JKS seeds are written with it.
pub const KEYSTORE_PASSWORD: &str = "changeit";

/// CSRs as UploadCsr, CreateCertificateRequest and orders read them: PEM, then
/// the bytes as DER, with both RSA-1024 policies.
pub fn csr_parse(data: &[u8]) {
    for allow_rsa_1024 in [false, true] {
        let policy = CsrPolicy { allow_rsa_1024 };
        if let Ok(text) = std::str::from_utf8(data)
            && let Ok(csr) = ParsedCsr::from_pem(text, policy)
        {
            let _ = csr.to_pem();
        }
        let _ = ParsedCsr::from_der(data, policy);
    }
}

/// Certificates as the uploads and the convert action read them: a PEM chain
/// (with its issuer-order and signature checks), single PEM/DER certificates.
pub fn cert_parse(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(chain) = parse_uploaded_chain(text) {
            let _ = crate::upload::chain_entries(&chain.chain_der);
            let _ = crate::upload::issuer_fields(&chain.cert_der);
        }
        let _ = CertInfo::parse_pem(text);
        if let Ok(ders) = pem::certs_from_pem(text) {
            for d in &ders {
                let _ = CertInfo::parse(d);
            }
        }
    }
    if CertInfo::parse(data).is_ok() {
        let _ = crate::upload::issuer_fields(data);
        // Self-signed or not, verifying against its own key walks the signature decoders.
        if let Ok(cert) = <x509_cert::Certificate as der::Decode>::from_der(data)
            && let Ok(spki) = der::Encode::to_der(cert.tbs_certificate().subject_public_key_info())
        {
            let _ = verify::verify_certificate_signature_any_sm2_id(data, &spki);
        }
    }
}

/// Private keys: the upload `Key` field, PEM with a password (convert), and
/// raw DER in every encoding the crate reads.
pub fn key_parse(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_uploaded_key(text);
        let _ = PrivateKey::from_pem_with_password(text, KEYSTORE_PASSWORD);
    }
    let _ = PrivateKey::from_der(data);
    let _ = PrivateKey::from_pkcs8_der(data);
    let _ = PrivateKey::from_pkcs1_der(data);
    if let Ok(key) = PrivateKey::from_sec1_der(data) {
        let _ = key.to_pkcs8_der();
    }
}

/// PKCS#12 and JKS key stores as the convert action opens them. A JKS store
/// ends in a keyed digest checked before anything else is read, so the
/// digest is recomputed here: otherwise the fuzzer could never reach the
/// entry parser behind it.
pub fn keystore_import(data: &[u8]) {
    let _ = pkcs12_read(data, KEYSTORE_PASSWORD);
    if data.starts_with(&JKS_MAGIC.to_be_bytes()) && data.len() >= 20 {
        let body = &data[..data.len() - 20];
        let mut fixed = body.to_vec();
        fixed.extend_from_slice(&jks_digest(KEYSTORE_PASSWORD, body));
        if let Ok((certs, Some(key))) = jks_read(&fixed, KEYSTORE_PASSWORD)
            && let Some(leaf) = certs.first()
        {
            let _ = check_key_matches(leaf, &key);
        }
    }
    let _ = jks_read(data, KEYSTORE_PASSWORD);
}
