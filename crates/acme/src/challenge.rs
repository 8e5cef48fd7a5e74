//! Pure helpers: domain checks, the order-URL fragment, and what a challenge asks the user to publish.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use instant_acme::ChallengeType;
use sha2::{Digest, Sha256};

use crate::{AcmeChallengeKind, AcmeError, DomainChallenge};

impl AcmeChallengeKind {
    pub(crate) fn acme_type(self) -> ChallengeType {
        match self {
            AcmeChallengeKind::Dns01 => ChallengeType::Dns01,
            AcmeChallengeKind::Http01 => ChallengeType::Http01,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallengeKind::Dns01 => "dns-01",
            AcmeChallengeKind::Http01 => "http-01",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "dns-01" => Some(AcmeChallengeKind::Dns01),
            "http-01" => Some(AcmeChallengeKind::Http01),
            _ => None,
        }
    }
}

/// Lower-cases, drops a trailing dot and duplicates, and refuses what no ACME CA would take:
/// empty names, IP addresses, and wildcards under http-01 (RFC 8555 §7.1.3 allows wildcards
/// only with dns-01).
pub(crate) fn normalise_domains(domains: &[String], kind: AcmeChallengeKind) -> Result<Vec<String>, AcmeError> {
    if domains.is_empty() {
        return Err(AcmeError::Invalid("an ACME order needs at least one domain".into()));
    }
    let mut out: Vec<String> = Vec::with_capacity(domains.len());
    for raw in domains {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let bare = name.strip_prefix("*.").unwrap_or(&name);
        if bare.is_empty() || bare.contains('*') || bare.contains(char::is_whitespace) || !bare.contains('.') {
            return Err(AcmeError::Invalid(format!(
                "'{raw}' is not a domain name an ACME CA can validate"
            )));
        }
        if bare.parse::<std::net::IpAddr>().is_ok() {
            return Err(AcmeError::Invalid(format!(
                "'{raw}' is an IP address; only domain names can be ordered"
            )));
        }
        if name.starts_with("*.") && kind == AcmeChallengeKind::Http01 {
            return Err(AcmeError::Invalid(format!(
                "wildcard domain '{raw}' can only be validated with dns-01, not http-01"
            )));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// The URL we hand out: the CA's order URL plus the challenge type in the fragment.
pub(crate) fn tagged_order_url(url: &str, kind: AcmeChallengeKind) -> String {
    format!("{url}#{}", kind.as_str())
}

/// Splits a handed-out order URL into what the CA knows (no fragment) and our challenge type.
pub(crate) fn split_order_url(order_url: &str) -> Result<(&str, Option<AcmeChallengeKind>), AcmeError> {
    let (url, kind) = match order_url.split_once('#') {
        Some((url, tag)) => {
            let kind = AcmeChallengeKind::parse(tag)
                .ok_or_else(|| AcmeError::Invalid(format!("unknown challenge type '{tag}' in the order URL")))?;
            (url, Some(kind))
        }
        None => (order_url, None),
    };
    if !url.starts_with("https://") {
        return Err(AcmeError::Invalid("an ACME order URL must be an https:// URL".into()));
    }
    Ok((url, kind))
}

/// RFC 8555 §8.1: token '.' base64url(JWK thumbprint).
pub(crate) fn key_authorization(token: &str, thumbprint: &str) -> String {
    format!("{token}.{thumbprint}")
}

/// What the user publishes so that the CA's check of `domain` succeeds (RFC 8555 §8.3, §8.4).
pub(crate) fn domain_challenge(
    kind: AcmeChallengeKind,
    domain: &str,
    token: &str,
    thumbprint: &str,
) -> DomainChallenge {
    let key_auth = key_authorization(token, thumbprint);
    match kind {
        AcmeChallengeKind::Dns01 => DomainChallenge::DnsTxt {
            record_name: format!("_acme-challenge.{}", domain.strip_prefix("*.").unwrap_or(domain)),
            value: URL_SAFE_NO_PAD.encode(Sha256::digest(key_auth.as_bytes())),
        },
        AcmeChallengeKind::Http01 => DomainChallenge::HttpFile {
            domain: domain.to_owned(),
            path: format!("/.well-known/acme-challenge/{token}"),
            content: key_auth,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn domains_are_normalised_and_deduplicated() {
        let got = normalise_domains(
            &names(&["WWW.Example.TEST.", "www.example.test", "*.Example.test"]),
            AcmeChallengeKind::Dns01,
        )
        .unwrap();
        assert_eq!(got, names(&["www.example.test", "*.example.test"]));
    }

    #[test]
    fn wildcard_refused_with_http01_only() {
        let err = normalise_domains(&names(&["a.test", "*.a.test"]), AcmeChallengeKind::Http01).unwrap_err();
        assert!(
            matches!(err, AcmeError::Invalid(ref m) if m.contains("only be validated with dns-01")),
            "{err}"
        );
        assert!(normalise_domains(&names(&["*.a.test"]), AcmeChallengeKind::Dns01).is_ok());
    }

    #[test]
    fn bad_names_refused() {
        for bad in ["", "*.", "localhost", "10.0.0.1", "a.*.test", "a b.test"] {
            assert!(
                normalise_domains(&names(&[bad]), AcmeChallengeKind::Dns01).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(normalise_domains(&[], AcmeChallengeKind::Dns01).is_err());
    }

    #[test]
    fn order_url_round_trips_its_challenge_type() {
        let url = "https://ca.test/order/42";
        for kind in [AcmeChallengeKind::Dns01, AcmeChallengeKind::Http01] {
            assert_eq!(
                split_order_url(&tagged_order_url(url, kind)).unwrap(),
                (url, Some(kind))
            );
        }
        assert_eq!(split_order_url(url).unwrap(), (url, None));
        assert!(split_order_url("https://ca.test/order/42#tls-alpn-01").is_err());
        assert!(split_order_url("http://ca.test/order/42").is_err());
    }

    #[test]
    fn dns01_value_is_rfc8555_digest() {
        // RFC 8555 §8.4: base64url(SHA-256(keyAuthorization)); the digest of "token.thumb" computed
        // independently with `printf token.thumb | openssl dgst -sha256 -binary | basenc --base64url`.
        let c = domain_challenge(AcmeChallengeKind::Dns01, "*.a.test", "token", "thumb");
        assert_eq!(
            c,
            DomainChallenge::DnsTxt {
                record_name: "_acme-challenge.a.test".into(),
                value: "lCdftpJCXapaZHkBGIZbcubeKW8RmA0jSG_aZN01zbU".into()
            }
        );
    }

    #[test]
    fn http01_file_is_key_authorization() {
        let c = domain_challenge(AcmeChallengeKind::Http01, "a.test", "tok", "thumb");
        assert_eq!(
            c,
            DomainChallenge::HttpFile {
                domain: "a.test".into(),
                path: "/.well-known/acme-challenge/tok".into(),
                content: "tok.thumb".into()
            }
        );
    }
}
