//! CRL persistence, the refresher's claims and OCSP issuer lookup against a real
//! (temporary) store.

use crate::ca::{CreateRootRequest, CreateSubRequest, SubjectInput};
use crate::{Caller, Service, ServiceConfig};
use opencas_pki::{KeyAlgorithm, parse_crl};
use opencas_store::sealing::MasterKey;
use opencas_store::{NewAccessKey, Store, StoredCrlMeta};

async fn store(dir: &tempfile::TempDir) -> Store {
    let master = MasterKey::from_hex(&"66".repeat(32)).unwrap();
    Store::open_sqlite(&dir.path().join("db.sqlite"), &master)
        .await
        .unwrap()
}

fn subject(cn: &str) -> SubjectInput {
    SubjectInput {
        common_name: cn.into(),
        organization: "Org".into(),
        organization_unit: "Unit".into(),
        locality: "Hangzhou".into(),
        state: "Zhejiang".into(),
        country_code: Some("CN".into()),
    }
}

/// An account with a root and a CRL-enabled sub CA: (service, root id, sub id).
async fn hierarchy(dir: &tempfile::TempDir, config: ServiceConfig) -> (Service, String, String) {
    let store = store(dir).await;
    let key = NewAccessKey {
        access_key_id: "a",
        secret: "s",
    };
    store.insert_account(1, "a", "a", key, 0).await.unwrap();
    let s = Service::new(store, config);
    let caller = Caller { account_id: 1 };
    let root = CreateRootRequest {
        subject: subject("Root"),
        algorithm: KeyAlgorithm::EcP256,
        years: 10,
        client_token: None,
        resource_group_id: None,
        tags: vec![],
    };
    let root = s.create_root_ca(caller, root).await.unwrap().identifier;
    let sub = CreateSubRequest {
        parent_identifier: Some(root.clone()),
        subject: subject("Sub"),
        algorithm: KeyAlgorithm::EcP256,
        years: 5,
        path_len: 0,
        extended_key_usages: vec![],
        cert_max_time_days: None,
        certificate_policies: Vec::new(),
        enable_crl: true,
        crl_day: 7,
        client_token: None,
        resource_group_id: None,
        tags: vec![],
    };
    let sub = s.create_sub_ca(caller, sub).await.unwrap().identifier;
    (s, root, sub)
}

#[tokio::test]
async fn refresher_signs_once_and_a_second_process_serves_the_same_crl() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _root, sub) = hierarchy(&dir, ServiceConfig::default()).await;
    // both CAs publish CRLs (a root always does) and neither was signed: due at once
    assert_eq!(s.refresh_due_crls().await.unwrap(), 2);
    assert_eq!(
        s.refresh_due_crls().await.unwrap(),
        0,
        "signed again before its schedule"
    );
    let meta = s.store.crl_meta(&sub).await.unwrap().unwrap();
    assert!(meta.signed);
    assert_eq!(meta.next_update - meta.this_update, 7 * 86_400);
    assert_eq!(meta.refresh_at - meta.this_update, 7 * 86_400 / 2);
    let served = s.public_crl(&sub).await.unwrap();
    assert_eq!(parse_crl(&served).unwrap().crl_number(), Some(meta.crl_number as u64));

    // another process on the same store (a restart, a replica) serves the stored bytes
    let other = Service::new(s.store.clone(), ServiceConfig::default());
    assert_eq!(other.public_crl(&sub).await.unwrap(), served);
    assert_eq!(other.refresh_due_crls().await.unwrap(), 0);
}

#[tokio::test]
async fn refresh_interval_shortens_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        crl_refresh_interval_secs: Some(30),
        ..Default::default()
    };
    let (s, _, sub) = hierarchy(&dir, config).await;
    s.public_crl(&sub).await.unwrap();
    let meta = s.store.crl_meta(&sub).await.unwrap().unwrap();
    assert_eq!(meta.refresh_at - meta.this_update, 30);
    assert_eq!(meta.next_update - meta.this_update, 7 * 86_400);
    assert_eq!(
        crate::revocation::crl_refresh_tick(s.config()),
        std::time::Duration::from_secs(15)
    );
    assert_eq!(
        crate::revocation::crl_refresh_tick(&ServiceConfig::default()),
        std::time::Duration::from_secs(60)
    );
}

#[tokio::test]
async fn claims_are_exclusive_until_the_lease_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, sub) = hierarchy(&dir, ServiceConfig::default()).await;
    let claim = |now, until| {
        let st = s.store.clone();
        let sub = sub.clone();
        async move {
            let mut tx = st.begin().await.unwrap();
            let won = tx.claim_crl_refresh(&sub, now, until).await.unwrap();
            tx.commit().await.unwrap();
            won
        }
    };
    assert!(claim(1_000, 1_300).await, "first claim of a never-signed CRL");
    assert!(!claim(1_000, 1_300).await, "second worker at the same time");
    assert!(!claim(1_299, 1_599).await, "inside the lease");
    assert!(claim(1_300, 1_600).await, "lease ran out: another worker takes over");
    // the placeholder is not served as a CRL
    let meta = s.store.crl_meta(&sub).await.unwrap().unwrap();
    assert!(!meta.signed);
    assert!(s.store.crl_der(&sub, meta.crl_number).await.unwrap().is_none());
    assert!(!s.public_crl(&sub).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lower_crl_number_never_replaces_a_higher_one() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, sub) = hierarchy(&dir, ServiceConfig::default()).await;
    let meta = |n| StoredCrlMeta {
        crl_number: n,
        this_update: 10,
        next_update: 20,
        refresh_at: 15,
        version: Some(Default::default()),
        signed: true,
    };
    for (n, der) in [(5, b"five".as_slice()), (4, b"four"), (6, b"six")] {
        let mut tx = s.store.begin().await.unwrap();
        tx.save_crl(&sub, &meta(n), der).await.unwrap();
        tx.commit().await.unwrap();
        if n == 4 {
            assert_eq!(s.store.crl_meta(&sub).await.unwrap().unwrap().crl_number, 5);
        }
    }
    assert_eq!(s.store.crl_der(&sub, 6).await.unwrap().unwrap(), b"six");
    assert!(s.store.crl_der(&sub, 5).await.unwrap().is_none());
}

#[test]
fn revocation_version_round_trips() {
    let v = opencas_store::RevocationVersion {
        seq: 300,
        revoked_subs: 2,
        sub_latest: 1_767_225_600_123,
    };
    assert_eq!(v.to_string().parse(), Ok(v));
    for bad in ["", "1-2", "1-2-3-4", "x-1-2"] {
        assert!(bad.parse::<opencas_store::RevocationVersion>().is_err(), "{bad:?}");
    }
}
