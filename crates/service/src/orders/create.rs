//! Submitting DV orders: `CreateCertificateRequest` (the service makes key and CSR),
//! `CreateCertificateWithCsrRequest`, `CreateCertificateForPackageRequest` and
//! `RenewCertificateOrderForPackageRequest`. The package unit, the order, its challenges
//! and its validation job are written in one transaction.

use super::domains::{ValidateType, builtin_challenges, csr_domains, parse_domains, token};
use super::{
    BUILTIN_ISSUER, DEFAULT_PRODUCT, not_found_package, not_remain_count, order_not_found, order_state_error,
    product_or_invalid, status, worker,
};
use crate::{Caller, Result, Service, ServiceError, tags};
use opencas_pki::{CsrPolicy, KeyAlgorithm, ParsedCsr, San, SubjectFields, build_csr};
use opencas_store::{ChallengeRecord, DvOrder, StoreError, TagKind, now_millis};
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;
/// A certificate may be renewed from this many days before it ends.
const RENEW_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone)]
pub enum OrderKeySource {
    /// The service makes an RSA-2048 key and the CSR.
    Generate,
    /// The caller's CSR (PEM); its names must be the order's.
    Csr(String),
}

#[derive(Debug, Clone)]
pub struct CreateOrderRequest {
    pub product_code: Option<String>,
    /// Comma-separated; `None` takes the names from the CSR.
    pub domain: Option<String>,
    pub key: OrderKeySource,
    pub validate_type: ValidateType,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateOrderResponse {
    pub order_id: i64,
}

fn check_contact(req: &CreateOrderRequest) -> Result<()> {
    if let Some(email) = &req.email {
        San::parse_email(email)
            .map_err(|_| ServiceError::invalid("Email", format!("'{email}' is not an e-mail address.")))?;
    }
    if let Some(phone) = &req.phone
        && (phone.chars().count() > 32 || !phone.chars().all(|c| c.is_ascii_digit() || "+-*() ".contains(c)))
    {
        return Err(ServiceError::invalid(
            "Phone",
            "Phone must be at most 32 digits (with + - * ( ) and spaces).",
        ));
    }
    if req.username.as_ref().is_some_and(|u| u.chars().count() > 64) {
        return Err(ServiceError::invalid(
            "Username",
            "Username must be at most 64 characters.",
        ));
    }
    Ok(())
}

fn new_instance_id() -> String {
    format!("cas-ivauto-{}", token(12))
}

/// The key and CSR of a new order.
pub(crate) struct OrderKey {
    pub csr_der: Vec<u8>,
    pub key_der: Option<Vec<u8>>,
    pub algorithm: String,
    pub domains: Vec<String>,
}

impl Service {
    async fn order_key(&self, key: &OrderKeySource, domains: Option<Vec<String>>) -> Result<OrderKey> {
        match key {
            OrderKeySource::Csr(pem) => {
                let csr = ParsedCsr::from_pem(pem, CsrPolicy::default()).map_err(|e| match e {
                    opencas_pki::Error::BadSignature => {
                        ServiceError::invalid("Csr", "The CSR's signature does not verify.")
                    }
                    other => ServiceError::invalid("Csr", format!("The CSR cannot be used: {other}.")),
                })?;
                let family = csr.key_algorithm.family().as_api();
                if family == "SM2" {
                    return Err(ServiceError::invalid("Csr", "A DV certificate key must be RSA or ECC."));
                }
                let domains = csr_domains(&csr, domains.as_deref())?;
                Ok(OrderKey {
                    algorithm: family.to_owned(),
                    csr_der: csr.der,
                    key_der: None,
                    domains,
                })
            }
            OrderKeySource::Generate => {
                let domains = domains.ok_or(ServiceError::MissingParameter("Domain"))?;
                let key = self
                    .keygen
                    .generate(KeyAlgorithm::Rsa2048)
                    .await?
                    .map_err(|e| ServiceError::Internal(format!("key generation: {e}")))?;
                let subject = SubjectFields {
                    common_name: domains[0].clone(),
                    ..Default::default()
                };
                let sans: Vec<San> = domains.iter().map(|d| San::Dns(d.clone())).collect();
                let csr_der = crate::blocking(move || {
                    build_csr(&key, &subject, &sans, opencas_pki::Sm2Id::Standard).map(|csr| (csr, key))
                })
                .await?
                .map_err(|e| ServiceError::Internal(format!("CSR: {e}")))?;
                Ok(OrderKey {
                    csr_der: csr_der.0,
                    key_der: Some(csr_der.1.to_pkcs8_der().to_vec()),
                    algorithm: "RSA".into(),
                    domains,
                })
            }
        }
    }

    pub async fn create_certificate_order(
        &self,
        caller: Caller,
        req: CreateOrderRequest,
    ) -> Result<CreateOrderResponse> {
        let code = req.product_code.clone().unwrap_or_else(|| DEFAULT_PRODUCT.to_owned());
        let product = product_or_invalid(&code)?;
        check_contact(&req)?;
        tags::validate(&req.tags)?;
        let domains = req
            .domain
            .as_deref()
            .map(|d| parse_domains(d, product, req.validate_type))
            .transpose()?;
        // Refuse early, before a key is made; the transaction below decides for real.
        match self.store.find_package(caller.account_id, &code).await? {
            None => return Err(not_found_package(&code)),
            Some(p) if p.used_count >= p.total_count => return Err(not_remain_count(&code)),
            Some(_) => {}
        }
        let issuer = self.config.orders.issuer_for(&code).to_owned();
        if issuer != BUILTIN_ISSUER && !self.order_backends.acme.contains_key(&issuer) {
            return Err(ServiceError::Forbidden {
                code: "CreateCertificateRequestFailed",
                message: format!("The issuer {issuer} configured for {code} is not available."),
            });
        }
        let key = self.order_key(&req.key, domains).await?;
        // The CSR's names pass the same product rules as a Domain parameter.
        let domains = parse_domains(&key.domains.join(","), product, req.validate_type)?;
        let challenges = if issuer == BUILTIN_ISSUER {
            builtin_challenges(&domains, req.validate_type)
        } else {
            Vec::new()
        };
        let now = now_millis();
        let order = DvOrder {
            account_id: caller.account_id,
            order_type: "CPACK".into(),
            status: status::CHECKING.into(),
            product_code: code.clone(),
            cert_type: "DV".into(),
            algorithm: key.algorithm.clone(),
            domain: domains.join(","),
            domain_count: domains.len() as i64,
            domain_type: if domains.len() > 1 {
                "MULTIPLE".into()
            } else if domains[0].starts_with("*.") {
                "WILDCARD".into()
            } else {
                "ONE".into()
            },
            buy_date: now,
            created_at: now,
            instance_id: new_instance_id(),
            validate_type: Some(req.validate_type.as_api().into()),
            username: req.username.clone(),
            email: req.email.clone(),
            phone: req.phone.clone(),
            issuer: Some(issuer),
            csr_der: Some(key.csr_der.clone()),
            counted: true,
            ..Default::default()
        };
        let id = self
            .insert_order(&order, key.key_der.as_deref(), &challenges, &req.tags)
            .await?;
        Ok(CreateOrderResponse { order_id: id })
    }

    /// One transaction: a unit of the package, the order with its challenges and tags,
    /// and the job that validates and issues it.
    pub(crate) async fn insert_order(
        &self,
        order: &DvOrder,
        key_der: Option<&[u8]>,
        challenges: &[ChallengeRecord],
        tags: &[(String, String)],
    ) -> Result<i64> {
        let code = order.product_code.clone();
        let mut tx = self.store.begin().await?;
        match tx.add_package_counts(order.account_id, &code, 1, 0).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(not_found_package(&code)),
            Err(StoreError::Conflict(_)) => return Err(not_remain_count(&code)),
            Err(e) => return Err(e.into()),
        }
        let id = tx.insert_dv_order(order, key_der, challenges).await?;
        tx.add_tags(order.account_id, TagKind::Order.tag_type(), &id.to_string(), tags)
            .await?;
        let deadline = order.created_at + self.config.orders.validation_deadline_secs * 1000;
        tx.schedule_job(
            worker::JOB_KIND,
            order.account_id,
            id,
            worker::first_step(order),
            order.created_at,
            deadline,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// `RenewCertificateOrderForPackageRequest`: a new order for the names of an issued one
    /// whose certificate ends within 30 days (or has ended), with a new key or the CSR given.
    pub async fn renew_certificate_order(
        &self,
        caller: Caller,
        order_id: i64,
        csr: Option<String>,
        tags: Vec<(String, String)>,
    ) -> Result<CreateOrderResponse> {
        let old = self
            .store
            .find_dv_order(caller.account_id, order_id)
            .await?
            .ok_or_else(|| order_not_found(order_id))?;
        if old.status != status::ISSUED {
            return Err(order_state_error(format!(
                "Only an issued order can be renewed; order {order_id} is {}.",
                old.status
            )));
        }
        let not_after = old.cert_not_after.unwrap_or(i64::MAX);
        if not_after > now_millis() + RENEW_WINDOW_DAYS * DAY_MS {
            return Err(order_state_error(format!(
                "The certificate of order {order_id} can be renewed from {RENEW_WINDOW_DAYS} days before it expires."
            )));
        }
        let validate_type = old
            .validate_type
            .as_deref()
            .and_then(ValidateType::from_api)
            .unwrap_or(ValidateType::Dns);
        let req = CreateOrderRequest {
            product_code: Some(old.product_code.clone()),
            domain: Some(old.domain.clone()),
            key: csr.map_or(OrderKeySource::Generate, OrderKeySource::Csr),
            validate_type,
            username: old.username.clone(),
            email: old.email.clone(),
            phone: old.phone.clone(),
            tags,
        };
        self.create_certificate_order(caller, req).await
    }
}
