//! Configuration: command-line flags, then `OPENCAS_*` environment variables (both via
//! clap), then the TOML file given with `--config`, then the defaults.

use crate::validation::ValidationConfig;
use opencas_service::{ServiceConfig, Sm2Id};
use opencas_wire::{Limits, RateLimitConfig, WireConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./opencas-data";

/// The TOML file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// A PostgreSQL URL; SQLite in `data_dir` when absent.
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub rate_limit: RateLimitConfig,
    pub limits: Limits,
    pub ca: CaConfig,
    pub warehouses: WarehouseConfig,
    pub crl: CrlConfig,
    pub ocsp: OcspConfig,
    pub orders: crate::orders_config::OrdersFileConfig,
    pub acme: std::collections::BTreeMap<String, crate::orders_config::AcmeUpstreamConfig>,
    pub validation: ValidationConfig,
}

/// `[warehouses]`: how many certificate warehouses an account may hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarehouseConfig {
    /// Certificate application warehouses.
    pub quota: i64,
    /// Contract signing warehouses (created with `Biz=contract`).
    pub contract_quota: i64,
}

impl Default for WarehouseConfig {
    fn default() -> Self {
        let d = ServiceConfig::default();
        Self {
            quota: d.warehouse_quota,
            contract_quota: d.contract_warehouse_quota,
        }
    }
}

/// `[crl]`: the background CRL refresher.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrlConfig {
    /// Re-sign each CRL at least this often; by default at half its lifetime.
    pub refresh_interval_seconds: Option<i64>,
}

/// `[ocsp]`: the OCSP responder.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcspConfig {
    /// Pre-signed answers kept in memory (0.3 to 1 KiB each with its key; 0 turns the cache off).
    pub cache_entries: usize,
}

impl Default for OcspConfig {
    fn default() -> Self {
        Self {
            cache_entries: ServiceConfig::default().ocsp_cache_entries,
        }
    }
}

/// `[ca]`: quotas of new CAs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaConfig {
    pub root_certificate_quota: i64,
    pub sub_ca_initial_quota: i64,
    /// The SM2 distinguishing ID new SM2 CAs sign with: "1234567812345678" (GM/T 0009, the
    /// default) or "" (what stock OpenSSL 3 verifies chains, CRLs and OCSP responses with).
    pub sm2_distinguishing_id: String,
}

impl Default for CaConfig {
    fn default() -> Self {
        let d = ServiceConfig::default();
        Self {
            root_certificate_quota: d.root_certificate_quota,
            sub_ca_initial_quota: d.sub_ca_initial_quota,
            sm2_distinguishing_id: d.sm2_id.as_str().to_owned(),
        }
    }
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database: Option<String>,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub wire: WireConfig,
    pub service: ServiceConfig,
    pub validation: opencas_va::VaConfig,
    pub acme: std::collections::BTreeMap<String, crate::orders_config::AcmeUpstreamConfig>,
}

pub struct ServeFlags {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub crl_refresh_interval_seconds: Option<i64>,
    pub database: Option<String>,
}

impl ServeConfig {
    pub fn resolve(flags: ServeFlags, file: FileConfig) -> Result<Self, String> {
        let listen_text = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| format!("listen address '{listen_text}' is not IP:PORT"))?;
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let tls = match (flags.tls_cert.or(file.tls_cert), flags.tls_key.or(file.tls_key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = flags
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("{scheme}://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if file.ca.root_certificate_quota < 0 || file.ca.sub_ca_initial_quota < 0 {
            return Err("[ca] quotas cannot be negative".into());
        }
        let sm2_id = match file.ca.sm2_distinguishing_id.as_str() {
            Sm2Id::STANDARD_ID => Sm2Id::Standard,
            "" => Sm2Id::Empty,
            other => {
                return Err(format!(
                    "[ca] sm2_distinguishing_id must be \"{}\" or \"\", not {other:?}",
                    Sm2Id::STANDARD_ID
                ));
            }
        };
        if file.warehouses.quota < 0 || file.warehouses.contract_quota < 0 {
            return Err("[warehouses] quotas cannot be negative".into());
        }
        let crl_refresh = flags.crl_refresh_interval_seconds.or(file.crl.refresh_interval_seconds);
        if crl_refresh.is_some_and(|s| s < 1) {
            return Err("[crl] refresh_interval_seconds must be at least 1".into());
        }
        let service = ServiceConfig {
            public_url: public_url.clone(),
            root_certificate_quota: file.ca.root_certificate_quota,
            sub_ca_initial_quota: file.ca.sub_ca_initial_quota,
            warehouse_quota: file.warehouses.quota,
            contract_warehouse_quota: file.warehouses.contract_quota,
            crl_refresh_interval_secs: crl_refresh,
            ocsp_cache_entries: file.ocsp.cache_entries,
            sm2_id,
            orders: file.orders.resolve(&file.acme)?,
        };
        Ok(Self {
            listen,
            database: flags.database.or(file.database),
            data_dir,
            public_url,
            tls,
            wire: WireConfig {
                rate_limit: file.rate_limit,
                limits: file.limits,
            },
            service,
            validation: file.validation.resolve()?,
            acme: file.acme,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> ServeFlags {
        ServeFlags {
            listen: None,
            data_dir: None,
            public_url: None,
            tls_cert: None,
            tls_key: None,
            crl_refresh_interval_seconds: None,
            database: None,
        }
    }

    #[test]
    fn defaults_and_precedence() {
        let c = ServeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.wire.rate_limit.enabled);

        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\n[rate_limit]\nenabled = false\n[limits]\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let c = ServeConfig::resolve(
            ServeFlags {
                listen: Some("127.0.0.1:9100".into()),
                ..flags()
            },
            file,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert!(!c.wire.rate_limit.enabled);
        assert_eq!(c.wire.limits.max_body_bytes, 10);
        assert_eq!(c.service.warehouse_quota, ServiceConfig::default().warehouse_quota);

        let file: FileConfig = toml::from_str("[warehouses]\nquota = 3\ncontract_quota = 1\n").unwrap();
        let c = ServeConfig::resolve(flags(), file).unwrap();
        assert_eq!((c.service.warehouse_quota, c.service.contract_warehouse_quota), (3, 1));
        let negative: FileConfig = toml::from_str("[warehouses]\nquota = -1\n").unwrap();
        assert!(ServeConfig::resolve(flags(), negative).is_err());
    }

    #[test]
    fn database_url_from_flag_over_file() {
        assert_eq!(
            ServeConfig::resolve(flags(), FileConfig::default()).unwrap().database,
            None
        );
        let file: FileConfig = toml::from_str("database = \"postgres://f@127.0.0.1/a\"\n").unwrap();
        let c = ServeConfig::resolve(flags(), file).unwrap();
        assert_eq!(c.database.as_deref(), Some("postgres://f@127.0.0.1/a"));
        let file: FileConfig = toml::from_str("database = \"postgres://f@127.0.0.1/a\"\n").unwrap();
        let flagged = ServeFlags {
            database: Some("postgres://g@127.0.0.1/b".into()),
            ..flags()
        };
        let c = ServeConfig::resolve(flagged, file).unwrap();
        assert_eq!(c.database.as_deref(), Some("postgres://g@127.0.0.1/b"));
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(toml::from_str::<FileConfig>("no_such_key = 1").is_err());
        let half_tls = ServeFlags {
            tls_cert: Some("c.pem".into()),
            ..flags()
        };
        assert!(ServeConfig::resolve(half_tls, FileConfig::default()).is_err());
        let bad_listen = ServeFlags {
            listen: Some("nowhere".into()),
            ..flags()
        };
        assert!(ServeConfig::resolve(bad_listen, FileConfig::default()).is_err());
        let zero_refresh = ServeFlags {
            crl_refresh_interval_seconds: Some(0),
            ..flags()
        };
        assert!(ServeConfig::resolve(zero_refresh, FileConfig::default()).is_err());
    }

    #[test]
    fn crl_and_ocsp_settings() {
        let c = ServeConfig::resolve(flags(), FileConfig::default()).unwrap();
        assert_eq!(c.service.crl_refresh_interval_secs, None);
        assert_eq!(
            c.service.ocsp_cache_entries,
            ServiceConfig::default().ocsp_cache_entries
        );
        let file: FileConfig =
            toml::from_str("[crl]\nrefresh_interval_seconds = 30\n[ocsp]\ncache_entries = 7\n").unwrap();
        let c = ServeConfig::resolve(flags(), file).unwrap();
        assert_eq!(c.service.crl_refresh_interval_secs, Some(30));
        assert_eq!(c.service.ocsp_cache_entries, 7);
        let file: FileConfig = toml::from_str("[crl]\nrefresh_interval_seconds = 30\n").unwrap();
        let flag = ServeFlags {
            crl_refresh_interval_seconds: Some(5),
            ..flags()
        };
        assert_eq!(
            ServeConfig::resolve(flag, file)
                .unwrap()
                .service
                .crl_refresh_interval_secs,
            Some(5)
        );
    }
}
