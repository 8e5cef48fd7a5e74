//! Filtered, paginated reads of the list actions. Each list returns one page and the total
//! count under the same filter; ordering is by creation, newest first, with the id as the
//! tie-breaker so pages are stable.

use crate::orders::{DvOrder, ORDER_COLUMNS, order_row};
use crate::{Backend, Result, Store};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

/// One page: `offset` rows skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// Builds `WHERE account_id = $1 AND …` with numbered placeholders.
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) args: Vec<Arg>,
}

impl Where {
    pub(crate) fn for_account(account_id: i64) -> Self {
        Self {
            clauses: vec!["account_id = $1".into()],
            args: vec![Arg::Int(account_id)],
        }
    }
    /// No condition at all (for plan tests that look at one clause).
    #[cfg(test)]
    pub(crate) fn none() -> Self {
        Self {
            clauses: Vec::new(),
            args: Vec::new(),
        }
    }
    pub(crate) fn placeholder(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }
    pub(crate) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }
    pub(crate) fn is_null(&mut self, column: &str) {
        self.clauses.push(format!("{column} IS NULL"));
    }
    pub(crate) fn eq_text(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value {
            let p = self.placeholder(Arg::Text(v.to_owned()));
            self.clauses.push(format!("{column} = {p}"));
        }
    }
    pub(crate) fn cmp_int(&mut self, column: &str, op: &str, value: Option<i64>) {
        if let Some(v) = value {
            let p = self.placeholder(Arg::Int(v));
            self.clauses.push(format!("{column} {op} {p}"));
        }
    }
    pub(crate) fn in_text(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let ps: Vec<String> = values.iter().map(|v| self.placeholder(Arg::Text(v.clone()))).collect();
        self.clauses.push(format!("{column} IN ({})", ps.join(", ")));
    }
    /// Case-insensitive substring match over any of `columns`.
    pub(crate) fn contains_any(&mut self, columns: &[&str], keyword: Option<&str>) {
        let Some(k) = keyword.filter(|k| !k.is_empty()) else {
            return;
        };
        let escaped = k
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = self.placeholder(Arg::Text(format!("%{escaped}%")));
        self.any_column(columns, |c| format!("LOWER({c}) LIKE {p} ESCAPE '\\'"));
    }
    /// One clause: `test` of any of `columns`.
    fn any_column(&mut self, columns: &[&str], test: impl Fn(&str) -> String) {
        let ors: Vec<String> = columns.iter().map(|c| test(c)).collect();
        self.clauses.push(format!("({})", ors.join(" OR ")));
    }
    /// A keyword with a NUL in it: FTS5 cannot parse it, LIKE reads its pattern only up to
    /// the NUL (so it would match everything), and PostgreSQL text cannot hold one (so nothing
    /// stored there contains it, and binding it would fail). SQLite's `instr` compares the
    /// whole strings, NULs included.
    fn contains_nul_keyword(&mut self, backend: Backend, k: &str) {
        if backend == Backend::Postgres {
            self.clauses.push("1 = 0".to_owned());
            return;
        }
        let p = self.placeholder(Arg::Text(k.to_lowercase()));
        self.any_column(&["name", "common_name", "sans"], |c| {
            format!("instr(LOWER({c}), {p}) > 0")
        });
    }
    /// `KeyWord` over a certificate's name, CN and SANs (case-insensitive substring).
    /// Three characters or more are answered by a trigram index (`certificates_search` on
    /// SQLite, the pg_trgm GIN indexes on `LOWER(column)` on PostgreSQL); a shorter keyword
    /// has no trigram to look up and falls back to a scan.
    pub(crate) fn cert_keyword(&mut self, backend: Backend, keyword: Option<&str>) {
        let Some(k) = keyword.filter(|k| !k.is_empty()) else {
            return;
        };
        if k.contains('\0') {
            self.contains_nul_keyword(backend, k);
            return;
        }
        if k.chars().count() < 3 || backend == Backend::Postgres {
            self.contains_any(&["name", "common_name", "sans"], Some(k));
            return;
        }
        // One FTS5 string literal: the trigram tokenizer turns it into a phrase of
        // consecutive trigrams, i.e. a substring match, and nothing in it is query syntax.
        let phrase = format!("\"{}\"", k.replace('"', "\"\""));
        let p = self.placeholder(Arg::Text(phrase));
        self.clauses.push(format!(
            "id IN (SELECT rowid FROM certificates_search WHERE certificates_search MATCH {p})"
        ));
    }
    pub(crate) fn sql(&self) -> String {
        self.clauses.join(" AND ")
    }
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    args: &[Arg],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.clone()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

impl Store {
    pub(crate) async fn page_of<T>(
        &self,
        table: &str,
        columns: &str,
        filter: Where,
        page: Page,
        map: fn(&AnyRow) -> std::result::Result<T, sqlx::Error>,
    ) -> Result<(Vec<T>, i64)> {
        let cond = filter.sql();
        let count_sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {cond}");
        let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)), &filter.args)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let n = filter.args.len();
        let list_sql = format!(
            "SELECT {columns} FROM {table} WHERE {cond} \
             ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(list_sql)), &filter.args)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(map).collect::<std::result::Result<_, _>>()?;
        Ok((items, total))
    }
}

// ---- orders -------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub order_type: Option<String>,
    pub status: Option<String>,
    pub keyword: Option<String>,
    pub resource_group_id: Option<String>,
}

impl Store {
    pub async fn list_orders(&self, account_id: i64, f: &OrderFilter, page: Page) -> Result<(Vec<DvOrder>, i64)> {
        let mut w = Where::for_account(account_id);
        w.is_null("deleted_at");
        w.eq_text("order_type", f.order_type.as_deref());
        w.eq_text("status", f.status.as_deref());
        w.eq_text("resource_group_id", f.resource_group_id.as_deref());
        w.contains_any(&["domain"], f.keyword.as_deref());
        self.page_of("orders", ORDER_COLUMNS, w, page, order_row).await
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use crate::*;

    #[tokio::test]
    async fn lists_are_scoped_filtered_and_paged() {
        let master = MasterKey::from_hex(&"33".repeat(32)).unwrap();
        let s = crate::test_db::TestDb::with_master(&master).await;
        for (id, name) in [(1, "a"), (2, "b")] {
            let key = NewAccessKey {
                access_key_id: name,
                secret: "x",
            };
            s.insert_account(id, name, name, key, 0).await.unwrap();
        }
        for i in 0..5i64 {
            let account = if i < 4 { 1 } else { 2 };
            sqlx::query(
                "INSERT INTO csrs (account_id, name, common_name, sans, algorithm, key_size, \
                 key_sha256, csr_der, has_private_key, created_at) \
                 VALUES ($1, $2, $3, '', $4, 256, 'k', $5, 0, $6)",
            )
            .bind(account)
            .bind(format!("csr{i}"))
            .bind(format!("host{i}.Example.com"))
            .bind(if i % 2 == 0 { "ECC" } else { "RSA" })
            .bind(vec![0u8])
            .bind(i)
            .execute(s.pool())
            .await
            .unwrap();
        }
        let all = Page { offset: 0, limit: 10 };
        let (rows, total) = s.list_csrs(1, &CsrFilter::default(), all).await.unwrap();
        assert_eq!(total, 4);
        assert_eq!(
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["csr3", "csr2", "csr1", "csr0"]
        );
        let ecc = CsrFilter {
            algorithm: Some("ECC".into()),
            ..Default::default()
        };
        assert_eq!(s.list_csrs(1, &ecc, all).await.unwrap().1, 2);
        let kw = CsrFilter {
            keyword: Some("HOST2.example".into()),
            ..Default::default()
        };
        assert_eq!(s.list_csrs(1, &kw, all).await.unwrap().1, 1);
        let wild = CsrFilter {
            keyword: Some("%".into()),
            ..Default::default()
        };
        assert_eq!(s.list_csrs(1, &wild, all).await.unwrap().1, 0);
        let (page2, total) = s
            .list_csrs(1, &CsrFilter::default(), Page { offset: 2, limit: 2 })
            .await
            .unwrap();
        assert_eq!((total, page2.len(), page2[0].name.as_str()), (4, 2, "csr1"));
        assert_eq!(s.list_csrs(2, &CsrFilter::default(), all).await.unwrap().1, 1);
        assert_eq!(s.list_certificates(1, &CertFilter::default(), all).await.unwrap().1, 0);
        assert_eq!(s.list_cas(1, &CaFilter::default(), all).await.unwrap().1, 0);
        assert_eq!(s.list_orders(1, &OrderFilter::default(), all).await.unwrap().1, 0);
    }
}
