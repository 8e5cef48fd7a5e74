//! The columns of a stored certificate that come from the certificate itself — parsed, never
//! taken from the request — shared by issuance, uploads and DV orders.

use crate::issuance::STATUS_ISSUE;
use crate::new_identifier;
use opencas_pki::{CertInfo, San};
use opencas_store::{CertRecord, now_millis};

const DAY_MS: i64 = 86_400_000;

/// Whole days of validity, a started day counting as one.
pub(crate) fn validity_days(not_before_ms: i64, not_after_ms: i64) -> i64 {
    (not_after_ms - not_before_ms + DAY_MS - 1).div_euclid(DAY_MS).max(0)
}

/// A new, issued-status record of the certificate `der` (parsed as `info`), named after its
/// CN, under a fresh Identifier; the caller fills in whose it is and where it came from.
pub(crate) fn parsed_record(info: &CertInfo, der: &[u8]) -> CertRecord {
    CertRecord {
        identifier: new_identifier(),
        name: info.subject.common_name.clone(),
        status: STATUS_ISSUE.into(),
        common_name: info.subject.common_name.clone(),
        sans: info.sans.iter().map(San::value).collect::<Vec<_>>().join(","),
        subject_dn: info.subject_dn.clone(),
        issuer: info.issuer_dn.clone(),
        organization: info.subject.organization.clone(),
        organization_unit: info.subject.organizational_unit.clone(),
        country: info.subject.country_code.clone(),
        province: info.subject.state.clone(),
        city: info.subject.locality.clone(),
        algorithm: info.key_family.map(|f| f.as_api().to_owned()).unwrap_or_default(),
        key_algorithm: info.key_algorithm.map(|a| a.as_api().to_owned()).unwrap_or_default(),
        key_size: i64::from(info.key_size_bits),
        sign_algorithm: info.signature_algorithm.clone(),
        serial_no: info.serial_hex.clone(),
        fingerprint_md5: info.fingerprints.md5_hex(),
        fingerprint_sha1: info.fingerprints.sha1_hex(),
        fingerprint_sha256: info.fingerprints.sha256_hex(),
        not_before: info.not_before_ms,
        not_after: info.not_after_ms,
        days: validity_days(info.not_before_ms, info.not_after_ms),
        cert_der: der.to_vec(),
        created_at: now_millis(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_up() {
        assert_eq!(validity_days(0, DAY_MS), 1);
        assert_eq!(validity_days(0, DAY_MS + 1), 2);
        assert_eq!(validity_days(0, 365 * DAY_MS - 1000), 365);
        assert_eq!(validity_days(10, 5), 0);
    }
}
