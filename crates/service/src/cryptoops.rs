//! Cryptographic operations with keys the service holds: Encrypt, Decrypt, Sign, Verify.
//! The key is that of a certificate of the caller's, named by `CertIdentifier` or
//! `CustomIdentifier` (optionally within a warehouse). The private key is the certificate's
//! own or, for a certificate issued from a CSR made or completed here, that CSR's. Operations
//! that need the private key refuse certificates without one; every operation refuses revoked and expired certificates.

use crate::{Caller, Result, Service, ServiceError, blocking, issuance};
use opencas_pki::PrivateKey;
use opencas_pki::cryptoops::{self, EncryptionAlgorithm, OperationKey, SignInput, SigningScheme};
use opencas_store::{CertName, CertRecord, CertState, now_millis};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries each cache holds before it starts afresh; a crude bound, enough for a working set.
const CACHE_LIMIT: usize = 4096;

type CacheKey = (i64, String);

/// Parsed keys by (account, certificate identifier), so that Sign and Decrypt do not read,
/// unseal and parse the key on every request (parsing an RSA or SM2 key costs about as much
/// as the operation). A certificate's key never changes, so entries need no invalidation:
/// every request still reads the certificate row and checks its status (revoked, expired,
/// deleted) before a cached key is used.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    private: Mutex<HashMap<CacheKey, Arc<OperationKey>>>,
    public: Mutex<HashMap<CacheKey, Arc<Vec<u8>>>>,
}

fn cache_get<V: Clone>(map: &Mutex<HashMap<CacheKey, V>>, key: &CacheKey) -> Option<V> {
    map.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
}

fn cache_put<V>(map: &Mutex<HashMap<CacheKey, V>>, key: CacheKey, value: V) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CACHE_LIMIT {
        map.clear();
    }
    map.insert(key, value);
}

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
    /// The certificate `key` names, usable now. Only its state is read here, on every call;
    /// the DER and the key are read once, when they are not cached yet.
    async fn operation_certificate(&self, caller: Caller, key: &KeyRef) -> Result<CertState> {
        let name = match (&key.cert_identifier, &key.custom_identifier) {
            (Some(id), _) => CertName::Identifier(id),
            (None, Some(custom)) => CertName::CustomIdentifier(custom),
            (None, None) => return Err(ServiceError::MissingParameter("CertIdentifier")),
        };
        let named = match name {
            CertName::Identifier(v) | CertName::CustomIdentifier(v) => v,
        };
        let cert = self
            .store
            .certificate_state(caller.account_id, name)
            .await?
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

    /// The whole row of a certificate whose state was just read (on a cache miss).
    async fn operation_record(&self, caller: Caller, cert: &CertState) -> Result<CertRecord> {
        self.store
            .find_certificate(caller.account_id, &cert.identifier)
            .await?
            .ok_or_else(|| issuance::cert_not_found(&cert.identifier))
    }

    async fn operation_key(&self, caller: Caller, cert: &CertState) -> Result<Arc<OperationKey>> {
        let cache_key = (caller.account_id, cert.identifier.clone());
        if let Some(hit) = cache_get(&self.op_keys.private, &cache_key) {
            return Ok(hit);
        }
        let record = self.operation_record(caller, cert).await?;
        let (der, from_csr) = match self
            .store
            .certificate_private_key(caller.account_id, &cert.identifier)
            .await?
        {
            Some(der) => (der, false),
            None => {
                let spki = self.certificate_spki(caller, cert).await?;
                let csr_key = self
                    .store
                    .csr_private_key_for_public_key(caller.account_id, &crate::csr::key_sha256(&spki))
                    .await?;
                let der = csr_key.ok_or_else(|| ServiceError::NotFound {
                    code: "NotFound.PrivateKey",
                    message: format!("The service does not hold the private key of {}.", cert.identifier),
                })?;
                (der, true)
            }
        };
        let (cert_der, chain_pem) = (record.cert_der, record.chain_pem);
        let key = blocking(move || -> Result<OperationKey> {
            let private =
                PrivateKey::from_pkcs8_der(&der).map_err(|e| ServiceError::Internal(format!("stored key: {e}")))?;
            let chain = opencas_pki::pem::certs_from_pem(&chain_pem)
                .map_err(|e| ServiceError::Internal(format!("stored chain: {e}")))?;
            Ok(OperationKey::with_certificate(&private, cert_der, chain))
        })
        .await??;
        let key = Arc::new(key);
        // A CSR's key stays usable only while the CSR does (DeleteCsr takes it away), so it
        // is read afresh each time rather than cached under the certificate.
        if !from_csr {
            cache_put(&self.op_keys.private, cache_key, key.clone());
        }
        Ok(key)
    }

    async fn certificate_spki(&self, caller: Caller, cert: &CertState) -> Result<Arc<Vec<u8>>> {
        let cache_key = (caller.account_id, cert.identifier.clone());
        if let Some(hit) = cache_get(&self.op_keys.public, &cache_key) {
            return Ok(hit);
        }
        let record = self.operation_record(caller, cert).await?;
        let spki = opencas_pki::CertInfo::parse(&record.cert_der)
            .map(|info| Arc::new(info.public_key_spki_der))
            .map_err(|e| ServiceError::Internal(format!("stored certificate: {e}")))?;
        cache_put(&self.op_keys.public, cache_key, spki.clone());
        Ok(spki)
    }

    pub async fn encrypt(
        &self,
        caller: Caller,
        key: KeyRef,
        algorithm: EncryptionAlgorithm,
        plaintext: Vec<u8>,
    ) -> Result<EncryptResponse> {
        let cert = self.operation_certificate(caller, &key).await?;
        let spki = self.certificate_spki(caller, &cert).await?;
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
        let plaintext = blocking(move || private.decrypt(algorithm, &ciphertext))
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
        let run = move || private.sign(scheme, data.input(), private.cms_signer(signing_time));
        let signature = if scheme == SigningScheme::Sha256WithEcdsa {
            // tens of microseconds: cheaper here than the hop to the blocking pool
            run()
        } else {
            blocking(run).await?
        }
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
        let spki = self.certificate_spki(caller, &cert).await?;
        let run = move || cryptoops::verify(&spki, scheme, data.input(), &signature);
        // RSA verification and ECDSA are cheap enough to run in place; SM2 (pure Rust) is not
        let valid = if scheme == SigningScheme::Sm3WithSm2 {
            blocking(run).await?
        } else {
            run()
        }
        .map_err(|e| ops_error(e, "SigningAlgorithm"))?;
        Ok(VerifyResponse { signature_valid: valid })
    }
}
