//! The order worker: claims a due order job, advances the order as far as it can in one
//! turn, and records where it got to. Every step is idempotent and its progress is saved
//! before the next begins, so a crash anywhere resumes at the step that was running.
//!
//! Built-in issuer: `validate` (every challenge checked) → issue. ACME: `acme_new` (order
//! at the CA, its challenges shown to the user) → `acme_check` (self-check, then tell the
//! CA) → `acme_poll` (finalize with the order's CSR once ready) → `acme_finalized`
//! (download the chain, store it).

use super::domains::{ValidateType, from_challenge, to_challenge};
use super::upstream::{AcmeChallengeKind, AcmeOrderState, AcmeUpstream};
use super::{BUILTIN_ISSUER, builtin, status};
use crate::{Result, Service, ServiceError};
use opencas_pki::pem;
use opencas_store::{CertRecord, DvOrder, JobOutcome, JobRecord, now_millis};
use std::sync::Arc;

pub const JOB_KIND: &str = "dv_order";
/// How long a claimed job is held before another worker may take it over.
const LEASE_MS: i64 = 120_000;

pub(crate) fn first_step(order: &DvOrder) -> &'static str {
    if order.issuer.as_deref().unwrap_or(BUILTIN_ISSUER) == BUILTIN_ISSUER {
        "validate"
    } else {
        "acme_new"
    }
}

/// A random tag that tells this process's leases from those of another with the same pid.
pub fn worker_nonce() -> String {
    super::domains::token(8)
}

/// What one turn decided.
enum Advance {
    /// Not finished: run `step` again later; `reason` says what is awaited.
    Wait {
        step: &'static str,
        reason: String,
    },
    Done,
    Fail(String),
}

impl Service {
    /// Claims and runs due order jobs, at most `max`; returns how many ran.
    pub async fn run_due_order_jobs(&self, owner: &str, max: usize) -> Result<usize> {
        let mut ran = 0;
        while ran < max {
            let now = now_millis();
            let Some(job) = self.store.claim_job(JOB_KIND, owner, now, now + LEASE_MS).await? else {
                break;
            };
            ran += 1;
            self.run_order_job(&job, owner).await?;
        }
        Ok(ran)
    }

    async fn run_order_job(&self, job: &JobRecord, owner: &str) -> Result<()> {
        let order = self.store.find_dv_order(job.account_id, job.subject_id).await?;
        let order = match order {
            Some(o) if o.status == status::CHECKING => o,
            // Deleted, withdrawn or already finished: nothing left to do.
            _ => {
                self.store.finish_job_turn(job.id, owner, &JobOutcome::Done).await?;
                return Ok(());
            }
        };
        let advance = match self.advance(job, owner, &order).await {
            Ok(a) => a,
            Err(e) => {
                // Resume at the step this turn reached (saved as each one completed), not
                // the one it was claimed at: a finalized ACME order must not be finalized again.
                let reached = self
                    .store
                    .find_job(JOB_KIND, job.account_id, job.subject_id)
                    .await?
                    .map_or_else(|| job.step.clone(), |j| j.step);
                Advance::Wait {
                    step: step_name(&reached),
                    reason: e.to_string(),
                }
            }
        };
        let now = now_millis();
        let outcome = match advance {
            Advance::Done => JobOutcome::Done,
            Advance::Fail(reason) => return self.fail_order(job, owner, &order, &reason).await,
            Advance::Wait { step, reason } => {
                let next = now + self.backoff_ms(job.attempts);
                if next >= job.deadline {
                    let why = format!("Domain validation did not complete before the deadline: {reason}");
                    return self.fail_order(job, owner, &order, &why).await;
                }
                JobOutcome::Retry {
                    step: step.to_owned(),
                    next_run_at: next,
                    error: Some(reason),
                }
            }
        };
        self.store.finish_job_turn(job.id, owner, &outcome).await?;
        Ok(())
    }

    fn backoff_ms(&self, attempts: i64) -> i64 {
        let c = &self.config.orders;
        let doublings = (attempts.max(1) - 1).min(30) as u32;
        let secs = c.retry_initial_secs.max(1).saturating_mul(1i64 << doublings);
        secs.min(c.retry_max_secs.max(1)) * 1000
    }

    async fn fail_order(&self, job: &JobRecord, owner: &str, order: &DvOrder, reason: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        // NotFound: the user withdrew or deleted it meanwhile; the job ends either way.
        let _ = tx
            .set_order_status(
                order.account_id,
                order.id,
                &[status::CHECKING],
                status::CHECKED_FAIL,
                Some(reason),
            )
            .await;
        tx.commit().await?;
        self.store
            .finish_job_turn(job.id, owner, &JobOutcome::Failed(reason.to_owned()))
            .await?;
        Ok(())
    }

    async fn advance(&self, job: &JobRecord, owner: &str, order: &DvOrder) -> Result<Advance> {
        let mut step = step_name(&job.step);
        loop {
            let next = match step {
                "validate" => match self.check_challenges(order).await? {
                    Some(wait) => return Ok(wait),
                    None => {
                        let csr = order.csr_der.clone().unwrap_or_default();
                        let record = self.builtin_sign(order.account_id, &csr, &order_domains(order)).await?;
                        self.store_order_certificate(order, record).await?;
                        return Ok(Advance::Done);
                    }
                },
                "acme_new" => {
                    let acme = self.acme_for(order)?;
                    let kind = match order.validate_type.as_deref().and_then(ValidateType::from_api) {
                        Some(ValidateType::File) => AcmeChallengeKind::Http01,
                        _ => AcmeChallengeKind::Dns01,
                    };
                    let created = acme
                        .new_order(&order_domains(order), kind)
                        .await
                        .map_err(|e| ServiceError::Internal(format!("ACME new order: {e}")))?;
                    let challenges: Vec<_> = created
                        .challenges
                        .iter()
                        .enumerate()
                        .map(|(i, (domain, c))| from_challenge(i, domain, c))
                        .collect();
                    self.store
                        .set_order_acme(order.account_id, order.id, &created.order_url, &challenges)
                        .await?;
                    "acme_check"
                }
                "acme_check" => {
                    if let Some(wait) = self.check_challenges(order).await? {
                        return Ok(wait);
                    }
                    let url = self.acme_url(order).await?;
                    self.acme_for(order)?
                        .ready(&url)
                        .await
                        .map_err(|e| ServiceError::Internal(format!("ACME challenge: {e}")))?;
                    "acme_poll"
                }
                "acme_poll" => {
                    let url = self.acme_url(order).await?;
                    let acme = self.acme_for(order)?;
                    match acme.poll(&url).await.map_err(ServiceError::Internal)? {
                        AcmeOrderState::Pending | AcmeOrderState::Processing => {
                            return Ok(Advance::Wait {
                                step: "acme_poll",
                                reason: "the ACME CA has not decided yet".into(),
                            });
                        }
                        AcmeOrderState::Invalid(why) => return Ok(Advance::Fail(why)),
                        AcmeOrderState::Valid => "acme_finalized",
                        AcmeOrderState::Ready => {
                            let csr = order.csr_der.clone().unwrap_or_default();
                            acme.finalize(&url, &csr)
                                .await
                                .map_err(|e| ServiceError::Internal(format!("ACME finalize: {e}")))?;
                            "acme_finalized"
                        }
                    }
                }
                "acme_finalized" => {
                    let url = self.acme_url(order).await?;
                    let chain = self
                        .acme_for(order)?
                        .certificate_chain(&url)
                        .await
                        .map_err(|e| ServiceError::Internal(format!("ACME certificate: {e}")))?;
                    let Some(chain) = chain else {
                        return Ok(Advance::Wait {
                            step: "acme_finalized",
                            reason: "the ACME CA has not published the certificate yet".into(),
                        });
                    };
                    let record = acme_record(order.account_id, &chain)?;
                    self.store_order_certificate(order, record).await?;
                    return Ok(Advance::Done);
                }
                other => return Err(ServiceError::Internal(format!("unknown order step {other}"))),
            };
            if !self.store.save_job_step(job.id, owner, next).await? {
                return Err(ServiceError::Internal("the job's lease was lost".into()));
            }
            step = next;
        }
    }

    /// Checks every challenge not yet passed. `None` when all have passed.
    async fn check_challenges(&self, order: &DvOrder) -> Result<Option<Advance>> {
        let step = if first_step(order) == "validate" {
            "validate"
        } else {
            "acme_check"
        };
        let challenges = self.store.order_challenges(order.account_id, order.id).await?;
        let pending: Vec<_> = challenges.iter().filter(|c| c.validated_at.is_none()).collect();
        if pending.is_empty() {
            return Ok(None);
        }
        let Some(validator) = self.order_backends.validator.clone() else {
            if step == "acme_check" {
                // Without a validator of our own the ACME CA's check is the only one.
                return Ok(None);
            }
            return Ok(Some(Advance::Wait {
                step,
                reason: "no domain validator is configured".into(),
            }));
        };
        for c in pending {
            match validator.check(&to_challenge(c)).await {
                Ok(()) => {
                    self.store
                        .mark_challenge_validated(order.account_id, order.id, c.position, now_millis())
                        .await?
                }
                Err(f) if f.retryable => {
                    return Ok(Some(Advance::Wait {
                        step,
                        reason: format!("{}: {}", c.domain, f.reason),
                    }));
                }
                Err(f) => return Ok(Some(Advance::Fail(format!("{}: {}", c.domain, f.reason)))),
            }
        }
        Ok(None)
    }

    fn acme_for(&self, order: &DvOrder) -> Result<Arc<dyn AcmeUpstream>> {
        let name = order.issuer.clone().unwrap_or_default();
        self.order_backends
            .acme
            .get(&name)
            .cloned()
            .ok_or_else(|| ServiceError::Internal(format!("the ACME upstream {name} is not configured")))
    }

    async fn acme_url(&self, order: &DvOrder) -> Result<String> {
        // Re-read: the URL was stored by an earlier step of this very turn.
        self.store
            .find_dv_order(order.account_id, order.id)
            .await?
            .and_then(|o| o.acme_order_url)
            .ok_or_else(|| ServiceError::Internal("the ACME order URL is missing".into()))
    }

    /// One transaction: the certificate joins the account's store, the order is issued,
    /// the package counts one more issued certificate.
    async fn store_order_certificate(&self, order: &DvOrder, record: CertRecord) -> Result<()> {
        let key = self.store.order_private_key(order.account_id, order.id).await?;
        let mut record = record;
        record.has_private_key = key.is_some();
        let mut tx = self.store.begin().await?;
        let cert_id = tx.insert_certificate(&record, key.as_deref()).await?;
        tx.add_to_cert_store(order.account_id, &record.identifier).await?;
        tx.complete_dv_order(
            order.account_id,
            order.id,
            cert_id,
            &record.identifier,
            record.not_after,
        )
        .await?;
        tx.add_package_counts(order.account_id, &order.product_code, 0, 1)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn step_name(step: &str) -> &'static str {
    match step {
        "acme_new" => "acme_new",
        "acme_check" => "acme_check",
        "acme_poll" => "acme_poll",
        "acme_finalized" => "acme_finalized",
        _ => "validate",
    }
}

fn order_domains(order: &DvOrder) -> Vec<String> {
    order.domain.split(',').map(str::to_owned).collect()
}

/// The record of a certificate an ACME CA issued: the leaf, and the rest as its chain.
fn acme_record(account_id: i64, chain_pem: &str) -> Result<CertRecord> {
    let blocks = pem::parse_blocks(chain_pem).map_err(|e| ServiceError::Internal(format!("ACME chain: {e}")))?;
    let mut certs = blocks.into_iter().filter(|b| b.label == "CERTIFICATE");
    let leaf = certs
        .next()
        .ok_or_else(|| ServiceError::Internal("the ACME chain holds no certificate".into()))?;
    let rest: String = certs.map(|b| pem::cert_der_to_pem(&b.der)).collect();
    builtin::cert_record(account_id, &leaf.der, rest, "")
}
