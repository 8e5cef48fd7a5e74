//! Certificates the account holds (issued here, uploaded, ordered) and their sealed keys.

use crate::listing::{Page, Where};
use crate::{Result, Store, StoreError, Tx};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored certificate, everything but its private key.
#[derive(Debug, Clone, Default)]
pub struct CertRecord {
    pub id: i64,
    pub account_id: i64,
    pub identifier: String,
    pub name: String,
    pub source_type: String,
    pub cert_type: String,
    pub certificate_type: Option<String>,
    pub status: String,
    pub issuer_identifier: Option<String>,
    pub custom_identifier: Option<String>,
    pub common_name: String,
    pub sans: String,
    pub subject_dn: String,
    pub issuer: String,
    pub organization: Option<String>,
    pub organization_unit: Option<String>,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub algorithm: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub sign_algorithm: String,
    pub serial_no: String,
    pub fingerprint_md5: String,
    pub fingerprint_sha1: String,
    pub fingerprint_sha256: String,
    pub not_before: i64,
    pub not_after: i64,
    pub days: i64,
    pub warehouse_id: Option<i64>,
    pub resource_group_id: Option<String>,
    pub has_private_key: bool,
    pub cert_der: Vec<u8>,
    pub chain_pem: String,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    pub created_at: i64,
}

/// What a key use checks on every call: where the certificate is and whether it is usable,
/// without the names, the DER and the chain a full row carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertState {
    pub identifier: String,
    pub status: String,
    pub warehouse_id: Option<i64>,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
}

/// How a certificate is named in a call.
#[derive(Debug, Clone, Copy)]
pub enum CertName<'a> {
    Identifier(&'a str),
    CustomIdentifier(&'a str),
}

#[derive(Debug, Default, Clone)]
pub struct CertFilter {
    pub keyword: Option<String>,
    pub warehouse_id: Option<i64>,
    pub status: Option<String>,
    pub source_type: Option<String>,
    pub cert_type: Option<String>,
    pub certificate_types: Vec<String>,
    pub identifiers: Vec<String>,
    pub resource_group_id: Option<String>,
    pub not_after_from: Option<i64>,
    pub not_after_to: Option<i64>,
    /// Only certificates in the SSL certificate store (the CertId views).
    pub cert_store_only: bool,
}

pub(crate) const CERT_COLUMNS: &str = "id, account_id, identifier, name, source_type, cert_type, \
    certificate_type, status, issuer_identifier, custom_identifier, common_name, sans, subject_dn, issuer, \
    organization, organization_unit, country, province, city, algorithm, key_algorithm, key_size, \
    sign_algorithm, serial_no, fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, \
    days, warehouse_id, resource_group_id, has_private_key, cert_der, chain_pem, revoked_at, revoke_reason, \
    created_at";

const CERT_STATE_BY_IDENTIFIER: &str = "SELECT identifier, status, warehouse_id, not_after, revoked_at \
    FROM certificates WHERE account_id = $1 AND identifier = $2 AND deleted_at IS NULL";
const CERT_STATE_BY_CUSTOM: &str = "SELECT identifier, status, warehouse_id, not_after, revoked_at \
    FROM certificates WHERE account_id = $1 AND custom_identifier = $2 AND deleted_at IS NULL";

pub(crate) fn cert_row(r: &AnyRow) -> std::result::Result<CertRecord, sqlx::Error> {
    Ok(CertRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        identifier: r.try_get("identifier")?,
        name: r.try_get("name")?,
        source_type: r.try_get("source_type")?,
        cert_type: r.try_get("cert_type")?,
        certificate_type: r.try_get("certificate_type")?,
        status: r.try_get("status")?,
        issuer_identifier: r.try_get("issuer_identifier")?,
        custom_identifier: r.try_get("custom_identifier")?,
        common_name: r.try_get("common_name")?,
        sans: r.try_get("sans")?,
        subject_dn: r.try_get("subject_dn")?,
        issuer: r.try_get("issuer")?,
        organization: r.try_get("organization")?,
        organization_unit: r.try_get("organization_unit")?,
        country: r.try_get("country")?,
        province: r.try_get("province")?,
        city: r.try_get("city")?,
        algorithm: r.try_get("algorithm")?,
        key_algorithm: r.try_get("key_algorithm")?,
        key_size: r.try_get("key_size")?,
        sign_algorithm: r.try_get("sign_algorithm")?,
        serial_no: r.try_get("serial_no")?,
        fingerprint_md5: r.try_get("fingerprint_md5")?,
        fingerprint_sha1: r.try_get("fingerprint_sha1")?,
        fingerprint_sha256: r.try_get("fingerprint_sha256")?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        days: r.try_get("days")?,
        warehouse_id: r.try_get("warehouse_id")?,
        resource_group_id: r.try_get("resource_group_id")?,
        has_private_key: r.try_get::<i64, _>("has_private_key")? != 0,
        cert_der: r.try_get("cert_der")?,
        chain_pem: r.try_get("chain_pem")?,
        revoked_at: r.try_get("revoked_at")?,
        revoke_reason: r.try_get("revoke_reason")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn q<'a>(sql: String) -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

pub(crate) fn key_record(account_id: i64, identifier: &str) -> String {
    format!("cert:{account_id}:{identifier}")
}

/// The certificate's columns but `id`, then `key_sealed`, as numbered parameters.
pub(crate) fn insert_certificate_sql() -> String {
    let columns = CERT_COLUMNS.replacen("id, ", "", 1) + ", key_sealed";
    let placeholders: Vec<String> = (1..=columns.split(',').count()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO certificates ({columns}) VALUES ({}) RETURNING id",
        placeholders.join(", ")
    )
}

/// Which uniqueness rule a failed certificate insert broke, from SQLite's message.
pub(crate) fn certificate_conflict(message: &str) -> &'static str {
    if message.contains("serial") {
        "serial"
    } else if message.contains("custom_identifier") {
        "custom identifier"
    } else {
        "certificate"
    }
}

impl Tx {
    /// Inserts a certificate (and seals its key). A serial already used by the issuer is
    /// `Conflict("serial")`; a taken CustomIdentifier `Conflict("custom identifier")`.
    pub async fn insert_certificate(&mut self, c: &CertRecord, key_pkcs8_der: Option<&[u8]>) -> Result<i64> {
        let sealed = key_pkcs8_der.map(|k| self.keys.seal(&key_record(c.account_id, &c.identifier), k));
        let row = q(insert_certificate_sql())
            .bind(c.account_id)
            .bind(&c.identifier)
            .bind(&c.name)
            .bind(&c.source_type)
            .bind(&c.cert_type)
            .bind(&c.certificate_type)
            .bind(&c.status)
            .bind(&c.issuer_identifier)
            .bind(&c.custom_identifier)
            .bind(&c.common_name)
            .bind(&c.sans)
            .bind(&c.subject_dn)
            .bind(&c.issuer)
            .bind(&c.organization)
            .bind(&c.organization_unit)
            .bind(&c.country)
            .bind(&c.province)
            .bind(&c.city)
            .bind(&c.algorithm)
            .bind(&c.key_algorithm)
            .bind(c.key_size)
            .bind(&c.sign_algorithm)
            .bind(&c.serial_no)
            .bind(&c.fingerprint_md5)
            .bind(&c.fingerprint_sha1)
            .bind(&c.fingerprint_sha256)
            .bind(c.not_before)
            .bind(c.not_after)
            .bind(c.days)
            .bind(c.warehouse_id)
            .bind(&c.resource_group_id)
            .bind(c.has_private_key as i64)
            .bind(&c.cert_der)
            .bind(&c.chain_pem)
            .bind(c.revoked_at)
            .bind(&c.revoke_reason)
            .bind(c.created_at)
            .bind(sealed)
            .fetch_one(self.conn())
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                    StoreError::Conflict(certificate_conflict(db.message()))
                }
                other => StoreError::Database(other),
            })?;
        Ok(row.try_get("id")?)
    }

    /// Hides a certificate from its account. The row stays: a deleted revoked
    /// certificate must stay on its CA's CRL and in OCSP answers.
    pub async fn delete_certificate(&mut self, account_id: i64, identifier: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE certificates SET deleted_at = $1 \
             WHERE account_id = $2 AND identifier = $3 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .bind(identifier)
        .execute(self.conn())
        .await?;
        crate::one_row(done)
    }
}

impl Store {
    async fn find_certificate_where(&self, account_id: i64, column: &str, value: &str) -> Result<Option<CertRecord>> {
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE account_id = $1 AND {column} = $2 AND deleted_at IS NULL"
        );
        if let Some(fast) = &self.fast {
            return fast.optional(&sql, (account_id, value), crate::fastread::cert_row);
        }
        let row = q(sql).bind(account_id).bind(value).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(cert_row).transpose()?)
    }

    /// The state of a live (not deleted) certificate.
    pub async fn certificate_state(&self, account_id: i64, name: CertName<'_>) -> Result<Option<CertState>> {
        let (sql, value) = match name {
            CertName::Identifier(v) => (CERT_STATE_BY_IDENTIFIER, v),
            CertName::CustomIdentifier(v) => (CERT_STATE_BY_CUSTOM, v),
        };
        if let Some(fast) = &self.fast {
            return fast.optional(sql, (account_id, value), crate::fastread::cert_state_row);
        }
        let row = q(sql.to_owned())
            .bind(account_id)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        let state = |r: &AnyRow| -> std::result::Result<CertState, sqlx::Error> {
            Ok(CertState {
                identifier: r.try_get("identifier")?,
                status: r.try_get("status")?,
                warehouse_id: r.try_get("warehouse_id")?,
                not_after: r.try_get("not_after")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        };
        Ok(row.as_ref().map(state).transpose()?)
    }

    pub async fn find_certificate(&self, account_id: i64, identifier: &str) -> Result<Option<CertRecord>> {
        self.find_certificate_where(account_id, "identifier", identifier).await
    }

    pub async fn find_certificate_by_serial(&self, account_id: i64, serial: &str) -> Result<Option<CertRecord>> {
        self.find_certificate_where(account_id, "serial_no", serial).await
    }

    pub async fn find_certificate_by_custom_identifier(
        &self,
        account_id: i64,
        custom: &str,
    ) -> Result<Option<CertRecord>> {
        self.find_certificate_where(account_id, "custom_identifier", custom)
            .await
    }

    /// The PKCS#8 DER private key of a certificate, unsealed; `None` when none is held.
    pub async fn certificate_private_key(&self, account_id: i64, identifier: &str) -> Result<Option<Vec<u8>>> {
        const SQL: &str = "SELECT key_sealed FROM certificates WHERE account_id = $1 AND identifier = $2";
        let sealed: Option<Vec<u8>> = match &self.fast {
            Some(fast) => fast
                .optional(SQL, (account_id, identifier), |r| r.get(0))?
                .ok_or(StoreError::NotFound)?,
            None => sqlx::query(SQL)
                .bind(account_id)
                .bind(identifier)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?
                .try_get("key_sealed")?,
        };
        sealed
            .map(|s| {
                self.keys
                    .open(&key_record(account_id, identifier), &s)
                    .map_err(Into::into)
            })
            .transpose()
    }

    pub async fn list_certificates(
        &self,
        account_id: i64,
        f: &CertFilter,
        page: Page,
    ) -> Result<(Vec<CertRecord>, i64)> {
        let mut w = Where::for_account(account_id);
        w.is_null("deleted_at");
        w.cert_keyword(self.backend, f.keyword.as_deref());
        w.cmp_int("warehouse_id", "=", f.warehouse_id);
        w.eq_text("status", f.status.as_deref());
        w.eq_text("source_type", f.source_type.as_deref());
        w.eq_text("cert_type", f.cert_type.as_deref());
        w.in_text("certificate_type", &f.certificate_types);
        w.in_text("identifier", &f.identifiers);
        w.eq_text("resource_group_id", f.resource_group_id.as_deref());
        w.cmp_int("not_after", ">=", f.not_after_from);
        w.cmp_int("not_after", "<", f.not_after_to);
        if f.cert_store_only {
            w.cmp_int("in_cert_store", "=", Some(1));
        }
        self.page_of("certificates", CERT_COLUMNS, w, page, cert_row).await
    }
}
