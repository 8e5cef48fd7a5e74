//! DV certificate orders: packages an operator grants, orders against them, the domain
//! challenges, the background validation and issuance, and the instances the console shows.
//! `ListUserCertificateOrder` also shows the store's certificates (CERT / UPLOAD views).

mod builtin;
mod create;
mod domains;
mod instances;
mod legacy;
mod list;
mod packages;
mod state;
#[cfg(test)]
mod tests;
mod upstream;
mod worker;

pub use builtin::{BUILTIN_ISSUER_ACCOUNT, MAX_DV_DAYS};
pub use create::{CreateOrderRequest, CreateOrderResponse, OrderKeySource};
pub use domains::ValidateType;
pub use instances::{
    CERTIFICATE_STATUSES, INSTANCE_STATUSES, InstanceDetailResponse, InstanceSummaryResponse, ListInstancesRequest,
    ListInstancesResponse, UpdateInstanceRequest,
};
pub use legacy::{CreateDvOrderAuditRequest, DescribeDvOrderResultResponse, DescribeOrderInstanceListResponse};
pub use list::*;
pub use packages::{DescribePackageStateResponse, PackageCountResponse};
pub use state::DescribeCertificateStateResponse;
pub use upstream::{
    AcmeChallengeKind, AcmeNewOrder, AcmeOrderState, AcmeUpstream, DomainChallenge, DomainValidator, ValidationFailure,
};
pub use worker::{JOB_KIND, worker_nonce};

use crate::ServiceError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A DV product an operator can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    pub code: &'static str,
    pub brand: &'static str,
    /// Wildcard names allowed.
    pub wildcard: bool,
    /// Most domains one certificate may name.
    pub max_domains: usize,
}

/// The DV products of the documents (seed 002, the SDK's ProductCode lists). OV and EV
/// products need an organisation vetted by people and are not offered.
pub const PRODUCTS: [Product; 7] = [
    Product {
        code: "digicert-free-1-free",
        brand: "DigiCert",
        wildcard: false,
        max_domains: 1,
    },
    Product {
        code: "symantec-free-1-free",
        brand: "DigiCert",
        wildcard: false,
        max_domains: 1,
    },
    Product {
        code: "symantec-dv-1-starter",
        brand: "DigiCert",
        wildcard: true,
        max_domains: 5,
    },
    Product {
        code: "geotrust-dv-1-starter",
        brand: "GeoTrust",
        wildcard: false,
        max_domains: 5,
    },
    Product {
        code: "geotrust-dv-w-starter",
        brand: "GeoTrust",
        wildcard: true,
        max_domains: 5,
    },
    Product {
        code: "globalsign-dv-1-personal",
        brand: "GlobalSign",
        wildcard: false,
        max_domains: 5,
    },
    Product {
        code: "globalsign-dv-w-advanced",
        brand: "GlobalSign",
        wildcard: true,
        max_domains: 5,
    },
];

/// The product orders use when they name none (the SDK's documented default).
pub const DEFAULT_PRODUCT: &str = "digicert-free-1-free";

pub fn product(code: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.code == code)
}

pub fn product_codes() -> Vec<&'static str> {
    PRODUCTS.iter().map(|p| p.code).collect()
}

pub(crate) fn product_or_invalid(code: &str) -> crate::Result<&'static Product> {
    product(code).ok_or_else(|| {
        ServiceError::invalid(
            "ProductCode",
            format!("ProductCode must be one of {}.", product_codes().join(", ")),
        )
    })
}

/// Who issues an order's certificate.
pub const BUILTIN_ISSUER: &str = "builtin";

/// `[orders]` settings.
#[derive(Debug, Clone)]
pub struct OrdersConfig {
    /// How long domain validation keeps retrying before the order fails (seconds).
    pub validation_deadline_secs: i64,
    /// The first retry delay; each further retry doubles it up to `retry_max_secs`.
    pub retry_initial_secs: i64,
    pub retry_max_secs: i64,
    /// Validity of certificates from the built-in issuer (at most 199 days: CA/B Forum BR 6.3.2 allows 200).
    pub builtin_validity_days: i64,
    /// Product code → `builtin` or the name of an ACME upstream; unlisted products use
    /// the built-in issuer.
    pub issuers: BTreeMap<String, String>,
    /// How often the worker looks for due jobs (milliseconds).
    pub poll_interval_ms: u64,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self {
            validation_deadline_secs: 3 * 86_400,
            retry_initial_secs: 30,
            retry_max_secs: 3_600,
            builtin_validity_days: MAX_DV_DAYS,
            issuers: BTreeMap::new(),
            poll_interval_ms: 1_000,
        }
    }
}

impl OrdersConfig {
    pub fn issuer_for(&self, product_code: &str) -> &str {
        self.issuers
            .get(product_code)
            .map(String::as_str)
            .unwrap_or(BUILTIN_ISSUER)
    }
}

/// The outside world the order pipeline talks to: the domain checker and the ACME CAs.
/// Both optional, so the service runs without them (orders then wait in validation).
#[derive(Clone, Default)]
pub struct OrderBackends {
    pub validator: Option<Arc<dyn DomainValidator>>,
    pub acme: BTreeMap<String, Arc<dyn AcmeUpstream>>,
}

impl std::fmt::Debug for OrderBackends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderBackends")
            .field("validator", &self.validator.is_some())
            .field("acme", &self.acme.keys().collect::<Vec<_>>())
            .finish()
    }
}

pub(crate) fn order_not_found(id: impl std::fmt::Display) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFoundOrder",
        message: format!("The certificate order {id} does not exist."),
    }
}

pub(crate) fn instance_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFound.Instance",
        message: format!("The instance {id} does not exist."),
    }
}

pub(crate) fn order_state_error(message: impl Into<String>) -> ServiceError {
    ServiceError::Forbidden {
        code: "OrderStateError",
        message: message.into(),
    }
}

pub(crate) fn not_found_package(code: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFoundPackage",
        message: format!("The account holds no package of {code}."),
    }
}

pub(crate) fn not_remain_count(code: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NotRemainCount",
        message: format!("The package of {code} has no certificate left."),
    }
}

/// Stored order statuses.
pub(crate) mod status {
    pub const PAYED: &str = "PAYED";
    pub const CHECKING: &str = "CHECKING";
    pub const CHECKED_FAIL: &str = "CHECKED_FAIL";
    pub const ISSUED: &str = "ISSUED";
}
