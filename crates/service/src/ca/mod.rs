//! Private certificate authorities (API 2020-06-30): roots, subordinate CAs, their
//! lifecycle, quotas and reads.

mod create;
mod external;
mod lifecycle;
mod reads;

pub use create::{CreateCaResponse, CreateRootRequest, CreateSubRequest, SubjectInput};
pub(crate) use external::parse_validity;
pub use external::{CreateExternalRequest, SubjectOverride};
pub use lifecycle::{AssignCountResponse, CaStatusChange};
pub use reads::*;

use crate::{Result, ServiceError};
use opencas_store::CaRecord;

pub const ROOT: &str = "ROOT";
pub const SUB_ROOT: &str = "SUB_ROOT";
pub const STATUS_ISSUE: &str = "ISSUE";
pub const STATUS_FORBIDDEN: &str = "FORBIDDEN";
pub const STATUS_REVOKE: &str = "REVOKE";
/// Resource type under which CA tags are stored.
pub const TAG_RESOURCE_TYPE: &str = opencas_store::TagKind::Ca.tag_type();

const MS_PER_DAY: i64 = 86_400_000;

pub(crate) fn ca_not_found(identifier: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFound.CACertificate",
        message: format!("The CA certificate {identifier} does not exist."),
    }
}

/// The CA may sign now: enabled and inside its validity period.
pub(crate) fn ensure_usable(ca: &CaRecord, now_ms: i64) -> Result<()> {
    let problem = match ca.status.as_str() {
        STATUS_ISSUE if ca.not_after <= now_ms => "has expired",
        STATUS_ISSUE if ca.not_before > now_ms => "is not yet valid",
        STATUS_ISSUE => return Ok(()),
        STATUS_FORBIDDEN => "is disabled",
        _ => "is revoked",
    };
    Err(ServiceError::Conflict {
        code: "InvalidStatus.CACertificate",
        message: format!(
            "The CA certificate {} {problem} and cannot issue certificates.",
            ca.identifier
        ),
    })
}

/// Adds calendar years to a unix-second instant (29 February falls back to the 28th).
pub(crate) fn add_years(unix_secs: i64, years: i64) -> Result<i64> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .map_err(|e| ServiceError::Internal(format!("time: {e}")))?;
    let year = t.year() + years as i32;
    let date = t
        .date()
        .replace_year(year)
        .or_else(|_| time::Date::from_calendar_date(year, t.month(), 28))
        .map_err(|e| ServiceError::Internal(format!("time: {e}")))?;
    Ok(t.replace_date(date).unix_timestamp())
}

/// `YYYY-MM-DD` of a unix-millisecond instant, for messages.
pub(crate) fn day(ms: i64) -> String {
    crate::certstore::iso_date(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_years() {
        // 2024-02-29T00:00:00Z + 1 year → 2025-02-28
        assert_eq!(add_years(1_709_164_800, 1).unwrap(), 1_740_700_800);
        // 2026-01-01 + 10 years → 2036-01-01
        assert_eq!(add_years(1_767_225_600, 10).unwrap(), 2_082_758_400);
    }

    #[test]
    fn usability() {
        let mut ca = CaRecord {
            status: STATUS_ISSUE.into(),
            not_before: 0,
            not_after: 1000,
            ..Default::default()
        };
        assert!(ensure_usable(&ca, 500).is_ok());
        assert!(ensure_usable(&ca, 1000).is_err());
        ca.status = STATUS_FORBIDDEN.into();
        assert!(ensure_usable(&ca, 500).is_err());
        ca.status = STATUS_REVOKE.into();
        assert!(ensure_usable(&ca, 500).is_err());
    }
}

#[cfg(test)]
mod service_tests;
