//! Certificate warehouses: named containers an account keeps certificates in.

use crate::listing::{Arg, Page, Where, bind_all};
use crate::search::Window;
use crate::{Result, Store, Tx, conflict_or};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct WarehouseRecord {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub warehouse_type: String,
    pub biz: String,
    pub created_at: i64,
    /// Certificates (not deleted) held in it.
    pub cert_count: i64,
}

pub struct NewWarehouse<'a> {
    pub account_id: i64,
    pub name: &'a str,
    pub warehouse_type: &'a str,
    pub biz: &'a str,
    pub created_at: i64,
}

#[derive(Debug, Default, Clone)]
pub struct WarehouseFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    pub types: Vec<String>,
    pub ids: Vec<i64>,
}

/// Biz value whose warehouses count against the e-contract signing quota.
pub const CONTRACT_BIZ: &str = "contract";

const COLUMNS: &str = "w.id, w.account_id, w.name, w.warehouse_type, w.biz, w.created_at, \
    (SELECT COUNT(*) FROM certificates c WHERE c.account_id = w.account_id AND c.warehouse_id = w.id \
     AND c.deleted_at IS NULL) AS cert_count";

fn row(r: &AnyRow) -> std::result::Result<WarehouseRecord, sqlx::Error> {
    Ok(WarehouseRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        name: r.try_get("name")?,
        warehouse_type: r.try_get("warehouse_type")?,
        biz: r.try_get("biz")?,
        created_at: r.try_get("created_at")?,
        cert_count: r.try_get("cert_count")?,
    })
}

impl Tx {
    /// Warehouses the account holds in the pool of `biz` (contract or application): read
    /// inside the write transaction so two creations cannot both pass the quota.
    pub async fn count_warehouses(&mut self, account_id: i64, contract: bool) -> Result<i64> {
        let op = if contract { "=" } else { "<>" };
        let sql = format!("SELECT COUNT(*) AS n FROM warehouses WHERE account_id = $1 AND biz {op} $2");
        let n = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(CONTRACT_BIZ)
            .fetch_one(self.conn())
            .await?
            .try_get("n")?;
        Ok(n)
    }

    /// A taken name is `Conflict("warehouse name")`.
    pub async fn insert_warehouse(&mut self, w: &NewWarehouse<'_>) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO warehouses (account_id, name, warehouse_type, biz, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(w.account_id)
        .bind(w.name)
        .bind(w.warehouse_type)
        .bind(w.biz)
        .bind(w.created_at)
        .fetch_one(self.conn())
        .await
        .map_err(|e| conflict_or(e, "warehouse name"))?;
        Ok(row.try_get("id")?)
    }

    pub async fn find_warehouse(&mut self, account_id: i64, id: i64) -> Result<Option<WarehouseRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM warehouses w WHERE w.account_id = $1 AND w.id = $2");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    pub async fn delete_warehouse(&mut self, account_id: i64, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM warehouses WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        crate::one_row(done)
    }
}

impl Store {
    /// Warehouses held in the application pool and in the contract signing pool.
    pub async fn warehouse_usage(&self, account_id: i64) -> Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT SUM(CASE WHEN biz = $2 THEN 0 ELSE 1 END) AS app, SUM(CASE WHEN biz = $2 THEN 1 ELSE 0 END) AS contract \
             FROM warehouses WHERE account_id = $1",
        )
        .bind(account_id)
        .bind(CONTRACT_BIZ)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            r.try_get::<Option<i64>, _>("app")?.unwrap_or(0),
            r.try_get::<Option<i64>, _>("contract")?.unwrap_or(0),
        ))
    }

    pub async fn find_warehouse(&self, account_id: i64, id: i64) -> Result<Option<WarehouseRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM warehouses w WHERE w.account_id = $1 AND w.id = $2");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// Warehouses newest first (by id), with the total under the same filter; a keyset
    /// window continues below the id it names.
    pub async fn list_warehouses(
        &self,
        account_id: i64,
        f: &WarehouseFilter,
        window: Window,
    ) -> Result<(Vec<WarehouseRecord>, i64, Option<i64>)> {
        let mut w = Where::for_account(account_id);
        w.contains_any(&["name"], f.name.as_deref());
        w.in_text("warehouse_type", &f.types);
        if !f.ids.is_empty() {
            let ps: Vec<String> = f.ids.iter().map(|id| w.placeholder(Arg::Int(*id))).collect();
            w.push(format!("id IN ({})", ps.join(", ")));
        }
        let cond = w.sql();
        let count_sql = format!("SELECT COUNT(*) AS n FROM warehouses WHERE {cond}");
        let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)), &w.args)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let (page, before) = match window {
            Window::Offset(p) => (p, i64::MAX),
            Window::Keyset { before_id, limit } => (
                Page {
                    offset: 0,
                    limit: limit + 1,
                },
                before_id.unwrap_or(i64::MAX),
            ),
        };
        let n = w.args.len();
        // the warehouse table's columns are qualified in COLUMNS; the filter's are not,
        // which SQLite resolves to the only table of the outer query
        let sql = format!(
            "SELECT {COLUMNS} FROM warehouses w WHERE {cond} AND w.id < ${} ORDER BY w.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2,
            n + 3
        );
        let mut args = w.args;
        args.extend([Arg::Int(before), Arg::Int(page.limit), Arg::Int(page.offset)]);
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(&self.pool)
            .await?;
        let mut items: Vec<WarehouseRecord> = rows.iter().map(row).collect::<std::result::Result<_, _>>()?;
        let next = match window {
            Window::Keyset { limit, .. } if items.len() as i64 > limit => {
                items.truncate(limit as usize);
                items.last().map(|r| r.id)
            }
            _ => None,
        };
        Ok((items, total, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;
    use crate::search::tests::{cert, insert, test_store};

    async fn create(s: &Store, account: i64, name: &str, kind: &str) -> i64 {
        let mut tx = s.begin().await.unwrap();
        let id = tx
            .insert_warehouse(&NewWarehouse {
                account_id: account,
                name,
                warehouse_type: kind,
                biz: "app",
                created_at: 1,
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    }

    #[tokio::test]
    async fn warehouses_are_scoped_filtered_counted_and_paged() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(&dir).await;
        let a = create(&s, 1, "Alpha", "ssl").await;
        let b = create(&s, 1, "beta", "personal").await;
        let c = create(&s, 1, "alphabet", "ssl").await;
        let other = create(&s, 2, "Alpha", "ssl").await;
        let mut held = cert(1, 1, "x.example.com", "");
        held.warehouse_id = Some(a);
        let mut gone = cert(1, 2, "y.example.com", "");
        gone.warehouse_id = Some(b);
        insert(&s, &[held, gone]).await;
        let mut tx = s.begin().await.unwrap();
        tx.delete_certificate(1, &format!("{:032x}", 2), 9).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        assert_eq!(tx.count_warehouses(1, false).await.unwrap(), 3);
        assert_eq!(tx.count_warehouses(1, true).await.unwrap(), 0);
        let dup = tx
            .insert_warehouse(&NewWarehouse {
                account_id: 1,
                name: "beta",
                warehouse_type: "ssl",
                biz: "app",
                created_at: 1,
            })
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict("warehouse name"))));
        drop(tx);

        let all = Window::Offset(Page { offset: 0, limit: 10 });
        let (rows, total, _) = s.list_warehouses(1, &WarehouseFilter::default(), all).await.unwrap();
        assert_eq!(total, 3);
        let counts: Vec<(i64, i64)> = rows.iter().map(|r| (r.id, r.cert_count)).collect();
        assert_eq!(counts, [(c, 0), (b, 0), (a, 1)]);
        let named = WarehouseFilter {
            name: Some("ALPHA".into()),
            ..Default::default()
        };
        assert_eq!(s.list_warehouses(1, &named, all).await.unwrap().1, 2);
        let typed = WarehouseFilter {
            types: vec!["personal".into()],
            ids: vec![b, other],
            ..Default::default()
        };
        let (rows, total, _) = s.list_warehouses(1, &typed, all).await.unwrap();
        assert_eq!((total, rows[0].id), (1, b));
        let first = Window::Keyset {
            before_id: None,
            limit: 2,
        };
        let (rows, _, next) = s.list_warehouses(1, &WarehouseFilter::default(), first).await.unwrap();
        assert_eq!((rows.len(), next), (2, Some(b)));
        let rest = Window::Keyset {
            before_id: next,
            limit: 2,
        };
        let (rows, _, next) = s.list_warehouses(1, &WarehouseFilter::default(), rest).await.unwrap();
        assert_eq!((rows[0].id, rows.len(), next), (a, 1, None));
        assert!(s.find_warehouse(2, a).await.unwrap().is_none());
        assert_eq!(s.warehouse_usage(1).await.unwrap(), (3, 0));
        assert_eq!(s.warehouse_usage(3).await.unwrap(), (0, 0));
        let mut tx = s.begin().await.unwrap();
        assert!(matches!(tx.delete_warehouse(2, a).await, Err(StoreError::NotFound)));
        tx.delete_warehouse(1, b).await.unwrap();
        tx.commit().await.unwrap();
        assert!(s.find_warehouse(1, b).await.unwrap().is_none());
    }
}
