//! Durable background jobs. A worker claims one due job by taking its lease in a single
//! UPDATE; it records progress (`step`), reschedules or finishes the job only while it
//! still holds that lease, so a worker whose lease ran out cannot overwrite another's work.

use crate::{Backend, Result, Store, Tx};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub account_id: i64,
    pub subject_id: i64,
    pub state: String,
    pub step: String,
    pub attempts: i64,
    pub next_run_at: i64,
    pub deadline: i64,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: i64,
}

const JOB_COLUMNS: &str = "id, kind, account_id, subject_id, state, step, attempts, next_run_at, deadline, \
                           last_error, lease_owner, lease_until";

fn job_row(r: &AnyRow) -> std::result::Result<JobRecord, sqlx::Error> {
    Ok(JobRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        account_id: r.try_get("account_id")?,
        subject_id: r.try_get("subject_id")?,
        state: r.try_get("state")?,
        step: r.try_get("step")?,
        attempts: r.try_get("attempts")?,
        next_run_at: r.try_get("next_run_at")?,
        deadline: r.try_get("deadline")?,
        last_error: r.try_get("last_error")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
    })
}

/// How a leased job ends its turn.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// Run again at `next_run_at` (unix ms), with the step reached so far.
    Retry {
        step: String,
        next_run_at: i64,
        error: Option<String>,
    },
    Done,
    Failed(String),
}

impl Tx {
    /// Schedules a job for `subject_id` (one per kind and subject); a job that already
    /// exists is restarted from `step`.
    pub async fn schedule_job(
        &mut self,
        kind: &str,
        account_id: i64,
        subject_id: i64,
        step: &str,
        run_at: i64,
        deadline: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO jobs (kind, account_id, subject_id, state, step, attempts, next_run_at, deadline, \
             lease_until, created_at) VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6, 0, $5) \
             ON CONFLICT (kind, subject_id) DO UPDATE SET state = 'pending', step = excluded.step, \
             attempts = 0, next_run_at = excluded.next_run_at, deadline = excluded.deadline, \
             last_error = NULL, lease_owner = NULL, lease_until = 0",
        )
        .bind(kind)
        .bind(account_id)
        .bind(subject_id)
        .bind(step)
        .bind(run_at)
        .bind(deadline)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Stops the pending job of a subject (its order was cancelled or deleted).
    pub async fn cancel_job(&mut self, kind: &str, account_id: i64, subject_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_until = 0 \
             WHERE kind = $1 AND account_id = $2 AND subject_id = $3 AND state = 'pending'",
        )
        .bind(kind)
        .bind(account_id)
        .bind(subject_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Claims the most overdue pending job of `kind` whose lease is free at `now`, leasing
    /// it to `owner` until `lease_until`. The claim is one statement, and it re-checks the
    /// lease in its own WHERE: of several workers racing for a job exactly one gets it.
    pub async fn claim_job(&self, kind: &str, owner: &str, now: i64, lease_until: i64) -> Result<Option<JobRecord>> {
        // On PostgreSQL the chosen row is locked as it is picked, and rows other replicas
        // are claiming are skipped, so concurrent workers take different jobs instead of
        // queueing on one row and then finding it taken.
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs WHERE kind = $3 AND state = 'pending' \
                         AND next_run_at <= $4 AND lease_until <= $4 ORDER BY next_run_at, id LIMIT 1{skip_locked}) \
               AND state = 'pending' AND lease_until <= $4 \
             RETURNING {JOB_COLUMNS}"
        );
        let _writer = self.writer.lock().await;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(kind)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(job_row).transpose()?)
    }

    /// Ends the turn of a job leased to `owner`. `false` when the lease was lost (another
    /// worker took over, or the job was cancelled): the caller's result is then dropped.
    pub async fn finish_job_turn(&self, id: i64, owner: &str, outcome: &JobOutcome) -> Result<bool> {
        let (state, step, next, error): (&str, Option<&str>, i64, Option<&str>) = match outcome {
            JobOutcome::Retry {
                step,
                next_run_at,
                error,
            } => ("pending", Some(step), *next_run_at, error.as_deref()),
            JobOutcome::Done => ("done", None, 0, None),
            JobOutcome::Failed(reason) => ("failed", None, 0, Some(reason)),
        };
        let _writer = self.writer.lock().await;
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, step = COALESCE($2, step), next_run_at = $3, last_error = $4, \
             lease_owner = NULL, lease_until = 0 \
             WHERE id = $5 AND lease_owner = $6 AND state = 'pending'",
        )
        .bind(state)
        .bind(step)
        .bind(next)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the step a leased job reached, keeping its lease: a crash after this resumes
    /// from `step`, not from the beginning.
    pub async fn save_job_step(&self, id: i64, owner: &str, step: &str) -> Result<bool> {
        let _writer = self.writer.lock().await;
        let done = sqlx::query("UPDATE jobs SET step = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'pending'")
            .bind(step)
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn find_job(&self, kind: &str, account_id: i64, subject_id: i64) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND account_id = $2 AND subject_id = $3");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(account_id)
            .bind(subject_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(job_row).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealing::MasterKey;

    async fn store() -> ((), crate::test_db::TestDb) {
        let master = MasterKey::from_hex(&"44".repeat(32)).unwrap();
        ((), crate::test_db::TestDb::with_master(&master).await)
    }

    #[tokio::test]
    async fn one_claimant_per_job_and_lease_expiry_hands_it_over() {
        let (_d, s) = store().await;
        let mut tx = s.begin().await.unwrap();
        tx.schedule_job("k", 0, 7, "start", 100, 10_000).await.unwrap();
        tx.commit().await.unwrap();
        assert!(s.claim_job("k", "a", 50, 1_000).await.unwrap().is_none(), "not due yet");

        let mut claims = Vec::new();
        for owner in ["a", "b", "c", "d"] {
            let s = s.clone();
            claims.push(tokio::spawn(async move {
                s.claim_job("k", owner, 200, 1_000).await.unwrap()
            }));
        }
        let mut won = Vec::new();
        for c in claims {
            if let Some(job) = c.await.unwrap() {
                won.push(job);
            }
        }
        assert_eq!(won.len(), 1, "exactly one worker holds the job");
        let winner = won[0].lease_owner.clone().unwrap();
        assert_eq!((won[0].subject_id, won[0].attempts), (7, 1));

        // While the lease runs nobody else gets it; after it runs out someone does, and the
        // first holder can no longer end the turn.
        assert!(s.claim_job("k", "z", 999, 2_000).await.unwrap().is_none());
        let taken = s.claim_job("k", "z", 1_000, 2_000).await.unwrap().unwrap();
        assert_eq!(taken.attempts, 2);
        assert!(!s.finish_job_turn(taken.id, &winner, &JobOutcome::Done).await.unwrap());
        assert!(s.save_job_step(taken.id, "z", "half").await.unwrap());
        let retry = JobOutcome::Retry {
            step: "later".into(),
            next_run_at: 5_000,
            error: Some("not yet".into()),
        };
        assert!(s.finish_job_turn(taken.id, "z", &retry).await.unwrap());
        let job = s.find_job("k", 0, 7).await.unwrap().unwrap();
        assert_eq!(
            (job.step.as_str(), job.next_run_at, job.lease_until),
            ("later", 5_000, 0)
        );
        assert!(s.claim_job("k", "a", 4_999, 9_000).await.unwrap().is_none());
        let again = s.claim_job("k", "a", 5_000, 9_000).await.unwrap().unwrap();
        assert!(s.finish_job_turn(again.id, "a", &JobOutcome::Done).await.unwrap());
        assert!(
            s.claim_job("k", "a", 100_000, 200_000).await.unwrap().is_none(),
            "done jobs stay done"
        );
    }

    #[tokio::test]
    async fn a_cancelled_job_is_never_claimed() {
        let (_d, s) = store().await;
        let mut tx = s.begin().await.unwrap();
        tx.schedule_job("k", 0, 1, "start", 0, 10).await.unwrap();
        tx.cancel_job("k", 0, 1).await.unwrap();
        tx.commit().await.unwrap();
        assert!(s.claim_job("k", "a", 5, 50).await.unwrap().is_none());
    }
}
