//! The CAS error model: every refusal is an HTTP status, a code and a message, rendered
//! in the `{"RequestId","HostId","Code","Message","Recommend"}` envelope.

use axum::http::StatusCode;
use opencas_service::ServiceError;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
}

impl WireError {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn missing(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("MissingParameter.{name}"),
            format!("The input parameter {name} that is mandatory for processing this request is not supplied."),
        )
    }

    pub fn invalid(name: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("InvalidParameter.{name}"), message)
    }

    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "IncompleteSignature", message)
    }

    pub fn signature_mismatch(string_to_sign: &str) -> Self {
        // aliyun-python-sdk-core splits this message on ':' and compares the second part
        // with its own string to sign, so the colon and the form are part of the contract.
        Self::new(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        )
    }

    pub fn action_not_found(action: &str, version: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            format!("Specified api {action} is not found in version {version}, please check your url and method."),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The request processing has failed due to some unknown error.",
        )
    }

    /// A short remedy for the `Recommend` field.
    pub fn recommend(&self) -> &'static str {
        let code: &str = &self.code;
        match code {
            "SignatureDoesNotMatch" | "IncompleteSignature" => {
                "Check the AccessKeySecret and that the request is signed as the SDKs sign it."
            }
            "InvalidTimeStamp.Expired" | "InvalidTimeStamp.Format" => {
                "Send the request time in UTC (YYYY-MM-DDTHH:MM:SSZ) within 15 minutes of the server clock."
            }
            "SignatureNonceUsed" => "Use a fresh SignatureNonce for every request.",
            "Throttling.User" => "Reduce the request rate and retry with exponential backoff.",
            c if c.starts_with("InvalidAccessKeyId") || c.starts_with("InvalidBearerToken") => {
                "Check the credentials, or ask the operator to enable or rotate them."
            }
            c if c.starts_with("MissingParameter") || c.starts_with("InvalidParameter") => {
                "Check the parameter against the API reference of this action and version."
            }
            c if c.starts_with("NotFound") => "Check the identifier: it must name a resource of this account.",
            // refusals that a retry cannot change (state, quota, conflicts)
            _ if self.status.is_client_error() => "Read the Message: the request cannot succeed as it is.",
            _ => "Retry later; if the error persists, report the RequestId to the operator.",
        }
    }
}

impl From<ServiceError> for WireError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidParameter { name, message } => Self::invalid(name, message),
            ServiceError::MissingParameter(name) => Self::missing(name),
            ServiceError::NotFound { code, message } => Self::new(StatusCode::NOT_FOUND, code, message),
            ServiceError::Conflict { code, message } => Self::new(StatusCode::BAD_REQUEST, code, message),
            ServiceError::Forbidden { code, message } => Self::new(StatusCode::FORBIDDEN, code, message),
            ServiceError::Unavailable { code, message } => Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message),
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "service fault");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_recommend_a_retry() {
        let refused = WireError::new(StatusCode::BAD_REQUEST, "InvalidStatus.Certificate", "revoked");
        let missing = WireError::new(StatusCode::NOT_FOUND, "NotFound.Certificate", "gone");
        for permanent in [&refused, &missing] {
            assert!(!permanent.recommend().contains("Retry"), "{}", permanent.code);
        }
        assert!(WireError::internal().recommend().starts_with("Retry later"));
        let throttled = WireError::new(StatusCode::TOO_MANY_REQUESTS, "Throttling.User", "slow down");
        assert!(throttled.recommend().contains("retry"));
    }

    #[test]
    fn service_errors_map_to_cas_codes_and_statuses() {
        let cases = [
            (
                ServiceError::invalid("Years", "x"),
                StatusCode::BAD_REQUEST,
                "InvalidParameter.Years",
            ),
            (
                ServiceError::MissingParameter("CommonName"),
                StatusCode::BAD_REQUEST,
                "MissingParameter.CommonName",
            ),
            (
                ServiceError::NotFound {
                    code: "NotFound.CACertificate",
                    message: "x".into(),
                },
                StatusCode::NOT_FOUND,
                "NotFound.CACertificate",
            ),
            (
                ServiceError::Conflict {
                    code: "InvalidStatus.CACertificate",
                    message: "x".into(),
                },
                StatusCode::BAD_REQUEST,
                "InvalidStatus.CACertificate",
            ),
            (
                ServiceError::Internal("disk on fire".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
            ),
        ];
        for (service_error, status, code) in cases {
            let e = WireError::from(service_error);
            assert_eq!((e.status, e.code.as_ref()), (status, code));
        }
        // an internal fault never leaks its detail to the client
        let e = WireError::from(ServiceError::Internal("secret path /var/x".into()));
        assert!(!e.message.contains("/var/x"));
    }
}
