//! Subject alternative names: the [`San`] value type, strict parsing of DNS
//! names, IP addresses, e-mail addresses and URIs, and conversion to and from
//! X.509 `GeneralName`s.

use std::net::{IpAddr, Ipv6Addr};

use der::asn1::{Ia5String, OctetString};
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::{Error, Result};
use crate::name::dn_string;

/// Longest DNS name in presentation form without the trailing dot (RFC 1035).
const MAX_DNS_LEN: usize = 253;
/// Longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;
/// Longest e-mail local part (RFC 5321).
const MAX_LOCAL_PART_LEN: usize = 64;

/// A subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum San {
    /// dNSName.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// Any other form, described (inspection only; never put into certificates).
    Other(String),
}

impl San {
    /// The CAS `SanType` code: 1 email, 2 DNS, 6 URI, 7 IP (0 for others).
    pub fn cas_type(&self) -> u8 {
        match self {
            San::Email(_) => 1,
            San::Dns(_) => 2,
            San::Uri(_) => 6,
            San::Ip(_) => 7,
            San::Other(_) => 0,
        }
    }

    /// The value as text.
    pub fn value(&self) -> String {
        match self {
            San::Dns(s) | San::Email(s) | San::Uri(s) | San::Other(s) => s.clone(),
            San::Ip(ip) => ip.to_string(),
        }
    }

    /// Parses a value given with its CAS `SanType` code (1 email, 2 DNS,
    /// 6 URI, 7 IP) using the strict parser of that type.
    pub fn from_cas_type(cas_type: u8, value: &str) -> Result<San> {
        match cas_type {
            1 => San::parse_email(value),
            2 => San::parse_dns(value),
            6 => San::parse_uri(value),
            7 => San::parse_ip(value),
            other => Err(Error::InvalidSan(format!("unsupported SAN type {other} for {value:?}"))),
        }
    }

    /// Parses a value given with its CAS API type name, case-insensitively
    /// (`rfc822Name`, `dNSName`, `uniformResourceIdentifier`, `iPAddress`),
    /// using the strict parser of that type.
    pub fn from_type_name(type_name: &str, value: &str) -> Result<San> {
        let is = |s: &str| type_name.eq_ignore_ascii_case(s);
        if is("rfc822Name") {
            San::parse_email(value)
        } else if is("dNSName") {
            San::parse_dns(value)
        } else if is("uniformResourceIdentifier") {
            San::parse_uri(value)
        } else if is("iPAddress") {
            San::parse_ip(value)
        } else {
            Err(Error::InvalidSan(format!(
                "unsupported SAN type {type_name:?} for {value:?}"
            )))
        }
    }

    /// A DNS name: LDH labels of 1–63 characters (no leading or trailing
    /// hyphen, no `--` in positions 3–4 except A-labels `xn--…`, which must be
    /// valid punycode), at most 253 characters, no empty labels (so no trailing
    /// dot), a top-level label that is not all digits, and optionally a leading
    /// `*.` wildcard label followed by at least two labels. Internationalised
    /// names must be given as A-labels. The value is kept as given.
    pub fn parse_dns(s: &str) -> Result<San> {
        check_dns(s, true).map_err(|why| Error::InvalidSan(format!("DNS name {s:?}: {why}")))?;
        Ok(San::Dns(s.to_string()))
    }

    /// An IPv4 or IPv6 address (no prefix length, no zone, no brackets).
    pub fn parse_ip(s: &str) -> Result<San> {
        s.parse::<IpAddr>()
            .map(San::Ip)
            .map_err(|_| Error::InvalidSan(format!("IP address {s:?}: not an IPv4/IPv6 address")))
    }

    /// An e-mail address `local@domain`: an ASCII dot-atom local part of at
    /// most 64 characters and a DNS domain as [`San::parse_dns`] accepts it
    /// (without wildcard).
    pub fn parse_email(s: &str) -> Result<San> {
        check_email(s).map_err(|why| Error::InvalidSan(format!("e-mail {s:?}: {why}")))?;
        Ok(San::Email(s.to_string()))
    }

    /// An absolute URI `scheme:scheme-specific-part` (RFC 3986 characters only,
    /// valid percent-escapes); when it has an authority (`scheme://…`), its host
    /// is a DNS name, an IPv4 address or a bracketed IPv6 address (RFC 5280
    /// §4.2.1.6). `urn:…` and `mailto:…` have none.
    pub fn parse_uri(s: &str) -> Result<San> {
        check_uri(s).map_err(|why| Error::InvalidSan(format!("URI {s:?}: {why}")))?;
        Ok(San::Uri(s.to_string()))
    }

    /// Re-checks a value with the strict parser of its kind (for values built
    /// directly from the enum). [`San::Other`] is always refused.
    pub fn validate(&self) -> Result<()> {
        match self {
            San::Dns(s) => San::parse_dns(s).map(drop),
            San::Email(s) => San::parse_email(s).map(drop),
            San::Uri(s) => San::parse_uri(s).map(drop),
            San::Ip(_) => Ok(()),
            San::Other(s) => Err(Error::InvalidSan(format!("unsupported SAN form {s:?}"))),
        }
    }

    /// The X.509 `GeneralName` (after [`San::validate`]).
    pub(crate) fn to_general_name(&self) -> Result<GeneralName> {
        self.validate()?;
        let ia5 = |s: &str| Ia5String::new(s).map_err(|e| Error::InvalidSan(format!("{s:?}: {e}")));
        Ok(match self {
            San::Dns(s) => GeneralName::DnsName(ia5(s)?),
            San::Email(s) => GeneralName::Rfc822Name(ia5(s)?),
            San::Uri(s) => GeneralName::UniformResourceIdentifier(ia5(s)?),
            San::Ip(IpAddr::V4(a)) => GeneralName::IpAddress(OctetString::new(a.octets())?),
            San::Ip(IpAddr::V6(a)) => GeneralName::IpAddress(OctetString::new(a.octets())?),
            San::Other(s) => return Err(Error::InvalidSan(format!("unsupported SAN form {s:?}"))),
        })
    }

    /// Reads a `GeneralName` (any form; unknown forms become [`San::Other`]).
    pub(crate) fn from_general_name(g: &GeneralName) -> San {
        match g {
            GeneralName::DnsName(s) => San::Dns(s.to_string()),
            GeneralName::Rfc822Name(s) => San::Email(s.to_string()),
            GeneralName::UniformResourceIdentifier(s) => San::Uri(s.to_string()),
            GeneralName::IpAddress(o) => {
                let b = o.as_bytes();
                match b.len() {
                    4 => San::Ip(IpAddr::from(<[u8; 4]>::try_from(b).unwrap_or_default())),
                    16 => San::Ip(IpAddr::from(<[u8; 16]>::try_from(b).unwrap_or_default())),
                    _ => San::Other(format!("IP:{}", hex::encode(b))),
                }
            }
            GeneralName::DirectoryName(n) => San::Other(format!("DirName:{}", dn_string(n))),
            GeneralName::RegisteredId(o) => San::Other(format!("RID:{o}")),
            GeneralName::OtherName(o) => San::Other(format!("othername:{}", o.type_id)),
            _ => San::Other("unsupported".into()),
        }
    }
}

/// The SAN list as `GeneralName`s: every value validated, exact duplicates
/// dropped (first occurrence kept).
pub(crate) fn general_names(sans: &[San]) -> Result<Vec<GeneralName>> {
    let mut out: Vec<GeneralName> = Vec::with_capacity(sans.len());
    for (i, s) in sans.iter().enumerate() {
        let g = s.to_general_name()?;
        if !sans[..i].contains(s) {
            out.push(g);
        }
    }
    Ok(out)
}

fn check_dns(s: &str, allow_wildcard: bool) -> core::result::Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if !s.is_ascii() {
        return Err("non-ASCII characters; give IDNs as A-labels (xn--…)".into());
    }
    if s.len() > MAX_DNS_LEN {
        return Err(format!("longer than {MAX_DNS_LEN} characters"));
    }
    let (labels, wildcard) = match s.strip_prefix("*.") {
        Some(rest) if allow_wildcard => (rest, true),
        Some(_) => return Err("wildcards are not allowed here".into()),
        None => (s, false),
    };
    let labels: Vec<&str> = labels.split('.').collect();
    for l in &labels {
        check_label(l)?;
    }
    if wildcard && labels.len() < 2 {
        return Err("a wildcard must be followed by at least two labels".into());
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err("the top-level label is all digits (an IP address belongs in an IP SAN)".into());
    }
    Ok(())
}

fn check_label(l: &str) -> core::result::Result<(), String> {
    if l.is_empty() {
        return Err("empty label".into());
    }
    if l.len() > MAX_LABEL_LEN {
        return Err(format!("label {l:?} is longer than {MAX_LABEL_LEN} characters"));
    }
    if l.contains('*') {
        return Err("a wildcard may only be the whole leftmost label".into());
    }
    if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("label {l:?} has characters other than letters, digits and '-'"));
    }
    if l.starts_with('-') || l.ends_with('-') {
        return Err(format!("label {l:?} starts or ends with '-'"));
    }
    if l.len() >= 4 && &l[2..4] == "--" {
        if !l[..2].eq_ignore_ascii_case("xn") {
            return Err(format!("label {l:?} has the reserved form ??--"));
        }
        let decoded = punycode_decode(&l[4..])
            .filter(|d| !d.iter().any(|c| c.is_control() || c.is_whitespace()))
            .ok_or_else(|| format!("label {l:?} is not valid punycode"))?;
        if decoded.iter().all(char::is_ascii) {
            return Err(format!("A-label {l:?} encodes no non-ASCII character"));
        }
    }
    Ok(())
}

fn check_email(s: &str) -> core::result::Result<(), String> {
    let (local, domain) = s.rsplit_once('@').ok_or("no '@'")?;
    if local.is_empty() {
        return Err("empty local part".into());
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(format!("local part longer than {MAX_LOCAL_PART_LEN} characters"));
    }
    const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    if local.split('.').any(|atom| {
        atom.is_empty()
            || !atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(&b))
    }) {
        return Err("local part is not an ASCII dot-atom".into());
    }
    check_dns(domain, false).map_err(|why| format!("domain: {why}"))
}

fn check_uri(s: &str) -> core::result::Result<(), String> {
    // RFC 5280 §4.2.1.6: a scheme and a scheme-specific part (`urn:…`, `mailto:…` have no
    // authority); when there is an authority, its host must be a FQDN or an IP address.
    let (scheme, after_colon) = s.split_once(':').ok_or("no scheme (scheme:…)")?;
    if after_colon.is_empty() {
        return Err("no scheme-specific part".into());
    }
    let (rest, has_authority) = match after_colon.strip_prefix("//") {
        Some(r) => (r, true),
        None => (after_colon, false),
    };
    let mut sc = scheme.bytes();
    if !sc.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sc.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err("invalid scheme".into());
    }
    const ALLOWED: &[u8] = b"-._~:/?#[]@!$&'()*+,;=%";
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric() || ALLOWED.contains(&b)) {
        return Err("characters outside RFC 3986 (percent-encode them)".into());
    }
    let bytes = rest.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err("invalid percent-escape".into());
        }
    }
    if !has_authority {
        return Ok(());
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (inside, after) = v6.split_once(']').ok_or("unclosed '[' in host")?;
        inside
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("host [{inside}] is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after the IPv6 host")?),
        };
        (None, port)
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host_port), None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5)
    {
        return Err(format!("invalid port {p:?}"));
    }
    if let Some(h) = host {
        if h.is_empty() {
            return Err("no host".into());
        }
        if h.parse::<std::net::Ipv4Addr>().is_err() {
            check_dns(h, false).map_err(|why| format!("host: {why}"))?;
        }
    }
    Ok(())
}

/// RFC 3492 punycode decoding of the part after `xn--` (None if invalid).
fn punycode_decode(input: &str) -> Option<Vec<char>> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    fn adapt(mut delta: u32, points: u32, first: bool) -> u32 {
        delta /= if first { DAMP } else { 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + SKEW)
    }
    let (basic, ext) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if ext.is_empty() {
        return None;
    }
    let mut out: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (128u32, 0u32, 72u32);
    let mut digits = ext.bytes();
    let mut next = digits.next();
    while next.is_some() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let digit = match next? {
                c @ b'a'..=b'z' => u32::from(c - b'a'),
                c @ b'A'..=b'Z' => u32::from(c - b'A'),
                c @ b'0'..=b'9' => u32::from(c - b'0') + 26,
                _ => return None,
            };
            next = digits.next();
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = if k <= bias {
                TMIN
            } else if k >= bias + TMAX {
                TMAX
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = u32::try_from(out.len()).ok()? + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        out.insert(usize::try_from(i).ok()?, char::from_u32(n)?);
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad<T: core::fmt::Debug>(r: Result<T>, needle: &str) {
        match r {
            Err(Error::InvalidSan(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("expected InvalidSan naming {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn dns_names() {
        for ok in [
            "example.com",
            "localhost",
            "a-b.c-d.example",
            "*.example.com",
            "EXAMPLE.com",
            "xn--bcher-kva.example",
            "xn--fiqs8s.cn",
            "1.example.com",
            &format!("{}.com", "a".repeat(63)),
        ] {
            assert_eq!(San::parse_dns(ok).unwrap(), San::Dns(ok.into()), "{ok}");
        }
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        for (v, why) in [
            ("", "empty"),
            ("example.com.", "empty label"),
            (".example.com", "empty label"),
            ("a..b", "empty label"),
            ("bücher.example", "A-labels"),
            ("-a.example", "'-'"),
            ("a-.example", "'-'"),
            ("a_b.example", "characters"),
            ("a b.example", "characters"),
            ("*.com", "two labels"),
            ("*", "wildcard"),
            ("a.*.example.com", "wildcard"),
            ("*a.example.com", "wildcard"),
            ("**.example.com", "wildcard"),
            ("ab--cd.example", "reserved"),
            ("xn--.example", "'-'"),
            ("xn--abc-.example", "'-'"),
            ("xn--a.example", "punycode"),
            ("1.2.3.4", "all digits"),
            (long.as_str(), "253"),
        ] {
            bad(San::parse_dns(v), why);
        }
        bad(San::parse_dns(&format!("{}.com", "a".repeat(64))), "63");
    }

    #[test]
    fn punycode() {
        let s: String = punycode_decode("bcher-kva").unwrap().into_iter().collect();
        assert_eq!(s, "bücher");
        let s: String = punycode_decode("fiqs8s").unwrap().into_iter().collect();
        assert_eq!(s, "中国");
        assert!(punycode_decode("").is_none());
        assert!(punycode_decode("a!").is_none());
        assert!(punycode_decode("99999999999").is_none());
    }

    #[test]
    fn ips() {
        assert_eq!(San::parse_ip("10.0.0.1").unwrap(), San::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(San::parse_ip("2001:db8::1").unwrap().value(), "2001:db8::1");
        for v in [
            "",
            "10.0.0",
            "10.0.0.256",
            "010.0.0.1",
            "::g",
            "[::1]",
            "10.0.0.0/8",
            "fe80::1%eth0",
            " 10.0.0.1",
        ] {
            bad(San::parse_ip(v), "IP address");
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.org",
            "x!#$%&'*/=?^_`{|}~-@a.b",
        ] {
            assert_eq!(San::parse_email(ok).unwrap(), San::Email(ok.into()));
        }
        for (v, why) in [
            ("example.com", "'@'"),
            ("@example.com", "empty local"),
            ("a.@example.com", "dot-atom"),
            (".a@example.com", "dot-atom"),
            ("a..b@example.com", "dot-atom"),
            ("a b@example.com", "dot-atom"),
            ("\"a\"@example.com", "dot-atom"),
            ("用户@example.com", "dot-atom"),
            ("a@", "domain"),
            ("a@exa_mple.com", "domain"),
            ("a@*.example.com", "wildcard"),
            ("a@b@example.com", "dot-atom"),
        ] {
            bad(San::parse_email(v), why);
        }
        bad(San::parse_email(&format!("{}@x.com", "a".repeat(65))), "64");
    }

    #[test]
    fn uris() {
        for ok in [
            "https://example.com",
            "https://example.com/x?y=1#z",
            "spiffe://cluster.local/ns/default/sa/web",
            "http://user@10.0.0.1:8080/p%20q",
            "ldap://[2001:db8::1]:389/cn=x",
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
            "mailto:a@example.com",
        ] {
            assert_eq!(San::parse_uri(ok).unwrap(), San::Uri(ok.into()));
        }
        for (v, why) in [
            ("example.com", "no scheme"),
            ("urn:", "scheme-specific"),
            ("://example.com", "scheme"),
            ("1http://example.com", "scheme"),
            ("http://", "no host"),
            ("file:///etc/passwd", "no host"),
            ("http://exa mple.com", "RFC 3986"),
            ("http://example.com/ü", "RFC 3986"),
            ("http://example.com/%zz", "percent"),
            ("http://example.com/%4", "percent"),
            ("http://example.com:", "port"),
            ("http://example.com:80a", "port"),
            ("http://[::g]/", "IPv6"),
            ("http://[::1/", "unclosed"),
            ("http://exa_mple.com/", "host"),
        ] {
            bad(San::parse_uri(v), why);
        }
    }

    #[test]
    fn cas_types_validation_and_conversion() {
        assert_eq!(San::from_cas_type(2, "a.example").unwrap().cas_type(), 2);
        assert_eq!(San::from_cas_type(7, "::1").unwrap().cas_type(), 7);
        assert_eq!(San::from_cas_type(1, "a@b.example").unwrap().cas_type(), 1);
        assert_eq!(San::from_cas_type(6, "https://b.example").unwrap().cas_type(), 6);
        bad(San::from_cas_type(3, "x"), "type 3");
        for (t, v, code) in [
            ("rfc822Name", "a@b.example", 1),
            ("DNSNAME", "a.example", 2),
            ("dNSName", "*.a.example", 2),
            ("uniformResourceIdentifier", "https://b.example", 6),
            ("ipaddress", "10.0.0.1", 7),
            ("iPAddress", "::1", 7),
        ] {
            assert_eq!(San::from_type_name(t, v).unwrap().cas_type(), code, "{t}");
        }
        bad(San::from_type_name("dNSName", "a..b"), "a..b");
        bad(San::from_type_name("iPAddress", "a.example"), "a.example");
        bad(San::from_type_name("directoryName", "CN=x"), "directoryName");
        bad(San::from_type_name("", "x"), "unsupported SAN type");
        bad(San::Dns("bad..name".into()).validate(), "bad..name");
        bad(San::Other("RID:1.2.3".into()).validate(), "RID:1.2.3");
        let sans = [
            San::parse_dns("a.example").unwrap(),
            San::parse_ip("10.0.0.1").unwrap(),
            San::parse_dns("a.example").unwrap(),
            San::parse_ip("2001:db8::1").unwrap(),
            San::parse_email("a@b.example").unwrap(),
            San::parse_uri("https://b.example").unwrap(),
        ];
        let gns = general_names(&sans).unwrap();
        assert_eq!(gns.len(), 5);
        let back: Vec<San> = gns.iter().map(San::from_general_name).collect();
        let mut expect = sans.to_vec();
        expect.remove(2);
        assert_eq!(back, expect);
        assert!(general_names(&[San::Email("nope".into())]).is_err());
    }
}
