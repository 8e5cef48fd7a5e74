//! The direct readers must return exactly what the `Any` path returns, row for row.

use crate::search::tests::{cert, sqlite_test_store as test_store};
use crate::*;

fn without_fast(s: &Store) -> Store {
    Store {
        fast: None,
        ..s.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_reads_match_the_any_path() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    assert!(fast.fast.is_some());
    let slow = without_fast(&fast);

    // every column set, nullable ones to a value in one row and NULL in the other
    let mut full = cert(1, 7, "full.example", "full.example,www.full.example");
    full.custom_identifier = Some("custom-7".into());
    full.organization = Some("Org".into());
    full.organization_unit = Some("Unit".into());
    full.country = Some("CN".into());
    full.province = Some("Zhejiang".into());
    full.city = Some("Hangzhou".into());
    full.algorithm = "ECC".into();
    full.key_algorithm = "ECC_256".into();
    full.key_size = 256;
    full.days = 30;
    full.resource_group_id = Some("rg-1".into());
    full.cert_der = vec![1, 2, 3, 0, 255];
    full.chain_pem = "-----BEGIN CERTIFICATE-----\n".into();
    let bare = cert(1, 8, "bare.example", "");
    let mut tx = fast.begin().await.unwrap();
    tx.insert_certificate(&full, Some(b"key")).await.unwrap();
    tx.insert_certificate(&bare, None).await.unwrap();
    tx.add_tags(
        1,
        "CERT",
        &full.identifier,
        &[("b".into(), "2".into()), ("a".into(), "1".into())],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    for id in [&full.identifier, &bare.identifier] {
        let a = fast.find_certificate(1, id).await.unwrap().expect("found directly");
        let b = slow.find_certificate(1, id).await.unwrap().expect("found through Any");
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(a.id > 0);
        // the narrow state read agrees with the whole row, on both paths
        let state = fast.certificate_state(1, CertName::Identifier(id)).await.unwrap();
        assert_eq!(
            state,
            slow.certificate_state(1, CertName::Identifier(id)).await.unwrap()
        );
        let state = state.expect("state found");
        assert_eq!(
            (
                &state.identifier,
                &state.status,
                state.warehouse_id,
                state.not_after,
                state.revoked_at
            ),
            (&a.identifier, &a.status, a.warehouse_id, a.not_after, a.revoked_at)
        );
        // scoped by account: the other tenant sees nothing
        assert!(fast.find_certificate(2, id).await.unwrap().is_none());
        assert!(
            fast.certificate_state(2, CertName::Identifier(id))
                .await
                .unwrap()
                .is_none()
        );
    }
    let by_custom = fast.find_certificate_by_custom_identifier(1, "custom-7").await.unwrap();
    assert_eq!(by_custom.map(|c| c.identifier), Some(full.identifier.clone()));
    for store in [&fast, &slow] {
        let state = store
            .certificate_state(1, CertName::CustomIdentifier("custom-7"))
            .await
            .unwrap();
        assert_eq!(state.map(|c| c.identifier), Some(full.identifier.clone()));
        assert!(
            store
                .certificate_state(2, CertName::CustomIdentifier("custom-7"))
                .await
                .unwrap()
                .is_none()
        );
    }
    let fast_tags = fast.tags_of(1, "CERT", &full.identifier).await.unwrap();
    assert_eq!(fast_tags, slow.tags_of(1, "CERT", &full.identifier).await.unwrap());
    assert_eq!(fast_tags, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
    assert!(fast.tags_of(2, "CERT", &full.identifier).await.unwrap().is_empty());

    // a list's rows are the list's part of the whole rows, on both paths
    let listed_full = crate::CertListRow::from(fast.find_certificate(1, &full.identifier).await.unwrap().unwrap());
    let window = Window::Keyset {
        before_id: None,
        limit: 10,
    };
    for store in [&fast, &slow] {
        let page = store
            .search_certificates(1, &crate::search::tests::kw("full.example"), window)
            .await
            .unwrap();
        assert_eq!(page.rows, vec![listed_full.clone()]);
        let all = store
            .search_certificates(1, &CertQuery::default(), window)
            .await
            .unwrap();
        assert_eq!(all.rows.len(), 2);
        assert!(all.rows[0].id > all.rows[1].id, "newest first");
    }

    // a committed change is visible to the next direct read
    let mut tx = fast.begin().await.unwrap();
    tx.delete_certificate(1, &bare.identifier, 99).await.unwrap();
    tx.commit().await.unwrap();
    assert!(fast.find_certificate(1, &bare.identifier).await.unwrap().is_none());
    for store in [&fast, &slow] {
        let deleted = store.certificate_state(1, CertName::Identifier(&bare.identifier)).await;
        assert!(deleted.unwrap().is_none(), "a deleted certificate has no state");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_ca_reads_match_the_any_path() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    let slow = without_fast(&fast);
    let ca = CaRecord {
        account_id: 1,
        identifier: "c".repeat(32),
        parent_identifier: Some("p".repeat(32)),
        issuer_identifier: "p".repeat(32),
        certificate_type: "SUB_ROOT".into(),
        issuer_type: "local".into(),
        status: "ISSUE".into(),
        alias: Some("alias".into()),
        common_name: "Sub".into(),
        organization: Some("Org".into()),
        sm2_id: None,
        path_len: Some(0),
        cert_max_time_days: Some(90),
        enable_crl: true,
        crl_day: 7,
        cert_der: vec![9, 8, 7],
        chain_pem: "chain".into(),
        cert_total_count: 10,
        cert_issued_count: 3,
        status_changed_at: Some(5),
        created_at: 4,
        ..Default::default()
    };
    let mut tx = fast.begin().await.unwrap();
    tx.insert_ca(NewCa {
        record: &ca,
        key_pkcs8_der: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let a = fast.find_ca(1, &ca.identifier).await.unwrap().expect("found directly");
    let b = slow
        .find_ca(1, &ca.identifier)
        .await
        .unwrap()
        .expect("found through Any");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(a.cert_issued_count, 3);
    assert!(fast.find_ca(2, &ca.identifier).await.unwrap().is_none());

    // the two reads of every CRL fetch
    let version = fast.revocation_version(&ca.identifier).await.unwrap();
    assert_eq!(version, slow.revocation_version(&ca.identifier).await.unwrap());
    assert!(matches!(
        fast.revocation_version("absent").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        slow.revocation_version("absent").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(fast.crl_meta(&ca.identifier).await.unwrap(), None);
    assert_eq!(slow.crl_meta(&ca.identifier).await.unwrap(), None);
    let meta = StoredCrlMeta {
        crl_number: 4,
        this_update: 10,
        next_update: 20,
        refresh_at: 15,
        version: Some(version),
        signed: true,
    };
    let mut tx = fast.begin().await.unwrap();
    tx.save_crl(&ca.identifier, &meta, &[0x30, 0]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(fast.crl_meta(&ca.identifier).await.unwrap(), Some(meta.clone()));
    assert_eq!(slow.crl_meta(&ca.identifier).await.unwrap(), Some(meta));
}

/// Six certificates of CA `ca1`, five of them revoked (every other one for keyCompromise) at
/// times out of insertion order, so that "since" reads must sort them oldest first.
async fn six_certificates_five_revoked(store: &Store, prefix: &str) {
    let rows: Vec<_> = (1..=6)
        .map(|n| cert(1, n, &format!("{prefix}{n}.example"), ""))
        .collect();
    crate::search::tests::insert(store, &rows).await;
    let mut tx = store.begin().await.unwrap();
    for (n, row) in rows.iter().enumerate().skip(1) {
        let reason = (n % 2 == 0).then_some("keyCompromise");
        let at = 1_000 + ((n as i64 * 7) % 5) * 100;
        assert!(tx.revoke_certificate(1, &row.identifier, reason, at).await.unwrap());
    }
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_revocation_reads_match_the_any_path() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    let slow = without_fast(&fast);
    six_certificates_five_revoked(&fast, "r").await;
    let mut all = fast.revoked_by_issuer("ca1").await.unwrap();
    let mut all_slow = slow.revoked_by_issuer("ca1").await.unwrap();
    all.sort_by(|a, b| a.serial_hex.cmp(&b.serial_hex));
    all_slow.sort_by(|a, b| a.serial_hex.cmp(&b.serial_hex));
    assert_eq!(all, all_slow);
    assert_eq!(all.len(), 5, "the unrevoked row is not listed");
    assert_eq!(all[1].reason.as_deref(), Some("keyCompromise"));
    let since = fast.revoked_since("ca1", 1_100).await.unwrap();
    assert_eq!(since, slow.revoked_since("ca1", 1_100).await.unwrap());
    assert_eq!(since.len(), 3);
    assert!(since.windows(2).all(|w| w[0].revoked_at <= w[1].revoked_at));
    assert!(since.iter().all(|r| r.revoked_at > 1_100));
    assert!(fast.revoked_since("other-ca", 0).await.unwrap().is_empty());
}

/// `fold_revoked` lends the same rows, in the same order, as the collecting reads, on both
/// paths; `revoked_latest` is their latest time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folded_revocation_reads_match_the_collected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let fast = test_store(&dir).await;
    let slow = without_fast(&fast);
    assert_eq!(fast.revoked_latest("ca1").await.unwrap(), 0);
    six_certificates_five_revoked(&fast, "f").await;
    let owned = |r: crate::RevokedRow<'_>| crate::RevokedSerial {
        serial_hex: r.serial_hex.to_owned(),
        revoked_at: r.revoked_at,
        reason: r.reason.map(str::to_owned),
    };
    for store in [&fast, &slow] {
        let all = store
            .fold_revoked("ca1", None, Vec::new(), move |v, r| v.push(owned(r)))
            .await
            .unwrap();
        assert_eq!(all, store.revoked_by_issuer("ca1").await.unwrap());
        assert_eq!(all.len(), 5);
        let since = store
            .fold_revoked("ca1", Some(1_100), Vec::new(), move |v, r| v.push(owned(r)))
            .await
            .unwrap();
        assert_eq!(since, store.revoked_since("ca1", 1_100).await.unwrap());
        assert_eq!(since.len(), 3);
        let latest = all.iter().map(|r| r.revoked_at).max().unwrap();
        assert_eq!(store.revoked_latest("ca1").await.unwrap(), latest);
        let n = store.fold_revoked("other-ca", None, 0, |n, _| *n += 1).await.unwrap();
        assert_eq!(n, 0);
    }
}
