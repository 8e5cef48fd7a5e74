//! Request decoding: query strings and form bodies as `application/x-www-form-urlencoded`
//! (strictly: a malformed escape or invalid UTF-8 is refused, not guessed at), and JSON
//! object bodies flattened the way the SDKs flatten lists and objects.

use crate::error::WireError;
use crate::params::Params;
use serde_json::Value;
use std::collections::BTreeMap;

pub type Pairs = Vec<(String, String)>;

/// At most this many parameters in one request.
pub const MAX_PARAMS: usize = 1000;

fn malformed(what: &str, detail: &str) -> WireError {
    let name = if what == "query" { "Query" } else { "Body" };
    WireError::invalid(name, format!("The request {what} is malformed: {detail}."))
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn decode_component(raw: &str, what: &str) -> Result<String, WireError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex_val),
                    bytes.get(i + 2).copied().and_then(hex_val),
                ) else {
                    return Err(malformed(what, "invalid percent-escape"));
                };
                out.push(h << 4 | l);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| malformed(what, "not UTF-8"))
}

/// Parses `a=1&b=2` (form or query encoding) into ordered pairs.
pub fn parse_form(input: &[u8], what: &str) -> Result<Pairs, WireError> {
    let text = std::str::from_utf8(input).map_err(|_| malformed(what, "not UTF-8"))?;
    let mut pairs = Vec::new();
    for part in text.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() >= MAX_PARAMS {
            return Err(malformed(what, "too many parameters"));
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = decode_component(k, what)?;
        if key.is_empty() || key.chars().any(char::is_control) {
            return Err(malformed(what, "invalid parameter name"));
        }
        pairs.push((key, decode_component(v, what)?));
    }
    Ok(pairs)
}

/// Flattens a JSON object body: scalars become strings, arrays `Name.N` (1-based),
/// objects `Name.Key`; nulls are dropped.
pub fn parse_json_object(input: &[u8]) -> Result<Pairs, WireError> {
    let value: Value = serde_json::from_slice(input).map_err(|e| malformed("body", &format!("invalid JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(malformed("body", "a JSON body must be an object"));
    };
    let mut pairs = Vec::new();
    for (k, v) in map {
        flatten(&k, v, &mut pairs, 0)?;
    }
    if pairs.len() > MAX_PARAMS {
        return Err(malformed("body", "too many parameters"));
    }
    Ok(pairs)
}

/// A request's parameters as decoded from its query string and body.
pub struct DecodedParams {
    pub query: Pairs,
    pub form: Pairs,
    /// Query, form and JSON body merged.
    pub params: Params,
}

/// Decodes the query string and the body (form or JSON object, by `content_type`,
/// lower-cased) and merges them.
pub fn decode_params(query: &[u8], content_type: &str, body: &[u8]) -> Result<DecodedParams, WireError> {
    let query = parse_form(query, "query")?;
    let (form, json) = if body.is_empty() {
        (Vec::new(), Vec::new())
    } else if content_type.starts_with("application/json") {
        (Vec::new(), parse_json_object(body)?)
    } else if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded") {
        (parse_form(body, "body")?, Vec::new())
    } else {
        return Err(WireError::invalid(
            "Body",
            format!("Unsupported Content-Type {content_type}; send a form or a JSON object."),
        ));
    };
    if query.len() + form.len() + json.len() > MAX_PARAMS {
        return Err(WireError::invalid("Body", "The request has too many parameters."));
    }
    // Precedence: query over form over JSON (the 2018-07-13 SDK repeats the query in a
    // JSON body, with the same values).
    let mut merged = BTreeMap::new();
    for (k, v) in json.iter().chain(form.iter()).chain(query.iter()) {
        merged.insert(k.clone(), v.clone());
    }
    Ok(DecodedParams {
        query,
        form,
        params: Params::new(merged),
    })
}

fn flatten(prefix: &str, value: Value, out: &mut Pairs, depth: usize) -> Result<(), WireError> {
    if depth > 8 {
        return Err(malformed("body", "nested too deeply"));
    }
    match value {
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), s)),
        Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                flatten(&format!("{prefix}.{}", i + 1), item, out, depth + 1)?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out, depth + 1)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let pairs = parse_form(b"a=1+2&b=%E4%B8%AD&c=&d&e=%2B", "query").unwrap();
        let expect = [("a", "1 2"), ("b", "中"), ("c", ""), ("d", ""), ("e", "+")];
        let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn form_refuses_garbage() {
        for bad in [&b"a=%zz"[..], b"a=%4", b"a=%ff%fe", b"\xff=1", b"=x"] {
            let err = parse_form(bad, "body").unwrap_err();
            assert_eq!(err.code, "InvalidParameter.Body", "{bad:?}");
        }
        let many = (0..=MAX_PARAMS)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(parse_form(many.as_bytes(), "query").is_err());
    }

    #[test]
    fn json_flattening() {
        let body = br#"{"A":1,"B":true,"C":["x","y"],"Tags":[{"Key":"k","Value":"v"}],"N":null,"O":{"P":"q"}}"#;
        let mut pairs = parse_json_object(body).unwrap();
        pairs.sort();
        let got: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            [
                "A=1",
                "B=true",
                "C.1=x",
                "C.2=y",
                "O.P=q",
                "Tags.1.Key=k",
                "Tags.1.Value=v"
            ]
        );
        assert!(parse_json_object(b"[1,2]").is_err());
        assert!(parse_json_object(b"{bad").is_err());
    }
}
