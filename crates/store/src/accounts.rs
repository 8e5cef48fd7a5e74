//! Accounts and their access keys. Access-key secrets are sealed (they are HMAC keys and
//! must be recoverable); API keys are stored as SHA-256 hashes only.

use crate::{Result, Store, StoreError, conflict_or};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Disabled => "Disabled",
        }
    }
    fn parse(s: &str) -> Self {
        if s == "Active" { Self::Active } else { Self::Disabled }
    }
}

/// A new access key pair to store; the secret is sealed before it is written.
pub struct NewAccessKey<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
}

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: i64,
    pub name: String,
    pub status: AccountStatus,
    pub created_at: i64,
    pub active_access_key_ids: Vec<String>,
}

/// What authentication needs to know about an access key.
#[derive(Clone)]
pub struct AccessKeyRecord {
    pub account_id: i64,
    pub secret: String,
    pub key_active: bool,
    pub account_active: bool,
}

pub(crate) fn secret_record(access_key_id: &str) -> String {
    format!("access_key:{access_key_id}")
}

impl Store {
    pub async fn insert_account(
        &self,
        id: i64,
        name: &str,
        api_key_hash: &str,
        key: NewAccessKey<'_>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with(Store::begin_sql(self.backend)).await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, status, api_key_hash, created_at) \
             VALUES ($1, $2, 'Active', $3, $4)",
        )
        .bind(id)
        .bind(name)
        .bind(api_key_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, "account"))?;
        self.insert_access_key(&mut tx, id, &key, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_access_key(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        account_id: i64,
        key: &NewAccessKey<'_>,
        now: i64,
    ) -> Result<()> {
        let sealed = self
            .secrets
            .seal(&secret_record(key.access_key_id), key.secret.as_bytes());
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, secret_sealed, status, created_at) \
             VALUES ($1, $2, $3, 'Active', $4)",
        )
        .bind(key.access_key_id)
        .bind(account_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| conflict_or(e, "access key"))?;
        Ok(())
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, a.status, a.created_at, k.access_key_id \
             FROM accounts a LEFT JOIN access_keys k \
               ON k.account_id = a.id AND k.status = 'Active' \
             WHERE a.id <> 0 \
             ORDER BY a.created_at, a.id, k.created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<AccountRecord> = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let key: Option<String> = row.try_get("access_key_id")?;
            if out.last().map(|a| a.id) != Some(id) {
                out.push(AccountRecord {
                    id,
                    name: row.try_get("name")?,
                    status: AccountStatus::parse(&row.try_get::<String, _>("status")?),
                    created_at: row.try_get("created_at")?,
                    active_access_key_ids: Vec::new(),
                });
            }
            if let (Some(key), Some(last)) = (key, out.last_mut()) {
                last.active_access_key_ids.push(key);
            }
        }
        Ok(out)
    }

    pub async fn set_account_status(&self, account_id: i64, status: AccountStatus) -> Result<()> {
        let done = sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        crate::one_row(done)
    }

    /// Replaces every active access key and the API key of an account, atomically.
    pub async fn rotate_credentials(
        &self,
        account_id: i64,
        api_key_hash: &str,
        key: NewAccessKey<'_>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with(Store::begin_sql(self.backend)).await?;
        let done = sqlx::query("UPDATE accounts SET api_key_hash = $1 WHERE id = $2")
            .bind(api_key_hash)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE access_keys SET status = 'Inactive' WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.insert_access_key(&mut tx, account_id, &key, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query(
            "SELECT k.account_id, k.secret_sealed, k.status, a.status AS account_status \
             FROM access_keys k JOIN accounts a ON a.id = k.account_id \
             WHERE k.access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Vec<u8> = row.try_get("secret_sealed")?;
        let secret = self.secrets.open(&secret_record(access_key_id), &sealed)?;
        Ok(Some(AccessKeyRecord {
            account_id: row.try_get("account_id")?,
            secret: String::from_utf8(secret).map_err(|_| crate::sealing::SealError::Open)?,
            key_active: row.try_get::<String, _>("status")? == "Active",
            account_active: row.try_get::<String, _>("account_status")? == "Active",
        }))
    }

    /// Returns `(account_id, account_active)` for the account whose API key hashes to `hash`.
    pub async fn find_account_by_api_key_hash(&self, hash: &str) -> Result<Option<(i64, bool)>> {
        let row = sqlx::query("SELECT id, status FROM accounts WHERE api_key_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get::<String, _>("status")? == "Active")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use crate::*;

    async fn store(_dir: &tempfile::TempDir) -> crate::test_db::TestDb {
        let master = MasterKey::from_hex(&"22".repeat(32)).unwrap();
        crate::test_db::TestDb::with_master(&master).await
    }

    #[tokio::test]
    async fn account_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let key = NewAccessKey {
            access_key_id: "AK1",
            secret: "S1",
        };
        s.insert_account(7, "alice", "h1", key, 1).await.unwrap();
        let dup = NewAccessKey {
            access_key_id: "AK2",
            secret: "S2",
        };
        assert!(matches!(
            s.insert_account(8, "alice", "h2", dup, 1).await,
            Err(StoreError::Conflict(_))
        ));
        // the failed insert left nothing behind
        assert!(s.find_access_key("AK2").await.unwrap().is_none());

        let rec = s.find_access_key("AK1").await.unwrap().unwrap();
        assert_eq!((rec.account_id, rec.secret.as_str()), (7, "S1"));
        assert!(rec.key_active && rec.account_active);
        assert_eq!(s.find_account_by_api_key_hash("h1").await.unwrap(), Some((7, true)));

        let new = NewAccessKey {
            access_key_id: "AK3",
            secret: "S3",
        };
        s.rotate_credentials(7, "h3", new, 2).await.unwrap();
        assert!(!s.find_access_key("AK1").await.unwrap().unwrap().key_active);
        assert!(s.find_access_key("AK3").await.unwrap().unwrap().key_active);
        assert_eq!(s.find_account_by_api_key_hash("h1").await.unwrap(), None);

        s.set_account_status(7, AccountStatus::Disabled).await.unwrap();
        assert!(!s.find_access_key("AK3").await.unwrap().unwrap().account_active);
        assert!(matches!(
            s.set_account_status(99, AccountStatus::Disabled).await,
            Err(StoreError::NotFound)
        ));
        let list = s.list_accounts().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].active_access_key_ids, vec!["AK3".to_string()]);
    }

    #[tokio::test]
    async fn secrets_are_not_stored_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let key = NewAccessKey {
            access_key_id: "AK1",
            secret: "very-secret-value-123",
        };
        s.insert_account(1, "a", "h", key, 1).await.unwrap();
        s.close().await;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let needle = b"very-secret-value-123";
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
    }
}
