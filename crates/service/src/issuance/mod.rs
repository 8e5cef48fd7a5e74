//! Issuance of end-entity certificates by private sub CAs: server and client certificates
//! from generated keys or CSRs, and the reads around them.

mod download;
mod issue;
mod keygen;
mod reads;
pub(crate) mod validity;

pub use download::{Bundle, Download, DownloadFormat, render};
pub use issue::{
    CustomProfile, IssueRequest, IssueResponse, KeySource, LeafSubjectInput, SanInput, WH_ACTION, WhIssueResponse,
};
pub use keygen::KeyGenerator;
pub use reads::*;
pub use validity::ValidityInput;

/// Resource type under which certificate tags are stored.
pub const TAG_RESOURCE_TYPE: &str = opencas_store::TagKind::Certificate.tag_type();
pub const STATUS_ISSUE: &str = "ISSUE";
pub const STATUS_REVOKE: &str = "REVOKE";

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    Server,
    Client,
    /// Usages, names and subject chosen by the caller (`CreateCustomCertificate`).
    Custom,
}

impl CertKind {
    pub fn as_api(self) -> &'static str {
        match self {
            Self::Server => "SERVER",
            Self::Client => "CLIENT",
            Self::Custom => "CUSTOM",
        }
    }
}

pub(crate) fn cert_not_found(identifier: &str) -> crate::ServiceError {
    crate::ServiceError::NotFound {
        code: "NotFound.Certificate",
        message: format!("The certificate {identifier} does not exist."),
    }
}
