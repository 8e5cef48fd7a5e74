use std::fmt::Write;

use instant_acme::Problem;

/// Everything that can go wrong talking to the upstream CA. Messages never contain account
/// credentials: they are built from CA problem documents, URLs and our own words only.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The caller asked for something this client refuses before contacting the CA.
    #[error("{0}")]
    Invalid(String),
    /// The stored account credentials cannot be used.
    #[error("ACME account credentials unusable: {0}")]
    Credentials(String),
    /// The CA answered with a problem document.
    #[error("the ACME CA refused: {detail}")]
    Refused {
        problem_type: Option<String>,
        detail: String,
    },
    /// The order is not in a state that allows the operation.
    #[error("{0}")]
    State(String),
    /// The CA could not be reached, timed out, or answered something that is not ACME.
    #[error("ACME transport failure: {0}")]
    Transport(String),
}

impl AcmeError {
    /// True when trying again later may succeed (network trouble, rate limits, CA-side faults);
    /// false when the same request will keep failing.
    pub fn is_transient(&self) -> bool {
        match self {
            AcmeError::Transport(_) => true,
            AcmeError::Refused { problem_type, .. } => matches!(
                problem_type.as_deref().and_then(|t| t.strip_prefix(ACME_ERROR_PREFIX)),
                Some("rateLimited" | "serverInternal" | "badNonce")
            ),
            AcmeError::Invalid(_) | AcmeError::Credentials(_) | AcmeError::State(_) => false,
        }
    }

    /// The short ACME problem type (`orderNotReady`, `unauthorized`, ...) when the CA refused.
    pub fn problem_type(&self) -> Option<&str> {
        match self {
            AcmeError::Refused { problem_type, .. } => problem_type
                .as_deref()
                .map(|t| t.strip_prefix(ACME_ERROR_PREFIX).unwrap_or(t)),
            _ => None,
        }
    }
}

pub(crate) const ACME_ERROR_PREFIX: &str = "urn:ietf:params:acme:error:";

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        use instant_acme::Error as E;
        match e {
            E::Api(problem) => AcmeError::Refused {
                problem_type: problem.r#type.clone(),
                detail: describe(&problem),
            },
            E::Crypto | E::KeyRejected => AcmeError::Credentials("the account key cannot sign".into()),
            E::Json(e) => AcmeError::Transport(format!("the CA's answer is not the expected JSON ({e})")),
            E::Unsupported(what) => AcmeError::Refused {
                problem_type: None,
                detail: format!("unsupported: {what}"),
            },
            other => AcmeError::Transport(with_causes(&other)),
        }
    }
}

/// hyper's errors say "client error (Connect)" at the top and the useful part in their sources.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = cause.source();
    }
    out
}

/// A problem document as one line: `detail [type]; for "name": detail [type]`.
pub(crate) fn describe(problem: &Problem) -> String {
    let mut out = problem.detail.clone().unwrap_or_else(|| "no detail given".into());
    if let Some(t) = &problem.r#type {
        let _ = write!(out, " [{}]", t.strip_prefix(ACME_ERROR_PREFIX).unwrap_or(t));
    }
    for sub in &problem.subproblems {
        out.push_str("; ");
        if let Some(id) = &sub.identifier {
            let _ = write!(out, "for \"{}\": ", id.authorized(false));
        }
        out.push_str(sub.detail.as_deref().unwrap_or("no detail given"));
        if let Some(t) = &sub.r#type {
            let _ = write!(out, " [{}]", t.strip_prefix(ACME_ERROR_PREFIX).unwrap_or(t));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(json: &str) -> Problem {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn describe_keeps_detail_type_and_subproblems() {
        let p = problem(
            r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Error creating new order",
                "subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"bad name",
                "identifier":{"type":"dns","value":"x..test"}}]}"#,
        );
        assert_eq!(
            describe(&p),
            r#"Error creating new order [rejectedIdentifier]; for "x..test": bad name [malformed]"#
        );
    }

    #[test]
    fn transient_only_for_retryable_problems_and_transport() {
        let refused = |t: &str| AcmeError::from(instant_acme::Error::Api(problem(&format!(r#"{{"type":"{t}"}}"#))));
        assert!(refused("urn:ietf:params:acme:error:rateLimited").is_transient());
        assert!(refused("urn:ietf:params:acme:error:serverInternal").is_transient());
        assert!(!refused("urn:ietf:params:acme:error:unauthorized").is_transient());
        assert_eq!(
            refused("urn:ietf:params:acme:error:orderNotReady").problem_type(),
            Some("orderNotReady")
        );
        assert!(AcmeError::Transport("timeout".into()).is_transient());
        assert!(!AcmeError::Invalid("wildcard".into()).is_transient());
    }
}
