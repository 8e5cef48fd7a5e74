//! One revoked entry of a CRL: `SEQUENCE { userCertificate, revocationDate,
//! crlEntryExtensions }`, written by hand with precomputed lengths (every length fits one
//! octet), from a serial in bytes or straight from its hex form.

use super::{RevocationReason, push_datetime};
use crate::error::{Error, Result};
use crate::issue::unix_to_datetime;

/// Longest serial (content octets of the INTEGER) RFC 5280 allows.
pub(super) const MAX_SERIAL_LEN: usize = 20;
/// `Extensions { Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED ? } } }`
/// without the final code byte.
const REASON_EXTENSIONS: [u8; 13] = [
    0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
];

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The serial as a big-endian magnitude (leading zero bytes are ignored),
    /// 1 to 20 octets once encoded.
    pub serial: Vec<u8>,
    /// Revocation time, Unix seconds.
    pub revocation_time: i64,
    /// The reason; `None` and `Some(Unspecified)` both omit the reasonCode.
    pub reason: Option<RevocationReason>,
}

impl RevokedEntry {
    /// An entry for the serial given in hex (`Serial::to_hex` / `CertInfo::serial_hex`).
    pub fn from_hex(serial_hex: &str, revocation_time: i64, reason: Option<RevocationReason>) -> Result<Self> {
        let serial = hex::decode(serial_hex).map_err(|e| Error::InvalidSerial(format!("{serial_hex:?}: {e}")))?;
        Ok(RevokedEntry {
            serial,
            revocation_time,
            reason,
        })
    }

    /// The DER `SEQUENCE { userCertificate, revocationDate, crlEntryExtensions }`
    /// of this entry, for callers that cache encoded entries and later pass
    /// their concatenation to [`build_crl_from_encoded`].
    pub fn to_der(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(56);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends [`RevokedEntry::to_der`] to `out` (no allocation beyond `out`'s growth).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        encode_entry(&self.serial, self.revocation_time, self.reason, out)
    }

    /// Appends the entry of the serial given in hex (as [`RevokedEntry::from_hex`] takes it)
    /// to `out`: the same octets as `from_hex(..)?.encode_into(out)`, without the allocation
    /// of the serial. A CRL of a million entries is encoded straight from the store's rows
    /// with this; the `hex` crate's decoder and a `Vec` per row were most of that time.
    pub fn encode_hex_into(
        serial_hex: &str,
        revocation_time: i64,
        reason: Option<RevocationReason>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut buf = [0u8; 2 * MAX_SERIAL_LEN];
        let serial = decode_hex(serial_hex, &mut buf)
            .ok_or_else(|| Error::InvalidSerial(format!("{serial_hex:?}: not a hex serial of at most 20 octets")))?;
        encode_entry(serial, revocation_time, reason, out)
    }
}

/// Decodes `hex` into `buf`, skipping leading zero octets so that a serial written with
/// extra zeros still fits; `None` when it is not hex (odd length included) or too long.
fn decode_hex<'b>(hex: &str, buf: &'b mut [u8; 2 * MAX_SERIAL_LEN]) -> Option<&'b [u8]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let h = hex.as_bytes();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    let mut pairs = h.chunks_exact(2).map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?));
    let mut n = 0;
    let mut leading = true;
    for b in pairs.by_ref() {
        let b = b?;
        if leading && b == 0 {
            continue;
        }
        leading = false;
        *buf.get_mut(n)? = b;
        n += 1;
    }
    Some(&buf[..n])
}

/// The DER of one revoked entry, written with precomputed lengths: at most 53 content
/// octets, so every length is one octet and nothing needs a second pass.
fn encode_entry(
    serial: &[u8],
    revocation_time: i64,
    reason: Option<RevocationReason>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let first = serial.iter().position(|b| *b != 0);
    let Some(first) = first else {
        return Err(Error::InvalidSerial("a serial number must be positive".into()));
    };
    let serial = &serial[first..];
    let pad = usize::from(serial[0] & 0x80 != 0);
    let int_len = serial.len() + pad;
    if int_len > MAX_SERIAL_LEN {
        return Err(Error::InvalidSerial(format!(
            "{} is longer than 20 octets",
            hex::encode(serial)
        )));
    }
    let time = unix_to_datetime(revocation_time)?;
    let time_len = if time.year() < 2050 { 15 } else { 17 };
    let reason = RevocationReason::written(reason)?;
    let ext_len = if reason.is_some() {
        REASON_EXTENSIONS.len() + 1
    } else {
        0
    };
    // At most 2 + 20 + 17 + 14 = 53 content octets: always a short-form length.
    out.extend_from_slice(&[0x30, (2 + int_len + time_len + ext_len) as u8, 0x02, int_len as u8]);
    if pad == 1 {
        out.push(0);
    }
    out.extend_from_slice(serial);
    push_datetime(out, &time);
    if let Some(r) = reason {
        out.extend_from_slice(&REASON_EXTENSIONS);
        out.push(r.code());
    }
    Ok(())
}
