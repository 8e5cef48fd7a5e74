use super::*;
use crate::keyword_matches::Matches;
use crate::listing::Page;
use crate::search::Window;
use crate::search::tests::{cert, insert, keyset_page, kw, reader, sqlite_test_store};
use crate::{CertRecord, Store};

const SMALL: Limits = Limits {
    keep_from: 2,
    max_ids: 1_000,
    max_entries: 8,
    max_new_rows: 50,
};

/// What the cache answers for `q` in account 1 and what a search without it finds, both in
/// one snapshot of `conn`.
fn both(cache: &ResultCache, conn: &Connection, q: &CertQuery) -> (Vec<i64>, Vec<i64>) {
    let counts = TrigramCounts::default();
    let k = q.keyword.as_deref().unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    let cached = cache.matching_ids(&tx, &counts, 1, q, k).unwrap().to_vec();
    let fresh = matching_ids(&tx, &counts, 1, q, k).unwrap();
    tx.commit().unwrap();
    (cached, fresh)
}

fn row(account: i64, n: i64, cn: &str) -> CertRecord {
    cert(account, n, cn, &format!("www.{cn}"))
}

/// Account 1's rows `h<n>.keyword.example` for every `n` of `ns`.
async fn insert_keyword_rows(s: &Store, ns: std::ops::RangeInclusive<i64>) {
    let rows: Vec<CertRecord> = ns.map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    insert(s, &rows).await;
}

async fn exec(s: &Store, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(s.pool())
        .await
        .unwrap();
}

/// Runs `write`, then asks every query again: each answer must equal a fresh search, and a
/// full pass must have run for account 1's cache exactly when `invalidates`.
struct Steps<'a> {
    cache: ResultCache,
    conn: Connection,
    queries: Vec<CertQuery>,
    store: &'a Store,
}

impl Steps<'_> {
    fn check(&self, what: &str, invalidates: bool) {
        let before = self.cache.full_searches();
        for q in &self.queries {
            let (cached, fresh) = both(&self.cache, &self.conn, q);
            assert_eq!(cached, fresh, "{what}: {q:?}");
        }
        let passes = self.cache.full_searches() - before;
        let want = if invalidates { self.queries.len() } else { 0 };
        assert_eq!(passes, want, "{what}: full searches");
    }
}

#[tokio::test]
async fn results_stay_exact_across_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let mut rows: Vec<CertRecord> = (1..=20)
        .map(|n| row(1, n, &format!("h{n:02}.keyword.example")))
        .collect();
    for r in rows.iter_mut().filter(|r| r.created_at % 4 == 0) {
        r.status = "REVOKE".into();
        r.warehouse_id = Some(7);
    }
    rows.push(row(1, 21, "unrelated.test"));
    let ids = insert(&s, &rows).await;
    insert(&s, &[row(2, 50, "h01.keyword.example")]).await;
    let st = Steps {
        cache: ResultCache::with_limits(SMALL),
        conn: reader(&dir),
        queries: vec![
            kw("KEYWORD.ex"),
            CertQuery {
                status: Some("ISSUE".into()),
                ..kw("keyword.example")
            },
            CertQuery {
                warehouse_id: Some(7),
                ..kw("word.exa")
            },
        ],
        store: &s,
    };
    st.check("first search", true);
    assert_eq!(st.cache.size().0, 3);
    st.check("repeat", false);

    // inserts: matching, not matching, another account's: checked as new rows only
    insert(
        st.store,
        &[
            row(1, 22, "h22.keyword.example"),
            row(1, 23, "nothing.test"),
            row(2, 51, "h51.keyword.example"),
        ],
    )
    .await;
    st.check("inserts", false);
    let (all, _) = both(&st.cache, &st.conn, &st.queries[0]);
    assert_eq!(all.len(), 21);

    let mut tx = s.begin().await.unwrap();
    tx.revoke_certificate(2, &format!("{:032x}", 50), None, 9)
        .await
        .unwrap();
    tx.delete_certificate(2, &format!("{:032x}", 51), 9).await.unwrap();
    tx.commit().await.unwrap();
    st.check("another account's revocation and deletion", false);

    exec(&s, "UPDATE certificates SET in_cert_store = 1").await;
    st.check("a column no filter reads", false);

    let mut tx = s.begin().await.unwrap();
    tx.revoke_certificate(1, &format!("{:032x}", 1), Some("keyCompromise"), 9)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    st.check("revocation (status)", true);

    let mut tx = s.begin().await.unwrap();
    tx.delete_certificate(1, &format!("{:032x}", 2), 9).await.unwrap();
    tx.commit().await.unwrap();
    st.check("deletion", true);
    assert_eq!(both(&st.cache, &st.conn, &st.queries[0]).0.len(), 20);

    exec(
        &s,
        &format!("UPDATE certificates SET warehouse_id = 7 WHERE id = {}", ids[2]),
    )
    .await;
    st.check("warehouse move", true);

    exec(
        &s,
        &format!(
            "UPDATE certificates SET name = 'x', common_name = 'x', sans = 'x' WHERE id = {}",
            ids[4]
        ),
    )
    .await;
    st.check("rename", true);
    exec(
        &s,
        &format!(
            "UPDATE certificates SET sans = 'a.keyword.example' WHERE id = {}",
            ids[20]
        ),
    )
    .await;
    st.check("a SAN that now matches", true);

    // a hard delete of the highest row lets the next insert take its id again
    let top: i64 = sqlx::query_scalar("SELECT MAX(id) FROM certificates")
        .fetch_one(s.pool())
        .await
        .unwrap();
    let owner: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT account_id FROM certificates WHERE id = {top}"
    )))
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(owner, 2);
    exec(&s, &format!("DELETE FROM certificates WHERE id = {top}")).await;
    // (here another account's row: the global counter moves for every account)
    st.check("hard delete", true);
    let reused = insert(st.store, &[row(1, 60, "h60.keyword.example")]).await;
    assert_eq!(reused[0], top);
    st.check("insert reusing the id", false);

    exec(
        &s,
        &format!(
            "INSERT INTO certificates (id, account_id, identifier, name, source_type, cert_type, status, \
             common_name, sans, subject_dn, issuer, algorithm, key_algorithm, key_size, sign_algorithm, serial_no, \
             fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key, \
             cert_der, chain_pem, created_at) SELECT {}, account_id, 'low', 'low.keyword.example', source_type, \
             cert_type, 'ISSUE', common_name, sans, subject_dn, issuer, algorithm, key_algorithm, key_size, \
             sign_algorithm, 'low', fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, \
             days, 0, cert_der, chain_pem, 1 FROM certificates WHERE id = {}",
            0, ids[0]
        ),
    )
    .await;
    st.check("insert below the highest id", true);
    exec(&s, "UPDATE certificates SET id = id + 1000 WHERE account_id = 2").await;
    st.check("another account's rows renumbered", true);
    insert(st.store, &[row(1, 61, "h61.keyword.example")]).await;
    st.check("an insert after them", false);
}

#[tokio::test]
async fn an_older_snapshot_neither_uses_nor_replaces_a_newer_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    insert_keyword_rows(&s, 1..=5).await;
    let cache = ResultCache::with_limits(SMALL);
    let counts = TrigramCounts::default();
    let q = kw("keyword");
    let old = reader(&dir);
    let old_tx = old.unchecked_transaction().unwrap();
    // the snapshot starts at the first read
    let before = cache.matching_ids(&old_tx, &counts, 1, &q, "keyword").unwrap();
    assert_eq!(before.len(), 5);
    insert(&s, &[row(1, 6, "h6.keyword.example")]).await;
    let new = reader(&dir);
    let (now, _) = both(&cache, &new, &q);
    assert_eq!(now.len(), 6);
    let full = cache.full_searches();
    let again = cache.matching_ids(&old_tx, &counts, 1, &q, "keyword").unwrap();
    assert_eq!(again.len(), 5, "the older snapshot sees its own rows");
    assert_eq!(cache.full_searches(), full + 1);
    drop(old_tx);
    let (now, fresh) = both(&cache, &new, &q);
    assert_eq!((now.len(), &now), (6, &fresh));
    assert_eq!(cache.full_searches(), full + 1, "the newer entry was kept");
}

#[tokio::test]
async fn many_new_rows_are_searched_again_and_small_results_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    insert_keyword_rows(&s, 1..=5).await;
    let st = Steps {
        cache: ResultCache::with_limits(SMALL),
        conn: reader(&dir),
        queries: vec![kw("keyword")],
        store: &s,
    };
    st.check("first", true);
    insert_keyword_rows(st.store, 100..=150).await;
    st.check("51 new rows, 50 allowed", true);
    insert(
        st.store,
        &(200..=249).map(|n| row(1, n, "other.test")).collect::<Vec<_>>(),
    )
    .await;
    st.check("50 new rows", false);

    let one = Steps {
        queries: vec![kw("h3.keyword")],
        ..st
    };
    one.check("a single match", true);
    one.check("a single match again", true);
    assert_eq!(one.cache.size().0, 1, "only the broad result is kept");
}

#[tokio::test]
async fn the_least_recently_used_entries_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=40)
        .map(|n| row(1, n, &format!("h{n:02}.w{}.keyword", n % 4)))
        .collect();
    insert(&s, &rows).await;
    let cache = ResultCache::with_limits(Limits {
        max_entries: 3,
        max_ids: 25,
        ..SMALL
    });
    let conn = reader(&dir);
    for k in ["w0.key", "w1.key", "w2.key"] {
        both(&cache, &conn, &kw(k));
    }
    assert_eq!(
        cache.size(),
        (2, 20),
        "25 ids at most: the oldest of three entries of 10 went"
    );
    both(&cache, &conn, &kw("w1.key"));
    let full = cache.full_searches();
    both(&cache, &conn, &kw("w2.key"));
    assert_eq!(cache.full_searches(), full, "w2 kept");
    both(&cache, &conn, &kw("keyword"));
    assert_eq!(cache.size(), (2, 20), "40 ids: not kept, and nothing evicted for it");
    // a result over max_ids is not kept; the others stay
    let small = ResultCache::with_limits(Limits {
        max_entries: 2,
        ..SMALL
    });
    for k in ["w0.key", "w1.key", "w2.key"] {
        both(&small, &conn, &kw(k));
    }
    assert_eq!(small.size(), (2, 20));
    let full = small.full_searches();
    both(&small, &conn, &kw("w0.key"));
    assert_eq!(small.full_searches(), full + 1, "w0 was the oldest");
}

/// Every column a ListCert filter or the keyword reads moves the counter when updated.
#[tokio::test]
async fn the_trigger_names_every_filtered_column() {
    let dir = tempfile::tempdir().unwrap();
    let _s = sqlite_test_store(&dir).await;
    let conn = reader(&dir);
    let trigger: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'certificates_listed_update'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let listed = trigger.split(" OF ").nth(1).unwrap().split(" ON ").next().unwrap();
    let listed: Vec<&str> = listed.split(',').map(str::trim).collect();
    let every = CertQuery {
        keyword: Some("k".into()),
        warehouse_id: Some(1),
        status: Some("s".into()),
        source_type: Some("s".into()),
        cert_type: Some("c".into()),
        certificate_types: vec!["t".into()],
        identifiers: vec!["i".into()],
        issuer_identifier: Some("i".into()),
        not_before_until: Some(1),
        not_after_from: Some(1),
    };
    let sql = every.filter_without_keyword(1).sql();
    let mut read: Vec<&str> = sql
        .split(" AND ")
        .map(|c| c.split_whitespace().next().unwrap())
        .collect();
    read.extend(["id", "name", "common_name", "sans"]);
    assert!(read.len() > 12, "{sql}");
    for column in read {
        assert!(listed.contains(&column), "{column} missing from {listed:?}");
    }
}

#[test]
fn windows_of_ascending_ids() {
    let asc: Vec<i64> = (1..=10).collect();
    let asc = Matches::from(asc);
    let off = |offset, limit| asc.window(Window::Offset(Page { offset, limit }));
    assert_eq!(off(0, 3), (vec![10, 9, 8], None));
    assert_eq!(off(8, 5), (vec![2, 1], None));
    assert_eq!(off(10, 5), (vec![], None));
    assert_eq!(off(-1, 2), (vec![10, 9], None));
    let keyset = |before_id, limit| asc.window(Window::Keyset { before_id, limit });
    assert_eq!(keyset(None, 4), (vec![10, 9, 8, 7], Some(7)));
    assert_eq!(keyset(Some(7), 4), (vec![6, 5, 4, 3], Some(3)));
    assert_eq!(keyset(Some(3), 4), (vec![2, 1], None));
    assert_eq!(keyset(Some(5), 4), (vec![4, 3, 2, 1], None));
    assert_eq!(keyset(Some(1), 4), (vec![], None));
    assert_eq!(keyset(Some(100), 2), (vec![10, 9], Some(9)));
}

/// Through the store, with the real limits: a broad result is kept, and pages and totals
/// stay exact while rows come and go between them.
#[tokio::test]
async fn pages_of_a_broad_keyword_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let n = 2 * KEEP_FROM as i64 + 100;
    let rows: Vec<CertRecord> = (1..=n)
        .map(|i| {
            row(
                1,
                i,
                &format!("h{i:05}.{}.example", if i % 2 == 0 { "even" } else { "odd" }),
            )
        })
        .collect();
    let ids = insert(&s, &rows).await;
    let q = kw("EVEN.example");
    let results = || s.fast.as_ref().unwrap().results();
    let page = |offset| Window::Offset(Page { offset, limit: 50 });
    let first = s.search_certificates(1, &q, page(0)).await.unwrap();
    let mut want: Vec<i64> = ids.iter().rev().copied().filter(|id| id % 2 == 0).collect();
    assert_eq!(first.total, want.len() as i64);
    assert_eq!(first.rows.iter().map(|r| r.id).collect::<Vec<_>>(), want[..50]);
    assert_eq!(results().size(), (1, want.len()));
    let passes = results().full_searches();

    // a new match and another account's row arrive, a match is revoked (still listed: no
    // status filter) and one is deleted
    let added = insert(&s, &[row(1, n + 1, "h.even.example"), row(2, n + 2, "x.even.example")]).await;
    let mut tx = s.begin().await.unwrap();
    tx.delete_certificate(1, &format!("{:032x}", 10), 9).await.unwrap();
    tx.revoke_certificate(1, &format!("{:032x}", 12), None, 9)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    want.insert(0, added[0]);
    want.retain(|&id| id != ids[9]);
    let second = s.search_certificates(1, &q, page(50)).await.unwrap();
    assert_eq!(second.total, want.len() as i64);
    assert_eq!(second.rows.iter().map(|r| r.id).collect::<Vec<_>>(), want[50..100]);
    assert_eq!(results().full_searches(), passes + 1, "the deletion made one new pass");

    let mut walked = Vec::new();
    let mut before = None;
    let mut total = want.len() as i64;
    loop {
        let p = keyset_page(&s, 1, &q, before, 200).await;
        assert_eq!(p.total, total);
        walked.extend(p.rows.iter().map(|r| r.id));
        match p.next_before {
            Some(id) => before = Some(id),
            None => break,
        }
        // rows added during the walk land above it and do not shift it
        insert(&s, &[row(1, n + 10 + walked.len() as i64, "late.even.example")]).await;
        total += 1;
    }
    assert_eq!(walked, want);
    assert_eq!(results().full_searches(), passes + 1, "the walk reused the result");
    let revoked = CertQuery {
        status: Some("REVOKE".into()),
        ..q.clone()
    };
    let only = s.search_certificates(1, &revoked, page(0)).await.unwrap();
    assert_eq!((only.total, only.rows[0].id), (1, ids[11]));
}
