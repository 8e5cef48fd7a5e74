//! `opencas cert`: certificates as files — a stored one downloaded, or any file converted.

use crate::{config, datadir};
use clap::Subcommand;
use opencas_service::certstore::convert::{ConvertInput, convert_files};
use opencas_service::issuance::{Download, DownloadFormat};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum CertCommand {
    /// Write a certificate (with its chain, and its key when held) to a file.
    Download {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        account_id: i64,
        /// The certificate's (or CA's) Identifier.
        #[arg(long)]
        identifier: String,
        /// pem, der, pkcs8, pfx or jks.
        #[arg(long, default_value = "pem")]
        format: String,
        /// Protects the private key (required for pkcs8, pfx and jks). Also OPENCAS_CERT_PASSWORD.
        #[arg(long, env = "OPENCAS_CERT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Output file; `-` for standard output.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert certificate files that are not stored here: PEM, DER, PFX or JKS in
    /// (the format is recognised), pem, der, pkcs8, pfx or jks out.
    Convert {
        /// The certificate file; a PEM file may also hold the chain and the key.
        #[arg(long = "in")]
        input: PathBuf,
        /// A separate private key file (PEM: PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Opens the input PFX, JKS or encrypted key. Also OPENCAS_IN_PASSWORD.
        #[arg(long, env = "OPENCAS_IN_PASSWORD", hide_env_values = true)]
        in_password: Option<String>,
        /// pem, der, pkcs8, pfx or jks.
        #[arg(long)]
        format: String,
        /// Protects the private key in the output (required for pkcs8, pfx and jks).
        #[arg(long, env = "OPENCAS_CERT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Output file; `-` for standard output.
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn run(command: CertCommand, database: Option<&str>) -> Result<(), String> {
    let parse_format = |format: &str| {
        DownloadFormat::from_api(format)
            .ok_or_else(|| format!("--format must be one of {}", DownloadFormat::API_VALUES.join(", ")))
    };
    let (file, out) = match command {
        CertCommand::Download {
            data_dir,
            account_id,
            identifier,
            format,
            password,
            out,
        } => {
            let format = parse_format(&format)?;
            let service = datadir::open(&data_dir, database, Default::default()).await?;
            let caller = opencas_service::Caller { account_id };
            let file = service
                .download_certificate(caller, &identifier, format, password)
                .await
                .map_err(|e| e.to_string());
            service.store().close().await;
            (file?, out)
        }
        CertCommand::Convert {
            input,
            key,
            in_password,
            format,
            password,
            out,
        } => {
            let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let input = ConvertInput {
                cert_file: read(&input)?,
                key_file: key.as_deref().map(read).transpose()?,
                input_password: in_password,
            };
            (
                convert_files(input, parse_format(&format)?, password).map_err(|e| e.to_string())?,
                out,
            )
        }
    };
    write_out(&file, &out)
}

fn write_out(file: &Download, out: &Path) -> Result<(), String> {
    if out.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout().write_all(&file.body).map_err(|e| e.to_string())
    } else {
        std::fs::write(out, &file.body).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("wrote {} ({} bytes)", out.display(), file.body.len());
        Ok(())
    }
}
