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

/// A revoked row lent to the visitor of [`Store::fold_revoked`] (the fields of
/// [`RevokedSerial`], borrowed from the statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedRow<'a> {
    pub serial_hex: &'a str,
    /// Unix milliseconds.
    pub revoked_at: i64,
    pub reason: Option<&'a str>,
}

/// What OCSP needs to know about one serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialStatus {
    pub revoked_at: Option<i64>,
    pub reason: Option<String>,
}

/// Identifies the revocation state of one issuer: it changes whenever a certificate or a
/// sub CA of that issuer is revoked, so a cached CRL or OCSP answer can be checked with one
/// indexed read instead of a count over the revoked rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevocationVersion {
    /// `cas.revocation_seq`: certificate revocations.
    pub seq: i64,
    /// Revoked sub CAs, and the latest such revocation (unix ms).
    pub revoked_subs: i64,
    pub sub_latest: i64,
}

impl RevocationVersion {
    /// Whether a CRL listing this state lists every revocation of `earlier` (each part only
    /// grows: revocation is permanent).
    pub fn covers(&self, earlier: RevocationVersion) -> bool {
        self.seq >= earlier.seq && self.revoked_subs >= earlier.revoked_subs && self.sub_latest >= earlier.sub_latest
    }
}

impl std::fmt::Display for RevocationVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{:x}-{:x}", self.seq, self.revoked_subs, self.sub_latest)
    }
}

impl std::str::FromStr for RevocationVersion {
    type Err = ();

    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        let mut it = s.split('-').map(|p| i64::from_str_radix(p, 16).map_err(|_| ()));
        let v = RevocationVersion {
            seq: it.next().ok_or(())??,
            revoked_subs: it.next().ok_or(())??,
            sub_latest: it.next().ok_or(())??,
        };
        it.next().is_none().then_some(v).ok_or(())
    }
}

/// A CRL as signed and persisted, times in unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrlMeta {
    pub crl_number: i64,
    pub this_update: i64,
    pub next_update: i64,
    pub refresh_at: i64,
    pub version: Option<RevocationVersion>,
    /// False for the placeholder row of a first CRL being signed under a claim.
    pub signed: bool,
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
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE cas SET revocation_seq = revocation_seq + 1 WHERE identifier = \
             (SELECT issuer_identifier FROM certificates WHERE account_id = $1 AND identifier = $2)",
        )
        .bind(account_id)
        .bind(identifier)
        .execute(self.conn())
        .await?;
        Ok(true)
    }

    /// Claims the CRL refresh of the CA `identifier` when it is due at `now` (or was never
    /// signed): moves its `refresh_at` to `lease_until` in one statement, so of several
    /// workers exactly one gets `true`. A worker that dies holding the claim loses it when
    /// the lease runs out.
    pub async fn claim_crl_refresh(&mut self, identifier: &str, now: i64, lease_until: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO crls (issuer_identifier, crl_number, this_update, next_update, refresh_at, version, der) \
             VALUES ($1, 0, 0, 0, $2, '', $3) \
             ON CONFLICT (issuer_identifier) DO UPDATE SET refresh_at = excluded.refresh_at \
             WHERE crls.refresh_at <= $4",
        )
        .bind(identifier)
        .bind(lease_until)
        .bind(Vec::<u8>::new())
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Persists a newly signed CRL unless a higher-numbered one is already stored (two
    /// signers racing: the later number wins whatever the commit order).
    pub async fn save_crl(&mut self, identifier: &str, meta: &StoredCrlMeta, der: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO crls (issuer_identifier, crl_number, this_update, next_update, refresh_at, version, der) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (issuer_identifier) DO UPDATE SET crl_number = excluded.crl_number, \
             this_update = excluded.this_update, next_update = excluded.next_update, \
             refresh_at = excluded.refresh_at, version = excluded.version, der = excluded.der \
             WHERE crls.crl_number < excluded.crl_number",
        )
        .bind(identifier)
        .bind(meta.crl_number)
        .bind(meta.this_update)
        .bind(meta.next_update)
        .bind(meta.refresh_at)
        .bind(meta.version.map(|v| v.to_string()).unwrap_or_default())
        .bind(der)
        .execute(self.conn())
        .await?;
        Ok(())
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

const REVOKED_BY_ISSUER: &str = "SELECT serial_no AS serial, revoked_at, revoke_reason AS reason FROM certificates \
     WHERE issuer_identifier = $1 AND revoked_at IS NOT NULL \
     UNION ALL \
     SELECT serial_number AS serial, status_changed_at AS revoked_at, NULL AS reason FROM cas \
     WHERE issuer_identifier = $1 AND identifier <> $1 AND status = 'REVOKE'";

const REVOKED_SINCE: &str = "SELECT serial_no AS serial, revoked_at, revoke_reason AS reason FROM certificates \
     WHERE issuer_identifier = $1 AND revoked_at IS NOT NULL AND revoked_at > $2 \
     UNION ALL \
     SELECT serial_number AS serial, status_changed_at AS revoked_at, NULL AS reason FROM cas \
     WHERE issuer_identifier = $1 AND identifier <> $1 AND status = 'REVOKE' \
       AND COALESCE(status_changed_at, 0) > $2 \
     ORDER BY revoked_at";

impl Store {
    /// Every certificate issued by `issuer_identifier` and revoked, plus the sub CAs it
    /// issued that were revoked. Unordered: a CRL needs no order, and sorting a million
    /// rows would cost more than reading them.
    pub async fn revoked_by_issuer(&self, issuer_identifier: &str) -> Result<Vec<RevokedSerial>> {
        self.revoked_rows(REVOKED_BY_ISSUER, issuer_identifier, None).await
    }

    /// The revoked certificates and sub CAs of `issuer_identifier` revoked after
    /// `after_ms`, oldest first (through the `certificates_revoked` index).
    pub async fn revoked_since(&self, issuer_identifier: &str, after_ms: i64) -> Result<Vec<RevokedSerial>> {
        self.revoked_rows(REVOKED_SINCE, issuer_identifier, Some(after_ms))
            .await
    }

    /// Folds `visit` over the rows [`Store::revoked_by_issuer`] (`after_ms` = `None`) or
    /// [`Store::revoked_since`] would return, on a blocking thread, without a `String` per row:
    /// a CRL encodes a million entries straight from the statement. The order is the same as
    /// theirs.
    pub async fn fold_revoked<S, F>(&self, issuer: &str, after_ms: Option<i64>, mut state: S, mut visit: F) -> Result<S>
    where
        S: Send + 'static,
        F: FnMut(&mut S, RevokedRow<'_>) + Send + 'static,
    {
        let sql = if after_ms.is_some() {
            REVOKED_SINCE
        } else {
            REVOKED_BY_ISSUER
        };
        if let Some(fast) = &self.fast {
            let fast = std::sync::Arc::clone(fast);
            let issuer = issuer.to_owned();
            return tokio::task::spawn_blocking(move || {
                let each = |r: &rusqlite::Row<'_>| {
                    let row = RevokedRow {
                        serial_hex: r.get_ref(0)?.as_str()?,
                        revoked_at: r.get_ref(1)?.as_i64_or_null()?.unwrap_or(0),
                        reason: r.get_ref(2)?.as_str_or_null()?,
                    };
                    visit(&mut state, row);
                    Ok(())
                };
                match after_ms {
                    None => fast.each(sql, [issuer], each),
                    Some(after) => fast.each(sql, rusqlite::params![issuer, after], each),
                }
                .map(|()| state)
            })
            .await
            .map_err(|e| StoreError::Batch(format!("reading the revoked certificates: {e}")))?;
        }
        let rows = self.revoked_rows(sql, issuer, after_ms).await?;
        for r in &rows {
            let row = RevokedRow {
                serial_hex: &r.serial_hex,
                revoked_at: r.revoked_at,
                reason: r.reason.as_deref(),
            };
            visit(&mut state, row);
        }
        Ok(state)
    }

    /// The latest revocation time (unix ms) among the entries of the CRL of
    /// `issuer_identifier`, 0 when there are none: two index seeks.
    pub async fn revoked_latest(&self, issuer_identifier: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE((SELECT MAX(revoked_at) FROM certificates WHERE issuer_identifier = $1 \
                                AND revoked_at IS NOT NULL), 0) AS certs, \
                    COALESCE((SELECT MAX(status_changed_at) FROM cas WHERE issuer_identifier = $1 \
                                AND identifier <> $1 AND status = 'REVOKE'), 0) AS subs",
        )
        .bind(issuer_identifier)
        .fetch_one(&self.pool)
        .await?;
        let certs: i64 = row.try_get("certs")?;
        let subs: i64 = row.try_get("subs")?;
        Ok(certs.max(subs))
    }

    /// Runs one of the queries above. Either can return millions of rows (a bulk revocation
    /// lands in "since" as well), so with direct readers the rows are read on a blocking
    /// thread, off the async workers; sqlx's `Any` driver takes seconds per million rows.
    async fn revoked_rows(&self, sql: &'static str, issuer: &str, after_ms: Option<i64>) -> Result<Vec<RevokedSerial>> {
        if let Some(fast) = &self.fast {
            let fast = std::sync::Arc::clone(fast);
            let issuer = issuer.to_owned();
            return tokio::task::spawn_blocking(move || {
                let decode = |r: &rusqlite::Row<'_>| {
                    Ok(RevokedSerial {
                        serial_hex: r.get(0)?,
                        revoked_at: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                        reason: r.get(2)?,
                    })
                };
                match after_ms {
                    None => fast.all(sql, [issuer], decode),
                    Some(after) => fast.all(sql, rusqlite::params![issuer, after], decode),
                }
            })
            .await
            .map_err(|e| StoreError::Batch(format!("reading the revoked certificates: {e}")))?;
        }
        // Without direct readers (PostgreSQL) sqlx converts the rows where this is polled.
        let mut query = sqlx::query(sql).bind(issuer);
        if let Some(after) = after_ms {
            query = query.bind(after);
        }
        let rows = query.fetch_all(&self.pool).await?;
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

    /// How many entries the CRL of `issuer_identifier` lists (an index-only count).
    pub async fn revoked_count(&self, issuer_identifier: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM certificates WHERE issuer_identifier = $1 AND revoked_at IS NOT NULL) \
                  + (SELECT COUNT(*) FROM cas WHERE issuer_identifier = $1 AND identifier <> $1 \
                     AND status = 'REVOKE') AS n",
        )
        .bind(issuer_identifier)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Read on every CRL fetch and OCSP answer: on SQLite through the direct readers, so that
    /// a fetch never queues for a pooled connection behind long list queries (the soak's
    /// CRL timeouts under load).
    pub async fn revocation_version(&self, issuer_identifier: &str) -> Result<RevocationVersion> {
        const SQL: &str = "SELECT c.revocation_seq AS seq, \
                    (SELECT COUNT(*) FROM cas s WHERE s.issuer_identifier = $1 AND s.identifier <> $1 \
                       AND s.status = 'REVOKE') AS subs, \
                    (SELECT COALESCE(MAX(s.status_changed_at), 0) FROM cas s WHERE s.issuer_identifier = $1 \
                       AND s.identifier <> $1 AND s.status = 'REVOKE') AS latest \
             FROM cas c WHERE c.identifier = $1";
        if let Some(fast) = &self.fast {
            let version = fast.optional(SQL, [issuer_identifier], |r| {
                Ok(RevocationVersion {
                    seq: r.get(0)?,
                    revoked_subs: r.get(1)?,
                    sub_latest: r.get(2)?,
                })
            })?;
            return version.ok_or(StoreError::NotFound);
        }
        let row = sqlx::query(SQL)
            .bind(issuer_identifier)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(RevocationVersion {
            seq: row.try_get("seq")?,
            revoked_subs: row.try_get("subs")?,
            sub_latest: row.try_get("latest")?,
        })
    }

    /// What is known of the last CRL the CA `identifier` signed, without its bytes. Read on
    /// every CRL fetch: direct on SQLite, as `revocation_version`.
    pub async fn crl_meta(&self, identifier: &str) -> Result<Option<StoredCrlMeta>> {
        // 0/1, not a comparison: PostgreSQL would answer a BOOLEAN
        const SQL: &str = "SELECT crl_number, this_update, next_update, refresh_at, version, \
             CASE WHEN length(der) > 0 THEN 1 ELSE 0 END AS signed FROM crls WHERE issuer_identifier = $1";
        if let Some(fast) = &self.fast {
            return fast.optional(SQL, [identifier], |r| {
                Ok(StoredCrlMeta {
                    crl_number: r.get(0)?,
                    this_update: r.get(1)?,
                    next_update: r.get(2)?,
                    refresh_at: r.get(3)?,
                    version: r.get::<_, String>(4)?.parse().ok(),
                    signed: r.get::<_, i64>(5)? != 0,
                })
            });
        }
        let row = sqlx::query(SQL).bind(identifier).fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(StoredCrlMeta {
                crl_number: r.try_get("crl_number")?,
                this_update: r.try_get("this_update")?,
                next_update: r.try_get("next_update")?,
                refresh_at: r.try_get("refresh_at")?,
                version: r.try_get::<String, _>("version")?.parse().ok(),
                signed: r.try_get::<i64, _>("signed")? != 0,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }

    /// The stored CRL of `identifier` when it is the one numbered `crl_number`.
    pub async fn crl_der(&self, identifier: &str, crl_number: i64) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT der FROM crls WHERE issuer_identifier = $1 AND crl_number = $2")
            .bind(identifier)
            .bind(crl_number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get("der"))
            .transpose()?
            .filter(|d: &Vec<u8>| !d.is_empty()))
    }

    /// (count, highest id) of the CAs with a key here: changes whenever one is added.
    pub async fn issuing_ca_mark(&self) -> Result<(i64, i64)> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS top FROM cas WHERE key_sealed IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok((row.try_get("n")?, row.try_get("top")?))
    }

    /// CAs whose CRL is due for re-signing at `now` (unix seconds), or was never signed:
    /// CRL-enabled, key held here, not expired.
    pub async fn crls_due(&self, now: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT c.identifier FROM cas c LEFT JOIN crls r ON r.issuer_identifier = c.identifier \
             WHERE c.enable_crl <> 0 AND c.issuer_type = 'local' AND c.key_sealed IS NOT NULL \
               AND c.not_after > $1 AND (r.refresh_at IS NULL OR r.refresh_at <= $2) \
             ORDER BY COALESCE(r.refresh_at, 0)",
        )
        .bind(now * 1000)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("identifier"))
            .collect::<std::result::Result<_, _>>()?)
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

#[cfg(test)]
mod tests {
    use super::RevocationVersion;

    /// On the test backend (SQLite with its direct readers, or PostgreSQL through `Any`
    /// when `OPENCAS_TEST_POSTGRES_URL` is set): the folded read lends the rows the
    /// collecting read returns, and `revoked_latest` is their latest time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn folded_read_and_latest_time_on_the_test_backend() {
        use crate::search::tests::{cert, insert};
        let master = crate::sealing::MasterKey::from_hex(&"55".repeat(32)).unwrap();
        let s = crate::test_db::TestDb::with_master(&master).await;
        let key = crate::NewAccessKey {
            access_key_id: "k",
            secret: "x",
        };
        s.insert_account(1, "a", "a", key, 0).await.unwrap();
        assert_eq!(s.revoked_latest("ca1").await.unwrap(), 0);
        let rows: Vec<_> = (1..=4).map(|n| cert(1, n, &format!("l{n}.example"), "")).collect();
        insert(&s, &rows).await;
        let mut tx = s.begin().await.unwrap();
        for (n, row) in rows.iter().enumerate().skip(1) {
            let reason = (n == 2).then_some("superseded");
            assert!(
                tx.revoke_certificate(1, &row.identifier, reason, 5_000 - n as i64)
                    .await
                    .unwrap()
            );
        }
        tx.commit().await.unwrap();
        let folded = s
            .fold_revoked("ca1", None, Vec::new(), |v, r| {
                v.push((r.serial_hex.to_owned(), r.revoked_at, r.reason.map(str::to_owned)))
            })
            .await
            .unwrap();
        let collected: Vec<_> = s
            .revoked_by_issuer("ca1")
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.serial_hex, r.revoked_at, r.reason))
            .collect();
        assert_eq!(folded, collected);
        assert_eq!(folded.len(), 3);
        assert!(folded.contains(&("3".into(), 4_998, Some("superseded".into()))));
        assert_eq!(s.revoked_latest("ca1").await.unwrap(), 4_999);
        let since = s.fold_revoked("ca1", Some(4_997), 0, |n, _| *n += 1).await.unwrap();
        assert_eq!(since, 2);
    }

    #[test]
    fn a_later_state_covers_an_earlier_one_and_not_the_reverse() {
        let v = |seq, revoked_subs, sub_latest| RevocationVersion {
            seq,
            revoked_subs,
            sub_latest,
        };
        assert!(v(3, 1, 10).covers(v(3, 1, 10)));
        assert!(v(5, 1, 10).covers(v(3, 1, 10)));
        assert!(v(5, 2, 20).covers(v(3, 1, 10)));
        assert!(!v(3, 1, 10).covers(v(4, 1, 10)), "a certificate revoked since");
        assert!(!v(9, 1, 10).covers(v(3, 2, 20)), "a sub CA revoked since");
    }
}
