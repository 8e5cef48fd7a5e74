//! Group commit. A durable commit costs an fsync, which dwarfs the few statements of one
//! issuance; writers that arrive while a commit is under way are therefore gathered into the
//! next transaction, each inside its own savepoint, and all of them are answered once that
//! one transaction is durable. A writer whose statements fail is rolled back to its savepoint
//! alone; the others still commit. No caller hears "done" before its rows are on disk.

use crate::sealing::Sealer;
use crate::tx::Tx;
use crate::{Backend, Result, Store, StoreError};
use sqlx::AnyPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most writers one transaction takes: enough to amortise the fsync, few enough that a
/// batch's latency stays a few milliseconds.
const MAX_BATCH: usize = 128;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a job hands back once its statements ran: the callback that answers its caller
/// with the fate of the whole transaction.
type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

struct Ran {
    finish: Finish,
    /// The job could not even restore its savepoint: the transaction must not commit.
    poisoned: bool,
}

type Job = Box<dyn for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Ran> + Send>;

/// The queue in front of the group writer; dropping the last `Store` ends the writer.
#[derive(Debug, Clone)]
pub(crate) struct GroupQueue(mpsc::UnboundedSender<Job>);

impl GroupQueue {
    pub(crate) fn start(pool: AnyPool, backend: Backend, keys: Sealer, writer: Arc<Mutex<()>>) -> Self {
        let (send, recv) = mpsc::unbounded_channel();
        // The writer awaits one round trip to the SQLite worker thread per statement, and
        // every writer of the process waits on it. On the shared runtime each of those
        // wake-ups queued behind the request tasks (CSR checks, HTTP), which made the batch,
        // not the CPU, the limit. Its own thread and runtime resume it at once.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime for the group writer");
        std::thread::Builder::new()
            .name("opencas-writer".into())
            .spawn(move || runtime.block_on(run(recv, pool, backend, keys, writer)))
            .expect("spawn the group writer thread");
        Self(send)
    }
}

impl Store {
    /// Runs `write` inside a transaction shared with other concurrent writers and answers
    /// after that transaction committed. `write`'s own failure rolls back only its
    /// statements; a failed commit fails every writer of the batch.
    pub async fn write_grouped<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |tx: &mut Tx| {
            Box::pin(async move {
                let (outcome, poisoned) = run_in_savepoint(tx, write).await;
                let finish: Finish = Box::new(move |committed| {
                    let _ = answer.send(match committed {
                        Ok(()) => outcome,
                        Err(e) => Err(StoreError::Batch(e)),
                    });
                });
                Ran { finish, poisoned }
            })
        });
        self.group
            .0
            .send(job)
            .map_err(|_| StoreError::Batch("the store is closed".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Batch("the write batch was abandoned".into()))?
    }
}

async fn run_in_savepoint<T, F>(tx: &mut Tx, write: F) -> (Result<T>, bool)
where
    F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T>>,
{
    if let Err(e) = tx.execute_raw("SAVEPOINT grouped").await {
        return (Err(e), true);
    }
    let outcome = write(&mut *tx).await;
    let mut closed = Ok(());
    if outcome.is_err() {
        closed = tx.execute_raw("ROLLBACK TO grouped").await;
    }
    if closed.is_ok() {
        closed = tx.execute_raw("RELEASE grouped").await;
    }
    match closed {
        Ok(()) => (outcome, false),
        Err(e) => (Err(e), true),
    }
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<Job>,
    pool: AnyPool,
    backend: Backend,
    keys: Sealer,
    writer: Arc<Mutex<()>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut tx = match Tx::begin(&pool, backend, keys.clone(), writer.clone()).await {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, "group commit could not begin a transaction");
                batch.clear(); // dropping a job answers its caller with "abandoned"
                continue;
            }
        };
        let mut finishes = Vec::with_capacity(batch.len());
        let mut poisoned = false;
        for job in batch.drain(..) {
            let ran = job(&mut tx).await;
            poisoned |= ran.poisoned;
            finishes.push(ran.finish);
        }
        let committed = if poisoned {
            Err("a write of the batch could not be isolated; the batch was rolled back".to_owned())
        } else {
            tx.commit().await.map_err(|e| e.to_string())
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, writers = finishes.len(), "group commit failed");
        }
        for finish in finishes {
            finish(committed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::MasterKey;
    use crate::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_writer_is_rolled_back_alone() {
        let master = MasterKey::from_hex(&"33".repeat(32)).unwrap();
        let store = crate::test_db::TestDb::with_master(&master).await;
        let key = NewAccessKey {
            access_key_id: "AK",
            secret: "S",
        };
        store.insert_account(1, "a", "h", key, 1).await.unwrap();

        let writers = (0..200).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write_grouped(move |tx| {
                        Box::pin(async move {
                            let tags = vec![(format!("k{i}"), "v".to_owned())];
                            tx.add_tags(1, "T", "r", &tags).await?;
                            if i % 10 == 0 {
                                // the same key again: this writer fails after it wrote
                                tx.add_tags(1, "T", "r", &tags).await?;
                            }
                            Ok(i)
                        })
                    })
                    .await
            })
        });
        let outcomes = futures_join(writers).await;
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Ok(n) => assert!(i % 10 != 0 && *n == i),
                Err(StoreError::Conflict("tag")) => assert_eq!(i % 10, 0),
                Err(e) => panic!("writer {i}: {e}"),
            }
        }
        let stored = store.tags_of(1, "T", "r").await.unwrap();
        assert_eq!(stored.len(), 180, "exactly the writers that succeeded left rows");
        assert!(stored.iter().all(|(k, _)| k[1..].parse::<usize>().unwrap() % 10 != 0));
    }

    async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles.collect::<Vec<_>>() {
            out.push(h.await.unwrap());
        }
        out
    }
}
