//! Uploads into the certificate store and the private-CA certificate actions around them.

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::certstore::pca::UploadPcaCertRequest;
use opencas_service::certstore::upload::{
    MAX_CERT_PEM_CHARS, MAX_KEY_PEM_CHARS, MAX_NAME_CHARS, UploadMaterial, UploadRequest,
};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "UploadUserCertificate", |s, c, p| {
        Box::pin(upload_user_certificate(s, c, p))
    });
    r.add("2018-07-13", "CreateUserCertificate", |s, c, p| {
        Box::pin(create_user_certificate(s, c, p))
    });
    r.add("2020-04-07", "UploadPCACert", |s, c, p| {
        Box::pin(upload_pca_cert(s, c, p))
    });
    r.add("2020-04-07", "DeletePCACert", |s, c, p| {
        Box::pin(delete_pca_cert(s, c, p))
    });
    r.add("2020-06-30", "UploadPcaCertToCas", |s, c, p| {
        Box::pin(upload_pca_cert_to_cas(s, c, p))
    });
}

fn name(p: &Params) -> Result<String, WireError> {
    p.opt_str_max("Name", MAX_NAME_CHARS)?
        .ok_or_else(|| WireError::missing("Name"))
}

fn cert(p: &Params, field: &str) -> Result<Option<String>, WireError> {
    p.opt_str_max(field, MAX_CERT_PEM_CHARS)
}

fn key(p: &Params, field: &str) -> Result<Option<String>, WireError> {
    p.opt_str_max(field, MAX_KEY_PEM_CHARS)
}

async fn upload_user_certificate(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = UploadRequest {
        action: "UploadUserCertificate",
        name: name(&p)?,
        material: UploadMaterial {
            cert: cert(&p, "Cert")?,
            key: key(&p, "Key")?,
            sign_cert: cert(&p, "SignCert")?,
            sign_private_key: key(&p, "SignPrivateKey")?,
            encrypt_cert: cert(&p, "EncryptCert")?,
            encrypt_private_key: key(&p, "EncryptPrivateKey")?,
        },
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        tags: p.tags("Tags")?,
        client_token: p.opt_str_max("ClientToken", 64)?,
    };
    to_body(s.upload_user_certificate(caller, req).await?)
}

async fn create_user_certificate(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let name = name(&p)?;
    let (c, k) = (cert(&p, "Cert")?, key(&p, "Key")?);
    to_body(s.create_user_certificate(caller, name, c, k).await?)
}

async fn upload_pca_cert(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = UploadPcaCertRequest {
        warehouse_id: p
            .opt_i64("WarehouseId", 1..=i64::MAX)?
            .ok_or_else(|| WireError::missing("WarehouseId"))?,
        name: p.opt_str_max("Name", MAX_NAME_CHARS)?,
        cert: cert(&p, "Cert")?.ok_or_else(|| WireError::missing("Cert"))?,
        private_key: key(&p, "PrivateKey")?,
    };
    to_body(s.upload_pca_cert(caller, req).await?)
}

async fn delete_pca_cert(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let identifier = p
        .opt_str_max("Identifier", 64)?
        .ok_or_else(|| WireError::missing("Identifier"))?;
    s.delete_pca_cert(caller, &identifier).await?;
    Ok(Body::new())
}

async fn upload_pca_cert_to_cas(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let ids = p.comma_list("Ids");
    if ids.is_empty() {
        return Err(WireError::missing("Ids"));
    }
    s.upload_pca_cert_to_cas(caller, ids).await?;
    Ok(Body::new())
}
