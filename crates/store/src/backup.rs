//! Online backup and the checks a restore makes, for the embedded SQLite database.
//! (PostgreSQL deployments back up with `pg_dump`.)
//!
//! The snapshot is `VACUUM INTO`: one read transaction, so it sees one consistent state of
//! the whole database, and in WAL mode the server's writers go on committing meanwhile. The
//! snapshot holds private keys and access-key secrets sealed under the master key, which it
//! does not contain: a backup and the master key are kept apart, and a restore proves that
//! the key it is given opens the snapshot's sealed records before it swaps anything in.

use crate::sealing::{MasterKey, Sealer};
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use std::time::Duration;

/// What a checked snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub accounts: i64,
    pub certificates: i64,
    pub audit_records: i64,
    /// Sealed records opened with the master key to prove it is the right one.
    pub sealed_records_opened: usize,
}

/// Writes a consistent copy of the database at `db` to `out`, which must not exist.
pub fn snapshot(db: &Path, out: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let target = out
        .to_str()
        .ok_or_else(|| StoreError::Batch(format!("{}: not a UTF-8 path", out.display())))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// Checks a snapshot before it is restored: SQLite's integrity check passes, and `master`
/// opens its sealed records (one access-key secret of every account is enough to tell a
/// wrong key; a CA key and a certificate key too when there are any).
pub fn check_snapshot(path: &Path, master: &MasterKey) -> Result<SnapshotSummary> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if integrity != ["ok"] {
        return Err(StoreError::Batch(format!(
            "integrity check failed: {}",
            integrity.join("; ")
        )));
    }
    let count = |table: &str| -> Result<i64> {
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    let summary = SnapshotSummary {
        accounts: count("accounts")?,
        certificates: count("certificates")?,
        audit_records: count("audit_log")?,
        sealed_records_opened: 0,
    };
    let secrets = Sealer::new(master, "access-key-secret");
    let keys = Sealer::new(master, "private-key");
    let mut opened = 0;
    let mut stmt = conn.prepare(
        "SELECT access_key_id, secret_sealed FROM access_keys \
         WHERE rowid IN (SELECT MIN(rowid) FROM access_keys GROUP BY account_id)",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    for row in rows {
        let (id, sealed) = row?;
        secrets.open(&crate::accounts::secret_record(&id), &sealed)?;
        opened += 1;
    }
    // one sealed key of each kind is enough to tell the right master key from a wrong one
    type RecordName = fn(i64, &str) -> String;
    let key_tables: [(&str, RecordName); 2] = [
        ("cas", crate::cas::key_record),
        ("certificates", crate::certificates::key_record),
    ];
    for (table, record) in key_tables {
        let sealed_key: Option<(i64, String, Vec<u8>)> = conn
            .query_row(
                &format!("SELECT account_id, identifier, key_sealed FROM {table} WHERE key_sealed IS NOT NULL LIMIT 1"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((account, identifier, sealed)) = sealed_key {
            keys.open(&record(account, &identifier), &sealed)?;
            opened += 1;
        }
    }
    if opened == 0 && summary.accounts > 0 {
        return Err(StoreError::Batch(
            "the snapshot has accounts but no sealed record to check the master key against".into(),
        ));
    }
    Ok(SnapshotSummary {
        sealed_records_opened: opened,
        ..summary
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewAccessKey, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_checks_out_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::from_hex(&"55".repeat(32)).unwrap();
        let db = dir.path().join("db.sqlite");
        let store = Store::open_sqlite(&db, &master).await.unwrap();
        let key = NewAccessKey {
            access_key_id: "AK1",
            secret: "S1",
        };
        store.insert_account(1, "a", "h", key, 1).await.unwrap();
        let out = dir.path().join("backup.db");
        snapshot(&db, &out).unwrap();
        let summary = check_snapshot(&out, &master).unwrap();
        assert_eq!(summary.accounts, 2, "the built-in issuer's account and ours");
        assert_eq!(summary.sealed_records_opened, 1);
        let wrong = MasterKey::from_hex(&"66".repeat(32)).unwrap();
        assert!(matches!(check_snapshot(&out, &wrong), Err(StoreError::Seal(_))));
        // the target must be new: a snapshot never overwrites
        assert!(snapshot(&db, &out).is_err());
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![0x55u8; 8192]).unwrap();
        let master = MasterKey::from_hex(&"55".repeat(32)).unwrap();
        assert!(check_snapshot(&path, &master).is_err());
    }
}
