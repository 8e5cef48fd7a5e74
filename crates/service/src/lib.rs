//! opencas decisions, one module per capability. Every function takes the calling
//! account and scopes every read and write to it.

pub mod accounts;
pub mod ca;
pub mod certstore;
pub mod csr;
pub mod orders;
mod paging;

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
    #[error(
        "the input parameter {0} that is mandatory for processing this request is not supplied"
    )]
    MissingParameter(&'static str),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
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
            other => Self::Internal(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// The service: decisions over the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    store: Store,
}

impl Service {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
