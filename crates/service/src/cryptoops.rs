//! Cryptographic operations with keys the service holds: Encrypt, Decrypt, Sign, Verify.
//! The key is that of a certificate of the caller's, named by `CertIdentifier` or
//! `CustomIdentifier` (optionally within a warehouse). Operations that need the private key
//! refuse certificates without one; every operation refuses revoked and expired certificates.

use crate::{Caller, Result, Service, ServiceError, blocking, issuance};
use opencas_pki::PrivateKey;
use opencas_pki::cryptoops::{self, CmsSigner, EncryptionAlgorithm, SignInput, SigningScheme};
use opencas_store::{CertRecord, now_millis};
use serde::Serialize;

/// Which certificate's key to use.
#[derive(Debug, Clone, Default)]
pub struct KeyRef {
    pub cert_identifier: Option<String>,
    pub custom_identifier: Option<String>,
    pub warehouse_id: Option<i64>,
}

/// What is signed or verified.
#[derive(Debug, Clone)]
pub enum SignData {
    Message(Vec<u8>),
    Digest(Vec<u8>),
}

impl SignData {
    fn input(&self) -> SignInput<'_> {
        match self {
            Self::Message(m) => SignInput::Message(m),
            Self::Digest(d) => SignInput::Digest(d),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    pub cert_identifier: String,
    pub ciphertext_blob: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub cert_identifier: String,
    pub plaintext: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    pub signature: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    pub signature_valid: bool,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn ops_error(e: opencas_pki::Error, algorithm_param: &'static str) -> ServiceError {
    use opencas_pki::Error as E;
    match e {
        E::AlgorithmMismatch(m) | E::UnsupportedKey(m) | E::UnsupportedAlgorithm(m) => {
            ServiceError::invalid(algorithm_param, format!("{m}."))
        }
        E::PlaintextTooLong { max } => ServiceError::invalid(
            "Plaintext",
            format!("The plaintext is longer than the {max} bytes this algorithm can encrypt with this key."),
        ),
        E::CiphertextInvalid => ServiceError::invalid(
            "CiphertextBlob",
            "The ciphertext cannot be decrypted with this certificate's key and algorithm.",
        ),
        E::InvalidDigest(m) => ServiceError::invalid("Message", format!("The digest is invalid: {m}.")),
        other => ServiceError::Internal(format!("pki: {other}")),
    }
}

impl Service {
    /// The certificate `key` names, usable now.
    async fn operation_certificate(&self, caller: Caller, key: &KeyRef) -> Result<CertRecord> {
        let found = match (&key.cert_identifier, &key.custom_identifier) {
            (Some(id), _) => self.store.find_certificate(caller.account_id, id).await?,
            (None, Some(custom)) => {
                self.store
                    .find_certificate_by_custom_identifier(caller.account_id, custom)
                    .await?
            }
            (None, None) => return Err(ServiceError::MissingParameter("CertIdentifier")),
        };
        let named = key
            .cert_identifier
            .as_deref()
            .or(key.custom_identifier.as_deref())
            .unwrap_or_default();
        let cert = found
            .filter(|c| key.warehouse_id.is_none() || c.warehouse_id == key.warehouse_id)
            .ok_or_else(|| issuance::cert_not_found(named))?;
        let problem = if cert.revoked_at.is_some() || cert.status == issuance::STATUS_REVOKE {
            Some("is revoked")
        } else if cert.not_after <= now_millis() {
            Some("has expired")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ServiceError::Conflict {
                code: "InvalidStatus.Certificate",
                message: format!("The certificate {} {problem}; its key cannot be used.", cert.identifier),
            });
        }
        Ok(cert)
    }

    async fn operation_key(&self, caller: Caller, cert: &CertRecord) -> Result<PrivateKey> {
        let der = self
            .store
            .certificate_private_key(caller.account_id, &cert.identifier)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "NotFound.PrivateKey",
                message: format!("The service does not hold the private key of {}.", cert.identifier),
            })?;
        PrivateKey::from_pkcs8_der(&der).map_err(|e| ServiceError::Internal(format!("stored key: {e}")))
    }

    fn certificate_spki(cert: &CertRecord) -> Result<Vec<u8>> {
        opencas_pki::CertInfo::parse(&cert.cert_der)
            .map(|info| info.public_key_spki_der)
            .map_err(|e| ServiceError::Internal(format!("stored certificate: {e}")))
    }

    pub async fn encrypt(
        &self,
        caller: Caller,
        key: KeyRef,
        algorithm: EncryptionAlgorithm,
        plaintext: Vec<u8>,
    ) -> Result<EncryptResponse> {
        let cert = self.operation_certificate(caller, &key).await?;
        let spki = Self::certificate_spki(&cert)?;
        let ciphertext = blocking(move || cryptoops::encrypt(&spki, algorithm, &plaintext))
            .await?
            .map_err(|e| ops_error(e, "Algorithm"))?;
        Ok(EncryptResponse {
            cert_identifier: cert.identifier,
            ciphertext_blob: b64(&ciphertext),
        })
    }

    /// Decrypts; `as_utf8` answers the plaintext as text (it must then be UTF-8), else Base64.
    pub async fn decrypt(
        &self,
        caller: Caller,
        key: KeyRef,
        algorithm: EncryptionAlgorithm,
        ciphertext: Vec<u8>,
        as_utf8: bool,
    ) -> Result<DecryptResponse> {
        let cert = self.operation_certificate(caller, &key).await?;
        let private = self.operation_key(caller, &cert).await?;
        let plaintext = blocking(move || cryptoops::decrypt(&private, algorithm, &ciphertext))
            .await?
            .map_err(|e| ops_error(e, "Algorithm"))?;
        let plaintext = if as_utf8 {
            String::from_utf8(plaintext).map_err(|_| {
                ServiceError::invalid("MessageType", "The plaintext is not UTF-8 text; ask for it as Base64.")
            })?
        } else {
            b64(&plaintext)
        };
        Ok(DecryptResponse {
            cert_identifier: cert.identifier,
            plaintext,
        })
    }

    pub async fn sign(
        &self,
        caller: Caller,
        key: KeyRef,
        scheme: SigningScheme,
        data: SignData,
    ) -> Result<SignResponse> {
        let cert = self.operation_certificate(caller, &key).await?;
        let private = self.operation_key(caller, &cert).await?;
        let signing_time = now_millis() / 1000;
        let signature = blocking(move || {
            let cms = CmsSigner {
                cert_der: &cert.cert_der,
                signing_time,
            };
            cryptoops::sign(&private, scheme, data.input(), Some(cms))
        })
        .await?
        .map_err(|e| ops_error(e, "SigningAlgorithm"))?;
        Ok(SignResponse {
            signature: b64(&signature),
        })
    }

    pub async fn verify(
        &self,
        caller: Caller,
        key: KeyRef,
        scheme: SigningScheme,
        data: SignData,
        signature: Vec<u8>,
    ) -> Result<VerifyResponse> {
        let cert = self.operation_certificate(caller, &key).await?;
        let spki = Self::certificate_spki(&cert)?;
        let valid = blocking(move || cryptoops::verify(&spki, scheme, data.input(), &signature))
            .await?
            .map_err(|e| ops_error(e, "SigningAlgorithm"))?;
        Ok(VerifyResponse { signature_valid: valid })
    }
}
