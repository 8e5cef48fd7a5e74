//! Revocation state: revoking certificates, and the public reads CRLs and OCSP need.
//!
//! CRLs and OCSP answers are public by nature: those reads go by issuer identifier (a
//! globally unique 128-bit value) rather than by account.

use crate::{Result, Store, StoreError, Tx};
use sqlx::Row;

/// A revoked certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSerial {
    pub serial_hex: String,
    /// Unix milliseconds.
    pub revoked_at: i64,
    pub reason: Option<String>,
}

/// What OCSP needs to know about one serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialStatus {
    pub revoked_at: Option<i64>,
    pub reason: Option<String>,
}

/// Identifies the revocation state of one issuer: it changes whenever a certificate of
/// that issuer is revoked, so a cached CRL can be checked cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevocationVersion {
    pub count: i64,
    pub latest: i64,
}

impl Tx {
    /// Marks a certificate revoked. Returns `false` when it already was (revocation is
    /// permanent and its first time is kept).
    pub async fn revoke_certificate(
        &mut self,
        account_id: i64,
        identifier: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE certificates SET status = 'REVOKE', revoked_at = $1, revoke_reason = $2 \
             WHERE account_id = $3 AND identifier = $4 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(account_id)
        .bind(identifier)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The next CRL number of a CA (the previous one plus one), reserved durably.
    pub async fn next_crl_number(&mut self, identifier: &str) -> Result<i64> {
        let row = sqlx::query("UPDATE cas SET crl_number = crl_number + 1 WHERE identifier = $1 RETURNING crl_number")
            .bind(identifier)
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get("crl_number")?)
    }
}

impl Store {
    /// Every certificate issued by `issuer_identifier` and revoked, oldest first, plus the
    /// sub CAs it issued that were revoked.
    pub async fn revoked_by_issuer(&self, issuer_identifier: &str) -> Result<Vec<RevokedSerial>> {
        let rows = sqlx::query(
            "SELECT serial_no AS serial, revoked_at, revoke_reason AS reason FROM certificates \
             WHERE issuer_identifier = $1 AND revoked_at IS NOT NULL \
             UNION ALL \
             SELECT serial_number AS serial, status_changed_at AS revoked_at, NULL AS reason FROM cas \
             WHERE issuer_identifier = $1 AND identifier <> $1 AND status = 'REVOKE' \
             ORDER BY revoked_at",
        )
        .bind(issuer_identifier)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevokedSerial {
                    serial_hex: r.try_get("serial")?,
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.unwrap_or(0),
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn revocation_version(&self, issuer_identifier: &str) -> Result<RevocationVersion> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM certificates WHERE issuer_identifier = $1 AND revoked_at IS NOT NULL) \
                  + (SELECT COUNT(*) FROM cas WHERE issuer_identifier = $1 AND identifier <> $1 AND status = 'REVOKE') \
                    AS n, \
                    MAX(COALESCE((SELECT MAX(revoked_at) FROM certificates \
                                  WHERE issuer_identifier = $1 AND revoked_at IS NOT NULL), 0), \
                        COALESCE((SELECT MAX(status_changed_at) FROM cas \
                                  WHERE issuer_identifier = $1 AND identifier <> $1 AND status = 'REVOKE'), 0)) \
                    AS latest",
        )
        .bind(issuer_identifier)
        .fetch_one(&self.pool)
        .await?;
        Ok(RevocationVersion {
            count: row.try_get("n")?,
            latest: row.try_get("latest")?,
        })
    }

    /// The status of the certificate `serial_hex` issued by `issuer_identifier` (a
    /// certificate or a sub CA), `None` when that issuer never issued it.
    pub async fn serial_status(&self, issuer_identifier: &str, serial_hex: &str) -> Result<Option<SerialStatus>> {
        let row = sqlx::query(
            "SELECT revoked_at, revoke_reason AS reason FROM certificates \
             WHERE issuer_identifier = $1 AND serial_no = $2 \
             UNION ALL \
             SELECT CASE WHEN status = 'REVOKE' THEN status_changed_at END AS revoked_at, NULL AS reason FROM cas \
             WHERE issuer_identifier = $1 AND identifier <> $1 AND serial_number = $2",
        )
        .bind(issuer_identifier)
        .bind(serial_hex)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SerialStatus {
                revoked_at: r.try_get("revoked_at")?,
                reason: r.try_get("reason")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }
}
