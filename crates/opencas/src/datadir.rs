//! The data directory: the database (unless a PostgreSQL URL names another), the master key
//! and the first account's credentials.

use opencas_service::accounts::Credentials;
use opencas_service::{Service, ServiceConfig, ServiceError};
use opencas_store::sealing::{MasterKey, write_private_file};
use opencas_store::{Location, Store};
use std::path::{Path, PathBuf};

pub const DATABASE_FILE: &str = "opencas.db";
pub const MASTER_KEY_FILE: &str = "master.key";
pub const CREDENTIALS_FILE: &str = "credentials.json";
pub const INITIAL_ACCOUNT: &str = "default";

/// Opens the store: the SQLite database in `dir`, or the one `database` (a URL) names.
/// Creates the directory, master key and SQLite database as needed. Replicas sharing a
/// PostgreSQL database must share the master key too (the same `master.key` or
/// `OPENCAS_MASTER_KEY`): it seals every private key in it.
pub async fn open(dir: &Path, database: Option<&str>, config: ServiceConfig) -> Result<Service, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    check_writable(dir)?;
    let master = match std::env::var("OPENCAS_MASTER_KEY") {
        Ok(hex) => MasterKey::from_hex(&hex).map_err(|e| format!("OPENCAS_MASTER_KEY: {e}"))?,
        Err(_) => MasterKey::load_or_create(&dir.join(MASTER_KEY_FILE)).map_err(|e| e.to_string())?,
    };
    let sqlite = dir.join(DATABASE_FILE);
    let location = match database {
        Some(url) => Location::Url(url),
        None => Location::SqliteFile(&sqlite),
    };
    let store = Store::open(location, &master).await.map_err(|e| e.to_string())?;
    Ok(Service::new(store, config))
}

/// SQLite needs to write beside the database (its WAL and shared-memory files) even to
/// read: a read-only data directory would otherwise surface, seconds later, as a pool timeout.
fn check_writable(dir: &Path) -> Result<(), String> {
    // one probe per process: replicas started together on one directory would otherwise
    // remove each other's probe, and the second removal would fail as "not writable"
    let probe = dir.join(format!(".opencas-write-probe-{}", std::process::id()));
    let written = std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe));
    written.map_err(|e| {
        format!(
            "the data directory {} is not writable ({e}); opencas keeps its database there and must write to it",
            dir.display()
        )
    })
}

/// On a fresh data directory, creates the initial account and writes its credentials
/// file (mode 0600). Returns the file's path when it was written now.
pub async fn ensure_initial_account(service: &Service, dir: &Path) -> Result<Option<PathBuf>, String> {
    let path = dir.join(CREDENTIALS_FILE);
    if path.exists() || !service.list_accounts().await.map_err(|e| e.to_string())?.is_empty() {
        return Ok(None);
    }
    let credentials = match service.create_account(INITIAL_ACCOUNT).await {
        Ok(credentials) => credentials,
        // Replicas started together on an empty shared database all find no account; the
        // name is unique, so one creates it and the others find it taken: theirs is no error.
        Err(ServiceError::Conflict {
            code: "AccountAlreadyExists",
            ..
        }) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    write_credentials(&path, &credentials, false)?;
    Ok(Some(path))
}

/// Writes credentials JSON with mode 0600; `replace` swaps an existing file atomically.
pub fn write_credentials(path: &Path, credentials: &Credentials, replace: bool) -> Result<(), String> {
    let json = serde_json::to_string_pretty(credentials).expect("credentials serialize") + "\n";
    let target = if replace {
        path.with_extension("json.tmp")
    } else {
        path.to_owned()
    };
    if replace {
        let _ = std::fs::remove_file(&target);
    }
    write_private_file(&target, json.as_bytes()).map_err(|e| format!("{}: {e}", target.display()))?;
    if replace {
        std::fs::rename(&target, path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The account id recorded in the credentials file, if there is one.
pub fn credentials_account_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(CREDENTIALS_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("AccountId")?.as_str().map(str::to_owned)
}
