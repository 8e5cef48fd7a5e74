//! SAN syntax as RFC 5280 §4.2.1.6 and RFC 1035 §2.3.1 define it, written
//! apart from the request-side parsers in `san.rs` so that a regression
//! there is caught here rather than signed.

use x509_cert::ext::pkix::name::GeneralName;

const MAX_DNS_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Checks one GeneralName of a subjectAltName; the error says what is wrong.
pub(super) fn check_general_name(g: &GeneralName) -> Result<(), String> {
    match g {
        GeneralName::DnsName(s) => dns(s.as_str(), true).map_err(|w| format!("dNSName {s:?}: {w}")),
        GeneralName::IpAddress(o) => match o.as_bytes().len() {
            4 | 16 => Ok(()),
            n => Err(format!("iPAddress of {n} octets (4 or 16)")),
        },
        GeneralName::Rfc822Name(s) => email(s.as_str()).map_err(|w| format!("rfc822Name {s:?}: {w}")),
        GeneralName::UniformResourceIdentifier(s) => uri(s.as_str()).map_err(|w| format!("URI {s:?}: {w}")),
        GeneralName::DirectoryName(_) => Ok(()),
        _ => Err("a GeneralName form no profile issues".into()),
    }
}

/// A preferred-name-syntax host name; with `wildcard`, `*` may be the whole
/// leftmost label of a name with at least two more labels.
pub(super) fn dns(s: &str, wildcard: bool) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > MAX_DNS_LEN {
        return Err("empty or longer than 253 characters");
    }
    let mut labels: Vec<&str> = s.split('.').collect();
    if labels[0] == "*" {
        if !wildcard {
            return Err("wildcard not allowed");
        }
        labels.remove(0);
        if labels.len() < 2 {
            return Err("a wildcard needs at least two labels after it");
        }
    }
    for l in &labels {
        let b = l.as_bytes();
        if b.is_empty() || b.len() > MAX_LABEL_LEN {
            return Err("a label is empty or longer than 63 characters");
        }
        if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
            return Err("a label has characters other than letters, digits and '-'");
        }
        if b[0] == b'-' || b[b.len() - 1] == b'-' {
            return Err("a label starts or ends with '-'");
        }
    }
    if labels.last().is_some_and(|t| t.bytes().all(|c| c.is_ascii_digit())) {
        return Err("an all-numeric top-level label");
    }
    Ok(())
}

fn email(s: &str) -> Result<(), &'static str> {
    let (local, domain) = s.rsplit_once('@').ok_or("no '@'")?;
    if local.is_empty() || !local.bytes().all(|b| b.is_ascii_graphic() && b != b'@') {
        return Err("the local part is empty or not printable ASCII");
    }
    dns(domain, false)
}

fn uri(s: &str) -> Result<(), &'static str> {
    let (scheme, rest) = s.split_once(':').ok_or("no scheme")?;
    let mut sc = scheme.bytes();
    if !sc.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sc.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err("invalid scheme");
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("empty or not printable ASCII after the scheme");
    }
    Ok(())
}
