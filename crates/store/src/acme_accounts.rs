//! The ACME accounts opencas holds at upstream CAs, one per `[acme.<name>]` section.

use crate::{Result, Store, now_millis};
use sqlx::Row;

fn record(name: &str) -> String {
    format!("acme:{name}")
}

impl Store {
    /// The stored credentials of upstream `name`: (directory URL, serialised credentials).
    pub async fn acme_credentials(&self, name: &str) -> Result<Option<(String, Vec<u8>)>> {
        let Some(row) = sqlx::query("SELECT directory_url, credentials_sealed FROM acme_accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.try_get("credentials_sealed")?;
        Ok(Some((
            row.try_get("directory_url")?,
            self.keys.open(&record(name), &sealed)?,
        )))
    }

    /// Stores (or replaces) the credentials of upstream `name`.
    pub async fn save_acme_credentials(&self, name: &str, directory_url: &str, credentials: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO acme_accounts (name, directory_url, credentials_sealed, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET directory_url = excluded.directory_url, \
             credentials_sealed = excluded.credentials_sealed, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(directory_url)
        .bind(self.keys.seal(&record(name), credentials))
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use sqlx::Row;

    #[tokio::test]
    async fn credentials_are_sealed_and_replaced() {
        let s = crate::test_db::TestDb::with_master(&MasterKey::from_hex(&"33".repeat(32)).unwrap()).await;
        assert!(s.acme_credentials("le").await.unwrap().is_none());
        let secret = br#"{"key_pkcs8":"SECRET-ACCOUNT-KEY-MATERIAL"}"#;
        s.save_acme_credentials("le", "https://a.test/dir", secret)
            .await
            .unwrap();
        s.save_acme_credentials("le", "https://b.test/dir", b"second")
            .await
            .unwrap();
        let (url, creds) = s.acme_credentials("le").await.unwrap().unwrap();
        assert_eq!(
            (url.as_str(), creds.as_slice()),
            ("https://b.test/dir", b"second".as_slice())
        );
        s.save_acme_credentials("le", "https://a.test/dir", secret)
            .await
            .unwrap();
        let stored: Vec<u8> = sqlx::query("SELECT credentials_sealed FROM acme_accounts WHERE name = 'le'")
            .fetch_one(s.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert!(
            !stored.windows(12).any(|w| w == b"SECRET-ACCOU"),
            "credentials stored in clear"
        );
        s.close().await;
        if s.backend() == crate::Backend::Sqlite {
            let file = std::fs::read(s.dir.path().join("db.sqlite")).unwrap();
            assert!(
                !file.windows(12).any(|w| w == b"SECRET-ACCOU"),
                "credentials in the file in clear"
            );
        }
    }
}
