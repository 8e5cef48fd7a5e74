//! TXT lookups through hickory, either at a configured server or the system's resolvers.

use crate::{Failure, FailureKind, VaConfig};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use std::net::IpAddr;

pub(crate) struct TxtResolver {
    resolver: TokioResolver,
}

/// Lower-case, without the trailing root dot: the one spelling used for comparisons.
pub fn normalise_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A DNS name as validation accepts it: LDH labels (underscore allowed, since challenge
/// records such as `_dnsauth.` start with one), no empty label, within DNS length limits.
pub(crate) fn check_name(name: &str) -> Result<String, Failure> {
    let name = normalise_name(name);
    let bad = |why: &str| {
        Err(Failure::new(
            FailureKind::Invalid,
            format!("{name:?} is not a domain name: {why}"),
        ))
    };
    if name.is_empty() || name.len() > 253 {
        return bad("empty or longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("a label is empty or longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("only letters, digits, '-' and '_' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
    }
    Ok(name)
}

impl TxtResolver {
    pub(crate) fn new(config: &VaConfig) -> Result<Self, String> {
        let mut options = ResolverOpts::default();
        options.timeout = config.dns_timeout;
        options.attempts = 2;
        // Validation re-checks until the record appears: a cached negative answer would
        // hide a record the user has just published.
        options.cache_size = 0;
        options.negative_max_ttl = Some(std::time::Duration::ZERO);
        let builder = match config.resolver {
            Some(addr) => {
                let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], servers),
                    TokioConnectionProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| format!("system DNS configuration: {e}"))?,
        };
        Ok(Self {
            resolver: builder.with_options(options).build(),
        })
    }

    pub(crate) async fn txt(&self, name: &str) -> Result<Vec<String>, Failure> {
        let name = check_name(name)?;
        // Fully qualified, so no search domain is ever appended.
        let fqdn = format!("{name}.");
        match self.resolver.txt_lookup(fqdn).await {
            Ok(lookup) => Ok(lookup
                .iter()
                // A TXT record is a list of strings that together make one value.
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect()
                })
                .collect()),
            Err(e) => Err(lookup_failure(&name, "TXT", &e)),
        }
    }

    pub(crate) async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, Failure> {
        let name = check_name(name)?;
        match self.resolver.lookup_ip(format!("{name}.")).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) => Err(lookup_failure(&name, "address", &e)),
        }
    }
}

fn lookup_failure(name: &str, what: &str, e: &hickory_resolver::ResolveError) -> Failure {
    if e.is_no_records_found() || e.is_nx_domain() {
        return Failure::new(FailureKind::NoRecord, format!("no {what} record at {name}"));
    }
    let text = e.to_string();
    let kind = if text.contains("timed out") || text.contains("timeout") {
        FailureKind::Timeout
    } else {
        FailureKind::Unreachable
    };
    Failure::new(kind, format!("{what} lookup of {name} failed: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_normalised() {
        assert_eq!(check_name("_dnsauth.Example.COM.").unwrap(), "_dnsauth.example.com");
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a-.com",
            "ex ample.com",
            "ex/ample.com",
            &"a".repeat(64),
        ] {
            assert_eq!(check_name(bad).unwrap_err().kind, FailureKind::Invalid, "{bad:?}");
        }
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(check_name(&long).is_err(), "255 characters");
    }
}
