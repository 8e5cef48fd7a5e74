use super::*;
use crate::sealing::MasterKey;
use crate::test_db::TestDb;
use crate::*;

pub(crate) async fn test_store(_dir: &tempfile::TempDir) -> TestDb {
    let db = TestDb::with_master(&MasterKey::from_hex(&"44".repeat(32)).unwrap()).await;
    with_accounts(&db).await;
    db
}

/// A SQLite store whatever the test backend, for tests of the SQLite-only direct paths.
pub(crate) async fn sqlite_test_store(dir: &tempfile::TempDir) -> Store {
    let master = MasterKey::from_hex(&"44".repeat(32)).unwrap();
    let s = Store::open_sqlite(&dir.path().join("db.sqlite"), &master)
        .await
        .unwrap();
    with_accounts(&s).await;
    s
}

async fn with_accounts(s: &Store) {
    for (id, name) in [(1, "a"), (2, "b")] {
        let key = NewAccessKey {
            access_key_id: name,
            secret: "x",
        };
        s.insert_account(id, name, name, key, 0).await.unwrap();
    }
}

/// A certificate row as an upload or an issuance would store it; `n` keeps serials and
/// identifiers apart.
pub(crate) fn cert(account_id: i64, n: i64, cn: &str, sans: &str) -> CertRecord {
    CertRecord {
        account_id,
        identifier: format!("{n:032x}"),
        name: format!("cert-{n}"),
        source_type: "aliyun".into(),
        cert_type: "CERT".into(),
        certificate_type: Some("SERVER".into()),
        status: "ISSUE".into(),
        issuer_identifier: Some("ca1".into()),
        common_name: cn.into(),
        sans: sans.into(),
        serial_no: format!("{n:x}"),
        not_before: 1_000,
        not_after: 2_000,
        created_at: n,
        cert_der: vec![0],
        ..Default::default()
    }
}

/// One keyset page of account `account`'s certificates matching `q`.
pub(crate) async fn keyset_page(
    s: &Store,
    account: i64,
    q: &CertQuery,
    before_id: Option<i64>,
    limit: i64,
) -> CertPage {
    s.search_certificates(account, q, Window::Keyset { before_id, limit })
        .await
        .unwrap()
}

pub(crate) async fn insert(s: &Store, rows: &[CertRecord]) -> Vec<i64> {
    let mut tx = s.begin().await.unwrap();
    let mut ids = Vec::new();
    for r in rows {
        ids.push(tx.insert_certificate(r, None).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}

/// A query with only a keyword.
pub(crate) fn kw(k: &str) -> CertQuery {
    CertQuery {
        keyword: Some(k.into()),
        ..Default::default()
    }
}

/// A plain rusqlite connection on the test store's database file in `dir`.
pub(crate) fn reader(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap()
}

const ALL: Window = Window::Offset(Page { offset: 0, limit: 100 });

async fn names(s: &Store, account: i64, q: &CertQuery) -> Vec<String> {
    let page = s.search_certificates(account, q, ALL).await.unwrap();
    assert_eq!(page.total, page.rows.len() as i64);
    page.rows.into_iter().map(|r| r.name).collect()
}

#[tokio::test]
async fn keyword_matches_name_cn_and_sans_through_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = test_store(&dir).await;
    let mut named = cert(1, 4, "mail.internal", "");
    named.name = "Payments-Gateway".into();
    insert(
        &s,
        &[
            cert(1, 1, "www.Example.com", "www.example.com,api.example.com"),
            cert(1, 2, "shop.test", "shop.test,Checkout.Example.org"),
            cert(1, 3, "say \"hi\".test", ""),
            named,
            cert(2, 5, "www.example.com", ""),
        ],
    )
    .await;
    assert_eq!(names(&s, 1, &kw("EXAMPLE")).await, ["cert-2", "cert-1"]);
    assert_eq!(names(&s, 1, &kw("api.exa")).await, ["cert-1"]);
    assert_eq!(names(&s, 1, &kw("checkout")).await, ["cert-2"]);
    assert_eq!(names(&s, 1, &kw("gateway")).await, ["Payments-Gateway"]);
    assert_eq!(names(&s, 1, &kw("\"hi\"")).await, ["cert-3"]);
    // FTS5 query syntax in a keyword is text, not syntax
    assert!(names(&s, 1, &kw("example OR shop")).await.is_empty());
    assert!(names(&s, 1, &kw("exa*")).await.is_empty());
    // too short for a trigram: answered by the scan, same semantics
    assert_eq!(names(&s, 1, &kw("ho")).await, ["cert-2"]);
    assert_eq!(names(&s, 1, &kw("%")).await, Vec::<String>::new());
    // the other account's certificate is never seen
    assert_eq!(names(&s, 2, &kw("example")).await, ["cert-5"]);

    let plan = s.search_plan(1, &kw("example")).await.unwrap();
    if s.backend() == Backend::Postgres {
        for index in [
            "certificates_search_name",
            "certificates_search_cn",
            "certificates_search_sans",
        ] {
            assert!(plan.contains(&format!("Bitmap Index Scan on {index}")), "{plan}");
        }
        return;
    }
    assert!(plan.contains("VIRTUAL TABLE INDEX"), "{plan}");
    // matches are looked up by id, never by walking the account's certificates
    assert!(
        plan.contains("SEARCH certificates USING INDEX certificates_account_id (account_id=? AND id=?)"),
        "{plan}"
    );
    assert!(!plan.lines().any(|l| l.trim() == "SCAN certificates"), "{plan}");
}

#[tokio::test]
async fn the_index_follows_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let s = test_store(&dir).await;
    let ids = insert(
        &s,
        &[cert(1, 1, "old.example.com", ""), cert(1, 2, "keep.example.com", "")],
    )
    .await;
    sqlx::query("UPDATE certificates SET common_name = 'renamed.example.net' WHERE id = $1")
        .bind(ids[0])
        .execute(s.pool())
        .await
        .unwrap();
    assert!(names(&s, 1, &kw("old.example")).await.is_empty());
    assert_eq!(names(&s, 1, &kw("renamed")).await, ["cert-1"]);
    // status changes (revocation) do not touch the index but still filter
    sqlx::query("UPDATE certificates SET status = 'REVOKE' WHERE id = $1")
        .bind(ids[1])
        .execute(s.pool())
        .await
        .unwrap();
    let revoked = CertQuery {
        status: Some("REVOKE".into()),
        ..kw("keep.")
    };
    assert_eq!(names(&s, 1, &revoked).await, ["cert-2"]);
    sqlx::query("DELETE FROM certificates WHERE id = $1")
        .bind(ids[1])
        .execute(s.pool())
        .await
        .unwrap();
    assert!(names(&s, 1, &kw("keep.example")).await.is_empty());
    // a soft-deleted certificate leaves the list at once
    let mut tx = s.begin().await.unwrap();
    tx.delete_certificate(1, &format!("{:032x}", 1), 5).await.unwrap();
    tx.commit().await.unwrap();
    assert!(names(&s, 1, &kw("renamed")).await.is_empty());
}

#[tokio::test]
async fn every_filter() {
    let dir = tempfile::tempdir().unwrap();
    let s = test_store(&dir).await;
    let mut upload = cert(1, 1, "up.example.com", "");
    (upload.source_type, upload.certificate_type, upload.issuer_identifier) = ("upload".into(), None, None);
    upload.warehouse_id = Some(7);
    let mut ca = cert(1, 2, "ca.example.com", "");
    (ca.cert_type, ca.certificate_type, ca.issuer_identifier) = ("CA".into(), None, Some("root".into()));
    let mut client = cert(1, 3, "client", "");
    client.certificate_type = Some("CLIENT".into());
    (client.not_before, client.not_after) = (5_000, 9_000);
    let mut custom = cert(1, 4, "custom", "");
    (custom.certificate_type, custom.status) = (Some("CUSTOM".into()), "REVOKE".into());
    insert(&s, &[upload, ca, client, custom]).await;
    let q = |f: fn(&mut CertQuery)| {
        let mut q = CertQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        names(&s, 1, &q(|q| q.source_type = Some("upload".into()))).await,
        ["cert-1"]
    );
    assert_eq!(names(&s, 1, &q(|q| q.warehouse_id = Some(7))).await, ["cert-1"]);
    assert!(names(&s, 1, &q(|q| q.warehouse_id = Some(8))).await.is_empty());
    assert_eq!(names(&s, 1, &q(|q| q.cert_type = Some("CA".into()))).await, ["cert-2"]);
    assert_eq!(names(&s, 1, &q(|q| q.status = Some("REVOKE".into()))).await, ["cert-4"]);
    assert_eq!(
        names(
            &s,
            1,
            &q(|q| q.certificate_types = vec!["CLIENT".into(), "CUSTOM".into()])
        )
        .await,
        ["cert-4", "cert-3"]
    );
    assert_eq!(
        names(&s, 1, &q(|q| q.issuer_identifier = Some("root".into()))).await,
        ["cert-2"]
    );
    assert_eq!(
        names(
            &s,
            1,
            &q(|q| q.identifiers = vec![format!("{:032x}", 3), "nope".into()])
        )
        .await,
        ["cert-3"]
    );
    // validity windows: begun by 4,000 / still valid at 3,000
    assert_eq!(
        names(&s, 1, &q(|q| q.not_before_until = Some(4_000))).await,
        ["cert-4", "cert-2", "cert-1"]
    );
    assert_eq!(names(&s, 1, &q(|q| q.not_after_from = Some(3_000))).await, ["cert-3"]);
    assert_eq!(names(&s, 2, &CertQuery::default()).await, Vec::<String>::new());
}

#[tokio::test]
async fn keyset_pages_are_stable_while_rows_are_added() {
    let dir = tempfile::tempdir().unwrap();
    let s = test_store(&dir).await;
    let rows: Vec<CertRecord> = (1..=25).map(|n| cert(1, n, &format!("h{n}.example.com"), "")).collect();
    insert(&s, &rows).await;
    let q = kw("example.com");
    let mut seen = Vec::new();
    let mut before = None;
    let mut extra = 100;
    loop {
        let page = keyset_page(&s, 1, &q, before, 7).await;
        assert!(page.rows.len() <= 7);
        seen.extend(page.rows.iter().map(|r| r.name.clone()));
        // newer certificates arrive between pages: they sort before the walk's start
        insert(&s, &[cert(1, extra, "late.example.com", "")]).await;
        extra += 1;
        match page.next_before {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=25).rev().map(|n| format!("cert-{n}")).collect();
    assert_eq!(seen, expected);
    // an offset walk over the same order agrees once writes stop
    let page = s
        .search_certificates(1, &q, Window::Offset(Page { offset: 4, limit: 2 }))
        .await
        .unwrap();
    assert_eq!(page.total, 25 + 4);
    assert_eq!(page.rows.len(), 2);
    let exact = keyset_page(&s, 1, &q, None, 29).await;
    assert_eq!((exact.rows.len(), exact.next_before), (29, None));
}
