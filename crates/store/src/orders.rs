//! Certificate packages, DV orders and their domain challenges.

use crate::{Result, Store, StoreError, Tx, conflict_or, one_row};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageRecord {
    pub account_id: i64,
    pub product_code: String,
    pub total_count: i64,
    pub used_count: i64,
    pub issued_count: i64,
    pub created_at: i64,
}

fn package_row(r: &AnyRow) -> std::result::Result<PackageRecord, sqlx::Error> {
    Ok(PackageRecord {
        account_id: r.try_get("account_id")?,
        product_code: r.try_get("product_code")?,
        total_count: r.try_get("total_count")?,
        used_count: r.try_get("used_count")?,
        issued_count: r.try_get("issued_count")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A DV order, everything but its sealed key.
#[derive(Debug, Clone, Default)]
pub struct DvOrder {
    pub id: i64,
    pub account_id: i64,
    pub order_type: String,
    pub status: String,
    pub product_code: String,
    pub cert_type: String,
    pub algorithm: String,
    pub domain: String,
    pub domain_count: i64,
    pub domain_type: String,
    pub resource_group_id: Option<String>,
    pub certificate_id: Option<i64>,
    pub buy_date: i64,
    pub created_at: i64,
    pub instance_id: String,
    pub validate_type: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub issuer: Option<String>,
    pub csr_der: Option<Vec<u8>>,
    pub has_key: bool,
    pub acme_order_url: Option<String>,
    pub fail_reason: Option<String>,
    pub certificate_identifier: Option<String>,
    pub cert_not_after: Option<i64>,
    pub counted: bool,
    pub renewed_from: Option<i64>,
    pub instance_name: Option<String>,
    pub auto_reissue: bool,
}

/// `has_key` is 0/1 rather than a comparison, which PostgreSQL would answer as a BOOLEAN.
pub(crate) const ORDER_COLUMNS: &str = "id, account_id, order_type, status, product_code, cert_type, algorithm, domain, \
    domain_count, domain_type, resource_group_id, certificate_id, buy_date, created_at, instance_id, \
    validate_type, username, email, phone, province, city, issuer, csr_der, \
    CASE WHEN key_sealed IS NOT NULL THEN 1 ELSE 0 END AS has_key, acme_order_url, fail_reason, \
    certificate_identifier, cert_not_after, counted, renewed_from, instance_name, auto_reissue";

pub(crate) fn order_row(r: &AnyRow) -> std::result::Result<DvOrder, sqlx::Error> {
    Ok(DvOrder {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        order_type: r.try_get("order_type")?,
        status: r.try_get("status")?,
        product_code: r.try_get("product_code")?,
        cert_type: r.try_get("cert_type")?,
        algorithm: r.try_get("algorithm")?,
        domain: r.try_get("domain")?,
        domain_count: r.try_get("domain_count")?,
        domain_type: r.try_get("domain_type")?,
        resource_group_id: r.try_get("resource_group_id")?,
        certificate_id: r.try_get("certificate_id")?,
        buy_date: r.try_get("buy_date")?,
        created_at: r.try_get("created_at")?,
        instance_id: r.try_get::<Option<String>, _>("instance_id")?.unwrap_or_default(),
        validate_type: r.try_get("validate_type")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        province: r.try_get("province")?,
        city: r.try_get("city")?,
        issuer: r.try_get("issuer")?,
        csr_der: r.try_get("csr_der")?,
        has_key: r.try_get::<i64, _>("has_key")? != 0,
        acme_order_url: r.try_get("acme_order_url")?,
        fail_reason: r.try_get("fail_reason")?,
        certificate_identifier: r.try_get("certificate_identifier")?,
        cert_not_after: r.try_get("cert_not_after")?,
        counted: r.try_get::<i64, _>("counted")? != 0,
        renewed_from: r.try_get("renewed_from")?,
        instance_name: r.try_get("instance_name")?,
        auto_reissue: r.try_get::<i64, _>("auto_reissue")? != 0,
    })
}

/// What a domain of an order must publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub position: i64,
    pub domain: String,
    /// `DNS` or `FILE`.
    pub kind: String,
    /// DNS: the TXT record's full name; FILE: the URL path.
    pub record_name: String,
    pub value: String,
    pub validated_at: Option<i64>,
}

pub(crate) fn order_key_record(account_id: i64, order_id: i64) -> String {
    format!("order:{account_id}:{order_id}")
}

impl Tx {
    /// Adds `count` certificates of `product_code` to the account's package.
    pub async fn grant_package(&mut self, account_id: i64, product_code: &str, count: i64, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO packages (account_id, product_code, total_count, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, product_code) DO UPDATE SET total_count = packages.total_count + $3",
        )
        .bind(account_id)
        .bind(product_code)
        .bind(count)
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_or(e, "package"))?;
        Ok(())
    }

    /// Moves the package's counters. A use beyond the total is `Conflict("package count")`;
    /// no package at all is `NotFound`.
    pub async fn add_package_counts(
        &mut self,
        account_id: i64,
        product_code: &str,
        used: i64,
        issued: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE packages SET used_count = used_count + $1, issued_count = issued_count + $2 \
             WHERE account_id = $3 AND product_code = $4 AND used_count + $1 <= total_count \
               AND used_count + $1 >= 0 AND issued_count + $2 >= 0",
        )
        .bind(used)
        .bind(issued)
        .bind(account_id)
        .bind(product_code)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 AS one FROM packages WHERE account_id = $1 AND product_code = $2")
            .bind(account_id)
            .bind(product_code)
            .fetch_optional(self.conn())
            .await?;
        Err(match exists {
            Some(_) => StoreError::Conflict("package count"),
            None => StoreError::NotFound,
        })
    }

    /// Inserts an order with its challenges; the key (PKCS#8 DER) is sealed to the order.
    pub async fn insert_dv_order(
        &mut self,
        o: &DvOrder,
        key_pkcs8_der: Option<&[u8]>,
        challenges: &[ChallengeRecord],
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO orders (account_id, order_type, status, product_code, cert_type, algorithm, domain, \
             domain_count, domain_type, resource_group_id, buy_date, created_at, instance_id, validate_type, \
             username, email, phone, province, city, issuer, csr_der, counted, renewed_from) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $23) RETURNING id",
        )
        .bind(o.account_id)
        .bind(&o.order_type)
        .bind(&o.status)
        .bind(&o.product_code)
        .bind(&o.cert_type)
        .bind(&o.algorithm)
        .bind(&o.domain)
        .bind(o.domain_count)
        .bind(&o.domain_type)
        .bind(&o.resource_group_id)
        .bind(o.buy_date)
        .bind(o.created_at)
        .bind(&o.instance_id)
        .bind(&o.validate_type)
        .bind(&o.username)
        .bind(&o.email)
        .bind(&o.phone)
        .bind(&o.province)
        .bind(&o.city)
        .bind(&o.issuer)
        .bind(&o.csr_der)
        .bind(o.counted as i64)
        .bind(o.renewed_from)
        .fetch_one(self.conn())
        .await
        .map_err(|e| conflict_or(e, "order"))?;
        let id: i64 = row.try_get("id")?;
        if let Some(key) = key_pkcs8_der {
            let sealed = self.keys.seal(&order_key_record(o.account_id, id), key);
            sqlx::query("UPDATE orders SET key_sealed = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(self.conn())
                .await?;
        }
        self.replace_challenges(o.account_id, id, challenges).await?;
        Ok(id)
    }

    pub async fn replace_challenges(
        &mut self,
        account_id: i64,
        order_id: i64,
        challenges: &[ChallengeRecord],
    ) -> Result<()> {
        sqlx::query("DELETE FROM order_challenges WHERE account_id = $1 AND order_id = $2")
            .bind(account_id)
            .bind(order_id)
            .execute(self.conn())
            .await?;
        for c in challenges {
            sqlx::query(
                "INSERT INTO order_challenges (account_id, order_id, position, domain, kind, record_name, value, \
                 validated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(account_id)
            .bind(order_id)
            .bind(c.position)
            .bind(&c.domain)
            .bind(&c.kind)
            .bind(&c.record_name)
            .bind(&c.value)
            .bind(c.validated_at)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    pub async fn find_dv_order(&mut self, account_id: i64, id: i64) -> Result<Option<DvOrder>> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        Ok(row.as_ref().map(order_row).transpose()?)
    }

    /// Moves an order from one of `from` to `to`. `NotFound` when it was in none of them
    /// (another request moved it first).
    pub async fn set_order_status(
        &mut self,
        account_id: i64,
        id: i64,
        from: &[&str],
        to: &str,
        fail_reason: Option<&str>,
    ) -> Result<()> {
        let list = from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "UPDATE orders SET status = $1, fail_reason = $2 \
             WHERE account_id = $3 AND id = $4 AND deleted_at IS NULL AND status IN ({list})"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to)
            .bind(fail_reason)
            .bind(account_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        one_row(done)
    }

    /// Marks the order as no longer holding a unit of its package.
    pub async fn set_order_counted(&mut self, account_id: i64, id: i64, counted: bool) -> Result<()> {
        let done = sqlx::query("UPDATE orders SET counted = $1 WHERE account_id = $2 AND id = $3")
            .bind(counted as i64)
            .bind(account_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        one_row(done)
    }

    pub async fn delete_dv_order(&mut self, account_id: i64, id: i64, now: i64) -> Result<()> {
        let done =
            sqlx::query("UPDATE orders SET deleted_at = $1 WHERE account_id = $2 AND id = $3 AND deleted_at IS NULL")
                .bind(now)
                .bind(account_id)
                .bind(id)
                .execute(self.conn())
                .await?;
        one_row(done)
    }

    /// Records the issued certificate on an order still being checked.
    pub async fn complete_dv_order(
        &mut self,
        account_id: i64,
        id: i64,
        certificate_id: i64,
        certificate_identifier: &str,
        not_after: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE orders SET status = 'ISSUED', certificate_id = $1, certificate_identifier = $2, \
             cert_not_after = $3, fail_reason = NULL \
             WHERE account_id = $4 AND id = $5 AND status = 'CHECKING' AND deleted_at IS NULL",
        )
        .bind(certificate_id)
        .bind(certificate_identifier)
        .bind(not_after)
        .bind(account_id)
        .bind(id)
        .execute(self.conn())
        .await?;
        one_row(done)
    }

    /// `UpdateInstance`: the instance's name and managed-renewal switch.
    pub async fn set_instance_settings(
        &mut self,
        account_id: i64,
        id: i64,
        name: Option<&str>,
        auto_reissue: bool,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE orders SET instance_name = $1, auto_reissue = $2 \
             WHERE account_id = $3 AND id = $4 AND deleted_at IS NULL",
        )
        .bind(name)
        .bind(auto_reissue as i64)
        .bind(account_id)
        .bind(id)
        .execute(self.conn())
        .await?;
        one_row(done)
    }

    /// A refunded unit leaves the package: the total shrinks, and the used count with it
    /// when the order held the unit.
    pub async fn refund_package_unit(&mut self, account_id: i64, product_code: &str, counted: bool) -> Result<()> {
        let done = sqlx::query(
            "UPDATE packages SET total_count = total_count - 1, used_count = used_count - $1 \
             WHERE account_id = $2 AND product_code = $3 AND total_count >= 1 AND used_count >= $1",
        )
        .bind(counted as i64)
        .bind(account_id)
        .bind(product_code)
        .execute(self.conn())
        .await?;
        one_row(done)
    }

    pub async fn set_order_contact(
        &mut self,
        account_id: i64,
        id: i64,
        domain: &str,
        domain_count: i64,
        validate_type: &str,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE orders SET domain = $1, domain_count = $2, validate_type = $3 \
             WHERE account_id = $4 AND id = $5 AND deleted_at IS NULL",
        )
        .bind(domain)
        .bind(domain_count)
        .bind(validate_type)
        .bind(account_id)
        .bind(id)
        .execute(self.conn())
        .await?;
        one_row(done)
    }
}

impl Store {
    pub async fn find_package(&self, account_id: i64, product_code: &str) -> Result<Option<PackageRecord>> {
        let row = sqlx::query(
            "SELECT account_id, product_code, total_count, used_count, issued_count, created_at \
             FROM packages WHERE account_id = $1 AND product_code = $2",
        )
        .bind(account_id)
        .bind(product_code)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(package_row).transpose()?)
    }

    /// Every package; of one account when `account_id` is given.
    pub async fn list_packages(&self, account_id: Option<i64>) -> Result<Vec<PackageRecord>> {
        let rows = sqlx::query(
            "SELECT account_id, product_code, total_count, used_count, issued_count, created_at \
             FROM packages WHERE ($1 IS NULL OR account_id = $1) ORDER BY account_id, product_code",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(package_row).collect::<std::result::Result<_, _>>()?)
    }

    pub async fn find_dv_order(&self, account_id: i64, id: i64) -> Result<Option<DvOrder>> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(order_row).transpose()?)
    }

    pub async fn find_dv_order_by_instance(&self, account_id: i64, instance_id: &str) -> Result<Option<DvOrder>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND instance_id = $2 AND deleted_at IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(instance_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(order_row).transpose()?)
    }

    /// DV orders of the account, newest first, `offset`/`limit` paged, with the total.
    pub async fn list_dv_orders(&self, account_id: i64, offset: i64, limit: i64) -> Result<(Vec<DvOrder>, i64)> {
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM orders WHERE account_id = $1 AND deleted_at IS NULL AND instance_id IS NOT NULL",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND deleted_at IS NULL \
             AND instance_id IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok((
            rows.iter().map(order_row).collect::<std::result::Result<_, _>>()?,
            total,
        ))
    }

    pub async fn order_challenges(&self, account_id: i64, order_id: i64) -> Result<Vec<ChallengeRecord>> {
        let rows = sqlx::query(
            "SELECT position, domain, kind, record_name, value, validated_at FROM order_challenges \
             WHERE account_id = $1 AND order_id = $2 ORDER BY position",
        )
        .bind(account_id)
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChallengeRecord {
                    position: r.try_get("position")?,
                    domain: r.try_get("domain")?,
                    kind: r.try_get("kind")?,
                    record_name: r.try_get("record_name")?,
                    value: r.try_get("value")?,
                    validated_at: r.try_get("validated_at")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The order's private key (PKCS#8 DER), when the service made it.
    pub async fn order_private_key(&self, account_id: i64, order_id: i64) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT key_sealed FROM orders WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let sealed: Option<Vec<u8>> = row.try_get("key_sealed")?;
        Ok(sealed
            .map(|s| self.keys.open(&order_key_record(account_id, order_id), &s))
            .transpose()?)
    }

    /// Stores what the ACME CA answered for an order (its order URL and its challenges).
    pub async fn set_order_acme(
        &self,
        account_id: i64,
        order_id: i64,
        order_url: &str,
        challenges: &[ChallengeRecord],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE orders SET acme_order_url = $1 WHERE account_id = $2 AND id = $3")
            .bind(order_url)
            .bind(account_id)
            .bind(order_id)
            .execute(tx.conn())
            .await?;
        one_row(done)?;
        tx.replace_challenges(account_id, order_id, challenges).await?;
        tx.commit().await
    }

    pub async fn set_order_fail_reason(&self, account_id: i64, order_id: i64, reason: Option<&str>) -> Result<()> {
        let _writer = self.writer.lock().await;
        sqlx::query("UPDATE orders SET fail_reason = $1 WHERE account_id = $2 AND id = $3")
            .bind(reason)
            .bind(account_id)
            .bind(order_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Records that one challenge of an order passed.
    pub async fn mark_challenge_validated(
        &self,
        account_id: i64,
        order_id: i64,
        position: i64,
        now: i64,
    ) -> Result<()> {
        let _writer = self.writer.lock().await;
        sqlx::query(
            "UPDATE order_challenges SET validated_at = $1 \
             WHERE account_id = $2 AND order_id = $3 AND position = $4 AND validated_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .bind(order_id)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
