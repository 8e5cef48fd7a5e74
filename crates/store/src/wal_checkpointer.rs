//! Checkpoints of the SQLite write-ahead log, run on a thread of their own.
//!
//! By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: the
//! one writer thread (`sqlite_writer`) then copies those pages into the database file and
//! fsyncs it before it can start its next batch, a stall that every request queued behind it
//! waits out, while part of the second core sits idle. Here this thread, on its own
//! connection, runs a `PASSIVE` checkpoint shortly after the writer commits: it takes no write
//! lock, so the writer keeps committing meanwhile. Durability is unchanged: a commit is durable
//! once its frames are synced in the log, which the writer still does; a checkpoint only moves
//! frames already durable.
//!
//! The log restarts from its beginning only when a write begins after a checkpoint that copied
//! every frame, and under steady load the passive checkpoints trail the writer. So, once the
//! log is long, this thread also tries a `RESTART` checkpoint without waiting (busy timeout 0):
//! it succeeds only when the writer is between transactions and no reader is on the log.
//! Otherwise the writer's own checkpoint at `WRITER_BACKSTOP` pages restarts it; by then nearly
//! every frame has been copied here, so that checkpoint is short. Measured (PERFORMANCE.md,
//! "WAL checkpoints off the writer thread"): ECC issuance +5-14 % at 64 connections, p99 no
//! worse; the log file then grows to ~64 MiB instead of ~4 MiB.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Log pages (64 MiB) at which the writer checkpoints by itself (SQLite's default is 1,000):
/// reached when the restarts tried here do not get through, or when this thread could not start.
pub(crate) const WRITER_BACKSTOP: i64 = 16_000;
/// Log frames from which this thread tries to restart the log after its passive checkpoint.
const RESTART_FROM: i64 = 2_000;
/// How long after a nudge the checkpoint runs, so that a burst of commits makes one.
const GATHER: Duration = Duration::from_millis(10);

/// The writer's handle; the thread ends when it is dropped.
pub(crate) struct Checkpointer(mpsc::SyncSender<()>);

impl Checkpointer {
    /// Opens a connection on `path` (WAL mode already set) and starts the thread; `None`
    /// (logged) when it cannot, and the writer's backstop checkpoints alone keep the log bounded.
    pub(crate) fn start(path: &Path) -> Option<Self> {
        let opened = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            // a checkpoint syncs the database file before it records how far it got
            c.execute_batch("PRAGMA synchronous = FULL;")?;
            // a restart never waits for the writer or a reader: the backstop is there for that
            c.busy_timeout(Duration::ZERO)?;
            Ok(c)
        });
        let conn = match opened {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "WAL checkpointer: cannot open the database");
                return None;
            }
        };
        let (nudge, nudged) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("opencas-ckpt".into())
            .spawn(move || run(conn, nudged));
        match spawned {
            Ok(_) => Some(Self(nudge)),
            Err(e) => {
                tracing::error!(error = %e, "WAL checkpointer: cannot start its thread");
                None
            }
        }
    }

    /// Tells the thread that the log grew. Never blocks: a nudge already pending covers this one.
    pub(crate) fn nudge(&self) {
        let _ = self.0.try_send(());
    }
}

fn run(conn: Connection, nudged: mpsc::Receiver<()>) {
    while nudged.recv().is_ok() {
        std::thread::sleep(GATHER);
        // what came in while it slept is covered by this checkpoint
        while nudged.try_recv().is_ok() {}
        let passive = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
        let restart = match passive {
            Ok(frames) if frames >= RESTART_FROM => conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = restart {
            // the backstop keeps the log bounded; the next nudge tries again
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nudge_copies_the_log_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = {WRITER_BACKSTOP}; \
                 CREATE TABLE t (v BLOB);"
            ))
            .unwrap();
        let ckpt = Checkpointer::start(&path).expect("starts");
        for _ in 0..50 {
            writer.execute("INSERT INTO t VALUES (zeroblob(8000))", []).unwrap();
        }
        // the rows are in the log only: the database file has not grown
        let size = || std::fs::metadata(&path).unwrap().len();
        assert!(size() < 100_000, "{}", size());
        ckpt.nudge();
        let mut waited = 0;
        while size() < 400_000 && waited < 200 {
            std::thread::sleep(Duration::from_millis(10));
            waited += 1;
        }
        assert!(size() >= 400_000, "the checkpoint copied the rows: {}", size());
        // the writer was not held up: it writes on, and every row reads back
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let n: i64 = writer.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 51);
        drop(ckpt);
    }
}
