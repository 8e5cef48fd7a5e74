//! opencas decisions, one module per capability. Every function takes the calling
//! account and scopes every read and write to it.

pub mod accounts;
pub mod audit;
pub mod ca;
pub mod certstore;
pub mod cryptoops;
pub mod csr;
pub mod issuance;
mod nonces;
pub mod orders;
mod paging;
pub mod revocation;
pub mod tags;
pub mod warehouses;

pub use opencas_pki::Sm2Id;
pub use opencas_store as store;
pub use paging::Paging;

use opencas_store::{Store, StoreError};

/// The authenticated account a request acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub account_id: i64,
}

/// What a service call can refuse with; the wire layer maps each to a CAS error code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error("the input parameter {0} that is mandatory for processing this request is not supplied")]
    MissingParameter(&'static str),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The resource is in a state that forbids the operation (HTTP 403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The store cannot write (full disk, read-only data dir): nothing was changed, and a
    /// retry may succeed once the operator has fixed it (HTTP 503).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(name: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound {
                code: "NotFound",
                message: "The resource does not exist.".into(),
            },
            StoreError::Conflict(what) => Self::Conflict {
                code: "Conflict",
                message: format!("The {what} already exists."),
            },
            other => match other.storage_fault() {
                Some(fault) => {
                    tracing::error!(error = %other, "storage fault");
                    Self::Unavailable {
                        code: "ServiceUnavailable.Storage",
                        message: format!("The server cannot store data now ({fault}); nothing was changed."),
                    }
                }
                None => Self::Internal(other.to_string()),
            },
        }
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// Runs CPU-heavy PKI work (key generation, signing) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(format!("blocking task: {e}")))
}

/// The `Identifier` of new resources: 32 lower-case hex characters, the current time in
/// milliseconds (12) then 80 bits from the OS CSPRNG (20). The time first makes each new
/// identifier sort after the earlier ones, so the `(account, identifier)` index is appended to
/// rather than written at a random page per certificate (as serials, `Serial::random`).
pub(crate) fn new_identifier() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&opencas_pki::unix_millis_48());
    rand::rng().fill_bytes(&mut bytes[6..]);
    hex::encode(bytes)
}

/// Settings the decisions depend on.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Base URL of the public PKI endpoints (CRLs, CA certificates, OCSP), no trailing `/`.
    pub public_url: String,
    /// Certificates a new root CA may hand out to its sub CAs in all.
    pub root_certificate_quota: i64,
    /// Quota a new sub CA receives from its root's pool.
    pub sub_ca_initial_quota: i64,
    /// Certificate application warehouses an account may hold.
    pub warehouse_quota: i64,
    /// Contract signing warehouses (`Biz=contract`) an account may hold.
    pub contract_warehouse_quota: i64,
    /// Re-sign every CRL at least this often (seconds); by default at half its lifetime.
    pub crl_refresh_interval_secs: Option<i64>,
    /// Pre-signed OCSP answers kept in memory (0: none).
    pub ocsp_cache_entries: usize,
    /// The SM2 distinguishing ID new SM2 CAs sign with: the GM/T 0009 default, or the empty
    /// ID that stock OpenSSL 3 verifies with (`openssl verify`, `crl`, `ocsp` cannot be given
    /// another ID for intermediates and CRLs).
    pub sm2_id: opencas_pki::Sm2Id,
    /// DV orders: validation schedule and issuers.
    pub orders: orders::OrdersConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            root_certificate_quota: 1_000_000,
            sub_ca_initial_quota: 10_000,
            warehouse_quota: 20,
            contract_warehouse_quota: 20,
            crl_refresh_interval_secs: None,
            ocsp_cache_entries: 50_000,
            sm2_id: opencas_pki::Sm2Id::Standard,
            orders: Default::default(),
        }
    }
}

/// The service: decisions over the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    store: Store,
    config: std::sync::Arc<ServiceConfig>,
    pki: std::sync::Arc<revocation::PkiCache>,
    keygen: issuance::KeyGenerator,
    op_keys: std::sync::Arc<cryptoops::KeyCache>,
    order_backends: std::sync::Arc<orders::OrderBackends>,
}

impl Service {
    pub fn new(store: Store, config: ServiceConfig) -> Self {
        Self {
            store,
            config: std::sync::Arc::new(config),
            pki: Default::default(),
            keygen: Default::default(),
            op_keys: Default::default(),
            order_backends: Default::default(),
        }
    }

    /// The domain validator and ACME upstreams the order pipeline uses.
    pub fn with_order_backends(mut self, backends: orders::OrderBackends) -> Self {
        self.order_backends = std::sync::Arc::new(backends);
        self
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

#[cfg(test)]
mod identifier_tests {
    #[test]
    fn identifiers_are_hex_time_ordered_and_random() {
        let early = super::new_identifier();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let ids: Vec<String> = (0..2000).map(|_| super::new_identifier()).collect();
        let mut or_bits = [0u8; 10];
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
            assert!(*id > early, "a later identifier sorts after an earlier one");
            let bytes = hex::decode(id).unwrap();
            for (o, b) in or_bits.iter_mut().zip(&bytes[6..]) {
                *o |= b;
            }
        }
        // every bit after the 48-bit time is drawn
        assert!(or_bits.iter().all(|b| *b == 0xff));
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
