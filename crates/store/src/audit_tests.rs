use super::*;
use crate::sealing::MasterKey;

fn entry(i: i64) -> AuditEntry {
    AuditEntry {
        at_ms: 1_000 + i,
        kind: if i % 2 == 0 { "call" } else { "result" }.into(),
        account_id: Some(1 + i % 3),
        access_key_id: None,
        action: format!("Action{}", i % 4),
        version: "2020-06-30".into(),
        request_id: format!("R{i}"),
        source: "127.0.0.1:1".into(),
        params: "{}".into(),
        resources: "{}".into(),
        status: (i % 2 == 1).then_some(200),
        code: (i % 2 == 1).then(|| "OK".to_owned()),
    }
}

async fn open(dir: &tempfile::TempDir) -> Store {
    let master = MasterKey::from_hex(&"44".repeat(32)).unwrap();
    Store::open_sqlite(&dir.path().join("db.sqlite"), &master)
        .await
        .unwrap()
}

#[test]
fn the_hash_covers_every_field_and_the_position() {
    let e = entry(1);
    let h = chain_hash(GENESIS, 1, &e);
    assert_eq!(h.len(), 64);
    assert_eq!(h, chain_hash(GENESIS, 1, &e.clone()), "deterministic");
    assert_ne!(h, chain_hash(GENESIS, 2, &e), "the sequence number is covered");
    assert_ne!(h, chain_hash(&"1".repeat(64), 1, &e), "the previous hash is covered");
    let variants: Vec<AuditEntry> = vec![
        AuditEntry { at_ms: 7, ..e.clone() },
        AuditEntry {
            kind: "auth".into(),
            ..e.clone()
        },
        AuditEntry {
            account_id: None,
            ..e.clone()
        },
        AuditEntry {
            access_key_id: Some("AK".into()),
            ..e.clone()
        },
        AuditEntry {
            action: "X".into(),
            ..e.clone()
        },
        AuditEntry {
            version: "2018-07-13".into(),
            ..e.clone()
        },
        AuditEntry {
            request_id: "Q".into(),
            ..e.clone()
        },
        AuditEntry {
            source: "10.0.0.1:2".into(),
            ..e.clone()
        },
        AuditEntry {
            params: "{\"a\":\"b\"}".into(),
            ..e.clone()
        },
        AuditEntry {
            resources: "{\"Id\":\"1\"}".into(),
            ..e.clone()
        },
        AuditEntry {
            status: Some(500),
            ..e.clone()
        },
        AuditEntry {
            code: Some("Err".into()),
            ..e.clone()
        },
    ];
    for v in variants {
        assert_ne!(chain_hash(GENESIS, 1, &v), h, "{v:?}");
    }
}

#[test]
fn field_boundaries_cannot_be_shifted() {
    // "ab" + "c" and "a" + "bc" must not serialise alike.
    let a = AuditEntry {
        action: "ab".into(),
        version: "c".into(),
        ..entry(0)
    };
    let b = AuditEntry {
        action: "a".into(),
        version: "bc".into(),
        ..entry(0)
    };
    assert_ne!(canonical(1, &a), canonical(1, &b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.audit_append(entry(i)).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>(), "every waiter got its own number");
    match store.audit_verify().await.unwrap() {
        ChainCheck::Intact { records, head } => {
            assert_eq!(records, 300);
            let all = store.audit_list(&AuditFilter::default()).await.unwrap();
            assert_eq!(all.last().unwrap().hash, head);
        }
        broken => panic!("{broken:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for i in 0..12 {
        store.audit_append(entry(i)).await.unwrap();
    }
    let list = |f: AuditFilter| {
        let store = store.clone();
        async move { store.audit_list(&f).await.unwrap() }
    };
    assert_eq!(list(AuditFilter::default()).await.len(), 12);
    let by_account = list(AuditFilter {
        account_id: Some(2),
        ..Default::default()
    })
    .await;
    assert_eq!(by_account.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 5, 8, 11]);
    let by_action = list(AuditFilter {
        action: Some("Action3".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        by_action
            .iter()
            .map(|r| r.entry.request_id.as_str())
            .collect::<Vec<_>>(),
        ["R3", "R7", "R11"]
    );
    let window = list(AuditFilter {
        since_ms: Some(1_003),
        until_ms: Some(1_006),
        ..Default::default()
    })
    .await;
    assert_eq!(
        window.iter().map(|r| r.entry.at_ms).collect::<Vec<_>>(),
        [1_003, 1_004, 1_005]
    );
    let limited = list(AuditFilter {
        limit: Some(2),
        ..Default::default()
    })
    .await;
    assert_eq!(limited.len(), 2);
}

/// Tampering goes through a raw connection: the migration's triggers refuse UPDATE and
/// DELETE, so the tamperer drops them first, as an attacker with the file would.
fn tamper(dir: &tempfile::TempDir, sql: &str) {
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    let refused = conn.execute_batch(sql);
    assert!(refused.is_err(), "the append-only triggers refuse {sql}");
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
}

async fn broken_at(sql: &str) -> (i64, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for i in 0..10 {
        store.audit_append(entry(i)).await.unwrap();
    }
    assert!(matches!(
        store.audit_verify().await.unwrap(),
        ChainCheck::Intact { records: 10, .. }
    ));
    tamper(&dir, sql);
    match store.audit_verify().await.unwrap() {
        ChainCheck::Broken { seq, reason } => (seq, reason),
        intact => panic!("{sql}: {intact:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_record_breaks_the_chain_at_itself() {
    let (seq, reason) = broken_at("UPDATE audit_log SET code = 'Forged' WHERE seq = 4").await;
    assert_eq!(seq, 4);
    assert!(reason.contains("edited"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehashed_record_breaks_the_chain_at_the_next() {
    // Recomputing the edited row's own hash does not help: the next link names the old one.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for i in 0..5 {
        store.audit_append(entry(i)).await.unwrap();
    }
    let mut r = store.audit_list(&AuditFilter::default()).await.unwrap().remove(2);
    r.entry.code = Some("Forged".into());
    let forged = chain_hash(&r.prev_hash, r.seq, &r.entry);
    tamper(
        &dir,
        &format!("UPDATE audit_log SET code = 'Forged', hash = '{forged}' WHERE seq = 3"),
    );
    assert!(matches!(
        store.audit_verify().await.unwrap(),
        ChainCheck::Broken { seq: 4, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_record_breaks_the_chain_at_the_next() {
    let (seq, reason) = broken_at("DELETE FROM audit_log WHERE seq = 6").await;
    assert_eq!(seq, 7);
    assert!(reason.contains("jumps"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_records_break_the_chain() {
    let (seq, _) = broken_at(
        "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 5; \
         UPDATE audit_log SET seq = 5 WHERE seq = -1;",
    )
    .await;
    assert_eq!(seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_append_leaves_no_record_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store.audit_append(entry(0)).await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    conn.execute_batch("CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END;")
        .unwrap();
    assert!(store.audit_append(entry(1)).await.is_err());
    conn.execute_batch("DROP TRIGGER refuse").unwrap();
    assert_eq!(store.audit_append(entry(2)).await.unwrap(), 2);
    assert!(matches!(
        store.audit_verify().await.unwrap(),
        ChainCheck::Intact { records: 2, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlx_appender_continues_the_same_chain() {
    // The appender other backends use, on the same database as the SQLite one: both read the
    // head inside their transaction, so they extend one chain.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut through_any = store.clone();
    through_any.audit = AuditAppender::start(
        store.pool.clone(),
        store.backend,
        store.keys.clone(),
        store.writer.clone(),
    );
    for i in 0..20 {
        let (a, b) = (store.clone(), through_any.clone());
        let (x, y) = tokio::join!(a.audit_append(entry(2 * i)), b.audit_append(entry(2 * i + 1)));
        assert!(x.unwrap() > 0 && y.unwrap() > 0);
    }
    assert!(matches!(
        store.audit_verify().await.unwrap(),
        ChainCheck::Intact { records: 40, .. }
    ));
}

/// Migration 0004 rebuilds `audit_log` with `seq` as its rowid: a log written under the old
/// layout keeps every record (the chain verifies to the same head), goes on growing, stays
/// append-only, and loses the separate index on `seq`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rowid_migration_keeps_the_chain_and_its_guards() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let before_rowid = dir.path().join("migrations");
    std::fs::create_dir(&before_rowid).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0004" {
            std::fs::copy(&path, before_rowid.join(name)).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(before_rowid.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool.close().await;
    let old: Vec<AuditEntry> = (0..40).map(entry).collect();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let index_on_seq = |conn: &rusqlite::Connection| -> bool {
        conn.prepare("SELECT name FROM pragma_index_list('audit_log') WHERE origin = 'pk'")
            .unwrap()
            .exists([])
            .unwrap()
    };
    assert!(index_on_seq(&conn), "the old layout indexes seq beside the rowid");
    crate::audit_sqlite::append(&conn, &old).unwrap();
    drop(conn);

    let store = open(&dir).await;
    let ChainCheck::Intact { records, head } = store.audit_verify().await.unwrap() else {
        panic!("the migrated chain must verify");
    };
    assert_eq!(records, 40);
    assert_eq!(head, links(0, GENESIS.to_owned(), &old)[39].2);
    let listed = store.audit_list(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| &r.entry).collect::<Vec<_>>(),
        old.iter().collect::<Vec<_>>()
    );
    assert_eq!(store.audit_append(entry(40)).await.unwrap(), 41);
    assert!(matches!(
        store.audit_verify().await.unwrap(),
        ChainCheck::Intact { records: 41, .. }
    ));

    let conn = rusqlite::Connection::open(&db).unwrap();
    assert!(!index_on_seq(&conn));
    let rowid_is_seq: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_log WHERE rowid = seq", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rowid_is_seq, 41);
    for refused in [
        "UPDATE audit_log SET code = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ] {
        let e = conn.execute(refused, []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{refused}: {e}");
    }
}
