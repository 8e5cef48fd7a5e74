//! Format conversion of certificate files that are not stored here, as the console's
//! "Convert Certificate Format" does: PEM, DER, PKCS#12 (PFX) or JKS in; PEM, DER, encrypted
//! PKCS#8, PFX or JKS out. Nothing touches the store; the rendering is the download's.

use crate::issuance::{Bundle, Download, DownloadFormat, render};
use crate::{Result, ServiceError};
use opencas_pki::{CertInfo, PrivateKey, pem};

/// The files to convert: a certificate file (which may also hold the chain and the key) and
/// perhaps a separate key file; `input_password` opens a PFX, a JKS or an encrypted key.
pub struct ConvertInput {
    pub cert_file: Vec<u8>,
    pub key_file: Option<Vec<u8>>,
    pub input_password: Option<String>,
}

const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];

/// `input` as `format`, protected by `password` where the format holds a key. CPU-bound.
pub fn convert_files(input: ConvertInput, format: DownloadFormat, password: Option<String>) -> Result<Download> {
    let ConvertInput {
        cert_file,
        key_file,
        input_password,
    } = input;
    let (mut certs, mut key) = read_certificate_file(&cert_file, input_password.as_deref())?;
    if let Some(key_file) = key_file {
        if key.is_some() {
            return Err(ServiceError::invalid(
                "key",
                "The certificate file already holds a private key.",
            ));
        }
        let text = std::str::from_utf8(&key_file)
            .map_err(|_| ServiceError::invalid("key", "The key file is not PEM text."))?;
        key = Some(
            read_key(text, input_password.as_deref())?
                .ok_or_else(|| ServiceError::invalid("key", "The key file holds no private key."))?,
        );
    }
    if let Some(k) = &key {
        opencas_pki::check_key_matches(&certs[0], k)
            .map_err(|_| ServiceError::invalid("key", "The private key does not belong to the certificate."))?;
    }
    let cert_der = certs.remove(0);
    let name = CertInfo::parse(&cert_der)
        .ok()
        .map(|info| info.subject.common_name)
        .filter(|cn| !cn.is_empty())
        .unwrap_or_else(|| "certificate".to_owned());
    let bundle = Bundle {
        stem: "certificate".to_owned(),
        name,
        cert_der,
        chain_der: certs,
        key,
    };
    render(bundle, format, password, "The input holds no private key.")
}

/// The certificates (leaf first) and key of a PEM, DER, PFX or JKS file.
fn read_certificate_file(data: &[u8], password: Option<&str>) -> Result<(Vec<Vec<u8>>, Option<PrivateKey>)> {
    let bad = |m: &str| ServiceError::invalid("cert", m);
    let need_password = || ServiceError::invalid("password", "This file is protected: give its password.");
    let opened = |r: opencas_pki::Result<(Vec<Vec<u8>>, Option<PrivateKey>)>| match r {
        Ok((certs, _)) if certs.is_empty() => Err(bad("The key store holds no certificate.")),
        Ok(found) => Ok(found),
        Err(opencas_pki::Error::DecryptionFailed) => Err(ServiceError::invalid(
            "password",
            "The password does not open this file.",
        )),
        Err(e) => Err(bad(&format!("Not a readable key store: {e}"))),
    };
    if data.starts_with(&JKS_MAGIC) {
        return opened(opencas_pki::jks_read(data, password.ok_or_else(need_password)?));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && text.contains("-----BEGIN")
    {
        let certs = pem::certs_from_pem(text).map_err(|e| bad(&format!("Not a readable PEM file: {e}")))?;
        if certs.is_empty() {
            return Err(bad("The PEM file holds no certificate."));
        }
        // The leaf is the certificate of the key when there is one; the chain keeps file order.
        return Ok((certs, read_key(text, password)?));
    }
    if CertInfo::parse(data).is_ok() {
        return Ok((vec![data.to_vec()], None));
    }
    opened(opencas_pki::pkcs12_read(data, password.ok_or_else(need_password)?))
}

/// The private key in PEM `text`, if it holds one (PKCS#1, SEC1, SM2, PKCS#8, encrypted PKCS#8).
fn read_key(text: &str, password: Option<&str>) -> Result<Option<PrivateKey>> {
    if !text.contains("PRIVATE KEY-----") {
        return Ok(None);
    }
    let key = match password {
        Some(p) if text.contains("BEGIN ENCRYPTED PRIVATE KEY") => PrivateKey::from_pem_with_password(text, p),
        _ => opencas_pki::parse_uploaded_key(text),
    };
    key.map(Some).map_err(|e| match e {
        opencas_pki::Error::PasswordRequired => {
            ServiceError::invalid("password", "The private key is encrypted: give its password.")
        }
        opencas_pki::Error::DecryptionFailed => {
            ServiceError::invalid("password", "The password does not open the private key.")
        }
        other => ServiceError::invalid("key", format!("Not a readable private key: {other}")),
    })
}
