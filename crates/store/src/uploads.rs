//! The SSL certificate store's side of `certificates`: uploaded certificates (with an SM2
//! encryption pair when there is one) and private CA certificates synced into the store, read
//! by their numeric CertId.

use crate::certificates::{CERT_COLUMNS, cert_row, q};
use crate::{CertRecord, Result, Store, StoreError, Tx};
use sqlx::Row;

/// The encryption half of an SM2 dual upload.
#[derive(Debug, Clone)]
pub struct EncryptionPair {
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER.
    pub key_pkcs8_der: Vec<u8>,
}

fn encrypt_key_record(account_id: i64, identifier: &str) -> String {
    format!("cert-enc:{account_id}:{identifier}")
}

impl Tx {
    /// Stores an uploaded certificate in the certificate store (its key and, for an SM2 dual
    /// upload, the encryption pair sealed). A name already used by another live upload of the
    /// account is `Conflict("name")`.
    pub async fn insert_uploaded_certificate(
        &mut self,
        c: &CertRecord,
        key_pkcs8_der: Option<&[u8]>,
        encryption: Option<&EncryptionPair>,
    ) -> Result<i64> {
        let taken = sqlx::query(
            "SELECT 1 AS one FROM certificates WHERE account_id = $1 AND name = $2 AND in_cert_store = 1 \
             AND source_type = 'upload' AND deleted_at IS NULL",
        )
        .bind(c.account_id)
        .bind(&c.name)
        .fetch_optional(self.conn())
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict("name"));
        }
        let id = self.insert_certificate(c, key_pkcs8_der).await?;
        let (enc_cert, enc_key) = match encryption {
            Some(e) => (
                Some(e.cert_der.clone()),
                Some(
                    self.keys
                        .seal(&encrypt_key_record(c.account_id, &c.identifier), &e.key_pkcs8_der),
                ),
            ),
            None => (None, None),
        };
        sqlx::query(
            "UPDATE certificates SET in_cert_store = 1, encrypt_cert_der = $1, encrypt_key_sealed = $2 \
             WHERE account_id = $3 AND id = $4",
        )
        .bind(enc_cert)
        .bind(enc_key)
        .bind(c.account_id)
        .bind(id)
        .execute(self.conn())
        .await
        .map_err(|e| crate::conflict_or(e, "name"))?;
        Ok(id)
    }

    /// Puts a live certificate of the account into the certificate store (or leaves it there).
    pub async fn add_to_cert_store(&mut self, account_id: i64, identifier: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE certificates SET in_cert_store = 1 \
             WHERE account_id = $1 AND identifier = $2 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .bind(identifier)
        .execute(self.conn())
        .await?;
        crate::one_row(done)
    }

    /// Takes a certificate out of the certificate store without deleting it (a private CA's
    /// certificate stays with its CA).
    pub async fn remove_from_cert_store(&mut self, account_id: i64, id: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE certificates SET in_cert_store = 0 \
             WHERE account_id = $1 AND id = $2 AND in_cert_store = 1 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .execute(self.conn())
        .await?;
        crate::one_row(done)
    }

    /// A live certificate of the certificate store, read inside the transaction.
    pub async fn find_store_certificate(&mut self, account_id: i64, id: i64) -> Result<Option<CertRecord>> {
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certificates \
             WHERE account_id = $1 AND id = $2 AND in_cert_store = 1 AND deleted_at IS NULL"
        );
        let row = q(sql).bind(account_id).bind(id).fetch_optional(self.conn()).await?;
        Ok(row.as_ref().map(cert_row).transpose()?)
    }
}

impl Store {
    /// A live certificate of the certificate store by its CertId.
    pub async fn find_store_certificate(&self, account_id: i64, id: i64) -> Result<Option<CertRecord>> {
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certificates \
             WHERE account_id = $1 AND id = $2 AND in_cert_store = 1 AND deleted_at IS NULL"
        );
        if let Some(fast) = &self.fast {
            return fast.optional(&sql, (account_id, id), crate::fastread::cert_row);
        }
        let row = q(sql).bind(account_id).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(cert_row).transpose()?)
    }

    /// The SM2 encryption pair of a certificate, unsealed; `None` for any other certificate.
    pub async fn encryption_pair(&self, account_id: i64, identifier: &str) -> Result<Option<EncryptionPair>> {
        const SQL: &str = "SELECT encrypt_cert_der, encrypt_key_sealed FROM certificates \
             WHERE account_id = $1 AND identifier = $2";
        type Pair = (Option<Vec<u8>>, Option<Vec<u8>>);
        let (cert, sealed): Pair = match &self.fast {
            Some(fast) => fast
                .optional(SQL, (account_id, identifier), |r| Ok((r.get(0)?, r.get(1)?)))?
                .ok_or(StoreError::NotFound)?,
            None => {
                let row = sqlx::query(SQL)
                    .bind(account_id)
                    .bind(identifier)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                (row.try_get("encrypt_cert_der")?, row.try_get("encrypt_key_sealed")?)
            }
        };
        match (cert, sealed) {
            (Some(cert_der), Some(sealed)) => Ok(Some(EncryptionPair {
                cert_der,
                key_pkcs8_der: self.keys.open(&encrypt_key_record(account_id, identifier), &sealed)?,
            })),
            _ => Ok(None),
        }
    }

    /// Whether a certificate of the account is in the certificate store.
    pub async fn in_cert_store(&self, account_id: i64, identifier: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT in_cert_store FROM certificates WHERE account_id = $1 AND identifier = $2 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row.try_get::<i64, _>("in_cert_store")? == 1)
    }
}
