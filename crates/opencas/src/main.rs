//! `opencas`: a self-hosted certificate management service speaking the Alibaba Cloud
//! CAS API. This binary wires the layers together and offers the operator's CLI.

mod acme_upstream;
mod audit_cli;
mod backup_cli;
mod cert_cli;
mod config;
mod datadir;
mod domain_validator;
mod listener;
mod orders_cli;
mod orders_config;
mod serve;
mod validation;

use clap::{Parser, Subcommand};
use config::{FileConfig, ServeConfig, ServeFlags};
use std::path::PathBuf;
use std::process::ExitCode;

// Most requests allocate and free many small buffers across two worker threads; mimalloc
// serves that with thread-local free lists where glibc malloc contends on its arenas. Its v2
// line, not v3: in the soak v3 held about twice the memory per thread (docs/RELIABILITY.md).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "opencas",
    version,
    about = "Certificate management service speaking the Alibaba Cloud CAS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Database URL: postgres://user@host:port/db for a PostgreSQL shared by replicas
    /// [default: SQLite in the data directory]. Every subcommand that opens the store takes it.
    #[arg(long, global = true, env = "OPENCAS_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "OPENCAS_LISTEN")]
        listen: Option<String>,
        /// Data directory [default: ./opencas-data].
        #[arg(long, env = "OPENCAS_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long, env = "OPENCAS_CONFIG")]
        config: Option<PathBuf>,
        /// Base URL under which this server is reached (CRL and OCSP addresses).
        #[arg(long, env = "OPENCAS_PUBLIC_URL")]
        public_url: Option<String>,
        /// PEM certificate chain for TLS; with --tls-key, serve HTTPS.
        #[arg(long, env = "OPENCAS_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS.
        #[arg(long, env = "OPENCAS_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// Re-sign every CRL at least this often, in seconds [default: half its lifetime].
        #[arg(long, env = "OPENCAS_CRL_REFRESH_INTERVAL_SECONDS")]
        crl_refresh_interval_seconds: Option<i64>,
    },
    /// Manage tenant accounts (works while the server runs).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Work with an account's certificates.
    Cert {
        #[command(subcommand)]
        command: cert_cli::CertCommand,
    },
    /// Grant and list DV certificate packages.
    Package {
        #[command(subcommand)]
        command: orders_cli::PackageCommand,
    },
    /// The built-in public DV issuer.
    Issuer {
        #[command(subcommand)]
        command: orders_cli::IssuerCommand,
    },
    /// Read and check the audit log.
    Audit {
        #[command(subcommand)]
        command: audit_cli::AuditCommand,
    },
    /// Write a consistent snapshot of the database while the server runs (SQLite only; the
    /// master key is not included: keep it apart).
    Backup {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The backup file to write; must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a data directory, with the server stopped.
    Restore {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The backup file written by `opencas backup`.
        #[arg(long)]
        from: PathBuf,
        /// The master key file the backup's data was sealed with [default: OPENCAS_MASTER_KEY,
        /// else DATA_DIR/master.key]; copied into the data directory when it has none.
        #[arg(long)]
        master_key: Option<PathBuf>,
        /// Replace the database of a data directory that is not empty.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and print its credentials as JSON.
    Create {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// List accounts as JSON.
    List {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Disable an account: its keys stop working.
    Disable {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        account_id: i64,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        account_id: i64,
    },
    /// Replace an account's access key and API key; the old ones stop working.
    RotateKey {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        account_id: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OPENCAS_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    // The blocking pool runs CPU work only (key generation, signing, CRL encoding, local SQLite
    // reads): threads beyond a few per core add no throughput. Tokio's default of 512 let a
    // 200-connection soak start ~90 of them, and the allocator keeps a heap per thread, so RSS
    // grew to 1.3 GiB while the writes lasted (docs/RELIABILITY.md, "Load").
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // Two async workers per core rather than tokio's one. The workers also run short
    // blocking work in place (ECDSA signing, the direct readers' SQLite reads), and a worker
    // that loses its core (to the SQLite writer thread, or to the hypervisor on a shared
    // host) holds the tasks queued on it until it runs again; a second worker per core keeps
    // answering meanwhile. On 2 vCPUs: P-256 Sign 5–18 % faster on a quiet host and up to
    // ~45 % on a busy one; issuance, RSA and SM2 unchanged within noise (docs/PERFORMANCE.md,
    // "Two async workers per core"). `TOKIO_WORKER_THREADS` still overrides.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(2 * cores);
    }
    let runtime = builder
        .max_blocking_threads((4 * cores).max(8))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command, cli.database)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("opencas: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, database: Option<String>) -> Result<(), String> {
    match command {
        Command::Serve {
            listen,
            data_dir,
            config,
            public_url,
            tls_cert,
            tls_key,
            crl_refresh_interval_seconds,
        } => {
            let file = FileConfig::load(config.as_deref())?;
            let flags = ServeFlags {
                listen,
                data_dir,
                public_url,
                tls_cert,
                tls_key,
                crl_refresh_interval_seconds,
                database,
            };
            serve::run(ServeConfig::resolve(flags, file)?).await
        }
        Command::Account { command } => account(command, database.as_deref()).await,
        Command::Cert { command } => cert_cli::run(command, database.as_deref()).await,
        Command::Package { command } => orders_cli::package(command, database.as_deref()).await,
        Command::Issuer { command } => orders_cli::issuer(command, database.as_deref()).await,
        Command::Audit { command } => audit_cli::run(command, database.as_deref()).await,
        Command::Backup { data_dir, out } => backup_cli::backup(&data_dir, &out),
        Command::Restore {
            data_dir,
            from,
            master_key,
            force,
        } => backup_cli::restore(&data_dir, &from, master_key.as_deref(), force),
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("serializable"));
}

async fn account(command: AccountCommand, database: Option<&str>) -> Result<(), String> {
    let err = |e: opencas_service::ServiceError| e.to_string();
    match command {
        AccountCommand::Create { data_dir, name } => {
            let service = datadir::open(&data_dir, database, Default::default()).await?;
            let credentials = service.create_account(&name).await.map_err(err)?;
            print_json(&credentials);
            service.store().close().await;
        }
        AccountCommand::List { data_dir } => {
            let service = datadir::open(&data_dir, database, Default::default()).await?;
            print_json(&service.list_accounts().await.map_err(err)?);
            service.store().close().await;
        }
        AccountCommand::Disable { data_dir, account_id } => set_enabled(&data_dir, database, account_id, false).await?,
        AccountCommand::Enable { data_dir, account_id } => set_enabled(&data_dir, database, account_id, true).await?,
        AccountCommand::RotateKey { data_dir, account_id } => {
            let service = datadir::open(&data_dir, database, Default::default()).await?;
            let credentials = service.rotate_credentials(account_id).await.map_err(err)?;
            if datadir::credentials_account_id(&data_dir).as_deref() == Some(credentials.account_id.as_str()) {
                datadir::write_credentials(&data_dir.join(datadir::CREDENTIALS_FILE), &credentials, true)?;
            }
            print_json(&credentials);
            service.store().close().await;
        }
    }
    Ok(())
}

async fn set_enabled(
    data_dir: &std::path::Path,
    database: Option<&str>,
    account_id: i64,
    enabled: bool,
) -> Result<(), String> {
    let service = datadir::open(data_dir, database, Default::default()).await?;
    service
        .set_account_enabled(account_id, enabled)
        .await
        .map_err(|e| e.to_string())?;
    let status = if enabled { "Active" } else { "Disabled" };
    print_json(&serde_json::json!({ "AccountId": account_id.to_string(), "Status": status }));
    service.store().close().await;
    Ok(())
}
