//! RSA key generation on low-priority threads, with a pool of RSA-2048 keys made ahead.
//!
//! Gating RSA generation to half the cores kept ECC issuance alive during an RSA burst, but
//! it also left the other half idle when nothing else ran (RSA issuance fell from 23/s to
//! 9–12/s). These threads instead run at a higher nice value (`setpriority` on the thread:
//! on Linux a nice value belongs to a thread, and lowering one's own priority needs no
//! privilege). The kernel then gives them every core nobody else wants and only a small
//! share of a core that request work wants, so throughput follows the idle capacity while
//! other requests keep the CPU. There is one thread per core, so at most that many keys are
//! generated at once and requests beyond that wait in a queue.
//!
//! The pool holds RSA-2048 keys (the default RSA size) made by the same threads when no
//! request is waiting. It starts filling only after the first RSA-2048 key was asked for,
//! so a server that never issues RSA spends nothing on it. A key leaves the pool by being
//! moved out, so it is handed out once; keys live in memory only, like the cached CA keys,
//! and are never written anywhere (a stored key is always sealed by the store).

use crate::{Result, ServiceError};
use opencas_pki::{KeyAlgorithm, PrivateKey, os_rng};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use tokio::sync::oneshot;

/// How the RSA threads and the pool are sized.
#[derive(Debug, Clone, Copy)]
pub struct SlowKeysConfig {
    /// Generation threads (default: one per core).
    pub threads: usize,
    /// Their nice value (0 = normal priority, 19 = lowest).
    pub nice: i32,
    /// Most RSA-2048 keys kept ready (0: no pool).
    pub pool: usize,
}

impl Default for SlowKeysConfig {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // Nice 10 weighs about a tenth of a normal thread: request work wins a contended
            // core, yet a steady stream of requests cannot starve RSA altogether (19 would
            // give it about 1.5 %).
            nice: 10,
            pool: 16,
        }
    }
}

type KeyResult = opencas_pki::Result<PrivateKey>;

pub(super) enum Job {
    Key(KeyAlgorithm, oneshot::Sender<KeyResult>),
    /// Any work, to observe and hold the threads in tests.
    #[cfg(test)]
    Run(Box<dyn FnOnce() + Send>),
}

#[derive(Default)]
pub(super) struct State {
    pub(super) waiting: VecDeque<Job>,
    pub(super) pool: Vec<PrivateKey>,
    /// Keys the pool should hold: 0 until the first RSA-2048 request.
    pub(super) pool_target: usize,
    /// Pool keys being generated now.
    refilling: usize,
    /// Generations (or test jobs) under way, and the most there ever were at once.
    pub(super) running: usize,
    pub(super) most_running: usize,
    /// Keys generated in all.
    pub(super) generated: usize,
    closed: bool,
}

pub(super) struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // a panic elsewhere cannot leave the state half-updated in a way that matters here
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct SlowKeys {
    pub(super) shared: Arc<Shared>,
    config: SlowKeysConfig,
    /// Threads started, on first use (most services never generate an RSA key).
    started: OnceLock<usize>,
}

impl std::fmt::Debug for SlowKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlowKeys")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for SlowKeys {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

impl SlowKeys {
    pub(super) fn new(config: SlowKeysConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
            config,
            started: OnceLock::new(),
        }
    }

    fn start(&self) -> Result<()> {
        let started = *self.started.get_or_init(|| {
            (0..self.config.threads.max(1))
                .filter(|_| {
                    let shared = self.shared.clone();
                    let nice = self.config.nice;
                    std::thread::Builder::new()
                        .name("opencas-keygen".into())
                        .spawn(move || {
                            if let Err(e) = lower_priority(nice) {
                                tracing::warn!(error = %e, "key generation thread runs at normal priority");
                            }
                            work(&shared);
                        })
                        .map_err(|e| tracing::error!(error = %e, "cannot start a key generation thread"))
                        .is_ok()
                })
                .count()
        });
        if started == 0 {
            return Err(ServiceError::Internal(
                "no key generation thread could be started".into(),
            ));
        }
        Ok(())
    }

    /// Queues `job` for the threads.
    #[cfg(test)]
    pub(super) fn submit(&self, job: Job) -> Result<()> {
        self.start()?;
        self.shared.lock().waiting.push_back(job);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// A fresh RSA key of `algorithm`: a pooled one if there is one, else made on the threads.
    pub(super) async fn get(&self, algorithm: KeyAlgorithm) -> Result<KeyResult> {
        self.start()?;
        let answer = {
            let mut state = self.shared.lock();
            if algorithm == KeyAlgorithm::Rsa2048 {
                state.pool_target = self.config.pool;
                if let Some(key) = state.pool.pop() {
                    drop(state);
                    self.shared.wake.notify_one(); // to refill
                    return Ok(Ok(key));
                }
            }
            let (send, answer) = oneshot::channel();
            state.waiting.push_back(Job::Key(algorithm, send));
            answer
        };
        self.shared.wake.notify_one();
        answer
            .await
            .map_err(|_| ServiceError::Internal("the key generator stopped".into()))
    }
}

enum Task {
    Job(Job),
    Refill,
}

fn work(shared: &Shared) {
    loop {
        let task = {
            let mut state = shared.lock();
            let task = loop {
                if state.closed {
                    return;
                }
                if let Some(job) = state.waiting.pop_front() {
                    break Task::Job(job);
                }
                if state.pool.len() + state.refilling < state.pool_target {
                    state.refilling += 1;
                    break Task::Refill;
                }
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            };
            state.running += 1;
            state.most_running = state.most_running.max(state.running);
            task
        };
        match task {
            Task::Job(Job::Key(algorithm, answer)) => {
                // a request that gave up (timeout, closed connection) needs no key
                let key = (!answer.is_closed()).then(|| PrivateKey::generate(algorithm, &mut os_rng()));
                let mut state = shared.lock();
                state.running -= 1;
                state.generated += usize::from(key.is_some());
                if let Some(key) = key
                    && let Err(Ok(unclaimed)) = answer.send(key)
                {
                    keep(&mut state, unclaimed);
                }
            }
            #[cfg(test)]
            Task::Job(Job::Run(f)) => {
                f();
                shared.lock().running -= 1;
            }
            Task::Refill => {
                let key = PrivateKey::generate(KeyAlgorithm::Rsa2048, &mut os_rng());
                let mut state = shared.lock();
                state.running -= 1;
                state.refilling -= 1;
                state.generated += 1;
                match key {
                    Ok(key) => hand_over_or_keep(&mut state, key),
                    Err(e) => {
                        // no retry loop on a generator that keeps failing: the next request re-arms it
                        tracing::error!(error = %e, "RSA-2048 pool refill failed");
                        state.pool_target = 0;
                    }
                }
            }
        }
    }
}

/// A new RSA-2048 key goes to the first request waiting for one, else into the pool.
fn hand_over_or_keep(state: &mut State, mut key: PrivateKey) {
    while let Some(at) = state
        .waiting
        .iter()
        .position(|job| matches!(job, Job::Key(KeyAlgorithm::Rsa2048, _)))
    {
        let Some(Job::Key(_, answer)) = state.waiting.remove(at) else {
            unreachable!("the position of an RSA-2048 request")
        };
        match answer.send(Ok(key)) {
            Ok(()) => return,
            Err(Ok(unclaimed)) => key = unclaimed, // that request gave up: try the next
            Err(Err(_)) => unreachable!("an Ok was sent"),
        }
    }
    keep(state, key);
}

/// An RSA-2048 key nobody took (it was never handed out) joins the pool if there is room.
fn keep(state: &mut State, key: PrivateKey) {
    if key.algorithm() == KeyAlgorithm::Rsa2048 && state.pool.len() < state.pool_target {
        state.pool.push(key);
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) -> std::io::Result<()> {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) -> std::io::Result<()> {
    // elsewhere a nice value is the whole process's: the threads stay at normal priority
    Ok(())
}
