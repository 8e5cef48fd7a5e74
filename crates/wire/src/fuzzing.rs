//! Entry points for the `cargo fuzz` targets in `fuzz/` and for the corpus replay test
//! that runs them on stable Rust. Errors are expected; only a panic, hang or abort is a
//! finding.

use crate::auth::{check_timestamp, date_to_unix, parse_v3_authorization};
use crate::decode::decode_params;
use crate::params::Params;
use crate::sign::{self, V3Request};

/// Splits an input into `(query, content type, body)`: the first byte picks the body
/// encoding, the query runs up to the first NUL. A seed is therefore a real request
/// written as `F` or `J`, its query string, a NUL and its body.
fn split_request(data: &[u8]) -> (&[u8], &'static str, &[u8]) {
    let (kind, rest) = data.split_first().map_or((0, data), |(k, r)| (*k, r));
    let content_type = match kind {
        b'J' => "application/json",
        b'F' => "application/x-www-form-urlencoded",
        b'T' => "text/plain",
        _ => "",
    };
    match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], content_type, &rest[i + 1..]),
        None => (rest, content_type, &[]),
    }
}

/// Request decoding and typed binding: every accessor is applied to every parameter
/// name (and the list prefix before its first dot), as some handler might.
pub fn params_decode(data: &[u8]) {
    let (query, content_type, body) = split_request(data);
    let Ok(decoded) = decode_params(query, content_type, body) else {
        return;
    };
    bind_everything(&decoded.params);
}

fn bind_everything(p: &Params) {
    let _ = p.paging(50);
    let names: Vec<String> = p.names().map(str::to_owned).collect();
    for name in &names {
        let _ = p.opt_str(name);
        let _ = p.req_str(name);
        let _ = p.opt_str_max(name, 64);
        let _ = p.opt_i64(name, 1..=i64::MAX);
        let _ = p.opt_i64(name, -5..=5);
        let _ = p.opt_enum(name, &["ISSUE", "REVOKE", ""]);
        let _ = p.opt_bool(name);
        let _ = p.comma_list(name);
        let prefix = name.split('.').next().unwrap_or_default();
        let _ = p.list(prefix);
        let _ = p.tags(prefix);
        let _ = p.pairs(prefix, "Name", "Value");
    }
}

/// The credential parts of a request: the `Authorization` header (first line of the
/// input), the v1 timestamp check, and both canonicalisations over the rest of the
/// input read as a request (see [`params_decode`]).
pub fn signature_header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = date_to_unix(first);
    let _ = check_timestamp(first, 1_700_000_000);
    let auth = parse_v3_authorization(first).ok();
    let (query, content_type, body) = split_request(rest.as_bytes());
    let Ok(decoded) = decode_params(query, content_type, body) else {
        return;
    };
    let v1 = decoded
        .query
        .iter()
        .chain(decoded.form.iter())
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let string_to_sign = sign::v1_string_to_sign("POST", v1);
    let _ = sign::v1_signature("secret", &string_to_sign);
    if let Some(auth) = auth {
        // The signed headers' values come from the parameters of the same name.
        let signed_headers: Vec<(String, Vec<String>)> = auth
            .signed_headers
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    decoded.params.raw(h).map(str::to_owned).into_iter().collect(),
                )
            })
            .collect();
        let content_sha256 = auth.algorithm.hash_hex(body);
        let canonical = sign::v3_canonical_request(&V3Request {
            method: "POST",
            path: "/",
            query: &decoded.query,
            signed_headers: &signed_headers,
            content_sha256: &content_sha256,
        });
        let sts = sign::v3_string_to_sign(auth.algorithm, &canonical);
        let _ = auth.algorithm.mac_hex(auth.access_key_id.as_bytes(), sts.as_bytes());
        let _ = auth.signature.to_ascii_lowercase();
    }
}
