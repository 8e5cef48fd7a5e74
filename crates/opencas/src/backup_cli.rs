//! `opencas backup` and `opencas restore` for the embedded SQLite database (PostgreSQL
//! deployments use `pg_dump`).
//!
//! A backup is the database alone. It holds private keys and access-key secrets sealed under
//! the master key, which it does not contain: keep `master.key` (or `OPENCAS_MASTER_KEY`)
//! apart from the backups, as Vault keeps its unseal keys apart from its storage. A stolen
//! backup then yields no key material. The file is still written with mode 0600: it holds
//! the audit log and every certificate and account name.

use crate::datadir::{DATABASE_FILE, MASTER_KEY_FILE};
use opencas_service::store::backup::{self, SnapshotSummary};
use opencas_service::store::sealing::{MasterKey, write_private_file};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn set_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err(path))?;
    }
    Ok(())
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), String> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err(dir))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `opencas backup --data-dir D --out FILE`: a consistent snapshot, taken while the server
/// runs. Written next to FILE under a temporary name and renamed once complete and synced,
/// so FILE is either absent or whole.
pub fn backup(data_dir: &Path, out: &Path) -> Result<(), String> {
    let db = data_dir.join(DATABASE_FILE);
    if !db.is_file() {
        return Err(format!("{}: no database here", db.display()));
    }
    if out.exists() {
        return Err(format!("{}: already exists; a backup never overwrites", out.display()));
    }
    let partial = out.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let started = Instant::now();
    backup::snapshot(&db, &partial).map_err(|e| format!("snapshot: {e}"))?;
    set_private(&partial)?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(err(&partial))?;
    std::fs::rename(&partial, out).map_err(err(out))?;
    sync_dir(&parent(out))?;
    let bytes = std::fs::metadata(out).map_err(err(out))?.len();
    println!(
        "{}",
        serde_json::json!({
            "out": out.display().to_string(),
            "bytes": bytes,
            "millis": started.elapsed().as_millis() as u64,
            "master_key": "not included: keep master.key (or OPENCAS_MASTER_KEY) apart from the backup",
        })
    );
    Ok(())
}

/// The master key a restore checks the snapshot with, and whether it must be written to
/// the data directory.
fn restore_key(data_dir: &Path, flag: Option<&Path>) -> Result<(MasterKey, Option<String>), String> {
    if let Ok(hex) = std::env::var("OPENCAS_MASTER_KEY") {
        let key = MasterKey::from_hex(&hex).map_err(|e| format!("OPENCAS_MASTER_KEY: {e}"))?;
        return Ok((key, None));
    }
    let in_dir = data_dir.join(MASTER_KEY_FILE);
    match flag {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(err(path))?;
            let key = MasterKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            match std::fs::read_to_string(&in_dir) {
                Ok(existing) if existing.trim() != text.trim() => Err(format!(
                    "{} holds another master key than {}; remove it first if the restore is meant to replace it",
                    in_dir.display(),
                    path.display()
                )),
                Ok(_) => Ok((key, None)),
                Err(_) => Ok((key, Some(text.trim().to_owned()))),
            }
        }
        None if in_dir.is_file() => {
            let text = std::fs::read_to_string(&in_dir).map_err(err(&in_dir))?;
            let key = MasterKey::from_hex(&text).map_err(|e| format!("{}: {e}", in_dir.display()))?;
            Ok((key, None))
        }
        None => Err(format!(
            "no master key: pass --master-key FILE, set OPENCAS_MASTER_KEY, or put it in {}",
            in_dir.display()
        )),
    }
}

fn summary_json(s: &SnapshotSummary) -> serde_json::Value {
    serde_json::json!({
        "accounts": s.accounts,
        "certificates": s.certificates,
        "audit_records": s.audit_records,
        "sealed_records_opened": s.sealed_records_opened,
    })
}

/// `opencas restore --data-dir D --from FILE [--master-key K] [--force]`, with the server
/// stopped. Checks the snapshot (integrity, master key) before anything in D changes.
pub fn restore(data_dir: &Path, from: &Path, master_key: Option<&Path>, force: bool) -> Result<(), String> {
    if !from.is_file() {
        return Err(format!("{}: no such backup file", from.display()));
    }
    let occupied: Vec<String> = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != MASTER_KEY_FILE)
            .collect(),
        Err(_) => Vec::new(),
    };
    if !occupied.is_empty() && !force {
        return Err(format!(
            "{} is not empty ({}); stop the server and pass --force to replace its database",
            data_dir.display(),
            occupied.join(", ")
        ));
    }
    let (key, write_key) = restore_key(data_dir, master_key)?;
    backup::check_snapshot(from, &key).map_err(|e| format!("{}: refused: {e}", from.display()))?;

    std::fs::create_dir_all(data_dir).map_err(err(data_dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let db = data_dir.join(DATABASE_FILE);
    let staged = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged).map_err(err(&staged))?;
    set_private(&staged)?;
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(err(&staged))?;
    // The copy is what gets swapped in, so it is what is checked last.
    let summary = backup::check_snapshot(&staged, &key).map_err(|e| format!("{}: {e}", staged.display()))?;
    if let Some(hex) = write_key {
        write_private_file(&data_dir.join(MASTER_KEY_FILE), hex.as_bytes()).map_err(err(data_dir))?;
    }
    // A WAL left by the old database would be replayed into the restored one.
    for stale in ["-wal", "-shm"] {
        let path = data_dir.join(format!("{DATABASE_FILE}{stale}"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    std::fs::rename(&staged, &db).map_err(err(&db))?;
    sync_dir(data_dir)?;
    println!(
        "{}",
        serde_json::json!({ "restored": db.display().to_string(), "snapshot": summary_json(&summary) })
    );
    Ok(())
}
