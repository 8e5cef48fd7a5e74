//! Upstream ACME (RFC 8555) client: orders DV certificates from an external ACME CA (Let's Encrypt,
//! ZeroSSL, step-ca, Pebble, ...) on behalf of the orders service.
//!
//! Every operation after [`AcmeClient::connect`] is stateless apart from the order URL it is given,
//! so a process that restarts resumes an order from the URL it persisted. The URL handed out by
//! [`AcmeClient::new_order`] carries the chosen challenge type in its fragment (`#dns-01`), which
//! HTTP never sends to the CA; [`AcmeClient::ready`] needs it to know which challenge to trigger.

mod challenge;
mod client;
mod credentials;
mod error;
mod http;

pub use client::AcmeClient;
pub use error::AcmeError;

/// How the user proves control of the domains of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcmeChallengeKind {
    Dns01,
    Http01,
}

/// A freshly placed order: where to find it again, and what the user must publish per domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeNewOrder {
    pub order_url: String,
    /// One entry per domain of the order (in the order they were requested) whose authorization
    /// still needs a challenge; a domain the CA already considers validated may be absent.
    pub challenges: Vec<(String, DomainChallenge)>,
}

/// What the user must publish for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainChallenge {
    DnsTxt {
        record_name: String,
        value: String,
    },
    HttpFile {
        domain: String,
        path: String,
        content: String,
    },
}

/// The ACME order status as the orders service needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeOrderState {
    Pending,
    Ready,
    Processing,
    Valid,
    /// Carries the CA's problem detail of the failed authorization or challenge.
    Invalid(String),
}
