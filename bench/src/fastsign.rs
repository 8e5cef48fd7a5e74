//! A v3-signed request written straight into a byte buffer, for the points whose rate makes
//! the load generator's own CPU matter (crypto ops, ~13,000 requests/s on two cores shared
//! with the server). Signs exactly what `sign::v3_headers` signs, with a fresh date, nonce and
//! signature per request; what it saves is the header map, the intermediate strings and the
//! HMAC key set-up (the keyed state is computed once and cloned).

use crate::sign::{ALGORITHM, EMPTY_SHA256, acs_date};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::io::Write;

const SIGNED_HEADERS: &str = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

/// Everything of a request that stays the same from one to the next.
pub struct RequestTemplate {
    host: String,
    action: String,
    version: String,
    /// The canonical query, which is also the URL's query.
    query: String,
    access_key_id: String,
    keyed: Hmac<Sha256>,
}

impl RequestTemplate {
    pub fn new(host: &str, action: &str, version: &str, query: &str, access_key_id: &str, secret: &str) -> Self {
        Self {
            host: host.to_owned(),
            action: action.to_owned(),
            version: version.to_owned(),
            query: query.to_owned(),
            access_key_id: access_key_id.to_owned(),
            keyed: Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length"),
        }
    }

    /// Writes one request (`POST /?query`, empty body) dated `date` with `nonce` into `out`;
    /// `scratch` holds the canonical request.
    pub fn write(&self, date: &str, nonce: &str, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
        scratch.clear();
        let _ = write!(
            scratch,
            "POST\n/\n{}\nhost:{}\nx-acs-action:{}\nx-acs-content-sha256:{EMPTY_SHA256}\nx-acs-date:{date}\n\
             x-acs-signature-nonce:{nonce}\nx-acs-version:{}\n\n{SIGNED_HEADERS}\n{EMPTY_SHA256}",
            self.query, self.host, self.action, self.version
        );
        let mut hex = [0u8; 64];
        let _ = hex::encode_to_slice(Sha256::digest(&scratch[..]), &mut hex);
        let mut mac = self.keyed.clone();
        mac.update(ALGORITHM.as_bytes());
        mac.update(b"\n");
        mac.update(&hex);
        let _ = hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex);
        let signature = std::str::from_utf8(&hex).expect("hex");
        out.clear();
        let _ = write!(
            out,
            "POST /?{} HTTP/1.1\r\nhost: {}\r\nx-acs-action: {}\r\nx-acs-version: {}\r\nx-acs-date: {date}\r\n\
             x-acs-signature-nonce: {nonce}\r\nx-acs-content-sha256: {EMPTY_SHA256}\r\naccept: application/json\r\n\
             authorization: {ALGORITHM} Credential={},SignedHeaders={SIGNED_HEADERS},Signature={signature}\r\n\
             content-length: 0\r\n\r\n",
            self.query, self.host, self.action, self.version, self.access_key_id
        );
    }

    /// Writes one request dated now with a fresh random nonce.
    pub fn write_fresh(&self, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut nonce = [0u8; 32];
        let _ = hex::encode_to_slice(rand::random::<u128>().to_be_bytes(), &mut nonce);
        self.write(&acs_date(secs), std::str::from_utf8(&nonce).expect("hex"), scratch, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign;

    /// The same request through the general signer: every header and the signature agree.
    #[test]
    fn signs_what_the_general_signer_signs() {
        let query = sign::canonical_query(&[("CertIdentifier", "abc"), ("Message", "a b+c")]);
        let t = RequestTemplate::new("127.0.0.1:8080", "Sign", "2020-04-07", &query, "AKID", "s3cret");
        let (date, nonce) = ("2026-11-24T06:00:00Z", "0123456789abcdef0123456789abcdef");
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        t.write(date, nonce, &mut scratch, &mut out);
        let headers = [
            ("host", "127.0.0.1:8080"),
            ("x-acs-action", "Sign"),
            ("x-acs-version", "2020-04-07"),
            ("x-acs-date", date),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ];
        let signed = sign::sign("POST", "/", &query, &headers, EMPTY_SHA256, "AKID", "s3cret");
        assert_eq!(String::from_utf8(scratch).unwrap(), signed.canonical_request);
        let mut expected = format!("POST /?{query} HTTP/1.1\r\n");
        for (k, v) in headers {
            expected.push_str(&format!("{k}: {v}\r\n"));
        }
        expected.push_str(&format!(
            "accept: application/json\r\nauthorization: {}\r\ncontent-length: 0\r\n\r\n",
            signed.authorization
        ));
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn fresh_requests_differ_in_nonce() {
        let t = RequestTemplate::new("h", "Sign", "2020-04-07", "A=1", "AKID", "s");
        let (mut scratch, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        t.write_fresh(&mut scratch, &mut a);
        t.write_fresh(&mut scratch, &mut b);
        assert_ne!(a, b);
    }
}
