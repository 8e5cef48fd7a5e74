//! ACS3-HMAC-SHA256, the v3 request signature the official Alibaba Cloud SDKs send
//! (shared/spec/signatures.md §2), and the request headers the bench signs with it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// Lower-case hex SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// RFC 3986 percent-encoding over UTF-8: only `A–Z a–z 0–9 - _ . ~` stay literal,
/// upper-case hex for everything else (space is `%20`, `*` `%2A`, `/` `%2F`, `+` `%2B`).
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// `name=value` pairs sorted by name (byte order), values RFC 3986-encoded, joined by `&`.
/// The same string serves as the URL query (the server decodes it as form data: `%20`
/// and `%2B` mean what they say there too) and as the canonical query.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// What signing produced, with the intermediate strings for tests.
#[allow(dead_code)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Signs a request. `headers` are the headers to sign (any case; values are trimmed);
/// every one of them is signed. `content_sha256` is the `x-acs-content-sha256` value.
pub fn sign(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    content_sha256: &str,
    access_key_id: &str,
    access_key_secret: &str,
) -> Signed {
    let mut hs: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    hs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    for (k, v) in &hs {
        canonical_headers.push_str(k);
        canonical_headers.push(':');
        canonical_headers.push_str(v);
        canonical_headers.push('\n');
    }
    let signed_headers = hs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        canonical_query,
        canonical_headers,
        signed_headers,
        content_sha256
    );
    let string_to_sign = format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let authorization =
        format!("{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}");
    Signed {
        canonical_request,
        string_to_sign,
        signature,
        authorization,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (UTC).
pub fn acs_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn now_acs_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    acs_date(secs)
}

/// A fresh nonce: 32 lower-case hex characters, as the Python SDK sends.
pub fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The headers of one bench request (`POST /?query`, empty body), signed, ready to send.
/// Signs what the Go SDK signs: `host` and the `x-acs-*` headers.
pub fn v3_headers(
    host: &str,
    action: &str,
    version: &str,
    query: &str,
    access_key_id: &str,
    access_key_secret: &str,
) -> Vec<(&'static str, String)> {
    let date = now_acs_date();
    let nonce = nonce();
    let signed = sign(
        "POST",
        "/",
        query,
        &[
            ("host", host),
            ("x-acs-action", action),
            ("x-acs-version", version),
            ("x-acs-date", &date),
            ("x-acs-signature-nonce", &nonce),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ],
        EMPTY_SHA256,
        access_key_id,
        access_key_secret,
    );
    vec![
        ("host", host.to_owned()),
        ("x-acs-action", action.to_owned()),
        ("x-acs-version", version.to_owned()),
        ("x-acs-date", date),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-content-sha256", EMPTY_SHA256.to_owned()),
        ("accept", "application/json".to_owned()),
        ("authorization", signed.authorization),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Vec<Value> {
        let text = include_str!("../testdata/signature-vectors.json");
        let all: Value = serde_json::from_str(text).unwrap();
        all["v3"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["algorithm"] == ALGORITHM)
            .cloned()
            .collect()
    }

    fn check(v: &Value) {
        let id = v["id"].as_str().unwrap();
        let inputs = &v["inputs"];
        let query: Vec<(String, String)> = inputs["query_as_signed"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // Sign exactly the headers the SDK listed in SignedHeaders.
        let auth = v["authorization"].as_str().unwrap();
        let signed_list = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
        let sent = v["headers_as_signed"].as_object().unwrap();
        let headers: Vec<(&str, &str)> = signed_list
            .split(';')
            .map(|name| {
                let value = sent
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .unwrap_or_else(|| panic!("{id}: header {name} missing"))
                    .1
                    .as_str()
                    .unwrap();
                (name, value)
            })
            .collect();
        let body = inputs["body"].as_str().unwrap();
        let content_sha = sha256_hex(body.as_bytes());
        assert_eq!(
            content_sha,
            v["x-acs-content-sha256"].as_str().unwrap(),
            "{id}: body hash"
        );
        let key_id = auth.split("Credential=").nth(1).unwrap().split(',').next().unwrap();
        let s = sign(
            inputs["method"].as_str().unwrap(),
            inputs["pathname"].as_str().unwrap(),
            &canonical_query(&query),
            &headers,
            &content_sha,
            key_id,
            inputs["access_key_secret"].as_str().unwrap(),
        );
        assert_eq!(
            s.canonical_request,
            v["canonical_request"].as_str().unwrap(),
            "{id}: canonical request"
        );
        assert_eq!(
            s.string_to_sign,
            v["string_to_sign"].as_str().unwrap(),
            "{id}: string to sign"
        );
        assert_eq!(s.signature, v["signature"].as_str().unwrap(), "{id}: signature");
        assert_eq!(s.authorization, auth, "{id}: authorization");
    }

    #[test]
    fn special_chars_vector() {
        let v = vectors()
            .into_iter()
            .find(|v| v["id"] == "v3-list-cert-query-special-chars")
            .unwrap();
        check(&v);
    }

    #[test]
    fn every_hmac_sha256_vector() {
        let vs = vectors();
        assert!(
            vs.len() >= 5,
            "expected the spec's HMAC-SHA256 vectors, found {}",
            vs.len()
        );
        for v in &vs {
            check(v);
        }
    }

    #[test]
    fn encoding() {
        assert_eq!(percent_encode("a b*c~d/e+fé中"), "a%20b%2Ac~d%2Fe%2Bf%C3%A9%E4%B8%AD");
        assert_eq!(canonical_query(&[("b", "2"), ("a", ""), ("A", "x")]), "A=x&a=&b=2");
    }

    #[test]
    fn dates() {
        assert_eq!(acs_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(acs_date(1_456_231_584), "2016-02-23T12:46:24Z");
        assert_eq!(acs_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(acs_date(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn fresh_nonces_and_signed_headers() {
        let a = v3_headers("127.0.0.1:1", "ListCert", "2020-06-30", "", "id", "secret");
        let b = v3_headers("127.0.0.1:1", "ListCert", "2020-06-30", "", "id", "secret");
        let nonce = |h: &Vec<(&str, String)>| h.iter().find(|(k, _)| *k == "x-acs-signature-nonce").unwrap().1.clone();
        assert_ne!(nonce(&a), nonce(&b));
        assert_eq!(nonce(&a).len(), 32);
        let auth = &a.iter().find(|(k, _)| *k == "authorization").unwrap().1;
        assert!(auth.contains(
            "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        ));
    }
}
