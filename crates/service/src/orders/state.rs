//! Reading an order's state and the user's changes to it: delete a failed request, cancel
//! or withdraw one not yet issued, submit a withdrawn one again.

use super::domains::{ValidateType, builtin_challenges};
use super::{BUILTIN_ISSUER, instance_not_found, order_not_found, order_state_error, status, worker};
use crate::{Caller, Result, Service, ServiceError};
use opencas_pki::pem;
use opencas_store::{DvOrder, now_millis};
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCertificateStateResponse {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validate_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_id: Option<String>,
    /// Why a `verify_fail` order failed (not in the SDK's model; clients ignore it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
}

/// The state of an order as both API versions present it.
pub(crate) enum OrderView {
    DomainVerify {
        kind: String,
        name: String,
        value: String,
        domain: String,
    },
    Process,
    Failed(String),
    Issued {
        cert_id: i64,
        certificate: String,
        private_key: Option<String>,
    },
    Payed,
}

impl Service {
    pub(crate) async fn order_or_404(&self, caller: Caller, order_id: i64) -> Result<DvOrder> {
        self.store
            .find_dv_order(caller.account_id, order_id)
            .await?
            .filter(|o| !o.instance_id.is_empty())
            .ok_or_else(|| order_not_found(order_id))
    }

    pub(crate) async fn instance_or_404(&self, caller: Caller, instance_id: &str) -> Result<DvOrder> {
        self.store
            .find_dv_order_by_instance(caller.account_id, instance_id)
            .await?
            .ok_or_else(|| instance_not_found(instance_id))
    }

    pub(crate) async fn order_view(&self, order: &DvOrder) -> Result<OrderView> {
        Ok(match order.status.as_str() {
            status::CHECKING => {
                let challenges = self.store.order_challenges(order.account_id, order.id).await?;
                match challenges.iter().find(|c| c.validated_at.is_none()) {
                    Some(c) => OrderView::DomainVerify {
                        kind: c.kind.clone(),
                        name: c.record_name.clone(),
                        value: c.value.clone(),
                        domain: c.domain.clone(),
                    },
                    None => OrderView::Process,
                }
            }
            status::CHECKED_FAIL => OrderView::Failed(order.fail_reason.clone().unwrap_or_default()),
            status::ISSUED => {
                let identifier = order.certificate_identifier.clone().unwrap_or_default();
                let cert = self
                    .store
                    .find_certificate(order.account_id, &identifier)
                    .await?
                    .ok_or_else(|| ServiceError::Internal(format!("order {} lost its certificate", order.id)))?;
                let private_key = if order.has_key {
                    let der = self
                        .store
                        .order_private_key(order.account_id, order.id)
                        .await?
                        .ok_or_else(|| ServiceError::Internal("order key missing".into()))?;
                    Some(pem::encode("PRIVATE KEY", &der))
                } else {
                    None
                };
                OrderView::Issued {
                    cert_id: cert.id,
                    certificate: format!("{}{}", pem::cert_der_to_pem(&cert.cert_der), cert.chain_pem),
                    private_key,
                }
            }
            _ => OrderView::Payed,
        })
    }

    pub async fn describe_certificate_state(
        &self,
        caller: Caller,
        order_id: i64,
    ) -> Result<DescribeCertificateStateResponse> {
        let order = self.order_or_404(caller, order_id).await?;
        let mut r = DescribeCertificateStateResponse::default();
        match self.order_view(&order).await? {
            OrderView::DomainVerify {
                kind,
                name,
                value,
                domain,
            } => {
                r.kind = "domain_verify".into();
                if kind == "DNS" {
                    r.record_domain = Some(name);
                    r.record_type = Some("TXT".into());
                    r.record_value = Some(value);
                } else {
                    let bare = domain.trim_start_matches("*.");
                    r.uri = Some(format!("http://{bare}{name}"));
                    r.content = Some(value);
                    r.domain = Some(domain);
                }
                r.validate_type = Some(kind);
            }
            OrderView::Process => r.kind = "process".into(),
            OrderView::Failed(reason) => {
                r.kind = "verify_fail".into();
                r.fail_reason = Some(reason);
            }
            OrderView::Issued {
                cert_id,
                certificate,
                private_key,
            } => {
                r.kind = "certificate".into();
                r.cert_id = Some(cert_id.to_string());
                r.certificate = Some(certificate);
                r.private_key = private_key;
            }
            OrderView::Payed => r.kind = "payed".into(),
        }
        Ok(r)
    }

    /// `DeleteCertificateRequest`: only a failed request; its package unit comes back.
    pub async fn delete_certificate_request(&self, caller: Caller, order_id: i64) -> Result<()> {
        let order = self.order_or_404(caller, order_id).await?;
        if order.status != status::CHECKED_FAIL {
            return Err(order_state_error(format!(
                "Only a failed certificate request can be deleted; order {order_id} is {}.",
                order.status
            )));
        }
        self.drop_order(caller, &order, &[status::CHECKED_FAIL]).await
    }

    /// `CancelCertificateForPackageRequest`: drops a request that has not been issued; its
    /// package unit comes back, as nothing was issued for it.
    pub async fn cancel_certificate_for_package(&self, caller: Caller, order_id: i64) -> Result<()> {
        let order = self.order_or_404(caller, order_id).await?;
        let open = [status::PAYED, status::CHECKING, status::CHECKED_FAIL];
        if !open.contains(&order.status.as_str()) {
            return Err(order_state_error(format!(
                "Order {order_id} is {}; only a request not yet issued can be cancelled.",
                order.status
            )));
        }
        self.drop_order(caller, &order, &open).await
    }

    async fn drop_order(&self, caller: Caller, order: &DvOrder, from: &[&str]) -> Result<()> {
        let mut tx = self.store.begin().await?;
        // Re-checked under the write lock: the worker may have moved the order meanwhile.
        tx.set_order_status(caller.account_id, order.id, from, &order.status, None)
            .await
            .map_err(|_| order_state_error(format!("Order {} changed state; try again.", order.id)))?;
        if order.counted {
            tx.add_package_counts(caller.account_id, &order.product_code, -1, 0)
                .await?;
            tx.set_order_counted(caller.account_id, order.id, false).await?;
        }
        tx.cancel_job(worker::JOB_KIND, caller.account_id, order.id).await?;
        tx.delete_dv_order(caller.account_id, order.id, now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `CancelOrderRequest` / `CancelPendingCertificate`: withdraws a request under review;
    /// the order goes back to pending application (it keeps its package unit).
    pub async fn withdraw_order(&self, caller: Caller, order: &DvOrder) -> Result<()> {
        if order.status != status::CHECKING {
            return Err(order_state_error(format!(
                "Only a request under review can be withdrawn; order {} is {}.",
                order.id, order.status
            )));
        }
        let mut tx = self.store.begin().await?;
        tx.set_order_status(caller.account_id, order.id, &[status::CHECKING], status::PAYED, None)
            .await
            .map_err(|_| order_state_error(format!("Order {} changed state; try again.", order.id)))?;
        tx.cancel_job(worker::JOB_KIND, caller.account_id, order.id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn cancel_order_request(&self, caller: Caller, order_id: i64) -> Result<()> {
        let order = self.order_or_404(caller, order_id).await?;
        self.withdraw_order(caller, &order).await
    }

    pub async fn cancel_pending_certificate(&self, caller: Caller, instance_id: &str) -> Result<()> {
        let order = self.instance_or_404(caller, instance_id).await?;
        self.withdraw_order(caller, &order).await
    }

    /// `ApplyCertificate`: submits a withdrawn (pending application) order again, with
    /// fresh challenges.
    pub async fn apply_certificate(&self, caller: Caller, instance_id: &str) -> Result<()> {
        let order = self.instance_or_404(caller, instance_id).await?;
        if order.status != status::PAYED {
            return Err(order_state_error(format!(
                "Only an instance pending application can be applied for; {instance_id} is {}.",
                order.status
            )));
        }
        let validate = order
            .validate_type
            .as_deref()
            .and_then(ValidateType::from_api)
            .unwrap_or(ValidateType::Dns);
        let domains: Vec<String> = order.domain.split(',').map(str::to_owned).collect();
        let builtin = order.issuer.as_deref().unwrap_or(BUILTIN_ISSUER) == BUILTIN_ISSUER;
        let challenges = if builtin {
            builtin_challenges(&domains, validate)
        } else {
            Vec::new()
        };
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        tx.set_order_status(caller.account_id, order.id, &[status::PAYED], status::CHECKING, None)
            .await
            .map_err(|_| order_state_error(format!("Instance {instance_id} changed state; try again.")))?;
        tx.replace_challenges(caller.account_id, order.id, &challenges).await?;
        tx.schedule_job(
            worker::JOB_KIND,
            caller.account_id,
            order.id,
            worker::first_step(&order),
            now,
            now + self.config.orders.validation_deadline_secs * 1000,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Service {
    /// `RevokeCertificate`: revokes the certificate an order instance received. One from the
    /// built-in issuer is on its CRL and OCSP answers at once, like any revocation here.
    pub async fn revoke_instance_certificate(
        &self,
        caller: Caller,
        instance_id: &str,
        certificate_id: Option<i64>,
    ) -> Result<()> {
        if instance_id.starts_with("cas-upload-") {
            return Err(ServiceError::invalid(
                "InstanceId",
                "An uploaded certificate cannot be revoked: it was not issued here.",
            ));
        }
        let order = self.instance_or_404(caller, instance_id).await?;
        let (Some(identifier), Some(issued_id)) = (&order.certificate_identifier, order.certificate_id) else {
            return Err(order_state_error(format!(
                "The instance {instance_id} holds no issued certificate; it is {}.",
                order.status
            )));
        };
        if certificate_id.is_some_and(|id| id != issued_id) {
            return Err(ServiceError::invalid(
                "CertificateId",
                format!("The certificate is not the one of instance {instance_id}."),
            ));
        }
        if order.issuer.as_deref().unwrap_or(BUILTIN_ISSUER) != BUILTIN_ISSUER {
            return Err(ServiceError::Forbidden {
                code: "OperationDenied.UpstreamCertificate",
                message: format!(
                    "The certificate of {instance_id} was issued by the ACME CA '{}'; revoke it there.",
                    order.issuer.as_deref().unwrap_or_default()
                ),
            });
        }
        self.revoke_certificate(caller, identifier).await
    }
}
