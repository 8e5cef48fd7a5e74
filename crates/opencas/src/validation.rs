//! `[validation]`: how domain control is checked for DV orders (DNS server, host
//! overrides, timeouts). Tests point both at loopback responders.

use opencas_va::VaConfig;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// `IP:PORT` of the DNS server to ask; the system's resolvers when absent.
    pub resolver: Option<String>,
    /// `"domain" = "IP:PORT"`: where HTTP file checks for that domain connect.
    pub host_overrides: HashMap<String, String>,
    pub dns_timeout_seconds: f64,
    pub http_timeout_seconds: f64,
    pub max_file_bytes: usize,
    pub max_redirects: usize,
    /// Allow HTTP checks to connect to private or loopback addresses found through DNS.
    pub allow_private_addresses: bool,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        let d = VaConfig::default();
        Self {
            resolver: None,
            host_overrides: HashMap::new(),
            dns_timeout_seconds: d.dns_timeout.as_secs_f64(),
            http_timeout_seconds: d.http_timeout.as_secs_f64(),
            max_file_bytes: d.max_body_bytes,
            max_redirects: d.max_redirects,
            allow_private_addresses: d.allow_private_addresses,
        }
    }
}

impl ValidationConfig {
    pub fn resolve(&self) -> Result<VaConfig, String> {
        let addr = |what: &str, text: &str| {
            text.parse::<SocketAddr>()
                .map_err(|_| format!("[validation] {what} '{text}' is not IP:PORT"))
        };
        let seconds = |what: &str, s: f64| {
            if s.is_finite() && s > 0.0 && s <= 300.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(format!("[validation] {what} must be between 0 and 300 seconds"))
            }
        };
        if self.max_file_bytes == 0 || self.max_file_bytes > 1 << 20 {
            return Err("[validation] max_file_bytes must be between 1 and 1048576".into());
        }
        let host_overrides = self
            .host_overrides
            .iter()
            .map(|(domain, target)| Ok((domain.clone(), addr("host override", target)?)))
            .collect::<Result<_, String>>()?;
        Ok(VaConfig {
            resolver: self.resolver.as_deref().map(|r| addr("resolver", r)).transpose()?,
            host_overrides,
            dns_timeout: seconds("dns_timeout_seconds", self.dns_timeout_seconds)?,
            http_timeout: seconds("http_timeout_seconds", self.http_timeout_seconds)?,
            max_body_bytes: self.max_file_bytes,
            max_redirects: self.max_redirects.min(10),
            allow_private_addresses: self.allow_private_addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_settings_are_checked() {
        let text = r#"
            resolver = "127.0.0.1:5353"
            http_timeout_seconds = 2.5
            [host_overrides]
            "www.example.test" = "127.0.0.1:8081"
        "#;
        let c: ValidationConfig = toml::from_str(text).unwrap();
        let va = c.resolve().unwrap();
        assert_eq!(va.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(va.http_timeout, Duration::from_millis(2500));
        assert_eq!(va.host_overrides["www.example.test"], "127.0.0.1:8081".parse().unwrap());
        for bad in [
            r#"resolver = "localhost""#,
            "dns_timeout_seconds = 0",
            "max_file_bytes = 0",
        ] {
            let c: ValidationConfig = toml::from_str(bad).unwrap();
            assert!(c.resolve().is_err(), "{bad}");
        }
    }
}
