//! Counts over the certificates an account holds (computed on read, never stored), and
//! sharing a certificate into another account.

use crate::certificates::key_record;
use crate::{Result, Store, StoreError, Tx};
use sqlx::Row;

/// Certificates of one class (uploaded, bought, free) by their state at one instant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CertClassCounts {
    pub total: i64,
    /// Issued (not revoked) and not expired.
    pub valid: i64,
    /// Issued (not revoked) and past `not_after`.
    pub expired: i64,
    /// Issued, still valid, but expiring before the horizon asked for.
    pub will_expire: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CertCounts {
    pub upload: CertClassCounts,
    pub buy: CertClassCounts,
    pub free: CertClassCounts,
    /// Distinct common names among the certificates held.
    pub domains: i64,
    pub buy_checked_fail: i64,
    pub free_checked_fail: i64,
}

/// Held at `at`: created by then and not deleted by then.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    pub certificates: i64,
    pub domains: i64,
    pub valid: i64,
}

/// A certificate came free when an order for a free product made it.
const CLASS: &str = "CASE WHEN c.source_type = 'upload' THEN 'upload' \
    WHEN EXISTS (SELECT 1 FROM orders o WHERE o.account_id = c.account_id AND o.certificate_id = c.id \
                 AND o.product_code LIKE '%free%') THEN 'free' ELSE 'buy' END";

impl Store {
    pub async fn certificate_counts(&self, account_id: i64, now: i64, horizon: i64) -> Result<CertCounts> {
        let sql = format!(
            "SELECT {CLASS} AS class, COUNT(*) AS total, \
             SUM(CASE WHEN c.status = 'ISSUE' AND c.not_after >= $2 THEN 1 ELSE 0 END) AS valid, \
             SUM(CASE WHEN c.status = 'ISSUE' AND c.not_after < $2 THEN 1 ELSE 0 END) AS expired, \
             SUM(CASE WHEN c.status = 'ISSUE' AND c.not_after >= $2 AND c.not_after < $3 THEN 1 ELSE 0 END) AS soon \
             FROM certificates c WHERE c.account_id = $1 AND c.deleted_at IS NULL GROUP BY 1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(now)
            .bind(horizon)
            .fetch_all(&self.pool)
            .await?;
        let mut out = CertCounts::default();
        for r in &rows {
            let counts = CertClassCounts {
                total: r.try_get("total")?,
                valid: r.try_get("valid")?,
                expired: r.try_get("expired")?,
                will_expire: r.try_get("soon")?,
            };
            match r.try_get::<String, _>("class")?.as_str() {
                "upload" => out.upload = counts,
                "free" => out.free = counts,
                _ => out.buy = counts,
            }
        }
        out.domains = sqlx::query(
            "SELECT COUNT(DISTINCT common_name) AS n FROM certificates WHERE account_id = $1 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let failed = sqlx::query(
            "SELECT SUM(CASE WHEN product_code LIKE '%free%' THEN 1 ELSE 0 END) AS free, COUNT(*) AS n \
             FROM orders WHERE account_id = $1 AND status = 'CHECKED_FAIL'",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?;
        let all: i64 = failed.try_get("n")?;
        out.free_checked_fail = failed.try_get::<Option<i64>, _>("free")?.unwrap_or(0);
        out.buy_checked_fail = all - out.free_checked_fail;
        Ok(out)
    }

    /// What the account held at instant `at` (ms), rebuilt from creation and deletion times.
    pub async fn holdings_at(&self, account_id: i64, at: i64) -> Result<Holdings> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT common_name) AS domains, \
             SUM(CASE WHEN status = 'ISSUE' AND not_before <= $2 AND not_after >= $2 THEN 1 ELSE 0 END) AS valid \
             FROM certificates WHERE account_id = $1 AND created_at <= $2 \
             AND (deleted_at IS NULL OR deleted_at > $2)",
        )
        .bind(account_id)
        .bind(at)
        .fetch_one(&self.pool)
        .await?;
        Ok(Holdings {
            certificates: r.try_get("n")?,
            domains: r.try_get("domains")?,
            valid: r.try_get::<Option<i64>, _>("valid")?.unwrap_or(0),
        })
    }
}

impl Tx {
    /// Copies certificate `certificate_id` of `account_id` into `target_account_id` under
    /// `new_identifier`, private key included (re-sealed for its new record), and returns
    /// the copy's id. A certificate already shared with that account returns the earlier
    /// copy while it exists. The copy is not tied to the issuing CA of the original: that
    /// CA belongs to another account.
    pub async fn share_certificate(
        &mut self,
        account_id: i64,
        certificate_id: i64,
        target_account_id: i64,
        new_identifier: &str,
        now: i64,
    ) -> Result<i64> {
        let earlier = sqlx::query(
            "SELECT s.target_certificate_id AS id FROM certificate_shares s JOIN certificates c \
             ON c.account_id = s.target_account_id AND c.id = s.target_certificate_id AND c.deleted_at IS NULL \
             WHERE s.account_id = $1 AND s.certificate_id = $2 AND s.target_account_id = $3",
        )
        .bind(account_id)
        .bind(certificate_id)
        .bind(target_account_id)
        .fetch_optional(self.conn())
        .await?;
        if let Some(r) = earlier {
            return Ok(r.try_get("id")?);
        }
        let source = sqlx::query(
            "SELECT identifier, key_sealed FROM certificates WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .bind(certificate_id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(StoreError::NotFound)?;
        let identifier: String = source.try_get("identifier")?;
        let sealed: Option<Vec<u8>> = source.try_get("key_sealed")?;
        let resealed = match sealed {
            Some(s) => {
                let key = self.keys.open(&key_record(account_id, &identifier), &s)?;
                Some(self.keys.seal(&key_record(target_account_id, new_identifier), &key))
            }
            None => None,
        };
        let copied = "name, source_type, cert_type, status, common_name, sans, subject_dn, issuer, organization, \
            organization_unit, country, province, city, algorithm, key_algorithm, key_size, sign_algorithm, serial_no, \
            fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key, \
            cert_der, chain_pem, revoked_at, revoke_reason";
        let sql = format!(
            "INSERT INTO certificates (account_id, identifier, created_at, key_sealed, {copied}) \
             SELECT $1, $2, $3, $4, {copied} FROM certificates WHERE account_id = $5 AND id = $6 RETURNING id"
        );
        let id: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(target_account_id)
            .bind(new_identifier)
            .bind(now)
            .bind(resealed)
            .bind(account_id)
            .bind(certificate_id)
            .fetch_one(self.conn())
            .await?
            .try_get("id")?;
        sqlx::query(
            "INSERT INTO certificate_shares (account_id, certificate_id, target_account_id, target_certificate_id, \
             created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, certificate_id, target_account_id) \
             DO UPDATE SET target_certificate_id = excluded.target_certificate_id, created_at = excluded.created_at",
        )
        .bind(account_id)
        .bind(certificate_id)
        .bind(target_account_id)
        .bind(id)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::tests::{cert, insert, test_store};

    #[tokio::test]
    async fn counts_by_class_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(&dir).await;
        let now = 10_000;
        let mut rows = Vec::new();
        // (source, not_after, status)
        for (n, (source, not_after, status)) in [
            ("upload", 5_000, "ISSUE"),
            ("upload", 12_000, "ISSUE"),
            ("upload", 50_000, "ISSUE"),
            ("aliyun", 9_999, "ISSUE"),
            ("aliyun", 10_000, "ISSUE"),
            ("aliyun", 5_000, "REVOKE"),
            ("aliyun", 90_000, "ISSUE"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut c = cert(
                1,
                n as i64 + 1,
                if n < 2 { "same.example" } else { "other.example" },
                "",
            );
            (c.source_type, c.not_after, c.status) = (source.into(), not_after, status.into());
            if source == "upload" {
                c.issuer_identifier = None;
            }
            rows.push(c);
        }
        rows.push(cert(2, 99, "elsewhere", ""));
        insert(&s, &rows).await;
        let c = s.certificate_counts(1, now, 20_000).await.unwrap();
        assert_eq!(
            c.upload,
            CertClassCounts {
                total: 3,
                valid: 2,
                expired: 1,
                will_expire: 1
            }
        );
        assert_eq!(
            c.buy,
            CertClassCounts {
                total: 4,
                valid: 2,
                expired: 1,
                will_expire: 1
            }
        );
        assert_eq!((c.free, c.domains), (CertClassCounts::default(), 2));

        let h = s.holdings_at(1, 3).await.unwrap();
        assert_eq!((h.certificates, h.domains), (3, 2));
        let mut tx = s.begin().await.unwrap();
        tx.delete_certificate(1, &format!("{:032x}", 1), 4).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(s.holdings_at(1, 3).await.unwrap().certificates, 3);
        assert_eq!(s.holdings_at(1, 4).await.unwrap().certificates, 3);
        assert_eq!(s.holdings_at(1, 5).await.unwrap().certificates, 4);
        assert_eq!(s.certificate_counts(1, now, 20_000).await.unwrap().upload.total, 2);
    }

    #[tokio::test]
    async fn sharing_copies_once_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(&dir).await;
        let original = cert(1, 1, "shared.example", "");
        let mut tx = s.begin().await.unwrap();
        let id = tx.insert_certificate(&original, Some(b"key bytes")).await.unwrap();
        let copy = tx.share_certificate(1, id, 2, "aa", 5).await.unwrap();
        let again = tx.share_certificate(1, id, 2, "bb", 6).await.unwrap();
        assert_eq!(copy, again);
        assert!(matches!(
            tx.share_certificate(1, 999, 2, "cc", 6).await,
            Err(StoreError::NotFound)
        ));
        tx.commit().await.unwrap();
        let got = s.find_certificate(2, "aa").await.unwrap().unwrap();
        assert_eq!(
            (got.common_name.as_str(), got.issuer_identifier),
            ("shared.example", None)
        );
        assert_eq!(s.certificate_private_key(2, "aa").await.unwrap().unwrap(), b"key bytes");
        assert!(s.find_certificate(2, "bb").await.unwrap().is_none());
    }
}
