//! Certificate authorities, their lifecycle log, and their sealed private keys.

use crate::listing::{Page, Where};
use crate::{Result, Store, StoreError, Tx, conflict_or};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::Arc;

/// A CA to insert. The private key arrives as PKCS#8 DER and is sealed here; an external
/// CA (its key held elsewhere) has none.
pub struct NewCa<'a> {
    pub record: &'a CaRecord,
    pub key_pkcs8_der: Option<&'a [u8]>,
}

/// A stored CA (everything but its private key).
#[derive(Debug, Clone, Default)]
pub struct CaRecord {
    pub id: i64,
    pub account_id: i64,
    pub identifier: String,
    pub parent_identifier: Option<String>,
    pub issuer_identifier: String,
    pub certificate_type: String,
    pub issuer_type: String,
    pub status: String,
    pub alias: Option<String>,
    pub common_name: String,
    pub organization: Option<String>,
    pub organization_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    pub country_code: Option<String>,
    pub subject_dn: String,
    pub algorithm: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub sign_algorithm: String,
    pub sm2_id: Option<String>,
    pub serial_number: String,
    pub not_before: i64,
    pub not_after: i64,
    pub years: i64,
    pub path_len: Option<i64>,
    pub ext_key_usages: String,
    pub cert_max_time_days: Option<i64>,
    pub enable_crl: bool,
    pub crl_day: i64,
    pub md5: String,
    pub sha256: String,
    pub cert_der: Vec<u8>,
    pub chain_pem: String,
    pub cert_total_count: i64,
    pub cert_issued_count: i64,
    pub resource_group_id: Option<String>,
    pub status_changed_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct CaLogRow {
    pub identifier: String,
    pub op_type: String,
    pub content: String,
    pub created_at: i64,
}

#[derive(Debug, Default, Clone)]
pub struct CaFilter {
    pub identifier: Option<String>,
    pub identifiers: Vec<String>,
    pub keyword: Option<String>,
    pub status: Option<String>,
    pub certificate_type: Option<String>,
    pub issuer_type: Option<String>,
    pub resource_group_id: Option<String>,
    pub parent_identifier: Option<String>,
    pub not_after_from: Option<i64>,
    pub not_after_to: Option<i64>,
}

pub(crate) const CA_COLUMNS: &str = "id, account_id, identifier, parent_identifier, issuer_identifier, \
    certificate_type, issuer_type, status, alias, common_name, organization, organization_unit, \
    locality, state, country_code, subject_dn, algorithm, key_algorithm, key_size, sign_algorithm, \
    sm2_id, serial_number, not_before, not_after, years, path_len, ext_key_usages, \
    cert_max_time_days, enable_crl, crl_day, md5, sha256, cert_der, chain_pem, cert_total_count, \
    cert_issued_count, resource_group_id, status_changed_at, created_at";

fn ca_row(r: &AnyRow) -> std::result::Result<CaRecord, sqlx::Error> {
    Ok(CaRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        identifier: r.try_get("identifier")?,
        parent_identifier: r.try_get("parent_identifier")?,
        issuer_identifier: r.try_get("issuer_identifier")?,
        certificate_type: r.try_get("certificate_type")?,
        issuer_type: r.try_get("issuer_type")?,
        status: r.try_get("status")?,
        alias: r.try_get("alias")?,
        common_name: r.try_get("common_name")?,
        organization: r.try_get("organization")?,
        organization_unit: r.try_get("organization_unit")?,
        locality: r.try_get("locality")?,
        state: r.try_get("state")?,
        country_code: r.try_get("country_code")?,
        subject_dn: r.try_get("subject_dn")?,
        algorithm: r.try_get("algorithm")?,
        key_algorithm: r.try_get("key_algorithm")?,
        key_size: r.try_get("key_size")?,
        sign_algorithm: r.try_get("sign_algorithm")?,
        sm2_id: r.try_get("sm2_id")?,
        serial_number: r.try_get("serial_number")?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        years: r.try_get("years")?,
        path_len: r.try_get("path_len")?,
        ext_key_usages: r.try_get("ext_key_usages")?,
        cert_max_time_days: r.try_get("cert_max_time_days")?,
        enable_crl: r.try_get::<i64, _>("enable_crl")? != 0,
        crl_day: r.try_get("crl_day")?,
        md5: r.try_get("md5")?,
        sha256: r.try_get("sha256")?,
        cert_der: r.try_get("cert_der")?,
        chain_pem: r.try_get("chain_pem")?,
        cert_total_count: r.try_get("cert_total_count")?,
        cert_issued_count: r.try_get("cert_issued_count")?,
        resource_group_id: r.try_get("resource_group_id")?,
        status_changed_at: r.try_get("status_changed_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A query whose text is assembled from this module's constants only.
fn q<'a>(sql: String) -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

async fn quota_sum(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    parent_identifier: &str,
    excluding: &str,
) -> Result<i64> {
    // PostgreSQL sums BIGINTs as NUMERIC, a type the Any driver cannot decode
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(cert_total_count), 0) AS BIGINT) AS n FROM cas \
         WHERE account_id = $1 AND parent_identifier = $2 AND identifier <> $3",
    )
    .bind(account_id)
    .bind(parent_identifier)
    .bind(excluding)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// An update by identifier that touched no row names a CA that does not exist.
fn one_row(rows_affected: u64) -> Result<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// The sealing record name of a CA key: bound to the account and the CA.
pub(crate) fn key_record(account_id: i64, identifier: &str) -> String {
    format!("ca:{account_id}:{identifier}")
}

/// Takes `$1` units of a CA's quota; touches no row when the quota has not that many left.
pub(crate) const ADD_ISSUED_COUNT: &str = "UPDATE cas SET cert_issued_count = cert_issued_count + $1 \
     WHERE account_id = $2 AND identifier = $3 AND cert_issued_count + $1 <= cert_total_count";

impl Tx {
    pub async fn insert_ca(&mut self, ca: NewCa<'_>) -> Result<i64> {
        let c = ca.record;
        let sealed = ca
            .key_pkcs8_der
            .map(|k| self.keys.seal(&key_record(c.account_id, &c.identifier), k));
        let row = q(format!(
            "INSERT INTO cas ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, \
             $31, $32, $33, $34, $35, $36, $37, $38, $39) RETURNING id",
            CA_COLUMNS.replacen("id, ", "", 1) + ", key_sealed"
        ))
        .bind(c.account_id)
        .bind(&c.identifier)
        .bind(&c.parent_identifier)
        .bind(&c.issuer_identifier)
        .bind(&c.certificate_type)
        .bind(&c.issuer_type)
        .bind(&c.status)
        .bind(&c.alias)
        .bind(&c.common_name)
        .bind(&c.organization)
        .bind(&c.organization_unit)
        .bind(&c.locality)
        .bind(&c.state)
        .bind(&c.country_code)
        .bind(&c.subject_dn)
        .bind(&c.algorithm)
        .bind(&c.key_algorithm)
        .bind(c.key_size)
        .bind(&c.sign_algorithm)
        .bind(&c.sm2_id)
        .bind(&c.serial_number)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(c.years)
        .bind(c.path_len)
        .bind(&c.ext_key_usages)
        .bind(c.cert_max_time_days)
        .bind(c.enable_crl as i64)
        .bind(c.crl_day)
        .bind(&c.md5)
        .bind(&c.sha256)
        .bind(&c.cert_der)
        .bind(&c.chain_pem)
        .bind(c.cert_total_count)
        .bind(c.cert_issued_count)
        .bind(&c.resource_group_id)
        .bind(c.status_changed_at)
        .bind(c.created_at)
        .bind(sealed)
        .fetch_one(self.conn())
        .await
        .map_err(|e| conflict_or(e, "CA"))?;
        Ok(row.try_get("id")?)
    }

    /// Reads a CA inside the transaction (the write lock is held, so it cannot change
    /// underneath).
    pub async fn find_ca(&mut self, account_id: i64, identifier: &str) -> Result<Option<CaRecord>> {
        let row = q(format!(
            "SELECT {CA_COLUMNS} FROM cas WHERE account_id = $1 AND identifier = $2"
        ))
        .bind(account_id)
        .bind(identifier)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.as_ref().map(ca_row).transpose()?)
    }

    pub async fn set_ca_status(&mut self, account_id: i64, identifier: &str, status: &str, now: i64) -> Result<()> {
        self.changed_cas = true;
        let done =
            sqlx::query("UPDATE cas SET status = $1, status_changed_at = $2 WHERE account_id = $3 AND identifier = $4")
                .bind(status)
                .bind(now)
                .bind(account_id)
                .bind(identifier)
                .execute(self.conn())
                .await?;
        one_row(done.rows_affected())
    }

    pub async fn set_ca_total_count(&mut self, account_id: i64, identifier: &str, total: i64) -> Result<()> {
        self.changed_cas = true;
        let done = sqlx::query("UPDATE cas SET cert_total_count = $1 WHERE account_id = $2 AND identifier = $3")
            .bind(total)
            .bind(account_id)
            .bind(identifier)
            .execute(self.conn())
            .await?;
        one_row(done.rows_affected())
    }

    /// Adds `delta` to the issued count; the table's CHECK refuses going past the total.
    pub async fn add_ca_issued_count(&mut self, account_id: i64, identifier: &str, delta: i64) -> Result<()> {
        let done = sqlx::query(ADD_ISSUED_COUNT)
            .bind(delta)
            .bind(account_id)
            .bind(identifier)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("quota"));
        }
        Ok(())
    }

    /// Sum of the quotas handed to the sub CAs of `parent_identifier`, except `excluding`.
    pub async fn sub_ca_quota_sum(&mut self, account_id: i64, parent_identifier: &str, excluding: &str) -> Result<i64> {
        quota_sum(self.conn(), account_id, parent_identifier, excluding).await
    }

    pub async fn update_ca_meta(
        &mut self,
        account_id: i64,
        identifier: &str,
        alias: Option<&str>,
        resource_group_id: Option<&str>,
    ) -> Result<()> {
        self.changed_cas = true;
        let done = sqlx::query(
            "UPDATE cas SET alias = COALESCE($1, alias), resource_group_id = COALESCE($2, resource_group_id) \
             WHERE account_id = $3 AND identifier = $4",
        )
        .bind(alias)
        .bind(resource_group_id)
        .bind(account_id)
        .bind(identifier)
        .execute(self.conn())
        .await?;
        one_row(done.rows_affected())
    }

    pub async fn add_ca_log(
        &mut self,
        account_id: i64,
        identifier: &str,
        op_type: &str,
        content: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ca_logs (account_id, ca_identifier, op_type, content, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account_id)
        .bind(identifier)
        .bind(op_type)
        .bind(content)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// The PKCS#8 DER private key of a CA, unsealed; `NotFound` for an external CA.
    pub async fn ca_private_key(&self, account_id: i64, identifier: &str) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT key_sealed FROM cas WHERE account_id = $1 AND identifier = $2")
            .bind(account_id)
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let sealed: Vec<u8> = row.try_get("key_sealed")?;
        Ok(self.keys.open(&key_record(account_id, identifier), &sealed)?)
    }

    pub async fn sub_ca_quota_sum(&self, account_id: i64, parent_identifier: &str) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        quota_sum(&mut conn, account_id, parent_identifier, "").await
    }

    /// The CA `identifier`, whatever its account: for the public CRL and OCSP endpoints
    /// (see `public_ca_certificate`).
    pub async fn find_ca_public(&self, identifier: &str) -> Result<Option<CaRecord>> {
        let row = q(format!("SELECT {CA_COLUMNS} FROM cas WHERE identifier = $1"))
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(ca_row).transpose()?)
    }

    /// Every CA with a key here (OCSP matches a request's issuer hashes against them).
    pub async fn all_issuing_cas(&self) -> Result<Vec<CaRecord>> {
        let rows = q(format!(
            "SELECT {CA_COLUMNS} FROM cas WHERE key_sealed IS NOT NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(ca_row).collect::<std::result::Result<_, _>>()?)
    }

    /// The PKCS#8 DER key of a CA by identifier alone, for signing CRLs and OCSP answers.
    pub async fn ca_private_key_public(&self, identifier: &str) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT account_id FROM cas WHERE identifier = $1")
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.ca_private_key(row.try_get("account_id")?, identifier).await
    }

    /// The certificate of the CA `identifier`, whatever its account. This is the one
    /// unscoped read: CA certificates are public (AIA caIssuers), and identifiers are
    /// 128-bit random values unique across accounts.
    pub async fn public_ca_certificate(&self, identifier: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT cert_der FROM cas WHERE identifier = $1")
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("cert_der")).transpose()?)
    }

    /// A CA by its numeric id (the "instance id" some list actions filter on).
    pub async fn find_ca_by_id(&self, account_id: i64, id: i64) -> Result<Option<CaRecord>> {
        let row = q(format!(
            "SELECT {CA_COLUMNS} FROM cas WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ca_row).transpose()?)
    }

    /// The CA for an issuance to check before it signs: possibly a record kept in process, whose
    /// counters (`cert_issued_count`, `revocation_seq`, `crl_number`) may be behind (see
    /// `ca_cache`); everything else is as committed. The issuance's write re-reads the row.
    pub async fn find_issuing_ca(&self, account_id: i64, identifier: &str) -> Result<Option<Arc<CaRecord>>> {
        let Some(cache) = &self.ca_cache else {
            return Ok(self.find_ca(account_id, identifier).await?.map(Arc::new));
        };
        if let Some(kept) = cache.get(account_id, identifier) {
            return Ok(Some(kept));
        }
        let read_at = crate::ca_cache::changes();
        let found = self.find_ca(account_id, identifier).await?.map(Arc::new);
        if let Some(ca) = &found {
            cache.keep(read_at, Arc::clone(ca));
        }
        Ok(found)
    }

    pub async fn find_ca(&self, account_id: i64, identifier: &str) -> Result<Option<CaRecord>> {
        let sql = format!("SELECT {CA_COLUMNS} FROM cas WHERE account_id = $1 AND identifier = $2");
        if let Some(fast) = &self.fast {
            return fast.optional(&sql, (account_id, identifier), crate::fastread::ca_row);
        }
        let row = q(sql)
            .bind(account_id)
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(ca_row).transpose()?)
    }

    pub async fn list_cas(&self, account_id: i64, f: &CaFilter, page: Page) -> Result<(Vec<CaRecord>, i64)> {
        let mut w = Where::for_account(account_id);
        w.eq_text("identifier", f.identifier.as_deref());
        w.in_text("identifier", &f.identifiers);
        w.contains_any(&["common_name", "subject_dn", "alias"], f.keyword.as_deref());
        w.eq_text("status", f.status.as_deref());
        w.eq_text("certificate_type", f.certificate_type.as_deref());
        w.eq_text("issuer_type", f.issuer_type.as_deref());
        w.eq_text("resource_group_id", f.resource_group_id.as_deref());
        w.eq_text("parent_identifier", f.parent_identifier.as_deref());
        w.cmp_int("not_after", ">=", f.not_after_from);
        w.cmp_int("not_after", "<", f.not_after_to);
        self.page_of("cas", CA_COLUMNS, w, page, ca_row).await
    }

    /// CAs in creation order after the one with id `after_id` (token pagination).
    pub async fn list_cas_after(&self, account_id: i64, after_id: i64, limit: i64) -> Result<(Vec<CaRecord>, i64)> {
        let rows = q(format!(
            "SELECT {CA_COLUMNS} FROM cas WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(account_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cas WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let items = rows.iter().map(ca_row).collect::<std::result::Result<_, _>>()?;
        Ok((items, total))
    }

    pub async fn ca_logs(&self, account_id: i64, identifier: &str) -> Result<Vec<CaLogRow>> {
        let rows = sqlx::query(
            "SELECT ca_identifier, op_type, content, created_at FROM ca_logs \
             WHERE account_id = $1 AND ca_identifier = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(identifier)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CaLogRow {
                    identifier: r.try_get("ca_identifier")?,
                    op_type: r.try_get("op_type")?,
                    content: r.try_get("content")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use crate::*;

    fn ca(account_id: i64, identifier: &str, parent: Option<&str>, total: i64) -> CaRecord {
        CaRecord {
            account_id,
            identifier: identifier.into(),
            parent_identifier: parent.map(Into::into),
            issuer_identifier: parent.unwrap_or(identifier).into(),
            certificate_type: if parent.is_some() { "SUB_ROOT" } else { "ROOT" }.into(),
            issuer_type: "local".into(),
            status: "ISSUE".into(),
            common_name: format!("CA {identifier}"),
            subject_dn: format!("CN=CA {identifier}"),
            algorithm: "ECC".into(),
            key_algorithm: "ECC_256".into(),
            key_size: 256,
            sign_algorithm: "SHA256WITHECDSA".into(),
            serial_number: format!("serial-{identifier}"),
            cert_der: vec![1, 2, 3],
            cert_total_count: total,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn ca_lifecycle_keys_quota_and_logs() {
        let master = MasterKey::from_hex(&"44".repeat(32)).unwrap();
        let s = crate::test_db::TestDb::with_master(&master).await;
        s.insert_account(
            1,
            "a",
            "h",
            NewAccessKey {
                access_key_id: "k",
                secret: "x",
            },
            0,
        )
        .await
        .unwrap();

        let mut tx = s.begin().await.unwrap();
        tx.insert_ca(NewCa {
            record: &ca(1, "root", None, 100),
            key_pkcs8_der: Some(b"root-key"),
        })
        .await
        .unwrap();
        tx.insert_ca(NewCa {
            record: &ca(1, "sub", Some("root"), 10),
            key_pkcs8_der: Some(b"sub-key"),
        })
        .await
        .unwrap();
        tx.add_ca_log(1, "root", "ADD", "created", 5).await.unwrap();
        tx.record_idempotency(1, "CreateRootCACertificate", "tok", "root", 5)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        // a duplicate identifier, or a duplicate token, rolls the whole transaction back
        let mut tx = s.begin().await.unwrap();
        tx.insert_ca(NewCa {
            record: &ca(1, "other", None, 1),
            key_pkcs8_der: Some(b"k"),
        })
        .await
        .unwrap();
        let err = tx
            .record_idempotency(1, "CreateRootCACertificate", "tok", "other", 6)
            .await;
        assert!(matches!(err, Err(StoreError::Conflict(_))));
        drop(tx);
        assert!(s.find_ca(1, "other").await.unwrap().is_none());
        assert_eq!(
            s.find_idempotency(1, "CreateRootCACertificate", "tok")
                .await
                .unwrap()
                .as_deref(),
            Some("root")
        );

        assert_eq!(s.ca_private_key(1, "sub").await.unwrap(), b"sub-key");
        assert!(
            s.ca_private_key(2, "sub").await.is_err(),
            "another account cannot read it"
        );
        assert_eq!(s.sub_ca_quota_sum(1, "root").await.unwrap(), 10);
        let mut tx = s.begin().await.unwrap();
        assert_eq!(tx.sub_ca_quota_sum(1, "root", "none").await.unwrap(), 10);
        tx.add_ca_issued_count(1, "sub", 10).await.unwrap();
        assert!(matches!(
            tx.add_ca_issued_count(1, "sub", 1).await,
            Err(StoreError::Conflict("quota"))
        ));
        tx.set_ca_status(1, "sub", "REVOKE", 9).await.unwrap();
        tx.commit().await.unwrap();

        let sub = s.find_ca(1, "sub").await.unwrap().unwrap();
        assert_eq!(
            (sub.status.as_str(), sub.cert_issued_count, sub.status_changed_at),
            ("REVOKE", 10, Some(9))
        );
        assert!(s.find_ca(2, "sub").await.unwrap().is_none());
        let all = Page { offset: 0, limit: 10 };
        let roots = CaFilter {
            certificate_type: Some("ROOT".into()),
            ..Default::default()
        };
        assert_eq!(s.list_cas(1, &roots, all).await.unwrap().1, 1);
        let (first, total) = s.list_cas_after(1, 0, 1).await.unwrap();
        assert_eq!((first[0].identifier.as_str(), total), ("root", 2));
        assert_eq!(s.ca_logs(1, "root").await.unwrap().len(), 1);

        // the sealed key is bound to its record
        let raw: Vec<u8> = sqlx::query_scalar("SELECT key_sealed FROM cas WHERE identifier = 'sub'")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert!(!raw.windows(7).any(|w| w == b"sub-key"));
    }
}
