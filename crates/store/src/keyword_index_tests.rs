use super::*;
use crate::keyword::TrigramCounts;
use crate::keyword::tests::{KEYWORDS, corpus};
use crate::keyword_cache::{Limits as CacheLimits, ResultCache};
use crate::search::CertQuery;
use crate::search::tests::{cert, insert, kw, reader, sqlite_test_store};
use crate::{CertRecord, Store};

const SMALL: Limits = Limits {
    max_bytes: 1 << 20,
    build_from: 1,
    max_append: 5,
    build_at_start_from: 10,
    max_patch: 4,
    sort_from: 0,
};

fn index(limits: Limits, path: Option<PathBuf>) -> Arc<KeywordIndex> {
    Arc::new(KeywordIndex {
        path,
        limits,
        ..Default::default()
    })
}

/// Every keyword of the store tests and a few more, with the words of `rows`.
fn keywords() -> Vec<&'static str> {
    let mut k = KEYWORDS.to_vec();
    k.extend([
        "keyword.example",
        "KEYWORD.EX",
        "h1.",
        "h12.key",
        "abcd",
        "ab cd",
        "ab,www",
        "ab\0cd",
        "www.h",
    ]);
    k
}

/// The index's answer for `k` in account 1 and what FTS5 finds (its phrase and its rare
/// trigram lookups), in one snapshot of `conn`.
fn answer(index: &Arc<KeywordIndex>, conn: &Connection, k: &str) -> (Answer, Vec<i64>) {
    let tx = conn.unchecked_transaction().unwrap();
    let got = index.matching_ids(&tx, 1, k).unwrap();
    if k.contains('\0') {
        // FTS5 fails on it ("unterminated string"); the index leaves it to FTS5
        return (got, Vec::new());
    }
    let q = kw(k);
    let fresh = crate::keyword::matching_ids(&tx, &TrigramCounts::default(), 1, &q, k).unwrap();
    let phrase = crate::keyword::matching_ids(&tx, &TrigramCounts::with_common(0), 1, &q, k).unwrap();
    tx.commit().unwrap();
    assert_eq!(fresh, phrase, "{k:?}: the two FTS5 lookups");
    (got, fresh)
}

/// Every keyword is answered by the index, as FTS5 answers it.
fn assert_current(index: &Arc<KeywordIndex>, conn: &Connection, what: &str) {
    for k in keywords() {
        let (got, fresh) = answer(index, conn, k);
        if k.contains('\0') {
            // a NUL ends every column in the buffer: left to FTS5
            assert_eq!(got, Answer::NotHere, "{what}: {k:?}");
        } else {
            assert_eq!(got, Answer::Ids(fresh.into()), "{what}: {k:?}");
        }
    }
}

/// No keyword is answered by the index.
fn assert_stale(index: &Arc<KeywordIndex>, conn: &Connection, what: &str) {
    for k in keywords() {
        assert_eq!(answer(index, conn, k).0, Answer::NotHere, "{what}: {k:?}");
    }
}

fn row(account: i64, n: i64, cn: &str) -> CertRecord {
    cert(account, n, cn, &format!("www.{cn}"))
}

async fn exec(s: &Store, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(s.pool())
        .await
        .unwrap();
}

/// Copies row `id` as a new row of account 1 named `name` through `conn`, a connection of
/// no store (as another process would write).
fn insert_outside(conn: &Connection, id: i64, name: &str) {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('certificates')")
        .unwrap();
    let columns: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|c| c.unwrap())
        .filter(|c| c != "id")
        .collect();
    let values: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "identifier" | "name" | "common_name" | "serial_no" => "?2".to_owned(),
            "sans" => "'www.' || ?2".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO certificates ({}) SELECT {} FROM certificates WHERE id = ?1",
        columns.join(", "),
        values.join(", ")
    );
    assert_eq!(conn.execute(&sql, (id, name)).unwrap(), 1);
}

#[tokio::test]
async fn the_index_answers_what_fts5_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    corpus(&s).await;
    // a keyword across two columns or two rows is no match
    insert(&s, &[cert(1, 30, "xyzab", "cdxyz"), cert(1, 31, "zzab", "zz")]).await;
    insert(&s, &[cert(1, 32, "cdzz", "zz")]).await;
    let conn = reader(&dir);
    let idx = index(SMALL, None);
    assert_stale(&idx, &conn, "nothing built");
    idx.build(&conn, 1).unwrap();
    assert_eq!(idx.size().0, 1);
    assert_current(&idx, &conn, "built");
    let (got, _) = answer(&idx, &conn, "abcd");
    assert_eq!(got, Answer::Ids(vec![1, 2, 3, 4].into()));
}

/// The rows of `account_id`'s buffer whose suffixes are sorted.
fn sorted_rows(idx: &KeywordIndex, account_id: i64) -> usize {
    let buffer = idx
        .lock()
        .accounts
        .get(&account_id)
        .and_then(|a| a.buffer.clone())
        .unwrap();
    let b = buffer.read().unwrap();
    b.suffixes.as_ref().map_or(0, |s| s.rows())
}

#[tokio::test]
async fn the_index_stays_exact_across_every_kind_of_write() {
    exact_across_every_kind_of_write(SMALL).await;
}

#[tokio::test]
async fn the_index_stays_exact_across_every_kind_of_write_unsorted() {
    exact_across_every_kind_of_write(Limits {
        sort_from: usize::MAX,
        ..SMALL
    })
    .await;
}

/// Whether the buffer of account 1 is sorted, as `limits` says it should be once built.
fn assert_sorted_as_asked(idx: &KeywordIndex, limits: Limits) {
    let rows = sorted_rows(idx, 1);
    assert_eq!(rows > 0, limits.sort_from == 0, "{rows} rows sorted");
}

async fn exact_across_every_kind_of_write(limits: Limits) {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=20).map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    let ids = insert(&s, &rows).await;
    insert(&s, &[row(2, 50, "h50.keyword.example")]).await;
    let conn = reader(&dir);
    let idx = index(limits, None);
    idx.build(&conn, 1).unwrap();
    assert_sorted_as_asked(&idx, limits);
    assert_current(&idx, &conn, "built");

    // inserts: appended, no rebuild
    insert(&s, &[row(1, 21, "h21.keyword.example"), row(1, 22, "nothing.test")]).await;
    insert(&s, &[row(2, 51, "h51.keyword.example")]).await;
    assert_current(&idx, &conn, "inserts");
    // more at once than one search appends: a rebuild is due
    let many: Vec<CertRecord> = (23..=30).map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    insert(&s, &many).await;
    assert_stale(&idx, &conn, "many inserts");
    idx.build(&conn, 1).unwrap();
    assert_current(&idx, &conn, "rebuilt after many inserts");

    // a snapshot older than the buffer sees the rows of its own time only
    let old = reader(&dir);
    let old_tx = old.unchecked_transaction().unwrap();
    let before = state(&old_tx, 1).unwrap();
    insert(&s, &[row(1, 31, "h31.keyword.example")]).await;
    assert_current(&idx, &conn, "insert seen by a newer snapshot");
    let got = idx.matching_ids(&old_tx, 1, "keyword.ex").unwrap();
    let fresh =
        crate::keyword::matching_ids(&old_tx, &TrigramCounts::default(), 1, &kw("keyword.ex"), "keyword.ex").unwrap();
    assert_eq!(got, Answer::Ids(fresh.clone().into()));
    assert_eq!(fresh.len(), 29);
    assert_eq!(state(&old_tx, 1).unwrap(), before);
    old_tx.commit().unwrap();

    // (what, SQL, whether the buffer is stale after it: a change of text or liveness is
    // patched in, a delete for good makes it stale)
    let writes: Vec<(&str, String, bool)> = vec![
        (
            "rename",
            format!("UPDATE certificates SET name = 'zzz' WHERE id = {}", ids[0]),
            false,
        ),
        (
            "new CN",
            format!("UPDATE certificates SET common_name = 'abcdef' WHERE id = {}", ids[1]),
            false,
        ),
        (
            "new SANs",
            format!("UPDATE certificates SET sans = 'x.abcd.test' WHERE id = {}", ids[2]),
            false,
        ),
        (
            "soft delete",
            format!("UPDATE certificates SET deleted_at = 5 WHERE id = {}", ids[3]),
            false,
        ),
        (
            "undelete",
            format!("UPDATE certificates SET deleted_at = NULL WHERE id = {}", ids[3]),
            false,
        ),
        (
            "status",
            format!("UPDATE certificates SET status = 'REVOKE' WHERE id = {}", ids[4]),
            false,
        ),
        (
            "warehouse",
            format!("UPDATE certificates SET warehouse_id = 7 WHERE id = {}", ids[4]),
            false,
        ),
        (
            "hard delete",
            format!("DELETE FROM certificates WHERE id = {}", ids[5]),
            true,
        ),
        (
            "another account's hard delete",
            "DELETE FROM certificates WHERE account_id = 2 AND common_name = 'h51.keyword.example'".to_owned(),
            true,
        ),
        (
            "moved in",
            "UPDATE certificates SET account_id = 1 WHERE account_id = 2".to_owned(),
            false,
        ),
    ];
    for (what, sql, stale) in writes {
        let builds = idx.builds();
        exec(&s, &sql).await;
        if stale {
            assert_stale(&idx, &conn, what);
            idx.build(&conn, 1).unwrap();
        }
        assert_current(&idx, &conn, what);
        assert_eq!(idx.builds(), builds + usize::from(stale), "{what}");
    }

    // the writes above were patched in, or appended after the sorted rows and scanned
    assert_sorted_as_asked(&idx, limits);

    // another process's writes move the same counters
    let outside = reader(&dir);
    outside
        .execute("UPDATE certificates SET sans = 'www.abcdef' WHERE id = ?1", [ids[6]])
        .unwrap();
    assert_current(&idx, &conn, "outside update, patched");
    insert_outside(&outside, ids[7], "outside.abcd.keyword.example");
    assert_current(&idx, &conn, "outside insert");
    let (got, _) = answer(&idx, &conn, "outside.abcd");
    assert!(matches!(got, Answer::Ids(ids) if ids.len() == 1));
    outside
        .execute(
            "DELETE FROM certificates WHERE name = 'outside.abcd.keyword.example'",
            [],
        )
        .unwrap();
    assert_stale(&idx, &conn, "outside delete");
    idx.build(&conn, 1).unwrap();
    assert_current(&idx, &conn, "rebuilt after outside delete");
}

#[tokio::test]
async fn changes_are_patched_in_while_logged_and_few() {
    patched_while_logged_and_few(SMALL).await;
}

#[tokio::test]
async fn changes_are_patched_in_while_logged_and_few_unsorted() {
    patched_while_logged_and_few(Limits {
        sort_from: usize::MAX,
        ..SMALL
    })
    .await;
}

async fn patched_while_logged_and_few(limits: Limits) {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=20).map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    let ids = insert(&s, &rows).await;
    let conn = reader(&dir);
    let idx = index(limits, None);
    idx.build(&conn, 1).unwrap();
    assert_sorted_as_asked(&idx, limits);
    let rename = |id: i64, cn: &str| {
        format!("UPDATE certificates SET name = '{cn}', common_name = '{cn}', sans = 'www.{cn}' WHERE id = {id}")
    };

    // a snapshot from before the changes: the buffer moves past it and leaves it to FTS5
    let old = reader(&dir);
    let old_tx = old.unchecked_transaction().unwrap();
    let _ = state(&old_tx, 1).unwrap();
    // the same row renamed out of a keyword's matches and back in, another one twice over,
    // and an insert: patched and appended by one search, no build
    exec(&s, &rename(ids[0], "zzz.test")).await;
    exec(&s, &rename(ids[1], "abcd.test")).await;
    insert(&s, &[row(1, 21, "h21.keyword.example")]).await;
    assert_current(&idx, &conn, "patched and appended");
    exec(&s, &rename(ids[0], "h1.keyword.example.again")).await;
    exec(&s, &rename(ids[1], "abcde.keyword.example")).await;
    assert_current(&idx, &conn, "patched again");
    let (got, _) = answer(&idx, &conn, "again");
    assert_eq!(got, Answer::Ids(vec![ids[0]].into()));
    assert_eq!(idx.matching_ids(&old_tx, 1, "keyword.ex").unwrap(), Answer::Older);
    // a search in it asks for a fresh snapshot, or on its last try goes through FTS5
    let cache = ResultCache::with_index(CacheLimits::default(), Arc::clone(&idx));
    let (counts, q) = (TrigramCounts::with_common(0), kw("keyword.ex"));
    let retried = cache.matching_ids_or_retry(&old_tx, &counts, 1, (&q, "keyword.ex"), true);
    assert_eq!(retried.unwrap(), None);
    let fts = crate::keyword::matching_ids(&old_tx, &counts, 1, &q, "keyword.ex").unwrap();
    assert_eq!(
        cache
            .matching_ids(&old_tx, &counts, 1, &q, "keyword.ex")
            .unwrap()
            .to_vec(),
        fts
    );
    assert_eq!(fts.len(), 20);
    old_tx.commit().unwrap();
    assert_eq!(idx.builds(), 1);

    // more changes at once than one search patches: stale until rebuilt
    for (i, &id) in ids[2..5].iter().enumerate() {
        exec(&s, &rename(id, &format!("moved{i}.test"))).await;
    }
    assert_stale(&idx, &conn, "too many changes");
    idx.build(&conn, 1).unwrap();
    assert_current(&idx, &conn, "rebuilt after many changes");

    // a change no longer in the log (pruned, or made before it existed): stale
    exec(&s, &rename(ids[5], "pruned.test")).await;
    exec(&s, "DELETE FROM certificate_text_changes").await;
    assert_stale(&idx, &conn, "log pruned");
    idx.build(&conn, 1).unwrap();
    assert_current(&idx, &conn, "rebuilt after the log was pruned");
}

#[tokio::test]
async fn the_change_log_keeps_the_last_changes_of_each_account() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let ids = insert(&s, &[row(1, 1, "h1.keyword.example"), row(2, 2, "h2.keyword.example")]).await;
    // two counter moves an update within one account; one for each account on a move
    for n in 0..2100 {
        exec(
            &s,
            &format!("UPDATE certificates SET name = 'n{n}' WHERE id = {}", ids[0]),
        )
        .await;
    }
    exec(
        &s,
        &format!("UPDATE certificates SET account_id = 1 WHERE id = {}", ids[1]),
    )
    .await;
    let conn = reader(&dir);
    let log = |account: i64| -> (i64, i64, i64) {
        conn.query_row(
            "SELECT COUNT(*), MIN(version), MAX(version) FROM certificate_text_changes WHERE account_id = ?1",
            [account],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    let version = |account: i64| -> i64 {
        conn.query_row(
            "SELECT version FROM certificate_text_versions WHERE account_id = ?1",
            [account],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(version(1), 4201);
    assert_eq!(log(1), (4096, 4201 - 4095, 4201));
    assert_eq!(log(2), (1, 1, 1));
    let moved: i64 = conn
        .query_row(
            "SELECT cert_id FROM certificate_text_changes WHERE account_id = 1 AND version = 4201",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(moved, ids[1]);
}

#[tokio::test]
async fn searches_are_exact_while_a_rebuild_is_pending_and_the_rebuild_runs_aside() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=20).map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    let ids = insert(&s, &rows).await;
    let conn = reader(&dir);
    let idx = index(SMALL, Some(dir.path().join("db.sqlite")));
    let cache = ResultCache::with_index(CacheLimits::default(), Arc::clone(&idx));
    // every trigram common: keywords are broad, as the index serves them
    let counts = TrigramCounts::with_common(0);
    let search = |k: &str, q: &CertQuery| {
        let tx = conn.unchecked_transaction().unwrap();
        let got = cache.matching_ids(&tx, &counts, 1, q, k).unwrap().to_vec();
        let fresh = crate::keyword::matching_ids(&tx, &counts, 1, q, k).unwrap();
        tx.commit().unwrap();
        assert_eq!(got, fresh, "{k}");
        got
    };
    let wait_built = |n: usize| {
        for _ in 0..500 {
            if idx.builds() >= n && !idx.building() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no build");
    };
    // the first broad search goes through FTS5 and asks for a build
    assert_eq!(search("keyword.ex", &kw("keyword.ex")).len(), 20);
    wait_built(1);
    assert_eq!(idx.size().0, 1);
    let (got, fresh) = answer(&idx, &conn, "h1.");
    assert_eq!(got, Answer::Ids(fresh.into()));
    // a filter besides the keyword: FTS5, the same ids
    let revoked = CertQuery {
        status: Some("REVOKE".into()),
        ..kw("word.exa")
    };
    assert!(search("word.exa", &revoked).is_empty());

    // a rename: patched in, no rebuild
    exec(
        &s,
        &format!(
            "UPDATE certificates SET common_name = 'abc', sans = 'abc', name = 'abc' WHERE id = {}",
            ids[0]
        ),
    )
    .await;
    assert_eq!(search("ord.exam", &kw("ord.exam")).len(), 19);
    assert_current(&idx, &conn, "patched after a rename");
    assert_eq!(idx.builds(), 1);

    // a delete for good: stale until rebuilt, and exact meanwhile
    exec(&s, &format!("DELETE FROM certificates WHERE id = {}", ids[1])).await;
    assert_eq!(search("rd.exam", &kw("rd.exam")).len(), 18);
    wait_built(2);
    assert_current(&idx, &conn, "rebuilt in the background");
    assert_eq!(search("rd.examp", &kw("rd.examp")).len(), 18);
    assert_eq!(idx.builds(), 2);

    // resting after a build: a stale buffer waits, FTS5 answers
    idx.lock().rest_until = Some(Instant::now() + Duration::from_secs(3600));
    exec(&s, &format!("DELETE FROM certificates WHERE id = {}", ids[2])).await;
    assert_eq!(search("d.exampl", &kw("d.exampl")).len(), 17);
    assert_stale(&idx, &conn, "resting");
    assert!(!idx.building());
    assert_eq!(idx.builds(), 2);
}

#[tokio::test]
async fn large_accounts_are_indexed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=20).map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    insert(&s, &rows).await;
    insert(&s, &[row(2, 50, "h50.keyword.example")]).await;
    let conn = reader(&dir);
    let idx = index(SMALL, Some(dir.path().join("db.sqlite")));
    idx.build_large_accounts();
    for _ in 0..500 {
        if idx.builds() >= 1 && !idx.building() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // account 2 has one row: left to FTS5
    assert_eq!(idx.size().0, 1);
    assert_eq!(idx.builds(), 1);
    assert_current(&idx, &conn, "built at start");
}

#[tokio::test]
async fn an_account_too_large_is_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=20).map(|n| row(1, n, &format!("h{n}.keyword.example"))).collect();
    insert(&s, &rows).await;
    insert(&s, &[row(2, 50, "h50.keyword.example")]).await;
    let conn = reader(&dir);
    let idx = index(
        Limits {
            max_bytes: 600,
            ..SMALL
        },
        None,
    );
    idx.build(&conn, 1).unwrap();
    assert_eq!(idx.size(), (0, 0));
    assert_stale(&idx, &conn, "too large");
    // a small account fits; then a second one evicts the least recently used
    idx.build(&conn, 2).unwrap();
    assert_eq!(idx.size().0, 1);
    let sized = index(SMALL, None);
    sized.build(&conn, 1).unwrap();
    let one = sized.size().1;
    sized.build(&conn, 2).unwrap();
    let two = sized.size().1 - one;
    assert!(one > 600 && two < 600, "{one} {two}");
    let limits = Limits {
        max_bytes: one + two - 1,
        ..SMALL
    };
    let idx = index(limits, None);
    idx.build(&conn, 2).unwrap();
    idx.build(&conn, 1).unwrap();
    assert_eq!(idx.size().0, 1, "account 2 evicted");
    assert!(idx.size().1 <= limits.max_bytes);
    assert_current(&idx, &conn, "account 1 kept");
}
