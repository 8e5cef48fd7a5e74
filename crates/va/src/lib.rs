//! The validation authority: proves that whoever asked for a certificate controls the
//! domain, by a DNS TXT record or by a file served over HTTP. It only looks; deciding what
//! to look for and what a failure means for an order is the service's job.
//!
//! Everything here talks to hosts chosen by a tenant, so it is defensive: strict
//! timeouts, a body size cap, no redirect off the domain, and no connection to private or
//! loopback addresses unless the operator explicitly maps a name there (tests do).

mod dns;
mod http;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

pub use dns::normalise_name;

/// How the validator reaches the world. Every field has a safe default.
#[derive(Debug, Clone)]
pub struct VaConfig {
    /// Ask this DNS server (UDP, then TCP) instead of the system's resolvers.
    pub resolver: Option<SocketAddr>,
    /// Domain → address to connect to for HTTP checks, bypassing DNS. Overridden
    /// addresses may be private or loopback: the operator chose them.
    pub host_overrides: HashMap<String, SocketAddr>,
    pub dns_timeout: Duration,
    pub http_timeout: Duration,
    /// A validation file larger than this is refused rather than read.
    pub max_body_bytes: usize,
    /// Redirects followed within the same domain; any redirect elsewhere fails the check.
    pub max_redirects: usize,
    /// Let DNS-resolved HTTP targets be private, loopback or link-local addresses. Off by
    /// default: otherwise any tenant could make the server probe its own network.
    pub allow_private_addresses: bool,
}

impl Default for VaConfig {
    fn default() -> Self {
        Self {
            resolver: None,
            host_overrides: HashMap::new(),
            dns_timeout: Duration::from_secs(5),
            http_timeout: Duration::from_secs(10),
            max_body_bytes: 8 * 1024,
            max_redirects: 3,
            allow_private_addresses: false,
        }
    }
}

/// Why a check did not pass. `retryable` tells whether looking again later could succeed
/// (the record may not have propagated yet); a malformed request never will.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The name does not exist or has no record of the type asked.
    NoRecord,
    /// Records or content exist but none holds the expected value.
    Mismatch,
    /// DNS or HTTP did not answer in time.
    Timeout,
    /// Connection refused, reset, or the resolver failed.
    Unreachable,
    /// The HTTP answer was not 200, too large, or redirected off the domain.
    BadResponse,
    /// The request itself cannot be checked (not a domain name, forbidden address).
    Invalid,
}

impl Failure {
    fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind != FailureKind::Invalid
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

pub struct Validator {
    resolver: dns::TxtResolver,
    config: VaConfig,
}

impl Validator {
    pub fn new(config: VaConfig) -> Result<Self, String> {
        let overrides = config
            .host_overrides
            .iter()
            .map(|(k, v)| (normalise_name(k), *v))
            .collect();
        let config = VaConfig {
            host_overrides: overrides,
            ..config
        };
        Ok(Self {
            resolver: dns::TxtResolver::new(&config)?,
            config,
        })
    }

    /// Passes when some TXT record at `record_name` equals `expected` exactly.
    pub async fn check_dns_txt(&self, record_name: &str, expected: &str) -> Result<(), Failure> {
        let values = self.resolver.txt(record_name).await?;
        if values.iter().any(|v| v == expected) {
            return Ok(());
        }
        Err(Failure::new(
            FailureKind::Mismatch,
            format!(
                "TXT records at {record_name} ({} found) do not contain the expected value",
                values.len()
            ),
        ))
    }

    /// Passes when `http://<domain><path>` answers 200 with `expected` as its body
    /// (surrounding whitespace ignored, as CAs do for file validation).
    pub async fn check_http_file(&self, domain: &str, path: &str, expected: &str) -> Result<(), Failure> {
        let body = http::fetch(self, domain, path).await?;
        if body.trim() == expected.trim() {
            return Ok(());
        }
        Err(Failure::new(
            FailureKind::Mismatch,
            format!("http://{domain}{path} does not hold the expected content"),
        ))
    }
}
