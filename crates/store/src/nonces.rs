//! Signature nonces in the shared database. One process remembers the nonces it accepted in
//! memory; replicas behind a load balancer each see only some requests, so on a shared
//! database the nonce is also claimed here, where a replay on any replica meets the row
//! the first request left.

use crate::{Backend, Result, Store};

impl Store {
    /// Claims `nonce` of `credential` until `expires_at` (unix seconds). `false` when a
    /// request of any process claimed it before and that claim has not expired at `now`.
    /// The upsert decides in one statement, so of two concurrent claims exactly one wins.
    pub async fn claim_nonce(&self, credential: &str, nonce: &str, now: i64, expires_at: i64) -> Result<bool> {
        let _writer = match self.backend {
            // SQLite admits one writer; queue with the others of this process
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        };
        let done = sqlx::query(
            "INSERT INTO request_nonces (credential, nonce, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (credential, nonce) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE request_nonces.expires_at < $4",
        )
        .bind(credential)
        .bind(nonce)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the nonce claims expired at `now`; returns how many.
    pub async fn purge_nonces(&self, now: i64) -> Result<u64> {
        let _writer = match self.backend {
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        };
        let done = sqlx::query("DELETE FROM request_nonces WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::test_db::TestDb;

    #[tokio::test]
    async fn a_nonce_is_claimed_once_until_it_expires() {
        let db = TestDb::new().await;
        let s = &db.store;
        assert!(s.claim_nonce("AK1", "n1", 100, 200).await.unwrap());
        assert!(
            !s.claim_nonce("AK1", "n1", 150, 250).await.unwrap(),
            "a replay is refused"
        );
        assert!(
            s.claim_nonce("AK2", "n1", 150, 250).await.unwrap(),
            "nonces are per credential"
        );
        assert!(
            !s.claim_nonce("AK1", "n1", 200, 300).await.unwrap(),
            "still valid at its expiry"
        );
        assert!(
            s.claim_nonce("AK1", "n1", 201, 301).await.unwrap(),
            "reusable once expired"
        );
        assert_eq!(s.purge_nonces(260).await.unwrap(), 1, "AK2's claim expired at 250");
        assert!(!s.claim_nonce("AK1", "n1", 260, 400).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_concurrent_claims_exactly_one_wins() {
        let db = TestDb::new().await;
        let claims = (0..16).map(|_| {
            let s = db.store.clone();
            tokio::spawn(async move { s.claim_nonce("AK", "same", 10, 20).await.unwrap() })
        });
        let mut won = 0;
        for c in claims.collect::<Vec<_>>() {
            won += c.await.unwrap() as usize;
        }
        assert_eq!(won, 1);
    }
}
