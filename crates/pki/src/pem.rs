//! PEM helpers: certificate DER ↔ PEM, chains, and a lenient PEM block parser
//! (any line width, CRLF, text between blocks).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};

/// One decoded PEM block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE`.
    pub label: String,
    /// The decoded payload.
    pub der: Vec<u8>,
    /// Whether RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, ...) were present.
    pub encrypted_headers: bool,
}

/// Encodes DER as PEM with the given label: 64-column base64, LF line endings,
/// trailing newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Parses every PEM block in `text`. Text outside blocks is ignored.
pub fn parse_blocks(text: &str) -> Result<Vec<PemBlock>> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String, bool)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some((label, body, headers)) = current.as_mut() {
            if let Some(rest) = line.strip_prefix("-----END ") {
                let end_label = rest.trim_end_matches('-');
                if end_label != label {
                    return Err(Error::Pem(format!("BEGIN {label} closed by END {end_label}")));
                }
                let der = STANDARD
                    .decode(body.as_bytes())
                    .map_err(|e| Error::Pem(format!("{label}: {e}")))?;
                blocks.push(PemBlock {
                    label: std::mem::take(label),
                    der,
                    encrypted_headers: *headers,
                });
                current = None;
            } else if line.contains(':') {
                *headers = true;
            } else {
                body.extend(line.chars().filter(|c| !c.is_whitespace()));
            }
        } else if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            let label = rest.trim_end_matches('-').to_string();
            current = Some((label, String::new(), false));
        }
    }
    if let Some((label, _, _)) = current {
        return Err(Error::Pem(format!("BEGIN {label} without END")));
    }
    Ok(blocks)
}

/// Certificate DER → `CERTIFICATE` PEM.
pub fn cert_der_to_pem(der: &[u8]) -> String {
    encode("CERTIFICATE", der)
}

/// The first `CERTIFICATE` block of `text`, as DER.
pub fn cert_pem_to_der(text: &str) -> Result<Vec<u8>> {
    parse_blocks(text)?
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .ok_or_else(|| Error::Pem("no CERTIFICATE block".into()))
}

/// Every `CERTIFICATE` block of `text`, in order, as DER.
pub fn certs_from_pem(text: &str) -> Result<Vec<Vec<u8>>> {
    Ok(parse_blocks(text)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect())
}

/// Concatenates certificates (DER, leaf or sub CA first, root last by
/// convention) into one PEM chain.
pub fn pem_chain<I, D>(ders: I) -> String
where
    I: IntoIterator<Item = D>,
    D: AsRef<[u8]>,
{
    ders.into_iter().map(|d| cert_der_to_pem(d.as_ref())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lenient_parsing() {
        let der: Vec<u8> = (0..200u8).collect();
        let pem = cert_der_to_pem(&der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(cert_pem_to_der(&pem).unwrap(), der);

        // CRLF, 76-column lines, text around blocks
        let b64 = STANDARD.encode(&der);
        let wide: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| core::str::from_utf8(c).unwrap())
            .collect();
        let text = format!(
            "subject=CN=x\r\n-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\r\n\r\n{}",
            wide.join("\r\n"),
            pem
        );
        let certs = certs_from_pem(&text).unwrap();
        assert_eq!(certs, vec![der.clone(), der.clone()]);
        assert_eq!(pem_chain([&der, &der]), format!("{pem}{pem}"));
    }

    #[test]
    fn errors() {
        assert!(cert_pem_to_der("nothing here").is_err());
        assert!(parse_blocks("-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
        assert!(parse_blocks("-----BEGIN A-----\nAAAA\n-----END B-----\n").is_err());
        assert!(parse_blocks("-----BEGIN A-----\n!!!!\n-----END A-----\n").is_err());
        let enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(parse_blocks(enc).unwrap()[0].encrypted_headers);
    }
}
