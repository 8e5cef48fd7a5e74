//! Changing CAs after creation: status (disable, enable, revoke), alias, resource group and
//! tags, and the certificate quota a root hands to a sub CA.

use super::{ROOT, STATUS_FORBIDDEN, STATUS_ISSUE, STATUS_REVOKE, TAG_RESOURCE_TYPE, ca_not_found};
use crate::{Caller, Result, Service, ServiceError, tags};
use opencas_store::now_millis;
use serde::Serialize;

/// The status a CA is asked to move to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaStatusChange {
    /// Permanent: a revoked CA never issues again.
    Revoke,
    /// Disable: the CA issues nothing until enabled again.
    Disable,
    /// Enable a disabled CA.
    Enable,
}

impl CaStatusChange {
    fn target(self) -> &'static str {
        match self {
            Self::Revoke => STATUS_REVOKE,
            Self::Disable => STATUS_FORBIDDEN,
            Self::Enable => STATUS_ISSUE,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssignCountResponse {
    pub cert_count: i64,
    pub current_year_free_cert_count: i64,
}

fn invalid_status(identifier: &str, status: &str, wanted: &str) -> ServiceError {
    ServiceError::Conflict {
        code: "InvalidStatus.CACertificate",
        message: format!("The CA certificate {identifier} is {status}; it cannot become {wanted}."),
    }
}

impl Service {
    pub async fn update_ca_status(&self, caller: Caller, identifier: &str, change: CaStatusChange) -> Result<()> {
        let account = caller.account_id;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let ca = tx
            .find_ca(account, identifier)
            .await?
            .ok_or_else(|| ca_not_found(identifier))?;
        let target = change.target();
        if ca.status == target {
            return Ok(()); // already there: repeating the call changes nothing
        }
        if ca.status == STATUS_REVOKE {
            return Err(invalid_status(identifier, &ca.status, target));
        }
        tx.set_ca_status(account, identifier, target, now).await?;
        let content = format!("Status {} -> {target}", ca.status);
        tx.add_ca_log(account, identifier, "UPDATE", &content, now).await?;
        if change == CaStatusChange::Revoke
            && let Some(parent) = &ca.parent_identifier
        {
            tx.add_ca_log(account, parent, "UPDATE", &format!("Sub CA {identifier} revoked"), now)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn update_pca_certificate(
        &self,
        caller: Caller,
        identifier: &str,
        alias: Option<&str>,
        resource_group_id: Option<&str>,
        new_tags: Option<&[(String, String)]>,
    ) -> Result<()> {
        if let Some(t) = new_tags {
            tags::validate(t)?;
        }
        if alias.is_some_and(|a| a.chars().count() > 128) {
            return Err(ServiceError::invalid(
                "AliasName",
                "AliasName must be at most 128 characters.",
            ));
        }
        let account = caller.account_id;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        tx.find_ca(account, identifier)
            .await?
            .ok_or_else(|| ca_not_found(identifier))?;
        tx.update_ca_meta(account, identifier, alias, resource_group_id).await?;
        if let Some(t) = new_tags {
            tx.replace_tags(account, TAG_RESOURCE_TYPE, identifier, t).await?;
        }
        let mut changed = Vec::new();
        if let Some(a) = alias {
            changed.push(format!("alias={a}"));
        }
        if let Some(rg) = resource_group_id {
            changed.push(format!("resource group={rg}"));
        }
        if let Some(t) = new_tags {
            changed.push(format!("{} tags", t.len()));
        }
        tx.add_ca_log(
            account,
            identifier,
            "UPDATE",
            &format!("Updated {}", changed.join(", ")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the quota of the sub CA `identifier` to `total`, taken from its root's pool.
    pub async fn assign_certificate_count(
        &self,
        caller: Caller,
        identifier: &str,
        total: i64,
    ) -> Result<AssignCountResponse> {
        let account = caller.account_id;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let ca = tx
            .find_ca(account, identifier)
            .await?
            .ok_or_else(|| ca_not_found(identifier))?;
        let Some(root_id) = ca.parent_identifier.clone().filter(|_| ca.certificate_type != ROOT) else {
            return Err(ServiceError::invalid(
                "CaIdentifier",
                "Quota is assigned to sub CAs; a root CA's quota is its pool.",
            ));
        };
        if ca.issuer_type == "external" {
            return Err(ServiceError::invalid(
                "CaIdentifier",
                "An external CA's key is held elsewhere: it issues nothing here and takes no quota.",
            ));
        }
        if total < ca.cert_issued_count {
            return Err(ServiceError::invalid(
                "CertTotalCount",
                format!(
                    "The sub CA has issued {} certificates already; the quota cannot be lower.",
                    ca.cert_issued_count
                ),
            ));
        }
        let root = tx
            .find_ca(account, &root_id)
            .await?
            .ok_or_else(|| ca_not_found(&root_id))?;
        let others = tx.sub_ca_quota_sum(account, &root_id, identifier).await?;
        let available = root.cert_total_count - others;
        if total > available {
            return Err(ServiceError::Conflict {
                code: "QuotaExceeded.CertificateCount",
                message: format!("The root CA {root_id} has {available} certificates left to assign."),
            });
        }
        tx.set_ca_total_count(account, identifier, total).await?;
        let content = format!("Quota {} -> {total}", ca.cert_total_count);
        tx.add_ca_log(account, identifier, "UPDATE", &content, now).await?;
        tx.commit().await?;
        Ok(AssignCountResponse {
            cert_count: total,
            current_year_free_cert_count: 0,
        })
    }
}
