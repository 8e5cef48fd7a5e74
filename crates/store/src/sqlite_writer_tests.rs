//! The one SQLite writer: audit records and issuances in shared batches keep the chain, the
//! arrival order and each caller's own outcome.

use super::Work;
use crate::audit::AuditEntry;
use crate::fastwrite::tests::{CA, issued_count, keyword_total, with_ca, write};
use crate::fastwrite::{Job, Outcome};
use crate::search::tests::sqlite_test_store as test_store;
use crate::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::oneshot;

fn record(kind: &str, n: i64) -> AuditEntry {
    let outcome = kind != "call";
    AuditEntry {
        at_ms: 1_000 + n,
        kind: kind.into(),
        account_id: Some(1),
        access_key_id: Some("a".into()),
        action: "CreateServerCertificate".into(),
        version: "2020-06-30".into(),
        request_id: format!("R{n}"),
        source: "127.0.0.1:1".into(),
        params: "{}".into(),
        resources: "{}".into(),
        status: outcome.then_some(200),
        code: outcome.then(|| "OK".to_owned()),
    }
}

enum Item {
    Record(&'static str, i64),
    /// A record whose caller is gone before the batch runs.
    Abandoned(&'static str, i64),
    Issue(Box<IssuedWrite>),
    /// An issuance whose caller is gone before the batch runs.
    IssueAbandoned(Box<IssuedWrite>),
}

enum Answer {
    Record(oneshot::Receiver<std::result::Result<i64, String>>),
    Gone,
    Issued(oneshot::Receiver<Outcome>),
}

/// Queues `items` in order while the store's writer lock is held, so that the thread, blocked
/// on the lock with the first item, finds the rest queued together (one mixed batch, though
/// nothing below depends on how the queue is cut).
async fn queued_together(store: &Store, items: Vec<Item>) -> std::vec::IntoIter<Answer> {
    let queue = store.issued.clone().unwrap();
    let held = store.writer.lock().await;
    let (first, _first_done) = oneshot::channel();
    assert!(queue.send(Work::Audit(record("auth", 0), first)));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let answers = items
        .into_iter()
        .map(|item| match item {
            Item::Record(kind, n) | Item::Abandoned(kind, n) => {
                let (waiter, answered) = oneshot::channel();
                assert!(queue.send(Work::Audit(record(kind, n), waiter)));
                match item {
                    Item::Abandoned(..) => Answer::Gone,
                    _ => Answer::Record(answered),
                }
            }
            Item::Issue(w) => {
                let (job, answered): (Job, _) = Job::accepting(*w);
                assert!(queue.send(Work::Issue(job)));
                Answer::Issued(answered)
            }
            Item::IssueAbandoned(w) => {
                let (job, _gone): (Job, _) = Job::accepting(*w);
                assert!(queue.send(Work::Issue(job)));
                Answer::Gone
            }
        })
        .collect::<Vec<_>>();
    drop(held);
    answers.into_iter()
}

async fn seq(a: Answer) -> std::result::Result<i64, String> {
    match a {
        Answer::Record(r) => r.await.unwrap(),
        _ => panic!("not a record"),
    }
}

async fn issued(a: Answer) -> std::result::Result<(), StoreError> {
    match a {
        Answer::Issued(r) => r.await.unwrap().map(|refused| refused.expect("the check accepts")),
        _ => panic!("not an issuance"),
    }
}

async fn request_ids(store: &Store) -> Vec<String> {
    let all = store.audit_list(&AuditFilter::default()).await.unwrap();
    all.into_iter().map(|r| r.entry.request_id).collect()
}

async fn chain_length(store: &Store) -> i64 {
    match store.audit_verify().await.unwrap() {
        ChainCheck::Intact { records, .. } => records,
        broken => panic!("{broken:?}"),
    }
}

fn refuse(dir: &tempfile::TempDir, kind: &str) {
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER refuse_{kind} BEFORE INSERT ON audit_log WHEN NEW.kind = '{kind}' \
         BEGIN SELECT RAISE(ABORT, 'refused'); END;"
    ))
    .unwrap();
}

/// A store with a CA (quota 10) whose audit log refuses records of `kind`.
async fn refusing(kind: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    with_ca(&store, 10).await;
    refuse(&dir, kind);
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_order_is_kept_across_kinds_and_the_chain_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    with_ca(&store, 10).await;
    use Item::{Issue, Record};
    let items = vec![
        Record("result", 1),
        Record("call", 2),
        Issue(Box::new(write(1))),
        Record("auth", 3),
        Record("call", 4),
        Record("result", 5),
        Issue(Box::new(write(2))),
        Record("throttled", 6),
        Record("use", 7),
        Record("call", 8),
        Record("result", 9),
        Issue(Box::new(write(3))),
    ];
    let mut expected_seq = 2; // the first record queued is R0
    for answer in queued_together(&store, items).await {
        match answer {
            Answer::Record(_) => {
                assert_eq!(seq(answer).await, Ok(expected_seq));
                expected_seq += 1;
            }
            _ => issued(answer).await.unwrap(),
        }
    }
    let ids: Vec<String> = (0..10).map(|n| format!("R{n}")).collect();
    assert_eq!(request_ids(&store).await, ids);
    assert_eq!(chain_length(&store).await, 10);
    assert_eq!(issued_count(&store).await, 3);
    assert_eq!(keyword_total(&store, ".example").await, 3);

    // and again on top of it, the chain continuing from the head
    let more = queued_together(
        &store,
        vec![Record("call", 10), Issue(Box::new(write(4))), Record("result", 11)],
    )
    .await;
    for answer in more {
        if let Answer::Issued(_) = answer {
            issued(answer).await.unwrap();
        } else {
            assert!(seq(answer).await.unwrap() > 10);
        }
    }
    assert_eq!(chain_length(&store).await, 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_issuance_fails_alone_in_a_mixed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    with_ca(&store, 10).await;
    let mut same_serial = write(2);
    same_serial.record.serial_no = "1".into();
    use Item::{Issue, Record};
    let mut answers = queued_together(
        &store,
        vec![
            Record("call", 1),
            Issue(Box::new(write(1))),
            Record("result", 2),
            Issue(Box::new(same_serial)),
            Record("auth", 3),
            Issue(Box::new(write(3))),
            Record("result", 4),
        ],
    )
    .await;
    let mut next = || answers.next().unwrap();
    assert_eq!(seq(next()).await, Ok(2));
    issued(next()).await.unwrap();
    assert_eq!(seq(next()).await, Ok(3));
    assert!(matches!(issued(next()).await, Err(StoreError::Conflict("serial"))));
    assert_eq!(seq(next()).await, Ok(4));
    issued(next()).await.unwrap();
    assert_eq!(seq(next()).await, Ok(5));
    assert_eq!(chain_length(&store).await, 5);
    assert_eq!(issued_count(&store).await, 2, "the failed write gave its quota back");
    assert!(
        store
            .find_certificate(1, &format!("{:032x}", 2))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(keyword_total(&store, ".example").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_record_fails_its_caller_and_nothing_else() {
    let (_dir, store) = refusing("call").await;
    use Item::{Issue, Record};
    let mut answers = queued_together(
        &store,
        vec![
            Record("call", 1),
            Issue(Box::new(write(1))),
            Record("result", 2),
            Record("auth", 3),
        ],
    )
    .await;
    let mut next = || answers.next().unwrap();
    assert!(seq(next()).await.unwrap_err().contains("refused"));
    issued(next()).await.unwrap();
    let result = seq(next()).await.unwrap();
    assert_eq!(seq(next()).await, Ok(result + 1));
    // R0 shares the failed transaction only if the thread took it with the others
    let ids = request_ids(&store).await;
    assert!(ids == ["R0", "R2", "R3"] || ids == ["R2", "R3"], "{ids:?}");
    assert_eq!(chain_length(&store).await, ids.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_result_record_fails_its_caller_and_not_the_issuances() {
    let (_dir, store) = refusing("result").await;
    use Item::{Issue, Record};
    let mut answers = queued_together(
        &store,
        vec![
            Record("call", 1),
            Issue(Box::new(write(1))),
            Record("result", 2),
            Issue(Box::new(write(2))),
        ],
    )
    .await;
    let mut next = || answers.next().unwrap();
    assert_eq!(seq(next()).await, Ok(2));
    issued(next()).await.unwrap();
    assert!(seq(next()).await.unwrap_err().contains("refused"));
    issued(next()).await.unwrap();
    assert_eq!(request_ids(&store).await, ["R0", "R1"]);
    assert_eq!(chain_length(&store).await, 2);
    assert_eq!(issued_count(&store).await, 2);
}

/// Key uses write records only: their transaction has no savepoint, so one refused record
/// fails every record of it, and none is left half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_record_in_a_batch_of_records_only_fails_them_all_and_keeps_the_chain() {
    let (_dir, store) = refusing("throttled").await;
    use Item::Record;
    let answers = queued_together(&store, vec![Record("use", 1), Record("throttled", 2), Record("use", 3)]).await;
    for answer in answers {
        assert!(seq(answer).await.unwrap_err().contains("refused"));
    }
    // R0 is refused with them only if the thread took it with the others
    let ids = request_ids(&store).await;
    assert!(ids == ["R0"] || ids.is_empty(), "{ids:?}");
    let (waiter, answered) = oneshot::channel();
    assert!(
        store
            .issued
            .clone()
            .unwrap()
            .send(Work::Audit(record("use", 4), waiter))
    );
    assert_eq!(answered.await.unwrap(), Ok(ids.len() as i64 + 1));
    assert_eq!(chain_length(&store).await, ids.len() as i64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_outcomes_are_dropped_and_the_rest_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    use Item::{Abandoned, Record};
    let answers = queued_together(
        &store,
        vec![
            Abandoned("result", 1),
            Record("call", 2),
            // a call record stays even when its caller is gone: it may have taken effect
            Abandoned("call", 3),
            Abandoned("use", 4),
            Record("auth", 5),
            Abandoned("result", 6),
        ],
    )
    .await;
    let mut kept = Vec::new();
    for answer in answers {
        if let Answer::Record(_) = answer {
            kept.push(seq(answer).await.unwrap());
        }
    }
    assert_eq!(kept, [2, 4]);
    assert_eq!(request_ids(&store).await, ["R0", "R2", "R3", "R5"]);
    assert_eq!(chain_length(&store).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_records_before_a_call_are_answered_when_nothing_else_writes() {
    // The outcome records queued before the last call commit with it, without an fsync of
    // their own; here the durable transaction after them writes nothing (its one issuance is
    // refused), and they are still answered (the writer syncs the log itself).
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    let mut elsewhere = write(1);
    elsewhere.ca_identifier = "d".repeat(32);
    use Item::{Issue, Record};
    let mut answers = queued_together(
        &store,
        vec![Record("result", 1), Record("call", 2), Issue(Box::new(elsewhere))],
    )
    .await;
    assert_eq!(seq(answers.next().unwrap()).await, Ok(2));
    assert_eq!(seq(answers.next().unwrap()).await, Ok(3));
    match answers.next().unwrap() {
        Answer::Issued(r) => assert!(matches!(r.await.unwrap(), Ok(Err(_)))),
        _ => unreachable!(),
    }
    assert_eq!(chain_length(&store).await, 3);
    assert!(store.find_ca(1, CA).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_stores_every_row_with_its_own_values() {
    // the certificate rows of a batch go in with few multi-row INSERTs (here 64 + 32 + 4 + 1)
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    with_ca(&store, 1_000).await;
    let items = (1..=101).map(|n| Item::Issue(Box::new(write(n)))).collect();
    for answer in queued_together(&store, items).await {
        issued(answer).await.unwrap();
    }
    for n in 1..=101 {
        let c = store.find_certificate(1, &format!("{n:032x}")).await.unwrap().unwrap();
        let expected = (format!("{n:x}"), format!("cert-{n}"), format!("h{n}.example"));
        assert_eq!((c.serial_no, c.name, c.common_name), expected);
        assert_eq!(keyword_total(&store, &format!("h{n}.example")).await, 1, "h{n}");
    }
    assert_eq!(keyword_total(&store, ".example").await, 101);
    assert_eq!(issued_count(&store).await, 101);
}

/// `w` carrying the `call` and `result` records of request `R{n}`, and the flag the writer sets.
fn with_records(mut w: IssuedWrite, n: i64) -> (Box<IssuedWrite>, Arc<AtomicBool>) {
    let written = Arc::new(AtomicBool::new(false));
    w.records = Some(EffectRecords {
        call: record("call", n),
        result: record("result", n),
        written: Arc::clone(&written),
    });
    (Box::new(w), written)
}

fn was_written(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Acquire)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuance_writes_its_call_records_only_with_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = test_store(&dir).await;
    with_ca(&store, 10).await;
    let (first, first_written) = with_records(write(1), 5);
    let mut same_serial = write(2);
    same_serial.record.serial_no = "1".into();
    let (refused, refused_written) = with_records(same_serial, 6);
    let (gone, gone_written) = with_records(write(3), 7);
    use Item::{Issue, IssueAbandoned, Record};
    let mut answers = queued_together(
        &store,
        vec![
            Record("call", 1),
            Issue(first),
            Issue(refused),
            IssueAbandoned(gone),
            Record("result", 2),
        ],
    )
    .await;
    let mut next = || answers.next().unwrap();
    assert_eq!(seq(next()).await, Ok(2));
    issued(next()).await.unwrap();
    assert!(matches!(issued(next()).await, Err(StoreError::Conflict("serial"))));
    assert!(matches!(next(), Answer::Gone));
    seq(next()).await.unwrap();
    assert!(was_written(&first_written), "set before the answer");
    assert!(!was_written(&refused_written) && !was_written(&gone_written));
    // the refused and the abandoned issuance left no record and no certificate
    assert_eq!(request_ids(&store).await, ["R0", "R1", "R5", "R5", "R2"]);
    let kinds: Vec<String> = store
        .audit_list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind)
        .collect();
    assert_eq!(kinds, ["auth", "call", "call", "result", "result"]);
    assert_eq!(chain_length(&store).await, 5);
    assert_eq!(issued_count(&store).await, 1);
    assert!(
        store
            .find_certificate(1, &format!("{:032x}", 3))
            .await
            .unwrap()
            .is_none()
    );
}

/// An effect must not outlive its records: when they cannot be written, the transaction that
/// would have written the certificate (with the rest of its batch) is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuance_whose_records_are_refused_is_not_written() {
    let (_dir, store) = refusing("result").await;
    let (carrying, written) = with_records(write(1), 5);
    use Item::Issue;
    let answers = queued_together(&store, vec![Issue(carrying), Issue(Box::new(write(2)))]).await;
    for answer in answers {
        assert!(matches!(issued(answer).await, Err(StoreError::Batch(_))));
    }
    assert!(!was_written(&written));
    assert_eq!(issued_count(&store).await, 0);
    let ids = request_ids(&store).await;
    assert!(ids == ["R0"] || ids.is_empty(), "{ids:?}");
    // the writer goes on: the same issuance without records is written
    let again = queued_together(&store, vec![Issue(Box::new(write(1)))]).await;
    for answer in again {
        issued(answer).await.unwrap();
    }
    assert_eq!(issued_count(&store).await, 1);
}
