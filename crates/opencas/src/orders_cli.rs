//! `opencas package …` (grant DV certificate packages to accounts) and `opencas issuer root`
//! (the built-in public issuer's root, for relying parties to trust).

use crate::config;
use crate::datadir;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PackageCommand {
    /// Add N certificates of a DV product to an account's package.
    Grant {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long, alias = "account-id")]
        account: i64,
        /// A DV product code, e.g. symantec-free-1-free.
        #[arg(long)]
        product: String,
        #[arg(long)]
        count: i64,
    },
    /// List packages (of one account, or all) as JSON.
    List {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long, alias = "account-id")]
        account: Option<i64>,
    },
}

#[derive(Subcommand)]
pub enum IssuerCommand {
    /// Print the built-in public issuer's root certificate (PEM), creating the issuer if new.
    Root {
        #[arg(long, env = "OPENCAS_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

fn package_json(p: &opencas_store::PackageRecord) -> serde_json::Value {
    serde_json::json!({
        "AccountId": p.account_id.to_string(),
        "ProductCode": p.product_code,
        "TotalCount": p.total_count,
        "UsedCount": p.used_count,
        "IssuedCount": p.issued_count,
    })
}

pub async fn package(command: PackageCommand, database: Option<&str>) -> Result<(), String> {
    let err = |e: opencas_service::ServiceError| e.to_string();
    let result = match command {
        PackageCommand::Grant {
            data_dir,
            account,
            product,
            count,
        } => {
            let service = datadir::open(&data_dir, database, Default::default()).await?;
            let r = service
                .grant_package(account, &product, count)
                .await
                .map(|p| package_json(&p));
            service.store().close().await;
            r
        }
        PackageCommand::List { data_dir, account } => {
            let service = datadir::open(&data_dir, database, Default::default()).await?;
            let r = service
                .list_packages(account)
                .await
                .map(|ps| serde_json::Value::Array(ps.iter().map(package_json).collect()));
            service.store().close().await;
            r
        }
    };
    crate::print_json(&result.map_err(err)?);
    Ok(())
}

pub async fn issuer(command: IssuerCommand, database: Option<&str>) -> Result<(), String> {
    let IssuerCommand::Root { data_dir } = command;
    let service = datadir::open(&data_dir, database, Default::default()).await?;
    let pem = service.builtin_root_pem().await.map_err(|e| e.to_string());
    service.store().close().await;
    print!("{}", pem?);
    Ok(())
}
