//! Uploads into the certificate store: `UploadUserCertificate` (2020-04-07) and
//! `CreateUserCertificate` (2018-07-13). Everything reported later is read from the certificate
//! itself here; nothing in the request but the name is believed.

use crate::issuance::TAG_RESOURCE_TYPE;
use crate::{Caller, Result, Service, ServiceError, blocking, tags};
use opencas_pki::{CertInfo, PrivateKey, UploadedChain, pem};
use opencas_store::{CertRecord, EncryptionPair, StoreError};
use serde::Serialize;

/// Longest certificate name (the API documents 63 characters).
pub const MAX_NAME_CHARS: usize = 63;
/// Longest PEM text accepted in a certificate field: a chain of `MAX_CHAIN_LEN` large
/// certificates fits comfortably.
pub const MAX_CERT_PEM_CHARS: usize = 32 * 1024;
/// Longest PEM text accepted in a key field (an RSA-8192 PKCS#1 key is under 7 KB).
pub const MAX_KEY_PEM_CHARS: usize = 16 * 1024;

/// The certificate material of an upload as the request carried it.
#[derive(Debug, Clone, Default)]
pub struct UploadMaterial {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub sign_cert: Option<String>,
    pub sign_private_key: Option<String>,
    pub encrypt_cert: Option<String>,
    pub encrypt_private_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    /// The action, for ClientToken bookkeeping.
    pub action: &'static str,
    pub name: String,
    pub material: UploadMaterial,
    pub resource_group_id: Option<String>,
    pub tags: Vec<(String, String)>,
    pub client_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadResponse {
    pub cert_id: i64,
    pub resource_id: String,
}

/// `CreateUserCertificate` answers with the CertId only.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateUserCertificateResponse {
    pub cert_id: i64,
}

/// The resource (instance) id of a certificate in the store.
pub fn instance_id(r: &CertRecord) -> String {
    if r.source_type == "upload" {
        format!("cas-upload-{}", r.identifier)
    } else {
        format!("cas-pca-{}", r.identifier)
    }
}

/// A checked upload, ready to store.
pub(crate) struct Parsed {
    pub chain: UploadedChain,
    pub key: PrivateKey,
    pub encryption: Option<(UploadedChain, PrivateKey)>,
}

fn cert_error(field: &'static str, e: opencas_pki::Error) -> ServiceError {
    use opencas_pki::Error as E;
    match e {
        E::Pem(m) | E::MalformedCertificate(m) | E::Encoding(m) => {
            ServiceError::invalid(field, format!("{field} is not a PEM certificate chain: {m}."))
        }
        other => ServiceError::invalid(field, format!("{field} cannot be used: {other}.")),
    }
}

fn key_error(field: &'static str, e: opencas_pki::Error) -> ServiceError {
    use opencas_pki::Error as E;
    match e {
        E::PasswordRequired | E::DecryptionFailed => ServiceError::invalid(
            field,
            format!(
                "{field} is an encrypted private key and this action takes no password; upload it unencrypted \
                 (for example `openssl pkey -in key.pem -out plain.pem`)."
            ),
        ),
        E::UnsupportedKey(m) => ServiceError::invalid(field, format!("{field} is not a supported private key: {m}.")),
        E::KeyMismatch => ServiceError::invalid(field, format!("{field} does not belong to the certificate.")),
        E::Pem(m) | E::MalformedKey(m) | E::Encoding(m) => {
            ServiceError::invalid(field, format!("{field} is not a PEM private key: {m}."))
        }
        other => ServiceError::invalid(field, format!("{field} cannot be used: {other}.")),
    }
}

/// Parses one certificate/key pair and checks that they belong together.
fn parse_pair(
    cert_field: &'static str,
    cert: &str,
    key_field: &'static str,
    key: &str,
) -> Result<(UploadedChain, PrivateKey)> {
    let chain = opencas_pki::parse_uploaded_chain(cert).map_err(|e| cert_error(cert_field, e))?;
    let key = opencas_pki::parse_uploaded_key(key).map_err(|e| key_error(key_field, e))?;
    opencas_pki::check_key_matches(&chain.cert_der, &key).map_err(|e| key_error(key_field, e))?;
    Ok((chain, key))
}

/// `Cert` and, when given, `PrivateKey` (as `UploadPCACert` names it), checked to belong together.
pub(crate) fn parse_cert_with_optional_key(
    cert: &str,
    key: Option<&str>,
) -> Result<(UploadedChain, Option<PrivateKey>)> {
    match key.filter(|k| !k.trim().is_empty()) {
        Some(key) => parse_pair("Cert", cert, "PrivateKey", key).map(|(c, k)| (c, Some(k))),
        None => Ok((
            opencas_pki::parse_uploaded_chain(cert).map_err(|e| cert_error("Cert", e))?,
            None,
        )),
    }
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

fn need<'a>(v: &'a Option<String>, name: &'static str) -> Result<&'a str> {
    given(v).ok_or(ServiceError::MissingParameter(name))
}

/// Which fields an upload uses: `Cert` + `Key` when both are given (the SM2 pair fields are
/// then ignored, as the API documents), else all four SM2 dual-certificate fields.
pub(crate) fn parse_material(m: &UploadMaterial) -> Result<Parsed> {
    if let (Some(cert), Some(key)) = (given(&m.cert), given(&m.key)) {
        let (chain, key) = parse_pair("Cert", cert, "Key", key)?;
        return Ok(Parsed {
            chain,
            key,
            encryption: None,
        });
    }
    let dual = [
        &m.sign_cert,
        &m.sign_private_key,
        &m.encrypt_cert,
        &m.encrypt_private_key,
    ];
    if dual.iter().all(|v| given(v).is_none()) {
        return Err(ServiceError::MissingParameter(if given(&m.cert).is_some() {
            "Key"
        } else {
            "Cert"
        }));
    }
    let sign_cert = need(&m.sign_cert, "SignCert")?;
    let sign_key = need(&m.sign_private_key, "SignPrivateKey")?;
    let enc_cert = need(&m.encrypt_cert, "EncryptCert")?;
    let enc_key = need(&m.encrypt_private_key, "EncryptPrivateKey")?;
    let (chain, key) = parse_pair("SignCert", sign_cert, "SignPrivateKey", sign_key)?;
    let (enc_chain, enc_key) = parse_pair("EncryptCert", enc_cert, "EncryptPrivateKey", enc_key)?;
    for (field, c) in [("SignCert", &chain), ("EncryptCert", &enc_chain)] {
        if !opencas_pki::is_sm2(&c.info) {
            return Err(ServiceError::invalid(
                field,
                format!("{field} must be an SM2 certificate (ShangMi dual certificates)."),
            ));
        }
    }
    if chain.cert_der == enc_chain.cert_der {
        return Err(ServiceError::invalid(
            "EncryptCert",
            "EncryptCert must differ from SignCert: an SM2 dual certificate pairs two key pairs.",
        ));
    }
    Ok(Parsed {
        chain,
        key,
        encryption: Some((enc_chain, enc_key)),
    })
}

/// The issuer as the list views show it: its common name, else its organization, else the DN.
pub(crate) fn issuer_label(chain: &UploadedChain) -> String {
    let i = &chain.issuer;
    if !i.common_name.is_empty() {
        i.common_name.clone()
    } else if let Some(o) = i.organization.as_ref().filter(|o| !o.is_empty()) {
        o.clone()
    } else {
        chain.info.issuer_dn.clone()
    }
}

/// The stored record of a parsed certificate; `source_type` says where it came from.
pub(crate) fn record_of(caller: Caller, name: &str, chain: &UploadedChain, has_key: bool) -> CertRecord {
    let info: &CertInfo = &chain.info;
    CertRecord {
        account_id: caller.account_id,
        name: name.to_owned(),
        source_type: "upload".into(),
        cert_type: if info.is_ca { "CA" } else { "CERT" }.into(),
        issuer: issuer_label(chain),
        has_private_key: has_key,
        chain_pem: pem::pem_chain(&chain.chain_der),
        ..super::record::parsed_record(info, &chain.cert_der)
    }
}

fn name_taken(name: &str) -> ServiceError {
    ServiceError::Conflict {
        code: "InvalidParameter.Name",
        message: format!("A certificate named {name:?} already exists in this account; names are unique."),
    }
}

impl Service {
    /// The CertId an earlier upload with the same ClientToken created, if any.
    async fn replayed_upload(&self, caller: Caller, req: &UploadRequest) -> Result<Option<CertRecord>> {
        let Some(token) = &req.client_token else {
            return Ok(None);
        };
        let Some(identifier) = self
            .store
            .find_idempotency(caller.account_id, req.action, token)
            .await?
        else {
            return Ok(None);
        };
        Ok(self.store.find_certificate(caller.account_id, &identifier).await?)
    }

    pub async fn upload_user_certificate(&self, caller: Caller, req: UploadRequest) -> Result<UploadResponse> {
        let name = req.name.trim().to_owned();
        if name.is_empty() {
            return Err(ServiceError::MissingParameter("Name"));
        }
        if let Some(done) = self.replayed_upload(caller, &req).await? {
            return Ok(UploadResponse {
                cert_id: done.id,
                resource_id: instance_id(&done),
            });
        }
        tags::validate(&req.tags)?;
        let material = req.material.clone();
        let parsed = blocking(move || parse_material(&material)).await??;

        let mut record = record_of(caller, &name, &parsed.chain, true);
        record.resource_group_id = req.resource_group_id.clone();
        let encryption = parsed.encryption.as_ref().map(|(chain, key)| EncryptionPair {
            cert_der: chain.cert_der.clone(),
            key_pkcs8_der: key.to_pkcs8_der().to_vec(),
        });
        let key_der = parsed.key.to_pkcs8_der();

        let account = caller.account_id;
        let mut tx = self.store.begin().await?;
        let id = match tx
            .insert_uploaded_certificate(&record, Some(&key_der), encryption.as_ref())
            .await
        {
            Ok(id) => id,
            Err(StoreError::Conflict("name")) => return Err(name_taken(&name)),
            Err(e) => return Err(e.into()),
        };
        tx.replace_tags(account, TAG_RESOURCE_TYPE, &record.identifier, &req.tags)
            .await?;
        if let Some(token) = &req.client_token {
            match tx
                .record_idempotency(account, req.action, token, &record.identifier, record.created_at)
                .await
            {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    let done = self
                        .replayed_upload(caller, &req)
                        .await?
                        .ok_or_else(|| ServiceError::Internal("ClientToken taken by a lost upload".into()))?;
                    return Ok(UploadResponse {
                        cert_id: done.id,
                        resource_id: instance_id(&done),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        record.id = id;
        Ok(UploadResponse {
            cert_id: id,
            resource_id: instance_id(&record),
        })
    }

    /// `CreateUserCertificate` (2018-07-13): `Name`, `Cert` and `Key`, nothing else.
    pub async fn create_user_certificate(
        &self,
        caller: Caller,
        name: String,
        cert: Option<String>,
        key: Option<String>,
    ) -> Result<CreateUserCertificateResponse> {
        let req = UploadRequest {
            action: "CreateUserCertificate",
            name,
            material: UploadMaterial {
                cert: Some(cert.ok_or(ServiceError::MissingParameter("Cert"))?),
                key: Some(key.ok_or(ServiceError::MissingParameter("Key"))?),
                ..Default::default()
            },
            ..Default::default()
        };
        let done = self.upload_user_certificate(caller, req).await?;
        Ok(CreateUserCertificateResponse { cert_id: done.cert_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(m: &UploadMaterial) -> &'static str {
        match parse_material(m) {
            Err(ServiceError::MissingParameter(name)) => name,
            Err(other) => panic!("expected MissingParameter, got {other:?}"),
            Ok(_) => panic!("expected MissingParameter, got success"),
        }
    }

    #[test]
    fn which_fields_an_upload_needs() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(missing(&UploadMaterial::default()), "Cert");
        assert_eq!(
            missing(&UploadMaterial {
                cert: s("x"),
                ..Default::default()
            }),
            "Key"
        );
        assert_eq!(
            missing(&UploadMaterial {
                key: s("x"),
                cert: s("  "),
                ..Default::default()
            }),
            "Cert"
        );
        let dual = UploadMaterial {
            sign_cert: s("a"),
            sign_private_key: s("b"),
            encrypt_cert: s("c"),
            ..Default::default()
        };
        assert_eq!(missing(&dual), "EncryptPrivateKey");
        // garbage in the fields that are used is a parameter error named after the field
        let garbage = UploadMaterial {
            cert: s("junk"),
            key: s("junk"),
            ..Default::default()
        };
        match parse_material(&garbage) {
            Err(ServiceError::InvalidParameter { name, .. }) => assert_eq!(name, "Cert"),
            other => panic!("{:?}", other.err()),
        }
    }
}
