//! A kept issuing CA is used until a CA's settings change, never after; its counters may lag.

use crate::fastwrite::tests::{CA, issued_count, with_ca, write};
use crate::search::tests::sqlite_test_store as test_store;
use crate::*;
use std::sync::Arc;

async fn issuing(store: &Store) -> Arc<CaRecord> {
    store.find_issuing_ca(1, CA).await.unwrap().expect("the CA exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_ca_is_read_again_after_its_settings_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    assert!(
        store.find_issuing_ca(1, CA).await.unwrap().is_none(),
        "nothing kept for a missing CA"
    );
    with_ca(&store, 10).await;
    let first = issuing(&store).await;
    assert_eq!((first.identifier.as_str(), first.status.as_str()), (CA, "ISSUE"));
    // a second read hands out the kept record (tried a few times: another test of the process
    // may count a change in between, and then the row is read again)
    let mut kept = false;
    for _ in 0..20 {
        let (a, b) = (issuing(&store).await, issuing(&store).await);
        kept |= Arc::ptr_eq(&a, &b);
    }
    assert!(kept);

    // an issuance moves only a counter: the kept record may lag, the write does not
    let written = store.write_issued(write(1), |_| Ok::<(), ()>(())).await.unwrap();
    assert_eq!(written, Ok(()));
    assert_eq!(issued_count(&store).await, 1);
    assert!(issuing(&store).await.cert_issued_count <= 1);

    let mut tx = store.begin().await.unwrap();
    tx.set_ca_status(1, CA, "REVOKE", 5).await.unwrap();
    tx.commit().await.unwrap();
    let revoked = issuing(&store).await;
    assert_eq!((revoked.status.as_str(), revoked.cert_issued_count), ("REVOKE", 1));

    let mut tx = store.begin().await.unwrap();
    tx.set_ca_total_count(1, CA, 20).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(issuing(&store).await.cert_total_count, 20);

    let mut tx = store.begin().await.unwrap();
    tx.update_ca_meta(1, CA, Some("renamed"), None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(issuing(&store).await.alias.as_deref(), Some("renamed"));
}

#[test]
fn a_record_read_before_a_change_is_never_used_after_it() {
    let cache = super::CaCache::default();
    let ca = Arc::new(CaRecord {
        account_id: 7,
        identifier: "x".into(),
        ..Default::default()
    });
    // the count is read, a change commits and is counted, then the (older) row is kept
    let read_at = super::changes();
    super::changed();
    cache.keep(read_at, Arc::clone(&ca));
    assert!(cache.get(7, "x").is_none());
    cache.keep(super::changes(), Arc::clone(&ca));
    let now = cache.get(7, "x");
    // a change counted by another test in between also refuses it, never the reverse
    assert!(now.is_none_or(|kept| Arc::ptr_eq(&kept, &ca)));
    assert!(cache.get(8, "x").is_none() && cache.get(7, "y").is_none());
}
