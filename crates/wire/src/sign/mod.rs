//! Request signatures as the official clients compute them: v1 (HMAC-SHA1 over the
//! sorted, doubly-encoded parameters) and v3 (ACS3-HMAC-SHA256 / ACS3-HMAC-SM3 over a
//! canonical request). Pure functions; comparison happens in `auth`.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use sm3::Sm3;

/// RFC 3986 unreserved characters stay literal; everything else is `%XX` (upper case).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Sorted `name=value` pairs, each side RFC 3986 encoded, joined by `&`. Built in one buffer:
/// every signed request goes through here.
fn canonical_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut encoded: Vec<(String, String)> = pairs.map(|(k, v)| (percent_encode(k), percent_encode(v))).collect();
    encoded.sort_unstable();
    let len = encoded.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The v1 string to sign: `METHOD&%2F&<encoded canonical query>`. `params` is every query
/// and body parameter except `Signature`.
pub fn v1_string_to_sign<'a>(method: &str, params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    format!("{method}&%2F&{}", percent_encode(&canonical_pairs(params)))
}

pub fn v1_signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The hash and MAC family of a v3 algorithm name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Algorithm {
    HmacSha256,
    HmacSm3,
}

impl V3Algorithm {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ACS3-HMAC-SHA256" => Some(Self::HmacSha256),
            "ACS3-HMAC-SM3" => Some(Self::HmacSm3),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "ACS3-HMAC-SHA256",
            Self::HmacSm3 => "ACS3-HMAC-SM3",
        }
    }

    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Self::HmacSha256 => hex::encode(Sha256::digest(data)),
            Self::HmacSm3 => hex::encode(Sm3::digest(data)),
        }
    }

    pub fn mac_hex(self, key: &[u8], data: &[u8]) -> String {
        match self {
            Self::HmacSha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
                mac.update(data);
                hex::encode(mac.finalize().into_bytes())
            }
            Self::HmacSm3 => {
                let mut mac = Hmac::<Sm3>::new_from_slice(key).expect("any key length");
                mac.update(data);
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }
}

/// Everything the v3 canonical request is built from.
pub struct V3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    /// `(lower-case name, values)` for each signed header, in any order.
    pub signed_headers: &'a [(String, Vec<String>)],
    pub content_sha256: &'a str,
}

pub fn v3_canonical_request(r: &V3Request<'_>) -> String {
    let query = canonical_pairs(r.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut headers: Vec<&(String, Vec<String>)> = r.signed_headers.iter().collect();
    headers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(256 + query.len() + r.path.len());
    for part in [r.method, r.path, query.as_str()] {
        out.push_str(part);
        out.push('\n');
    }
    let mut vals: Vec<&str> = Vec::new();
    for (name, values) in &headers {
        vals.clear();
        vals.extend(values.iter().map(|v| v.trim()));
        vals.sort_unstable();
        out.push_str(name);
        out.push(':');
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(v);
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(r.content_sha256);
    out
}

pub fn v3_string_to_sign(alg: V3Algorithm, canonical_request: &str) -> String {
    format!("{}\n{}", alg.name(), alg.hash_hex(canonical_request.as_bytes()))
}

#[cfg(test)]
mod tests;
