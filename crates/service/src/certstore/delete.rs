//! Deletion from the certificate store: `DeleteUserCertificate` (by CertId) and
//! `DeletePCACert` (by Identifier, certificates uploaded into a warehouse).

use super::details::cert_id_not_found;
use crate::issuance::{TAG_RESOURCE_TYPE, cert_not_found};
use crate::{Caller, Result, Service, ServiceError};
use opencas_store::{StoreError, now_millis};

const DELETE_ACTION: &str = "DeleteUserCertificate";

impl Service {
    /// An upload is deleted; a private CA's certificate synced into the store only leaves the
    /// store (it stays with its CA, on its CRL and in OCSP answers).
    pub async fn delete_user_certificate(&self, caller: Caller, id: i64, client_token: Option<String>) -> Result<()> {
        let account = caller.account_id;
        if let Some(token) = &client_token
            && let Some(done) = self.store.find_idempotency(account, DELETE_ACTION, token).await?
        {
            // the same request again: it already succeeded, unless it named another certificate
            return if done == id.to_string() {
                Ok(())
            } else {
                Err(ServiceError::invalid(
                    "ClientToken",
                    "This ClientToken was used for another request.",
                ))
            };
        }
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let c = tx
            .find_store_certificate(account, id)
            .await?
            .ok_or_else(|| cert_id_not_found(id))?;
        if c.source_type == "upload" {
            tx.delete_certificate(account, &c.identifier, now).await?;
            tx.replace_tags(account, TAG_RESOURCE_TYPE, &c.identifier, &[]).await?;
        } else {
            tx.remove_from_cert_store(account, id).await?;
        }
        if let Some(token) = &client_token {
            match tx
                .record_idempotency(account, DELETE_ACTION, token, &id.to_string(), now)
                .await
            {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// `DeletePCACert`: deletes an uploaded certificate by its Identifier. Certificates issued by
    /// a private CA here are not deleted this way: they must be revoked first and are deleted
    /// with `DeleteClientCertificate`, so that none leaves its CA's CRL by accident.
    pub async fn delete_pca_cert(&self, caller: Caller, identifier: &str) -> Result<()> {
        let account = caller.account_id;
        let mut tx = self.store.begin().await?;
        let c = self
            .store
            .find_certificate(account, identifier)
            .await?
            .ok_or_else(|| cert_not_found(identifier))?;
        if c.source_type != "upload" {
            return Err(ServiceError::Conflict {
                code: "InvalidStatus.Certificate",
                message: format!(
                    "The certificate {identifier} was issued by a private CA; revoke it and delete it with \
                     DeleteClientCertificate."
                ),
            });
        }
        tx.delete_certificate(account, identifier, now_millis()).await?;
        tx.replace_tags(account, TAG_RESOURCE_TYPE, identifier, &[]).await?;
        tx.commit().await?;
        Ok(())
    }
}
