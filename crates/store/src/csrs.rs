//! Certificate signing requests the account keeps, made here or uploaded, and their sealed
//! private keys.

use crate::listing::{Page, Where};
use crate::{Result, Store, StoreError, Tx};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Default, Clone)]
pub struct CsrFilter {
    pub keyword: Option<String>,
    pub algorithm: Option<String>,
}

/// A stored CSR, everything but its private key.
#[derive(Debug, Clone, Default)]
pub struct CsrRow {
    pub id: i64,
    pub name: String,
    pub common_name: String,
    pub sans: String,
    pub algorithm: String,
    pub key_size: i64,
    pub corp_name: Option<String>,
    pub department: Option<String>,
    pub country_code: Option<String>,
    pub province: Option<String>,
    pub locality: Option<String>,
    pub key_sha256: String,
    pub has_private_key: bool,
}

/// A new CSR; `account_id` and the DER request besides the listed fields.
#[derive(Debug, Clone, Default)]
pub struct NewCsr {
    pub account_id: i64,
    pub row: CsrRow,
    pub csr_der: Vec<u8>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, common_name, sans, algorithm, key_size, corp_name, department, \
                       country_code, province, locality, key_sha256, has_private_key";

fn csr_row(r: &AnyRow) -> std::result::Result<CsrRow, sqlx::Error> {
    Ok(CsrRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        common_name: r.try_get("common_name")?,
        sans: r.try_get("sans")?,
        algorithm: r.try_get("algorithm")?,
        key_size: r.try_get("key_size")?,
        corp_name: r.try_get("corp_name")?,
        department: r.try_get("department")?,
        country_code: r.try_get("country_code")?,
        province: r.try_get("province")?,
        locality: r.try_get("locality")?,
        key_sha256: r.try_get("key_sha256")?,
        has_private_key: r.try_get::<i64, _>("has_private_key")? != 0,
    })
}

/// The sealing record of a CSR's key: a sealed key moved to another CSR or account
/// does not open.
fn key_record(account_id: i64, id: i64) -> String {
    format!("csr:{account_id}:{id}")
}

impl Tx {
    /// Inserts a CSR and, when given, its PKCS#8 DER private key (sealed); returns the id.
    pub async fn insert_csr(&mut self, c: &NewCsr, key_pkcs8_der: Option<&[u8]>) -> Result<i64> {
        let r = &c.row;
        let row = sqlx::query(
            "INSERT INTO csrs (account_id, name, common_name, sans, algorithm, key_size, corp_name, \
             department, country_code, province, locality, key_sha256, csr_der, has_private_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14) RETURNING id",
        )
        .bind(c.account_id)
        .bind(&r.name)
        .bind(&r.common_name)
        .bind(&r.sans)
        .bind(&r.algorithm)
        .bind(r.key_size)
        .bind(&r.corp_name)
        .bind(&r.department)
        .bind(&r.country_code)
        .bind(&r.province)
        .bind(&r.locality)
        .bind(&r.key_sha256)
        .bind(&c.csr_der)
        .bind(c.created_at)
        .fetch_one(self.conn())
        .await?;
        let id: i64 = row.try_get("id")?;
        // The id only exists after the insert, and it is part of the sealing record.
        if let Some(key) = key_pkcs8_der {
            self.set_csr_key(c.account_id, id, key).await?;
        }
        Ok(id)
    }

    /// Seals `key_pkcs8_der` onto the CSR, replacing any key it had.
    pub async fn set_csr_key(&mut self, account_id: i64, id: i64, key_pkcs8_der: &[u8]) -> Result<()> {
        let sealed = self.keys.seal(&key_record(account_id, id), key_pkcs8_der);
        let done =
            sqlx::query("UPDATE csrs SET key_sealed = $1, has_private_key = 1 WHERE account_id = $2 AND id = $3")
                .bind(sealed)
                .bind(account_id)
                .bind(id)
                .execute(self.conn())
                .await?;
        crate::one_row(done)
    }

    pub async fn delete_csr(&mut self, account_id: i64, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM csrs WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        crate::one_row(done)
    }
}

impl Store {
    /// The CSR and its DER request.
    pub async fn find_csr(&self, account_id: i64, id: i64) -> Result<Option<(CsrRow, Vec<u8>)>> {
        let sql = format!("SELECT {COLUMNS}, csr_der FROM csrs WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((csr_row(&r)?, r.try_get("csr_der")?)))
            .transpose()
            .map_err(|e: sqlx::Error| e.into())
    }

    /// The CSR's PKCS#8 DER private key, unsealed; `None` when none is held.
    pub async fn csr_private_key(&self, account_id: i64, id: i64) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT key_sealed FROM csrs WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let sealed: Option<Vec<u8>> = row.try_get("key_sealed")?;
        sealed
            .map(|s| self.keys.open(&key_record(account_id, id), &s).map_err(Into::into))
            .transpose()
    }

    /// The unsealed PKCS#8 DER key of the account's newest CSR whose public key hashes to
    /// `key_sha256` (`KeySha2`), if any holds one: a certificate issued from a CSR made here
    /// carries no key of its own, but the CSR's key is its key.
    pub async fn csr_private_key_for_public_key(&self, account_id: i64, key_sha256: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT id, key_sealed FROM csrs WHERE account_id = $1 AND key_sha256 = $2 AND key_sealed IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(key_sha256)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (id, sealed): (i64, Vec<u8>) = (row.try_get("id")?, row.try_get("key_sealed")?);
        Ok(Some(self.keys.open(&key_record(account_id, id), &sealed)?))
    }

    pub async fn list_csrs(&self, account_id: i64, f: &CsrFilter, page: Page) -> Result<(Vec<CsrRow>, i64)> {
        let mut w = Where::for_account(account_id);
        w.contains_any(&["name", "common_name", "sans"], f.keyword.as_deref());
        w.eq_text("algorithm", f.algorithm.as_deref());
        self.page_of("csrs", COLUMNS, w, page, csr_row).await
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use crate::*;
    use sqlx::Row;

    async fn store(_dir: &std::path::Path) -> crate::test_db::TestDb {
        let master = MasterKey::from_hex(&"44".repeat(32)).unwrap();
        let s = crate::test_db::TestDb::with_master(&master).await;
        for (id, name) in [(1, "a"), (2, "b")] {
            let key = NewAccessKey {
                access_key_id: name,
                secret: "x",
            };
            s.insert_account(id, name, name, key, 0).await.unwrap();
        }
        s
    }

    fn new_csr(account_id: i64, name: &str) -> NewCsr {
        NewCsr {
            account_id,
            row: CsrRow {
                name: name.into(),
                common_name: format!("{name}.example.com"),
                algorithm: "ECC".into(),
                key_size: 256,
                key_sha256: "00".repeat(32),
                ..Default::default()
            },
            csr_der: vec![0x30, 0x00],
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn keys_are_sealed_per_record_and_every_access_is_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path()).await;
        let mut tx = s.begin().await.unwrap();
        let with_key = tx.insert_csr(&new_csr(1, "k"), Some(b"secret-key")).await.unwrap();
        let bare = tx.insert_csr(&new_csr(1, "bare"), None).await.unwrap();
        tx.commit().await.unwrap();

        let (row, der) = s.find_csr(1, with_key).await.unwrap().unwrap();
        assert!(row.has_private_key);
        assert_eq!(der, [0x30, 0x00]);
        assert_eq!(s.csr_private_key(1, with_key).await.unwrap().unwrap(), b"secret-key");
        let sealed: Vec<u8> = sqlx::query("SELECT key_sealed FROM csrs WHERE id = $1")
            .bind(with_key)
            .fetch_one(s.pool())
            .await
            .unwrap()
            .try_get("key_sealed")
            .unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"secret-key"));
        assert!(!s.find_csr(1, bare).await.unwrap().unwrap().0.has_private_key);
        assert_eq!(s.csr_private_key(1, bare).await.unwrap(), None);

        // Another account sees nothing and changes nothing.
        assert!(s.find_csr(2, with_key).await.unwrap().is_none());
        assert!(matches!(
            s.csr_private_key(2, with_key).await,
            Err(StoreError::NotFound)
        ));
        let mut tx = s.begin().await.unwrap();
        assert!(matches!(tx.set_csr_key(2, bare, b"x").await, Err(StoreError::NotFound)));
        assert!(matches!(tx.delete_csr(2, bare).await, Err(StoreError::NotFound)));
        tx.commit().await.unwrap();

        // A sealed key copied onto another CSR does not open there.
        sqlx::query("UPDATE csrs SET key_sealed = $1, has_private_key = 1 WHERE id = $2")
            .bind(&sealed)
            .bind(bare)
            .execute(s.pool())
            .await
            .unwrap();
        assert!(matches!(s.csr_private_key(1, bare).await, Err(StoreError::Seal(_))));

        let mut tx = s.begin().await.unwrap();
        tx.set_csr_key(1, bare, b"other").await.unwrap();
        tx.delete_csr(1, with_key).await.unwrap();
        assert!(matches!(tx.delete_csr(1, with_key).await, Err(StoreError::NotFound)));
        tx.commit().await.unwrap();
        assert_eq!(s.csr_private_key(1, bare).await.unwrap().unwrap(), b"other");
        assert!(s.find_csr(1, with_key).await.unwrap().is_none());
        let all = Page { offset: 0, limit: 10 };
        assert_eq!(s.list_csrs(1, &CsrFilter::default(), all).await.unwrap().1, 1);
    }
}
