//! `[orders]` (validation schedule, issuer per product code) and `[acme.<name>]` (the ACME
//! CAs orders may be sent to). The binary builds an upstream per `[acme.<name>]` and hands
//! the service the map by name.

use opencas_service::orders::{BUILTIN_ISSUER, OrdersConfig, product};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrdersFileConfig {
    pub validation_deadline_seconds: i64,
    pub retry_initial_seconds: i64,
    pub retry_max_seconds: i64,
    pub builtin_validity_days: i64,
    pub poll_interval_ms: u64,
    /// Product code → `builtin` or the name of an `[acme.<name>]` section.
    pub issuers: BTreeMap<String, String>,
}

impl Default for OrdersFileConfig {
    fn default() -> Self {
        let d = OrdersConfig::default();
        Self {
            validation_deadline_seconds: d.validation_deadline_secs,
            retry_initial_seconds: d.retry_initial_secs,
            retry_max_seconds: d.retry_max_secs,
            builtin_validity_days: d.builtin_validity_days,
            poll_interval_ms: d.poll_interval_ms,
            issuers: d.issuers,
        }
    }
}

/// One `[acme.<name>]` upstream.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcmeUpstreamConfig {
    pub directory_url: String,
    /// PEM bundle to trust for the directory's TLS (Pebble's test CA, an internal CA).
    pub ca_bundle: Option<PathBuf>,
    /// `mailto:` contacts registered with the ACME account.
    #[serde(default)]
    pub contact: Vec<String>,
}

impl OrdersFileConfig {
    pub fn resolve(&self, acme: &BTreeMap<String, AcmeUpstreamConfig>) -> Result<OrdersConfig, String> {
        if !(1..=366 * 86_400).contains(&self.validation_deadline_seconds) {
            return Err("[orders] validation_deadline_seconds must be between 1 and 31622400".into());
        }
        if self.retry_initial_seconds < 1 || self.retry_max_seconds < self.retry_initial_seconds {
            return Err("[orders] retry_initial_seconds must be at least 1 and at most retry_max_seconds".into());
        }
        if !(1..=opencas_service::orders::MAX_DV_DAYS).contains(&self.builtin_validity_days) {
            return Err(format!(
                "[orders] builtin_validity_days must be between 1 and {}",
                opencas_service::orders::MAX_DV_DAYS
            ));
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err("[orders] poll_interval_ms must be between 10 and 60000".into());
        }
        for (code, issuer) in &self.issuers {
            if product(code).is_none() {
                return Err(format!("[orders.issuers] {code} is not a DV product code"));
            }
            if issuer != BUILTIN_ISSUER && !acme.contains_key(issuer) {
                return Err(format!(
                    "[orders.issuers] {code} = \"{issuer}\": neither \"{BUILTIN_ISSUER}\" nor an [acme.{issuer}] section"
                ));
            }
        }
        for (name, a) in acme {
            if name == BUILTIN_ISSUER {
                return Err(format!(
                    "[acme.{BUILTIN_ISSUER}]: that name is reserved for the built-in issuer"
                ));
            }
            if !(a.directory_url.starts_with("https://") || a.directory_url.starts_with("http://")) {
                return Err(format!("[acme.{name}] directory_url must be an http(s) URL"));
            }
        }
        Ok(OrdersConfig {
            validation_deadline_secs: self.validation_deadline_seconds,
            retry_initial_secs: self.retry_initial_seconds,
            retry_max_secs: self.retry_max_seconds,
            builtin_validity_days: self.builtin_validity_days,
            issuers: self.issuers.clone(),
            poll_interval_ms: self.poll_interval_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OrdersConfig, String> {
        #[derive(Deserialize)]
        struct F {
            #[serde(default)]
            orders: OrdersFileConfig,
            #[serde(default)]
            acme: BTreeMap<String, AcmeUpstreamConfig>,
        }
        let f: F = toml::from_str(text).map_err(|e| e.to_string())?;
        f.orders.resolve(&f.acme)
    }

    #[test]
    fn orders_settings_are_checked() {
        let c = parse("").unwrap();
        assert_eq!(c.validation_deadline_secs, 3 * 86_400);
        assert_eq!(c.issuer_for("symantec-free-1-free"), BUILTIN_ISSUER);
        let c = parse(
            "[orders]\nvalidation_deadline_seconds = 5\nretry_initial_seconds = 1\n\
             [orders.issuers]\n\"geotrust-dv-1-starter\" = \"pebble\"\n\
             [acme.pebble]\ndirectory_url = \"https://127.0.0.1:14000/dir\"\nca_bundle = \"p.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.validation_deadline_secs, 5);
        assert_eq!(c.issuer_for("geotrust-dv-1-starter"), "pebble");
        assert!(parse("[orders.issuers]\n\"geotrust-dv-1-starter\" = \"nowhere\"\n").is_err());
        assert!(parse("[orders.issuers]\n\"no-such-product\" = \"builtin\"\n").is_err());
        assert!(parse("[orders]\nvalidation_deadline_seconds = 0\n").is_err());
        assert!(parse("[orders]\nbuiltin_validity_days = 398\n").is_err());
        assert!(parse("[acme.x]\ndirectory_url = \"ftp://a\"\n").is_err());
        assert!(parse("[acme.x]\ndirectory_url = \"https://a\"\nbogus = 1\n").is_err());
    }
}
