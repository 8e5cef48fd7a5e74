//! Tags and resource groups of every taggable resource. A tag row names its resource by
//! `(resource_type, resource_id)`; reads join the resource's own table, so tags of a
//! resource that is gone (or another account's) are never seen.

use crate::{Result, Store, StoreError, Tx, conflict_or};
use sqlx::any::AnyArguments;
use sqlx::{Any, Row};

/// The kinds of resource that carry tags and a resource group. Adding one is a new variant
/// and its arms below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    Certificate,
    Ca,
    Csr,
    Order,
}

impl TagKind {
    /// What `tags.resource_type` holds for this kind.
    pub const fn tag_type(self) -> &'static str {
        match self {
            Self::Certificate => "CERT",
            Self::Ca => "CA",
            Self::Csr => "CSR",
            Self::Order => "ORDER",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Certificate => "certificates",
            Self::Ca => "cas",
            Self::Csr => "csrs",
            Self::Order => "orders",
        }
    }

    /// The column whose value `tags.resource_id` holds.
    fn key_column(self) -> &'static str {
        match self {
            Self::Certificate | Self::Ca => "identifier",
            Self::Csr | Self::Order => "id",
        }
    }

    /// Whether the numeric `id` also names the resource (a certificate's `CertId`).
    fn id_also_names(self) -> bool {
        matches!(self, Self::Certificate)
    }

    /// Extra condition on the resource row `r` for it to be visible.
    fn visible(self) -> &'static str {
        match self {
            Self::Certificate => "r.deleted_at IS NULL",
            _ => "1 = 1",
        }
    }

    fn join(self) -> String {
        format!(
            "tags t JOIN {table} r ON r.account_id = t.account_id AND CAST(r.{key} AS TEXT) = t.resource_id \
             AND {visible}",
            table = self.table(),
            key = self.key_column(),
            visible = self.visible(),
        )
    }
}

/// One tag of one resource as `ListTagResources` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// What `tags.resource_id` holds (identifier or numeric id as text).
    pub resource_key: String,
    /// The resource's numeric id.
    pub resource_num_id: i64,
    pub tag_key: String,
    pub tag_value: String,
}

/// Which tag rows `list_tag_resources` returns, in `(resource_key, tag_key)` order.
#[derive(Debug, Clone, Default)]
pub struct TagRowFilter {
    /// Only these resources (already resolved keys); empty: any.
    pub resource_keys: Vec<String>,
    /// The resource must carry every one of these tags; a `None` value matches any value.
    pub having: Vec<(String, Option<String>)>,
    /// Keyset cursor: rows after this `(resource_key, tag_key)`.
    pub after: Option<(String, String)>,
    pub limit: i64,
}

/// Numbered arguments of a dynamically built query.
#[derive(Default)]
struct Args(Vec<ArgVal>);

enum ArgVal {
    Text(String),
    Int(i64),
}

impl Args {
    fn text(&mut self, v: &str) -> String {
        self.0.push(ArgVal::Text(v.to_owned()));
        format!("${}", self.0.len())
    }
    fn int(&mut self, v: i64) -> String {
        self.0.push(ArgVal::Int(v));
        format!("${}", self.0.len())
    }
    fn bind<'q>(&self, sql: String) -> sqlx::query::Query<'q, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in &self.0 {
            q = match a {
                ArgVal::Text(s) => q.bind(s.clone()),
                ArgVal::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

impl Store {
    /// The tag key of the caller's resource that `given` names (its identifier or id; for a
    /// certificate also its numeric `CertId`), or `None` when the account has no such resource.
    pub async fn resolve_taggable(&self, account_id: i64, kind: TagKind, given: &str) -> Result<Option<String>> {
        let alt = if kind.id_also_names() {
            " OR CAST(r.id AS TEXT) = $2"
        } else {
            ""
        };
        let sql = format!(
            "SELECT CAST(r.{key} AS TEXT) AS k FROM {table} r \
             WHERE r.account_id = $1 AND {visible} AND (CAST(r.{key} AS TEXT) = $2{alt})",
            key = kind.key_column(),
            table = kind.table(),
            visible = kind.visible(),
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(given)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("k")).transpose()?)
    }

    /// Tag rows of the account's visible resources of `kind` under `filter`.
    pub async fn list_tag_resources(
        &self,
        account_id: i64,
        kind: TagKind,
        filter: &TagRowFilter,
    ) -> Result<Vec<TagRow>> {
        let mut a = Args::default();
        let mut cond = vec![
            format!("t.account_id = {}", a.int(account_id)),
            format!("t.resource_type = {}", a.text(kind.tag_type())),
        ];
        if !filter.resource_keys.is_empty() {
            let ps: Vec<String> = filter.resource_keys.iter().map(|k| a.text(k)).collect();
            cond.push(format!("t.resource_id IN ({})", ps.join(", ")));
        }
        for (key, value) in &filter.having {
            let mut c = format!(
                "EXISTS (SELECT 1 FROM tags f WHERE f.account_id = t.account_id AND f.resource_type = t.resource_type \
                 AND f.resource_id = t.resource_id AND f.tag_key = {}",
                a.text(key)
            );
            if let Some(v) = value {
                c.push_str(&format!(" AND f.tag_value = {}", a.text(v)));
            }
            c.push(')');
            cond.push(c);
        }
        if let Some((rk, tk)) = &filter.after {
            let p1 = a.text(rk);
            let p2 = a.text(tk);
            cond.push(format!(
                "(t.resource_id > {p1} OR (t.resource_id = {p1} AND t.tag_key > {p2}))"
            ));
        }
        let limit = a.int(filter.limit);
        let sql = format!(
            "SELECT t.resource_id, r.id AS num_id, t.tag_key, t.tag_value FROM {join} WHERE {cond} \
             ORDER BY t.resource_id, t.tag_key LIMIT {limit}",
            join = kind.join(),
            cond = cond.join(" AND "),
        );
        let rows = a.bind(sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(TagRow {
                    resource_key: r.try_get("resource_id")?,
                    resource_num_id: r.try_get("num_id")?,
                    tag_key: r.try_get("tag_key")?,
                    tag_value: r.try_get("tag_value")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Distinct tag keys on the account's visible resources of `kind` (optionally only those
    /// in `resource_group_id`), each with how many resources carry it, by key; and the total
    /// number of keys.
    pub async fn list_tag_keys(
        &self,
        account_id: i64,
        kind: TagKind,
        resource_group_id: Option<&str>,
        page: crate::Page,
    ) -> Result<(Vec<(String, i64)>, i64)> {
        let mut a = Args::default();
        let mut cond = format!(
            "t.account_id = {} AND t.resource_type = {}",
            a.int(account_id),
            a.text(kind.tag_type())
        );
        if let Some(rg) = resource_group_id {
            cond.push_str(&format!(" AND r.resource_group_id = {}", a.text(rg)));
        }
        let join = kind.join();
        let total: i64 = a
            .bind(format!(
                "SELECT COUNT(DISTINCT t.tag_key) AS n FROM {join} WHERE {cond}"
            ))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let limit = a.int(page.limit);
        let offset = a.int(page.offset);
        let rows = a
            .bind(format!(
                "SELECT t.tag_key, COUNT(*) AS n FROM {join} WHERE {cond} GROUP BY t.tag_key ORDER BY t.tag_key \
                 LIMIT {limit} OFFSET {offset}"
            ))
            .fetch_all(&self.pool)
            .await?;
        let keys = rows
            .iter()
            .map(|r| Ok((r.try_get("tag_key")?, r.try_get("n")?)))
            .collect::<std::result::Result<_, sqlx::Error>>()?;
        Ok((keys, total))
    }
}

impl Tx {
    /// Sets tags on one resource: new keys are added, existing keys take the new value.
    /// Returns how many tags the resource carries afterwards.
    pub async fn upsert_tags(
        &mut self,
        account_id: i64,
        kind: TagKind,
        resource_key: &str,
        tags: &[(String, String)],
    ) -> Result<i64> {
        for (key, value) in tags {
            sqlx::query(
                "INSERT INTO tags (account_id, resource_type, resource_id, tag_key, tag_value) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account_id, resource_type, resource_id, tag_key) DO UPDATE SET tag_value = $5",
            )
            .bind(account_id)
            .bind(kind.tag_type())
            .bind(resource_key)
            .bind(key)
            .bind(value)
            .execute(self.conn())
            .await
            .map_err(|e| conflict_or(e, "tag"))?;
        }
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM tags WHERE account_id = $1 AND resource_type = $2 AND resource_id = $3",
        )
        .bind(account_id)
        .bind(kind.tag_type())
        .bind(resource_key)
        .fetch_one(self.conn())
        .await?
        .try_get("n")?;
        Ok(n)
    }

    /// Removes the given tag keys from one resource, or every tag when `keys` is `None`.
    pub async fn remove_tags(
        &mut self,
        account_id: i64,
        kind: TagKind,
        resource_key: &str,
        keys: Option<&[String]>,
    ) -> Result<()> {
        let base = "DELETE FROM tags WHERE account_id = $1 AND resource_type = $2 AND resource_id = $3";
        match keys {
            None => {
                sqlx::query(base)
                    .bind(account_id)
                    .bind(kind.tag_type())
                    .bind(resource_key)
                    .execute(self.conn())
                    .await?;
            }
            Some(keys) => {
                for key in keys {
                    sqlx::query(sqlx::AssertSqlSafe(format!("{base} AND tag_key = $4")))
                        .bind(account_id)
                        .bind(kind.tag_type())
                        .bind(resource_key)
                        .bind(key)
                        .execute(self.conn())
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Puts one visible resource into `resource_group_id`; `NotFound` if the account has none.
    pub async fn move_resource_group(
        &mut self,
        account_id: i64,
        kind: TagKind,
        resource_key: &str,
        resource_group_id: &str,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {table} SET resource_group_id = $1 WHERE account_id = $2 AND CAST({key} AS TEXT) = $3{visible}",
            table = kind.table(),
            key = kind.key_column(),
            visible = if kind == TagKind::Certificate {
                " AND deleted_at IS NULL"
            } else {
                ""
            },
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resource_group_id)
            .bind(account_id)
            .bind(resource_key)
            .execute(self.conn())
            .await?;
        crate::one_row(done)
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use crate::*;

    async fn store(_dir: &std::path::Path) -> crate::test_db::TestDb {
        let master = MasterKey::from_hex(&"55".repeat(32)).unwrap();
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

    async fn csr(s: &Store, account_id: i64) -> String {
        let new = NewCsr {
            account_id,
            row: CsrRow {
                name: "n".into(),
                common_name: "n.example.com".into(),
                algorithm: "ECC".into(),
                key_size: 256,
                key_sha256: "00".repeat(32),
                ..Default::default()
            },
            csr_der: vec![0x30, 0x00],
            created_at: 1,
        };
        let mut tx = s.begin().await.unwrap();
        let id = tx.insert_csr(&new, None).await.unwrap();
        tx.commit().await.unwrap();
        id.to_string()
    }

    fn t(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[tokio::test]
    async fn tags_and_groups_are_scoped_filtered_and_paged() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path()).await;
        let (a, b, theirs) = (csr(&s, 1).await, csr(&s, 1).await, csr(&s, 2).await);
        let kind = TagKind::Csr;
        assert_eq!(s.resolve_taggable(1, kind, &a).await.unwrap(), Some(a.clone()));
        assert_eq!(s.resolve_taggable(1, kind, &theirs).await.unwrap(), None);

        let mut tx = s.begin().await.unwrap();
        assert_eq!(
            tx.upsert_tags(1, kind, &a, &[t("env", "p"), t("x", "1")])
                .await
                .unwrap(),
            2
        );
        assert_eq!(tx.upsert_tags(1, kind, &a, &[t("env", "q")]).await.unwrap(), 2);
        tx.upsert_tags(1, kind, &b, &[t("env", "p")]).await.unwrap();
        tx.upsert_tags(2, kind, &theirs, &[t("env", "p")]).await.unwrap();
        assert!(matches!(
            tx.move_resource_group(1, kind, &theirs, "rg").await,
            Err(StoreError::NotFound)
        ));
        tx.move_resource_group(1, kind, &b, "rg").await.unwrap();
        tx.commit().await.unwrap();

        let rows = |having: Vec<(String, Option<String>)>, after, limit| TagRowFilter {
            having,
            after,
            limit,
            ..Default::default()
        };
        let env_p = s
            .list_tag_resources(1, kind, &rows(vec![("env".into(), Some("p".into()))], None, 10))
            .await
            .unwrap();
        assert_eq!(env_p.iter().map(|r| &r.resource_key).collect::<Vec<_>>(), [&b]);
        let all = s.list_tag_resources(1, kind, &rows(vec![], None, 10)).await.unwrap();
        assert_eq!(all.len(), 3);
        let first = s.list_tag_resources(1, kind, &rows(vec![], None, 2)).await.unwrap();
        let after = first.last().map(|r| (r.resource_key.clone(), r.tag_key.clone()));
        let rest = s.list_tag_resources(1, kind, &rows(vec![], after, 2)).await.unwrap();
        assert_eq!([first, rest].concat(), all);

        let page = Page { offset: 0, limit: 10 };
        let (keys, total) = s.list_tag_keys(1, kind, None, page).await.unwrap();
        assert_eq!((keys, total), (vec![("env".into(), 2), ("x".into(), 1)], 2));
        let (keys, _) = s.list_tag_keys(1, kind, Some("rg"), page).await.unwrap();
        assert_eq!(keys, vec![("env".into(), 1)]);

        let mut tx = s.begin().await.unwrap();
        tx.remove_tags(1, kind, &a, Some(&["x".into()])).await.unwrap();
        tx.remove_tags(1, kind, &b, None).await.unwrap();
        tx.commit().await.unwrap();
        let left = s.list_tag_resources(1, kind, &rows(vec![], None, 10)).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(
            (left[0].resource_key.as_str(), left[0].tag_value.as_str()),
            (a.as_str(), "q")
        );
        let theirs_left = s.list_tag_resources(2, kind, &rows(vec![], None, 10)).await.unwrap();
        assert_eq!(theirs_left.len(), 1);
    }
}
