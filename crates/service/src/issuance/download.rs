//! Certificates as files, in the formats servers install: PEM, DER, encrypted PKCS#8,
//! PKCS#12 (PFX) and JKS. A private key leaves only encrypted under the caller's password.

use crate::{Caller, Result, Service, ServiceError, blocking};
use opencas_pki::{PrivateKey, os_rng, pem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadFormat {
    Pem,
    Der,
    Pkcs8,
    Pfx,
    Jks,
}

impl DownloadFormat {
    pub const API_VALUES: [&'static str; 5] = ["pem", "der", "pkcs8", "pfx", "jks"];

    pub fn from_api(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "pem" => Self::Pem,
            "der" => Self::Der,
            "pkcs8" => Self::Pkcs8,
            "pfx" | "p12" | "pkcs12" => Self::Pfx,
            "jks" => Self::Jks,
            _ => return None,
        })
    }
}

/// A file to hand over.
#[derive(Debug)]
pub struct Download {
    pub content_type: &'static str,
    pub file_name: String,
    pub body: Vec<u8>,
}

fn check_password(password: &str) -> Result<()> {
    let ok = !password.is_empty() && password.len() <= 64 && password.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "password",
            "The password must be 1-64 printable ASCII characters without spaces.",
        ))
    }
}

impl Service {
    /// The certificate `identifier` (a stored certificate, or a CA) with its chain, and
    /// its private key when one is held and a password protects it.
    pub async fn download_certificate(
        &self,
        caller: Caller,
        identifier: &str,
        format: DownloadFormat,
        password: Option<String>,
    ) -> Result<Download> {
        let (cert_der, chain_pem, key, name) = match self.store.find_certificate(caller.account_id, identifier).await? {
            Some(c) => {
                let key = self
                    .store
                    .certificate_private_key(caller.account_id, identifier)
                    .await?;
                (c.cert_der, c.chain_pem, key, c.common_name)
            }
            None => {
                let ca = self
                    .ca_or_404(caller, identifier)
                    .await
                    .map_err(|_| super::cert_not_found(identifier))?;
                (ca.cert_der, ca.chain_pem, None, ca.common_name)
            }
        };
        let chain_der =
            pem::certs_from_pem(&chain_pem).map_err(|e| ServiceError::Internal(format!("stored chain: {e}")))?;
        let stem = identifier.to_owned();
        let no_key = format!("No private key of {identifier} is held here.");
        blocking(move || {
            let key = key
                .map(|k| PrivateKey::from_pkcs8_der(&k))
                .transpose()
                .map_err(pki_error)?;
            let bundle = Bundle {
                stem,
                name,
                cert_der,
                chain_der,
                key,
            };
            render(bundle, format, password, &no_key)
        })
        .await?
    }
}

/// A certificate with its chain (issuer first) and perhaps its key, to be written out as a file.
pub struct Bundle {
    /// The file name without its extension.
    pub stem: String,
    /// The PKCS#12 friendly name / JKS alias.
    pub name: String,
    pub cert_der: Vec<u8>,
    pub chain_der: Vec<Vec<u8>>,
    pub key: Option<PrivateKey>,
}

/// `bundle` in `format`; a private key only ever leaves encrypted under `password`.
/// CPU-bound (key encryption, PKCS#12 key derivation): call it from a blocking task.
pub fn render(bundle: Bundle, format: DownloadFormat, password: Option<String>, no_key: &str) -> Result<Download> {
    if let Some(p) = &password {
        check_password(p)?;
    }
    let needs_password = matches!(
        format,
        DownloadFormat::Pkcs8 | DownloadFormat::Pfx | DownloadFormat::Jks
    );
    if needs_password && password.is_none() {
        return Err(ServiceError::MissingParameter("password"));
    }
    let Bundle {
        stem,
        name,
        cert_der,
        mut chain_der,
        key,
    } = bundle;
    // A root is its own chain: hand it over once.
    chain_der.retain(|c| *c != cert_der);
    let file = |ext: &str| format!("{stem}.{ext}");
    let encrypt = |key: &PrivateKey, password: &str| -> Result<String> {
        Ok(key
            .to_encrypted_pkcs8_pem(password.as_bytes(), &mut os_rng())
            .map_err(pki_error)?
            .to_string())
    };
    let out = match format {
        DownloadFormat::Der => Download {
            content_type: "application/pkix-cert",
            file_name: file("cer"),
            body: cert_der,
        },
        DownloadFormat::Pem => {
            let mut text = pem::cert_der_to_pem(&cert_der);
            text.extend(chain_der.iter().map(|c| pem::cert_der_to_pem(c)));
            if let (Some(key), Some(password)) = (&key, &password) {
                text.push_str(&encrypt(key, password)?);
            }
            Download {
                content_type: "application/x-pem-file",
                file_name: file("pem"),
                body: text.into_bytes(),
            }
        }
        DownloadFormat::Pkcs8 => {
            let key = key.ok_or_else(|| ServiceError::NotFound {
                code: "NotFound.PrivateKey",
                message: no_key.to_owned(),
            })?;
            Download {
                content_type: "application/x-pem-file",
                file_name: file("key"),
                body: encrypt(&key, &password.unwrap_or_default())?.into_bytes(),
            }
        }
        DownloadFormat::Pfx | DownloadFormat::Jks => {
            let password = password.unwrap_or_default();
            let jks = format == DownloadFormat::Jks;
            let body = if jks {
                opencas_pki::formats::to_jks(&cert_der, &chain_der, key.as_ref(), &name, &password)
            } else {
                opencas_pki::formats::to_pkcs12(&cert_der, &chain_der, key.as_ref(), &name, &password)
            }
            .map_err(|e| match e {
                opencas_pki::Error::UnsupportedKey(m) => ServiceError::invalid("format", m),
                opencas_pki::Error::InvalidPassword(m) => ServiceError::invalid("password", m),
                other => pki_error(other),
            })?;
            let (content_type, ext) = if jks {
                ("application/x-java-keystore", "jks")
            } else {
                ("application/x-pkcs12", "pfx")
            };
            Download {
                content_type,
                file_name: file(ext),
                body,
            }
        }
    };
    Ok(out)
}

fn pki_error(e: opencas_pki::Error) -> ServiceError {
    ServiceError::Internal(format!("pki: {e}"))
}

/// `key` (PKCS#8 DER) as encrypted PKCS#8 PEM under `password`.
pub(super) async fn encrypt_key(key: Vec<u8>, password: String) -> Result<String> {
    blocking(move || -> opencas_pki::Result<String> {
        let key = PrivateKey::from_pkcs8_der(&key)?;
        Ok(key
            .to_encrypted_pkcs8_pem(password.as_bytes(), &mut os_rng())?
            .to_string())
    })
    .await?
    .map_err(|e| ServiceError::Internal(format!("pki: {e}")))
}
