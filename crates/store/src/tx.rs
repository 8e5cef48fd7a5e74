//! Write transactions. The service layer opens one per state-changing call, runs the
//! repositories' writes through it and commits; dropping it rolls back.

use crate::sealing::Sealer;
use crate::{Backend, Result, Store, StoreError, conflict_or};
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row};
use std::sync::Arc;
use tokio::sync::Mutex;

pub(crate) const INSERT_IDEMPOTENCY: &str =
    "INSERT INTO idempotency (account_id, action, token, resource_id, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const INSERT_TAG: &str =
    "INSERT INTO tags (account_id, resource_type, resource_id, tag_key, tag_value) VALUES ($1, $2, $3, $4, $5)";

pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    pub(crate) keys: Sealer,
    /// Whether it changed a CA's settings (not just a counter): see `ca_cache`.
    pub(crate) changed_cas: bool,
    /// Held until commit or rollback; declared after `inner` so it is released after the
    /// transaction has ended.
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

impl Store {
    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`; see `Store::begin_sql`), so that a transaction that reads before it writes cannot fail
    /// with a lock upgrade conflict. Writers of this process queue on an async mutex first:
    /// SQLite admits one writer, and the others would otherwise sleep in its busy handler
    /// for milliseconds after the lock is already free. Never hold a `Tx` while calling
    /// `begin` or `write_grouped` in the same task.
    pub async fn begin(&self) -> Result<Tx> {
        Tx::begin(&self.pool, self.backend, self.keys.clone(), self.writer.clone()).await
    }
}

impl Tx {
    pub(crate) async fn begin(pool: &AnyPool, backend: Backend, keys: Sealer, writer: Arc<Mutex<()>>) -> Result<Tx> {
        let writer = writer.lock_owned().await;
        let inner = pool.begin_with(Store::begin_sql(backend)).await?;
        Ok(Tx {
            inner,
            keys,
            changed_cas: false,
            _writer: writer,
        })
    }

    pub async fn commit(self) -> Result<()> {
        let changed_cas = self.changed_cas;
        let committed = self.inner.commit().await;
        if changed_cas {
            // after the commit, whatever its outcome: see `ca_cache`
            crate::ca_cache::changed();
        }
        committed?;
        Ok(())
    }

    pub(crate) async fn execute_raw(&mut self, sql: &'static str) -> Result<()> {
        self.conn().execute(sql).await?;
        Ok(())
    }

    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }

    /// Records that `token` (a ClientToken) of `action` created `resource_id`. A second
    /// use of the same token fails with `Conflict("idempotency token")`.
    pub async fn record_idempotency(
        &mut self,
        account_id: i64,
        action: &str,
        token: &str,
        resource_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(INSERT_IDEMPOTENCY)
            .bind(account_id)
            .bind(action)
            .bind(token)
            .bind(resource_id)
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(|e| conflict_or(e, "idempotency token"))?;
        Ok(())
    }

    /// Adds tags to a resource that has none yet (a new one).
    pub async fn add_tags(
        &mut self,
        account_id: i64,
        resource_type: &str,
        resource_id: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        for (key, value) in tags {
            sqlx::query(INSERT_TAG)
                .bind(account_id)
                .bind(resource_type)
                .bind(resource_id)
                .bind(key)
                .bind(value)
                .execute(self.conn())
                .await
                .map_err(|e| conflict_or(e, "tag"))?;
        }
        Ok(())
    }

    /// Replaces the tags of one resource.
    pub async fn replace_tags(
        &mut self,
        account_id: i64,
        resource_type: &str,
        resource_id: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        sqlx::query("DELETE FROM tags WHERE account_id = $1 AND resource_type = $2 AND resource_id = $3")
            .bind(account_id)
            .bind(resource_type)
            .bind(resource_id)
            .execute(self.conn())
            .await?;
        self.add_tags(account_id, resource_type, resource_id, tags).await
    }
}

impl Store {
    /// The resource a ClientToken of `action` created, if it was used before.
    pub async fn find_idempotency(&self, account_id: i64, action: &str, token: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT resource_id FROM idempotency WHERE account_id = $1 AND action = $2 AND token = $3")
                .bind(account_id)
                .bind(action)
                .bind(token)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.try_get("resource_id")).transpose()?)
    }

    pub async fn tags_of(
        &self,
        account_id: i64,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Vec<(String, String)>> {
        const SQL: &str = "SELECT tag_key, tag_value FROM tags \
             WHERE account_id = $1 AND resource_type = $2 AND resource_id = $3 ORDER BY tag_key";
        if let Some(fast) = &self.fast {
            return fast.all(SQL, (account_id, resource_type, resource_id), |r| {
                Ok((r.get(0)?, r.get(1)?))
            });
        }
        let rows = sqlx::query(SQL)
            .bind(account_id)
            .bind(resource_type)
            .bind(resource_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tag_key")?, r.try_get("tag_value")?)))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
