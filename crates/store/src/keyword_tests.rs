use super::*;
use crate::keyword_fold::fold_char;
use crate::listing::Page;
use crate::search::tests::{cert, insert, keyset_page, kw, reader, sqlite_test_store};
use crate::{CertRecord, Store};

/// What the index itself folds every code point to, read back with `fts5vocab`: the text is
/// a run of code points, and the trigram at offset `i` starts with the fold of the `i`-th.
#[test]
fn the_fold_table_is_the_tokenizers() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'trigram');
         CREATE VIRTUAL TABLE v USING fts5vocab (t, instance);",
    )
    .unwrap();
    let chars: Vec<char> = (1..=0x10FFFF).filter_map(char::from_u32).collect();
    let chunks: Vec<&[char]> = chars.chunks(8192).collect();
    for (row, chunk) in chunks.iter().enumerate() {
        // two trailing spaces give the chunk's last code points a trigram of their own
        let text: String = chunk.iter().chain([' ', ' '].iter()).collect();
        conn.execute("INSERT INTO t (rowid, x) VALUES (?1, ?2)", (row as i64, text))
            .unwrap();
    }
    let mut stmt = conn.prepare("SELECT doc, offset, term FROM v").unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut checked = 0usize;
    while let Some(r) = rows.next().unwrap() {
        let (doc, offset, term): (i64, i64, String) = (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
        let Some(&c) = chunks[doc as usize].get(offset as usize) else {
            continue;
        };
        let indexed = term.chars().next().unwrap();
        assert_eq!(fold_char(c), indexed, "U+{:04X}", c as u32);
        checked += 1;
    }
    assert_eq!(checked, chars.len());
}

/// Newest first, like `phrase_ids`.
fn ids_of(conn: &Connection, counts: &TrigramCounts, q: &CertQuery) -> Vec<i64> {
    let mut ids = matching_ids(conn, counts, 1, q, q.keyword.as_deref().unwrap()).unwrap();
    ids.reverse();
    ids
}

/// The phrase query the index answered with before: the reference for every result here.
fn phrase_ids(conn: &Connection, q: &CertQuery) -> Vec<i64> {
    let mut w = q.filter_without_keyword(1);
    let p = w.placeholder(Arg::Text(fts_literal(q.keyword.as_deref().unwrap())));
    w.push(format!(
        "id IN (SELECT rowid FROM certificates_search WHERE certificates_search MATCH {p})"
    ));
    let mut ids = Vec::new();
    each_row(
        conn,
        &format!("SELECT id FROM certificates WHERE {} ORDER BY id DESC", w.sql()),
        &w.args,
        |r| {
            ids.push(r.get(0)?);
            Ok(())
        },
    )
    .unwrap();
    ids
}

pub(crate) async fn corpus(s: &Store) -> Vec<i64> {
    let mut named = cert(1, 9, "mail.internal", "");
    named.name = "Straße \"Büro\" 100% _x_".into();
    let mut rows: Vec<CertRecord> = vec![
        // every trigram of "abcdef" but not the word itself
        cert(1, 1, "abcd-cdef.example", ""),
        cert(1, 2, "xabcdefx.example", ""),
        cert(1, 3, "ABCDEF.EXAMPLE", "www.AbCdEf.example"),
        cert(1, 4, "other.test", "api.abcdef.test"),
        cert(
            1,
            5,
            "host0555557.bravos.example.com",
            "www.host0555557.bravos.example.com",
        ),
        cert(
            1,
            6,
            "host0555567.bravos.example.com",
            "www.host0555567.bravos.example.com",
        ),
        cert(1, 7, "σίγμα.test", "ΣΊΓΜΑ.test"),
        cert(1, 8, "ſtrasse.test", "\u{212A}.test"),
        named,
        cert(2, 10, "abcdef.other-account", ""),
    ];
    let mut deleted = cert(1, 11, "abcdef.deleted", "");
    deleted.name = "gone".into();
    rows.push(deleted);
    let ids = insert(s, &rows).await;
    let mut tx = s.begin().await.unwrap();
    tx.delete_certificate(1, &format!("{:032x}", 11), 5).await.unwrap();
    tx.commit().await.unwrap();
    ids
}

pub(crate) const KEYWORDS: &[&str] = &[
    "abcdef",
    "ABCDEF",
    "aBcDeF.ex",
    "abcd-c",
    "cdef",
    "bcd",
    "host0555557",
    "0555557",
    "host05555",
    "st055556",
    "bravos.example",
    "example",
    "www.",
    "ΣΊΓΜΑ",
    "σίγμα.t",
    "strasse",
    "STRASSE",
    "ſtr",
    "Straße",
    "STRASSE.test",
    "k.test",
    "\"Büro\"",
    "büro",
    "100%",
    "% _x",
    "_x_",
    "abc*",
    "abc OR xyz",
    "NEAR(abc",
    "^abc",
    "abc\"def",
    "\"\"\"",
    "zzzzzz",
    "abcdefabcdef",
];

#[tokio::test]
async fn rare_trigram_lookups_return_what_the_phrase_returns() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    corpus(&s).await;
    let conn = reader(&dir);
    // every trigram rare, every trigram common, and one in between
    for common in [COMMON, 0, 1] {
        let counts = TrigramCounts::with_common(common);
        for k in KEYWORDS {
            let q = kw(k);
            assert_eq!(
                ids_of(&conn, &counts, &q),
                phrase_ids(&conn, &q),
                "{k:?} (common {common})"
            );
        }
    }
}

#[tokio::test]
async fn a_candidate_with_every_trigram_but_not_the_keyword_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let ids = corpus(&s).await;
    let conn = reader(&dir);
    let counts = TrigramCounts::default();
    assert!(matches!(plan(&conn, &counts, "abcdef").unwrap(), Lookup::Rare(t) if t.len() == 3));
    // row 1 ("abcd-cdef") holds abc, bcd, cde and def: a candidate, not a match
    assert_eq!(ids_of(&conn, &counts, &kw("abcdef")), [ids[3], ids[2], ids[1]]);
    assert_eq!(ids_of(&conn, &counts, &kw("abcd-cdef")), [ids[0]]);
    // case folded as the index folds: ſ is s, Σ is σ, K (Kelvin) is k
    assert_eq!(ids_of(&conn, &counts, &kw("STRASSE")), [ids[7]]);
    assert_eq!(ids_of(&conn, &counts, &kw("σΊγμα")), [ids[6]]);
    assert_eq!(ids_of(&conn, &counts, &kw("k.test")), [ids[7]]);
    // LIKE and FTS5 syntax characters are text
    assert_eq!(ids_of(&conn, &counts, &kw("100% _x_")), [ids[8]]);
    assert_eq!(ids_of(&conn, &counts, &kw("\"büro\"")), [ids[8]]);
    assert!(ids_of(&conn, &counts, &kw("abc OR xyz")).is_empty());
    assert!(ids_of(&conn, &counts, &kw("100_")).is_empty());
}

#[tokio::test]
async fn counts_that_are_wrong_change_nothing_but_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    corpus(&s).await;
    let conn = reader(&dir);
    let counts = TrigramCounts::default();
    // as if "hos" and "ost" were rare and "055" common: the other way round from the truth
    for (t, n) in [
        (['h', 'o', 's'], 0),
        (['o', 's', 't'], 0),
        (['0', '5', '5'], COMMON + 1),
    ] {
        counts.put(t, n);
    }
    for k in ["host0555557", "host05555", "st055556", "0555"] {
        let q = kw(k);
        assert_eq!(ids_of(&conn, &counts, &q), phrase_ids(&conn, &q), "{k}");
    }
    let plan = plan(&conn, &counts, "host0555557").unwrap();
    assert!(
        matches!(&plan, Lookup::Rare(t) if t.contains(&"\"hos\"".to_owned())),
        "{plan:?}"
    );
}

#[tokio::test]
async fn filters_pages_and_accounts_through_the_direct_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=30)
        .map(|n| {
            let mut r = cert(1, n, &format!("h{n:02}.keyword.example"), "");
            if n % 3 == 0 {
                r.status = "REVOKE".into();
            }
            r
        })
        .collect();
    let ids = insert(&s, &rows).await;
    insert(&s, &[cert(2, 99, "h01.keyword.example", "")]).await;
    let q = CertQuery {
        status: Some("REVOKE".into()),
        ..kw("KEYWORD.ex")
    };
    let want: Vec<i64> = ids
        .iter()
        .rev()
        .copied()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(want.len(), 10);
    let page = s
        .search_certificates(1, &q, Window::Offset(Page { offset: 2, limit: 3 }))
        .await
        .unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(page.rows.iter().map(|r| r.id).collect::<Vec<_>>(), want[2..5]);
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = keyset_page(&s, 1, &q, before, 4).await;
        assert_eq!(page.total, 10);
        walked.extend(page.rows.iter().map(|r| r.id));
        match page.next_before {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    assert_eq!(walked, want);
    let beyond = s
        .search_certificates(1, &q, Window::Offset(Page { offset: 50, limit: 3 }))
        .await
        .unwrap();
    assert_eq!((beyond.total, beyond.rows.len()), (10, 0));
    let window = Window::Keyset {
        before_id: None,
        limit: 5,
    };
    let other = s.search_certificates(2, &kw("h01.keyword"), window).await.unwrap();
    assert_eq!(other.total, 1);
    let owned = s.find_certificate(2, &other.rows[0].identifier).await.unwrap();
    assert_eq!(owned.map(|c| c.id), Some(other.rows[0].id), "account 2's own row");
}

/// Both lookups find the matches through the index and look each one up by id: the account's
/// certificates are never walked.
#[tokio::test]
async fn lookups_never_walk_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    corpus(&s).await;
    let conn = reader(&dir);
    let q = CertQuery {
        status: Some("ISSUE".into()),
        ..kw("abcdef")
    };
    for (columns, fts) in [
        ("id", "\"abcdef\""),
        ("id, name, common_name, sans", "\"abc\" AND \"def\""),
    ] {
        let (sql, args) = lookup_sql(&q, 1, columns, fts.into());
        let mut plan = Vec::new();
        each_row(&conn, &format!("EXPLAIN QUERY PLAN {sql}"), &args, |r| {
            plan.push(r.get::<_, String>(3)?);
            Ok(())
        })
        .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("VIRTUAL TABLE INDEX"), "{plan}");
        assert!(
            plan.contains("SEARCH certificates USING INDEX certificates_account_id (account_id=? AND id=?)"),
            "{plan}"
        );
        let walks = |l: &str| l == "SCAN certificates" || l.starts_with("SCAN certificates USING");
        assert!(!plan.lines().any(walks), "{plan}");
    }
}

#[tokio::test]
async fn a_page_is_read_by_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite_test_store(&dir).await;
    let ids = corpus(&s).await;
    let conn = reader(&dir);
    let mut plan = Vec::new();
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", rows_sql())).unwrap();
    let mut rows = stmt.query((1, "[1]")).unwrap();
    while let Some(r) = rows.next().unwrap() {
        plan.push(r.get::<_, String>(3).unwrap());
    }
    let plan = plan.join("\n");
    assert!(
        plan.contains("SEARCH certificates USING INTEGER PRIMARY KEY (rowid=?)"),
        "{plan}"
    );
    // another account's id in the list is not read
    let page = [ids[9], ids[4], ids[0]];
    let got: Vec<i64> = rows_of(&conn, 1, &page).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(got, [ids[4], ids[0]]);
}
