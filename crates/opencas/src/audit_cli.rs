//! `opencas audit list|verify`: read the audit log of a data directory (works while the
//! server runs; neither command writes).

use crate::config;
use crate::datadir::DATABASE_FILE;
use clap::Subcommand;
use opencas_service::{Service, store::AuditFilter, store::AuditRecord, store::ChainCheck};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print records as JSON lines, oldest first.
    List {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Only records at or after this time (RFC 3339, e.g. 2026-11-23T10:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only records before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only records of this account id.
        #[arg(long)]
        account: Option<i64>,
        /// Only records of this action (e.g. CreateServerCertificate).
        #[arg(long)]
        action: Option<String>,
        /// At most this many records.
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Walk the hash chain; exits non-zero naming the first broken record.
    Verify {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

/// Opens the store for reading the log. The log holds nothing sealed, so the master key is
/// not needed and a placeholder stands in (this also never creates a key file).
async fn open(data_dir: &Path, database: Option<&str>) -> Result<Service, String> {
    use opencas_service::store::{Location, Store};
    let db = data_dir.join(DATABASE_FILE);
    let location = match database {
        Some(url) => Location::Url(url),
        None if db.is_file() => Location::SqliteFile(&db),
        None => return Err(format!("{}: no database here", db.display())),
    };
    // reading the log needs no sealed data, so no master key either
    let placeholder = opencas_service::store::sealing::MasterKey::from_hex(&"00".repeat(32)).expect("64 hex chars");
    let store = Store::open(location, &placeholder).await.map_err(|e| e.to_string())?;
    Ok(Service::new(store, Default::default()))
}

fn parse_time(flag: &str, text: Option<String>) -> Result<Option<i64>, String> {
    text.map(|t| {
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
            .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|e| format!("--{flag} {t}: not an RFC 3339 time ({e})"))
    })
    .transpose()
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn json_line(r: &AuditRecord) -> serde_json::Value {
    let e = &r.entry;
    let parsed = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or_else(|_| text.into());
    serde_json::json!({
        "seq": r.seq,
        "time": rfc3339(e.at_ms),
        "kind": e.kind,
        "account_id": e.account_id,
        "access_key_id": e.access_key_id,
        "action": e.action,
        "version": e.version,
        "request_id": e.request_id,
        "source": e.source,
        "params": parsed(&e.params),
        "resources": parsed(&e.resources),
        "status": e.status,
        "code": e.code,
        "hash": r.hash,
    })
}

pub async fn run(command: AuditCommand, database: Option<&str>) -> Result<(), String> {
    match command {
        AuditCommand::List {
            data_dir,
            since,
            until,
            account,
            action,
            limit,
        } => {
            let filter = AuditFilter {
                since_ms: parse_time("since", since)?,
                until_ms: parse_time("until", until)?,
                account_id: account,
                action,
                limit,
            };
            let service = open(&data_dir, database).await?;
            let records = service.audit_list(&filter).await.map_err(|e| e.to_string());
            service.store().close().await;
            for r in records? {
                println!("{}", json_line(&r));
            }
            Ok(())
        }
        AuditCommand::Verify { data_dir } => {
            let service = open(&data_dir, database).await?;
            let check = service.audit_verify().await.map_err(|e| e.to_string());
            service.store().close().await;
            match check? {
                ChainCheck::Intact { records, head } => {
                    println!(
                        "{}",
                        serde_json::json!({ "status": "intact", "records": records, "head": head })
                    );
                    Ok(())
                }
                ChainCheck::Broken { seq, reason } => Err(format!("audit chain broken at record {seq}: {reason}")),
            }
        }
    }
}
