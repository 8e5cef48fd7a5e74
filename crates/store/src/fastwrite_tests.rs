//! The direct issuance writer must store and refuse exactly as the `Any` path does.

use super::IssuedWrite;
use crate::search::tests::{cert, sqlite_test_store as test_store};
use crate::*;

pub(crate) const CA: &str = "cccccccccccccccccccccccccccccccc";

pub(crate) async fn with_ca(store: &Store, total: i64) {
    let ca = CaRecord {
        account_id: 1,
        identifier: CA.into(),
        issuer_identifier: "p".repeat(32),
        certificate_type: "SUB_ROOT".into(),
        issuer_type: "local".into(),
        status: "ISSUE".into(),
        common_name: "Sub".into(),
        cert_total_count: total,
        ..Default::default()
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_ca(NewCa {
        record: &ca,
        key_pkcs8_der: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub(crate) fn write(n: i64) -> IssuedWrite {
    let mut record = cert(1, n, &format!("h{n}.example"), "");
    record.issuer_identifier = Some(CA.into());
    record.created_at = 1_500;
    IssuedWrite {
        record,
        ca_identifier: CA.into(),
        key_pkcs8_der: None,
        tag_resource_type: "CERT",
        tags: Vec::new(),
        idempotency: None,
        records: None,
    }
}

fn through_any(s: &Store) -> Store {
    Store {
        issued: None,
        ..s.clone()
    }
}

fn accept(ca: Option<&CaRecord>) -> std::result::Result<(), String> {
    ca.map(|_| ()).ok_or_else(|| "no CA".to_owned())
}

pub(crate) async fn issued_count(s: &Store) -> i64 {
    s.find_ca(1, CA).await.unwrap().unwrap().cert_issued_count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_paths_store_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    assert!(fast.issued.is_some());
    let slow = through_any(&fast);
    with_ca(&fast, 10).await;
    for (store, n) in [(&fast, 1), (&slow, 2)] {
        let mut w = write(n);
        w.key_pkcs8_der = Some(b"pkcs8".to_vec());
        w.record.has_private_key = true;
        w.tags = vec![("k".into(), "v".into())];
        w.idempotency = Some(("CreateClientCertificate", format!("token-{n}")));
        store.write_issued(w, accept).await.unwrap().unwrap();
    }
    let a = fast.find_certificate(1, &format!("{:032x}", 1)).await.unwrap().unwrap();
    let b = fast.find_certificate(1, &format!("{:032x}", 2)).await.unwrap().unwrap();
    assert_eq!((a.serial_no.as_str(), b.serial_no.as_str()), ("1", "2"));
    assert_eq!(
        format!(
            "{:?}",
            CertRecord {
                id: 0,
                identifier: String::new(),
                name: String::new(),
                common_name: String::new(),
                serial_no: String::new(),
                ..a.clone()
            }
        ),
        format!(
            "{:?}",
            CertRecord {
                id: 0,
                identifier: String::new(),
                name: String::new(),
                common_name: String::new(),
                serial_no: String::new(),
                ..b.clone()
            }
        ),
        "every other column the same"
    );
    for c in [&a, &b] {
        assert_eq!(
            fast.certificate_private_key(1, &c.identifier).await.unwrap().as_deref(),
            Some(&b"pkcs8"[..])
        );
        assert_eq!(
            fast.tags_of(1, "CERT", &c.identifier).await.unwrap(),
            vec![("k".into(), "v".into())]
        );
    }
    assert_eq!(
        fast.find_idempotency(1, "CreateClientCertificate", "token-1")
            .await
            .unwrap(),
        Some(a.identifier.clone())
    );
    assert_eq!(issued_count(&fast).await, 2);
    // the certificate is found by the keyword search the triggers maintain
    let page = fast
        .search_certificates(
            1,
            &CertQuery {
                keyword: Some("h1.example".into()),
                ..Default::default()
            },
            Window::Offset(Page { offset: 0, limit: 10 }),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}

/// Only the SQLite writer writes a call's records with its effect; elsewhere a write carrying
/// them is a caller's bug, refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effect_records_are_refused_where_they_cannot_be_written_with_the_effect() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    with_ca(&fast, 3).await;
    let slow = through_any(&fast);
    assert!(fast.records_effects() && !slow.records_effects());
    let mut carrying = write(1);
    let entry = AuditEntry {
        at_ms: 1,
        kind: "call".into(),
        account_id: Some(1),
        access_key_id: None,
        action: "CreateClientCertificate".into(),
        version: "2020-06-30".into(),
        request_id: "R".into(),
        source: "127.0.0.1:1".into(),
        params: "{}".into(),
        resources: "{}".into(),
        status: None,
        code: None,
    };
    carrying.records = Some(EffectRecords {
        result: AuditEntry {
            kind: "result".into(),
            ..entry.clone()
        },
        call: entry,
        written: Default::default(),
    });
    assert!(matches!(
        slow.write_issued(carrying, accept).await,
        Err(StoreError::Batch(_))
    ));
    assert_eq!(issued_count(&fast).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    with_ca(&fast, 3).await;
    for store in [fast.clone(), through_any(&fast)] {
        // the check sees the CA as the transaction does, and its refusal comes back as is
        let refused = store
            .write_issued(write(10), |ca| Err::<(), _>(ca.map(|c| c.cert_issued_count)))
            .await
            .unwrap();
        assert_eq!(refused, Err(Some(0)));
        let mut elsewhere = write(11);
        elsewhere.ca_identifier = "d".repeat(32);
        assert_eq!(
            store.write_issued(elsewhere, accept).await.unwrap(),
            Err("no CA".to_owned())
        );
    }
    assert_eq!(issued_count(&fast).await, 0);
    assert!(
        fast.find_certificate(1, &format!("{:032x}", 10))
            .await
            .unwrap()
            .is_none()
    );

    fast.write_issued(write(1), accept).await.unwrap().unwrap();
    let mut same_serial = write(2);
    same_serial.record.serial_no = "1".into();
    assert!(matches!(
        fast.write_issued(same_serial, accept).await,
        Err(StoreError::Conflict("serial"))
    ));
    let mut custom = write(3);
    custom.record.custom_identifier = Some("mine".into());
    fast.write_issued(custom, accept).await.unwrap().unwrap();
    let mut custom_again = write(4);
    custom_again.record.custom_identifier = Some("mine".into());
    assert!(matches!(
        fast.write_issued(custom_again, accept).await,
        Err(StoreError::Conflict("custom identifier"))
    ));
    // quota 3: the two refused above gave theirs back; a third fills it, the next is refused
    assert_eq!(issued_count(&fast).await, 2);
    fast.write_issued(write(6), accept).await.unwrap().unwrap();
    assert!(matches!(
        fast.write_issued(write(5), accept).await,
        Err(StoreError::Conflict("quota"))
    ));
    for n in [2, 4, 5] {
        assert!(fast.find_certificate(1, &format!("{n:032x}")).await.unwrap().is_none());
    }
    assert_eq!(issued_count(&fast).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_issuance_is_rolled_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    with_ca(&fast, 1_000).await;
    let writers: Vec<_> = (0..200)
        .map(|i| {
            let store = fast.clone();
            tokio::spawn(async move {
                let mut w = write(i);
                w.idempotency = Some(("A", format!("t{}", i / 2 * 2))); // pairs share a token
                store.write_issued(w, accept).await
            })
        })
        .collect();
    let mut stored = 0;
    let mut duplicate = 0;
    for h in writers {
        match h.await.unwrap() {
            Ok(Ok(())) => stored += 1,
            Err(StoreError::Conflict("idempotency token")) => duplicate += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((stored, duplicate), (100, 100));
    assert_eq!(
        issued_count(&fast).await,
        100,
        "a refused issuance gives its quota back"
    );
    let mut present = 0;
    for i in 0..200 {
        present += fast.find_certificate(1, &format!("{i:032x}")).await.unwrap().is_some() as i64;
    }
    assert_eq!(present, 100);
    // batches with a conflict are replayed with savepoints: the search index holds exactly
    // the certificates that stayed
    assert_eq!(keyword_total(&fast, ".example").await, 100);
}

pub(crate) async fn keyword_total(store: &Store, keyword: &str) -> i64 {
    let q = CertQuery {
        keyword: Some(keyword.into()),
        ..Default::default()
    };
    let window = Window::Offset(Page { offset: 0, limit: 1 });
    store.search_certificates(1, &q, window).await.unwrap().total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuances_without_conflicts_are_all_stored_and_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    with_ca(&fast, 250).await;
    // more writers than the quota: the last ones are refused inside batches that go on
    let writers: Vec<_> = (0..300)
        .map(|i| {
            let store = fast.clone();
            tokio::spawn(async move {
                let mut w = write(i);
                w.tags = vec![("n".into(), i.to_string())];
                store.write_issued(w, accept).await
            })
        })
        .collect();
    let (mut stored, mut no_quota) = (0, 0);
    for h in writers {
        match h.await.unwrap() {
            Ok(Ok(())) => stored += 1,
            Err(StoreError::Conflict("quota")) => no_quota += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((stored, no_quota), (250, 50));
    assert_eq!(issued_count(&fast).await, 250);
    assert_eq!(keyword_total(&fast, ".example").await, 250);
    for i in 0..300 {
        let id = format!("{i:032x}");
        if fast.find_certificate(1, &id).await.unwrap().is_some() {
            assert_eq!(
                fast.tags_of(1, "CERT", &id).await.unwrap(),
                vec![("n".into(), i.to_string())]
            );
        } else {
            assert!(fast.tags_of(1, "CERT", &id).await.unwrap().is_empty());
        }
    }
}
