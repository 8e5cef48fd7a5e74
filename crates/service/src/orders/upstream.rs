//! The seams to the outside world: checking that a domain publishes its challenge, and an
//! ACME (RFC 8555) CA upstream. The service drives them; the binary supplies the real
//! implementations (crates `opencas-va` and the ACME client).

use opencas_store::BoxFuture;

/// What one domain must publish to prove control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainChallenge {
    /// A TXT record named `record_name` holding `value`.
    DnsTxt { record_name: String, value: String },
    /// `http://<domain><path>` answering `content`.
    HttpFile {
        domain: String,
        path: String,
        content: String,
    },
}

/// Why a check did not pass. `retryable`: the record or file may still appear (not there
/// yet, timeout); otherwise the answer is final (e.g. a different value is published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationFailure {
    pub retryable: bool,
    pub reason: String,
}

pub trait DomainValidator: Send + Sync + 'static {
    fn check<'a>(&'a self, challenge: &'a DomainChallenge) -> BoxFuture<'a, Result<(), ValidationFailure>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallengeKind {
    Dns01,
    Http01,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeNewOrder {
    pub order_url: String,
    /// Per domain, what the user must publish for the ACME CA.
    pub challenges: Vec<(String, DomainChallenge)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeOrderState {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid(String),
}

pub trait AcmeUpstream: Send + Sync + 'static {
    fn new_order<'a>(
        &'a self,
        domains: &'a [String],
        kind: AcmeChallengeKind,
    ) -> BoxFuture<'a, Result<AcmeNewOrder, String>>;
    /// The challenges are in place: tell the CA to check them.
    fn ready<'a>(&'a self, order_url: &'a str) -> BoxFuture<'a, Result<(), String>>;
    fn poll<'a>(&'a self, order_url: &'a str) -> BoxFuture<'a, Result<AcmeOrderState, String>>;
    fn finalize<'a>(&'a self, order_url: &'a str, csr_der: &'a [u8]) -> BoxFuture<'a, Result<(), String>>;
    /// The issued chain (PEM, leaf first), `None` while not yet available.
    fn certificate_chain<'a>(&'a self, order_url: &'a str) -> BoxFuture<'a, Result<Option<String>, String>>;
}
