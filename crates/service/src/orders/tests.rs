//! The order worker against a real (temporary) store, with a fake domain validator and a
//! fake ACME CA: the validation state machine, the deadline, crash recovery between ACME
//! steps, lease exclusivity of jobs, and the package counters.

use super::*;
use crate::{Caller, Service, ServiceConfig};
use opencas_pki::{KeyAlgorithm, PrivateKey, San, SubjectFields, build_csr, os_rng, pem};
use opencas_store::sealing::MasterKey;
use opencas_store::{BoxFuture, NewAccessKey, Store, now_millis};
use std::collections::HashMap;
use std::sync::Mutex;

const FREE: &str = "symantec-free-1-free";
const ACME_PRODUCT: &str = "geotrust-dv-1-starter";

/// Per DNS record name: how many more checks fail (retryably) before it passes; `None`
/// never passes. Counts every check.
#[derive(Default)]
struct FakeValidator {
    fails_left: Mutex<HashMap<String, Option<u32>>>,
    checks: Mutex<u32>,
}

impl FakeValidator {
    fn set(&self, name: &str, fails: Option<u32>) {
        self.fails_left.lock().unwrap().insert(name.into(), fails);
    }
    fn checks(&self) -> u32 {
        *self.checks.lock().unwrap()
    }
}

impl DomainValidator for FakeValidator {
    fn check<'a>(&'a self, challenge: &'a DomainChallenge) -> BoxFuture<'a, Result<(), ValidationFailure>> {
        Box::pin(async move {
            *self.checks.lock().unwrap() += 1;
            let name = match challenge {
                DomainChallenge::DnsTxt { record_name, .. } => record_name.clone(),
                DomainChallenge::HttpFile { domain, .. } => domain.clone(),
            };
            let mut map = self.fails_left.lock().unwrap();
            let fail = |why: &str| ValidationFailure {
                retryable: true,
                reason: format!("{why} at {name}"),
            };
            match map.get_mut(&name) {
                Some(None) | None => Err(fail("no TXT record")),
                Some(Some(0)) => Ok(()),
                Some(Some(n)) => {
                    *n -= 1;
                    Err(fail("not yet"))
                }
            }
        })
    }
}

/// An ACME CA in memory. `drop_download` makes the next chain download fail, as a crash
/// between finalize and download would.
#[derive(Default)]
struct FakeAcme {
    chain: Mutex<String>,
    state: Mutex<HashMap<String, &'static str>>,
    finalized: Mutex<u32>,
    drop_download: Mutex<bool>,
}

impl AcmeUpstream for FakeAcme {
    fn new_order<'a>(
        &'a self,
        domains: &'a [String],
        kind: AcmeChallengeKind,
    ) -> BoxFuture<'a, std::result::Result<AcmeNewOrder, String>> {
        Box::pin(async move {
            let url = format!("https://acme.test/order/{}", domains.join("+"));
            self.state.lock().unwrap().insert(url.clone(), "pending");
            let challenges = domains
                .iter()
                .map(|d| {
                    let c = match kind {
                        AcmeChallengeKind::Dns01 => DomainChallenge::DnsTxt {
                            record_name: format!("_acme-challenge.{d}"),
                            value: "acme-digest".into(),
                        },
                        AcmeChallengeKind::Http01 => DomainChallenge::HttpFile {
                            domain: d.clone(),
                            path: "/.well-known/acme-challenge/tok".into(),
                            content: "tok.thumb".into(),
                        },
                    };
                    (d.clone(), c)
                })
                .collect();
            Ok(AcmeNewOrder {
                order_url: url,
                challenges,
            })
        })
    }
    fn ready<'a>(&'a self, url: &'a str) -> BoxFuture<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            self.state.lock().unwrap().insert(url.into(), "ready");
            Ok(())
        })
    }
    fn poll<'a>(&'a self, url: &'a str) -> BoxFuture<'a, std::result::Result<AcmeOrderState, String>> {
        Box::pin(async move {
            Ok(match self.state.lock().unwrap().get(url).copied() {
                Some("ready") => AcmeOrderState::Ready,
                Some("valid") => AcmeOrderState::Valid,
                Some("pending") => AcmeOrderState::Pending,
                other => AcmeOrderState::Invalid(format!("unknown order {other:?}")),
            })
        })
    }
    fn finalize<'a>(&'a self, url: &'a str, csr: &'a [u8]) -> BoxFuture<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            assert!(!csr.is_empty());
            let mut state = self.state.lock().unwrap();
            if state.get(url) != Some(&"ready") {
                return Err("orderNotReady".into());
            }
            state.insert(url.into(), "valid");
            *self.finalized.lock().unwrap() += 1;
            Ok(())
        })
    }
    fn certificate_chain<'a>(&'a self, url: &'a str) -> BoxFuture<'a, std::result::Result<Option<String>, String>> {
        Box::pin(async move {
            if std::mem::take(&mut *self.drop_download.lock().unwrap()) {
                return Err("connection reset".into());
            }
            Ok((self.state.lock().unwrap().get(url) == Some(&"valid")).then(|| self.chain.lock().unwrap().clone()))
        })
    }
}

fn config(deadline_secs: i64) -> ServiceConfig {
    let mut c = ServiceConfig::default();
    c.orders.validation_deadline_secs = deadline_secs;
    c.orders.retry_initial_secs = 1;
    c.orders.retry_max_secs = 1;
    c.orders.issuers.insert(ACME_PRODUCT.into(), "fake".into());
    c
}

async fn store(dir: &tempfile::TempDir) -> Store {
    let master = MasterKey::from_hex(&"66".repeat(32)).unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite"), &master)
        .await
        .unwrap();
    let key = NewAccessKey {
        access_key_id: "a",
        secret: "s",
    };
    store.insert_account(1, "a", "a", key, 0).await.unwrap();
    store
}

fn service(store: &Store, cfg: ServiceConfig, validator: Option<Arc<FakeValidator>>, acme: &Arc<FakeAcme>) -> Service {
    let mut backends = OrderBackends {
        validator: validator.map(|v| v as Arc<dyn DomainValidator>),
        ..Default::default()
    };
    backends
        .acme
        .insert("fake".into(), acme.clone() as Arc<dyn AcmeUpstream>);
    Service::new(store.clone(), cfg).with_order_backends(backends)
}

const ME: Caller = Caller { account_id: 1 };

fn request(code: &str, domain: &str) -> CreateOrderRequest {
    CreateOrderRequest {
        product_code: Some(code.into()),
        domain: Some(domain.into()),
        key: OrderKeySource::Generate,
        validate_type: ValidateType::Dns,
        username: Some("A".into()),
        email: Some("a@example.com".into()),
        phone: Some("1".into()),
        tags: Vec::new(),
    }
}

async fn counts(s: &Service, code: &str) -> (i64, i64, i64) {
    let p = s.describe_package_state(ME, Some(code.into())).await.unwrap();
    (p.total_count, p.used_count, p.issued_count)
}

async fn state(s: &Service, order_id: i64) -> String {
    s.describe_certificate_state(ME, order_id).await.unwrap().kind
}

/// Waits out the (1 s) retry delay, then runs every due job.
async fn next_turn(s: &Service) -> usize {
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    s.run_due_order_jobs("w1", 10).await.unwrap()
}

#[tokio::test]
async fn validation_passes_fails_then_passes_and_issues() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(&dir).await;
    let fake = Arc::new(FakeValidator::default());
    let s = service(&st, config(600), Some(fake.clone()), &Arc::default());
    s.grant_package(1, FREE, 2).await.unwrap();
    let now = s
        .create_certificate_order(ME, request(FREE, "a.example.com"))
        .await
        .unwrap()
        .order_id;
    let later = s
        .create_certificate_order(ME, request(FREE, "b.example.com"))
        .await
        .unwrap()
        .order_id;
    assert_eq!(counts(&s, FREE).await, (2, 2, 0));
    fake.set("_dnsauth.a.example.com", Some(0));
    fake.set("_dnsauth.b.example.com", Some(1));
    assert_eq!(s.run_due_order_jobs("w1", 10).await.unwrap(), 2);
    assert_eq!(state(&s, now).await, "certificate");
    assert_eq!(state(&s, later).await, "domain_verify");
    assert_eq!(counts(&s, FREE).await, (2, 2, 1));
    assert_eq!(next_turn(&s).await, 1);
    let done = s.describe_certificate_state(ME, later).await.unwrap();
    assert_eq!(done.kind, "certificate");
    assert!(done.private_key.is_some());
    assert_eq!(counts(&s, FREE).await, (2, 2, 2));
    // the certificate joined the account's store
    let cert = pem::parse_blocks(&done.certificate.unwrap()).unwrap();
    assert!(cert.len() >= 2, "leaf with its issuing chain");
    assert_eq!(fake.checks(), 3);
    // an issued request is not deleted; finished jobs are not run again
    assert!(s.delete_certificate_request(ME, later).await.is_err());
    assert_eq!(next_turn(&s).await, 0);
}

#[tokio::test]
async fn never_passing_validation_fails_at_the_deadline_and_delete_returns_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(&dir).await;
    let fake = Arc::new(FakeValidator::default());
    // the deadline is 2 s away: the first retry (1 s) still fits, the second does not
    let s = service(&st, config(2), Some(fake.clone()), &Arc::default());
    s.grant_package(1, FREE, 1).await.unwrap();
    let id = s
        .create_certificate_order(ME, request(FREE, "never.example.com"))
        .await
        .unwrap()
        .order_id;
    fake.set("_dnsauth.never.example.com", None);
    for _ in 0..100 {
        if state(&s, id).await != "domain_verify" {
            break;
        }
        s.run_due_order_jobs("w1", 10).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let failed = s.describe_certificate_state(ME, id).await.unwrap();
    assert_eq!(failed.kind, "verify_fail");
    let reason = failed.fail_reason.unwrap();
    assert!(
        reason.contains("deadline") && reason.contains("_dnsauth.never.example.com"),
        "{reason}"
    );
    assert!(fake.checks() >= 2, "retried before giving up");
    assert_eq!(counts(&s, FREE).await, (1, 1, 0));
    s.delete_certificate_request(ME, id).await.unwrap();
    assert_eq!(counts(&s, FREE).await, (1, 0, 0));
}

#[tokio::test]
async fn without_a_validator_orders_wait_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(&dir).await;
    let s = service(&st, config(600), None, &Arc::default());
    s.grant_package(1, FREE, 1).await.unwrap();
    let id = s
        .create_certificate_order(ME, request(FREE, "wait.example.com"))
        .await
        .unwrap()
        .order_id;
    assert_eq!(s.run_due_order_jobs("w1", 10).await.unwrap(), 1);
    assert_eq!(state(&s, id).await, "domain_verify");
    let job = st.find_job(JOB_KIND, 1, id).await.unwrap().unwrap();
    assert!(job.last_error.unwrap().contains("no domain validator"));
}

#[tokio::test]
async fn acme_order_survives_a_crash_between_finalize_and_download() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(&dir).await;
    let acme = Arc::new(FakeAcme::default());
    let fake = Arc::new(FakeValidator::default());
    let first = service(&st, config(600), Some(fake.clone()), &acme);
    first.grant_package(1, ACME_PRODUCT, 1).await.unwrap();
    // the fake CA hands out a real chain (signed here by the built-in issuer)
    let key = PrivateKey::generate(KeyAlgorithm::EcP256, &mut os_rng()).unwrap();
    let subject = SubjectFields {
        common_name: "acme.example.com".into(),
        ..Default::default()
    };
    let csr = build_csr(
        &key,
        &subject,
        &[San::Dns("acme.example.com".into())],
        Default::default(),
    )
    .unwrap();
    let rec = first.builtin_sign(1, &csr, &["acme.example.com".into()]).await.unwrap();
    *acme.chain.lock().unwrap() = format!("{}{}", pem::cert_der_to_pem(&rec.cert_der), rec.chain_pem);

    let id = first
        .create_certificate_order(ME, request(ACME_PRODUCT, "acme.example.com"))
        .await
        .unwrap()
        .order_id;
    // the CA's challenge is what the user sees, once the worker has made the ACME order
    first.run_due_order_jobs("w1", 10).await.unwrap();
    let shown = first.describe_certificate_state(ME, id).await.unwrap();
    assert_eq!(shown.kind, "domain_verify");
    assert_eq!(shown.record_domain.as_deref(), Some("_acme-challenge.acme.example.com"));
    assert_eq!(shown.record_value.as_deref(), Some("acme-digest"));
    // the self-check passes; the CA is told, finalized, and the download "crashes"
    fake.set("_acme-challenge.acme.example.com", Some(0));
    *acme.drop_download.lock().unwrap() = true;
    assert_eq!(next_turn(&first).await, 1);
    assert_eq!(*acme.finalized.lock().unwrap(), 1);
    assert_eq!(state(&first, id).await, "process");
    let job = st.find_job(JOB_KIND, 1, id).await.unwrap().unwrap();
    assert_eq!(job.step, "acme_finalized");

    // a restarted worker (new service, same store) downloads without finalizing again
    let restarted = service(&st, config(600), Some(fake), &acme);
    assert_eq!(next_turn(&restarted).await, 1);
    assert_eq!(*acme.finalized.lock().unwrap(), 1);
    let done = restarted.describe_certificate_state(ME, id).await.unwrap();
    assert_eq!(done.kind, "certificate");
    assert!(done.private_key.is_some(), "the service made this order's key");
    assert_eq!(counts(&restarted, ACME_PRODUCT).await, (1, 1, 1));
}

#[tokio::test]
async fn a_leased_job_is_claimed_by_one_worker_only() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(&dir).await;
    let now = now_millis();
    let mut tx = st.begin().await.unwrap();
    tx.schedule_job("test", 1, 42, "start", now, now + 60_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (a, b) = tokio::join!(
        st.claim_job("test", "A", now, now + 10_000),
        st.claim_job("test", "B", now, now + 10_000)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_some() != b.is_some(), "exactly one of two concurrent claims wins");
    let (winner, loser) = if a.is_some() { ("A", "B") } else { ("B", "A") };
    let job = a.or(b).unwrap();
    assert!(
        st.claim_job("test", loser, now + 1, now + 10_001)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!st.save_job_step(job.id, loser, "stolen").await.unwrap());
    // once the lease ran out another worker takes it over, and the first may no longer write
    let taken = st
        .claim_job("test", loser, now + 10_001, now + 20_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.id, job.id);
    assert!(!st.save_job_step(job.id, winner, "late").await.unwrap());
    assert!(st.save_job_step(job.id, loser, "next").await.unwrap());
    assert!(
        st.finish_job_turn(job.id, loser, &opencas_store::JobOutcome::Done)
            .await
            .unwrap()
    );
    assert!(
        st.claim_job("test", winner, now + 30_000, now + 40_000)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn counters_follow_cancel_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(&dir).await;
    let s = service(&st, config(600), None, &Arc::default());
    let err = s
        .create_certificate_order(ME, request(FREE, "x.example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::NotFound {
                code: "NotFoundPackage",
                ..
            }
        ),
        "{err:?}"
    );
    s.grant_package(1, FREE, 1).await.unwrap();
    let id = s
        .create_certificate_order(ME, request(FREE, "x.example.com"))
        .await
        .unwrap()
        .order_id;
    let err = s
        .create_certificate_order(ME, request(FREE, "y.example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::NotFound {
                code: "NotRemainCount",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(counts(&s, FREE).await, (1, 1, 0));
    // a withdrawn order keeps its unit; cancelling gives it back
    s.cancel_order_request(ME, id).await.unwrap();
    assert_eq!(counts(&s, FREE).await, (1, 1, 0));
    s.cancel_certificate_for_package(ME, id).await.unwrap();
    assert_eq!(counts(&s, FREE).await, (1, 0, 0));
    assert!(
        st.find_job(JOB_KIND, 1, id)
            .await
            .unwrap()
            .is_none_or(|j| j.state != "pending")
    );
}
