use super::slow::{Job, SlowKeysConfig};
use super::*;
use std::collections::HashSet;
use std::sync::{Barrier, mpsc};

fn generator(threads: usize, nice: i32, pool: usize) -> KeyGenerator {
    KeyGenerator::new(SlowKeysConfig { threads, nice, pool })
}

/// Waits (without a deadline: the test harness has one) until `done` holds of the state.
async fn until(keys: &KeyGenerator, done: impl Fn(&slow::State) -> bool) {
    while !done(&keys.slow.shared.lock()) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn spki(key: &PrivateKey) -> Vec<u8> {
    key.public_key_spki_der().to_vec()
}

/// The key is a real key pair of its algorithm: its PKCS#8 loads again (aws-lc checks an
/// RSA key's consistency when loading it) with the same public key.
fn assert_valid(key: &PrivateKey, algorithm: KeyAlgorithm) {
    assert_eq!(key.algorithm(), algorithm);
    let reloaded = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
    assert_eq!(reloaded.algorithm(), algorithm);
    assert_eq!(reloaded.public_key_spki_der(), key.public_key_spki_der());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_threads_run_at_low_priority_and_make_valid_keys() {
    let keys = generator(2, 12, 0);
    // both threads hold a job at once, so both report
    let barrier = Arc::new(Barrier::new(3));
    let (seen, observed) = mpsc::channel();
    for _ in 0..2 {
        let (barrier, seen) = (barrier.clone(), seen.clone());
        keys.slow
            .submit(Job::Run(Box::new(move || {
                let name = std::thread::current().name().map(str::to_owned);
                // SAFETY: plain integer arguments; errno is not looked at (nice may be -1)
                let nice = unsafe {
                    let tid = libc::syscall(libc::SYS_gettid);
                    libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t)
                };
                seen.send((name, nice, std::thread::current().id())).unwrap();
                barrier.wait();
            })))
            .unwrap();
    }
    tokio::task::spawn_blocking(move || barrier.wait()).await.unwrap();
    let reports: Vec<_> = observed.try_iter().collect();
    assert_eq!(reports.len(), 2);
    assert_ne!(reports[0].2, reports[1].2, "two threads");
    for (name, nice, _) in &reports {
        assert_eq!(name.as_deref(), Some("opencas-keygen"));
        if cfg!(target_os = "linux") {
            assert_eq!(*nice, 12);
        }
    }
    // and the async workers kept their priority
    let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as libc::id_t) };
    assert_eq!(here, 0);

    for algorithm in [KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072, KeyAlgorithm::Rsa1024] {
        let key = keys.generate(algorithm).await.unwrap().unwrap();
        assert_valid(&key, algorithm);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_never_hands_out_a_key_twice() {
    let keys = generator(2, 10, 3);
    let mut handed_out = HashSet::new();
    // the first RSA-2048 request arms the pool; no other size fills it
    let first = keys.generate(KeyAlgorithm::Rsa2048).await.unwrap().unwrap();
    assert_valid(&first, KeyAlgorithm::Rsa2048);
    handed_out.insert(spki(&first));
    until(&keys, |s| s.pool.len() == 3).await;

    let pooled: HashSet<_> = keys.slow.shared.lock().pool.iter().map(spki).collect();
    assert_eq!(pooled.len(), 3);
    let mut taken = HashSet::new();
    for _ in 0..3 {
        let key = keys.generate(KeyAlgorithm::Rsa2048).await.unwrap().unwrap();
        assert_valid(&key, KeyAlgorithm::Rsa2048);
        taken.insert(spki(&key));
    }
    assert_eq!(taken, pooled, "the three came from the pool");
    // the pool refills with new keys, never with one it gave away
    until(&keys, |s| s.pool.len() == 3).await;
    assert!(keys.slow.shared.lock().pool.iter().all(|k| !taken.contains(&spki(k))));
    handed_out.extend(taken);

    // concurrent requests beyond the pool: every key is another
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let keys = keys.clone();
            tokio::spawn(async move { keys.generate(KeyAlgorithm::Rsa2048).await })
        })
        .collect();
    for request in requests {
        let key = request.await.unwrap().unwrap().unwrap();
        assert!(handed_out.insert(spki(&key)), "a key was handed out twice");
    }
    assert_eq!(handed_out.len(), 12);
    assert!(
        keys.slow
            .shared
            .lock()
            .pool
            .iter()
            .all(|k| !handed_out.contains(&spki(k)))
    );
    let rsa3072 = keys.generate(KeyAlgorithm::Rsa3072).await.unwrap().unwrap();
    assert_valid(&rsa3072, KeyAlgorithm::Rsa3072);
    // no more generations at once than threads
    assert!(keys.slow.shared.lock().most_running <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_waits_behind_busy_threads_while_other_keys_go_through() {
    let keys = generator(1, 10, 0);
    // hold the only thread
    let (release, held) = mpsc::channel::<()>();
    keys.slow
        .submit(Job::Run(Box::new(move || {
            let _ = held.recv();
        })))
        .unwrap();
    until(&keys, |s| s.running == 1 && s.waiting.is_empty()).await;
    let waiting = tokio::spawn({
        let keys = keys.clone();
        async move { keys.generate(KeyAlgorithm::Rsa2048).await }
    });
    until(&keys, |s| s.waiting.len() == 1).await;
    // elliptic-curve and SM2 keys do not queue behind RSA
    for algorithm in [KeyAlgorithm::EcP256, KeyAlgorithm::EcP384, KeyAlgorithm::Sm2] {
        let key = keys.generate(algorithm).await.unwrap().unwrap();
        assert_valid(&key, algorithm);
    }
    // the RSA request is still queued, not running: the bound is the thread count
    assert_eq!(keys.slow.shared.lock().waiting.len(), 1);
    assert!(!waiting.is_finished());
    release.send(()).unwrap();
    let rsa = waiting.await.unwrap().unwrap().unwrap();
    assert_valid(&rsa, KeyAlgorithm::Rsa2048);
    assert_eq!(keys.slow.shared.lock().most_running, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_gave_up_costs_no_generation() {
    let keys = generator(1, 10, 2);
    let (release, held) = mpsc::channel::<()>();
    keys.slow
        .submit(Job::Run(Box::new(move || {
            let _ = held.recv();
        })))
        .unwrap();
    until(&keys, |s| s.running == 1).await;
    // arms the pool and queues; the request is then abandoned while it waits
    let abandoned = tokio::spawn({
        let keys = keys.clone();
        async move { keys.generate(KeyAlgorithm::Rsa2048).await }
    });
    until(&keys, |s| s.waiting.len() == 1).await;
    abandoned.abort();
    let _ = abandoned.await;
    release.send(()).unwrap();
    until(&keys, |s| s.pool.len() == 2).await;
    // the two pool keys, nothing for the abandoned request
    assert_eq!(keys.slow.shared.lock().generated, 2);
    let pooled: HashSet<_> = keys.slow.shared.lock().pool.iter().map(spki).collect();
    let a = keys.generate(KeyAlgorithm::Rsa2048).await.unwrap().unwrap();
    let b = keys.generate(KeyAlgorithm::Rsa2048).await.unwrap().unwrap();
    assert_ne!(spki(&a), spki(&b));
    assert!(pooled.contains(&spki(&a)) && pooled.contains(&spki(&b)));
}
