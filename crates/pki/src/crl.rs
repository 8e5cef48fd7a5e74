//! Certificate revocation lists (RFC 5280 §5): building and signing v2 CRLs,
//! and parsing them back.
//!
//! The `TBSCertList` is assembled by hand rather than with x509-cert's
//! `CrlBuilder`, which copies the issuer certificate's own AKI (naming the
//! *parent's* key for every sub CA, research trap T3). The revoked entries are
//! written straight into one buffer, so a CRL of a million entries costs one
//! allocation for the entries, one hash pass to sign and one to self-check.

use const_oid::db::rfc5280 as oids;
use der::asn1::OctetString;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::{CrlNumber, CrlReason};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier};

use crate::alg::{Sm2Id, signature_algorithm_name};
use crate::error::{Error, Result};
use crate::issue::{ext, key_identifier, time_to_unix, unix_to_datetime};
use crate::keys::PrivateKey;
use crate::name::dn_string;
use crate::verify::verify_signature;

mod entry;
use entry::MAX_SERIAL_LEN;
pub use entry::RevokedEntry;

/// A revocation reason (RFC 5280 §5.3.1 `CRLReason`; code 7 is unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// unspecified (0). Never written: the reasonCode is omitted instead.
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): only meaningful in delta CRLs, so refused here.
    RemoveFromCrl,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::RemoveFromCrl => 8,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// The reason with RFC 5280 code `code`.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The RFC 5280 name: `unspecified`, `keyCompromise`, `cACompromise`,
    /// `affiliationChanged`, `superseded`, `cessationOfOperation`,
    /// `certificateHold`, `removeFromCRL`, `privilegeWithdrawn`, `aACompromise`.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }

    /// Parses a [`RevocationReason::name`], case-insensitively.
    pub fn from_name(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidRevocation(format!("unknown revocation reason {s:?}")))
    }

    pub(crate) fn to_x509(self) -> CrlReason {
        match self {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => CrlReason::AaCompromise,
        }
    }

    pub(crate) fn from_x509(r: CrlReason) -> Self {
        // CrlReason is `repr(u32)` with the RFC codes, all of which are known.
        Self::from_code(r as u8).unwrap_or(RevocationReason::Unspecified)
    }

    /// The reason as it is written: `None` for unspecified (RFC 5280 §5.3.1:
    /// omit the extension instead); removeFromCRL is refused.
    pub(crate) fn written(reason: Option<Self>) -> Result<Option<Self>> {
        match reason {
            Some(RevocationReason::RemoveFromCrl) => Err(Error::InvalidRevocation(
                "removeFromCRL is only valid in delta CRLs".into(),
            )),
            Some(RevocationReason::Unspecified) | None => Ok(None),
            some => Ok(some),
        }
    }
}

/// Appends a DER tag and definite length.
fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let n = (usize::BITS - len.leading_zeros()).div_ceil(8) as usize;
        out.push(0x80 | n as u8);
        out.extend((0..n).rev().map(|i| (len >> (8 * i)) as u8));
    }
}

/// Octets of a DER tag + length for `len` content octets.
fn header_len(len: usize) -> usize {
    if len < 0x80 {
        2
    } else {
        2 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Appends an X.509 `Time`: UTCTime through 2049, GeneralizedTime from 2050.
pub(super) fn push_datetime(out: &mut Vec<u8>, t: &der::DateTime) {
    let two = |v: u8| [b'0' + v / 10, b'0' + v % 10];
    let year = t.year();
    if year < 2050 {
        out.extend_from_slice(&[0x17, 13]);
        out.extend_from_slice(&two((year % 100) as u8));
    } else {
        out.extend_from_slice(&[0x18, 15]);
        out.extend_from_slice(&two((year / 100) as u8));
        out.extend_from_slice(&two((year % 100) as u8));
    }
    for v in [t.month(), t.day(), t.hour(), t.minutes(), t.seconds()] {
        out.extend_from_slice(&two(v));
    }
    out.push(b'Z');
}

/// What the CRL issuer certificate contributes.
struct CrlIssuer {
    name_der: Vec<u8>,
    key_id: Vec<u8>,
}

/// The issuer must be a CA (BasicConstraints CA:TRUE) with cRLSign when it
/// has a KeyUsage extension, and `key` must be its key.
fn crl_issuer(issuer_cert_der: &[u8], key: &PrivateKey) -> Result<CrlIssuer> {
    let cert = Certificate::from_der(issuer_cert_der).map_err(Error::malformed_cert)?;
    let tbs = cert.tbs_certificate();
    let e = Error::malformed_cert;
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .map_err(e)?
        .is_some_and(|(_, bc)| bc.ca);
    let ku_ok = tbs
        .get_extension::<KeyUsage>()
        .map_err(e)?
        .is_none_or(|(_, ku)| ku.crl_sign());
    if !is_ca || !ku_ok {
        return Err(Error::IssuerNotCa);
    }
    let spki = tbs.subject_public_key_info().to_der()?;
    if spki != key.public_key_spki_der() {
        return Err(Error::IssuerKeyMismatch);
    }
    let key_id = match tbs.get_extension::<SubjectKeyIdentifier>().map_err(e)? {
        Some((_, ski)) => ski.0.as_bytes().to_vec(),
        None => key_identifier(&spki)?,
    };
    Ok(CrlIssuer {
        name_der: tbs.subject().to_der()?,
        key_id,
    })
}

/// Builds and signs a v2 CRL (DER) for the CA certificate `issuer_cert_der`.
///
/// Profile: signature algorithm as for certificates (SHA256WITHRSA,
/// ECDSA with SHA-256/384/512 by curve, SM3WITHSM2 with `sm2_id`); issuer =
/// the CA's subject; thisUpdate / nextUpdate (UTCTime through 2049, then
/// GeneralizedTime); the entries in the given order (absent when empty), each
/// with a reasonCode entry extension unless the reason is unspecified; CRL
/// extensions authorityKeyIdentifier (keyIdentifier = the CA's SKI) and
/// cRLNumber, both non-critical. The signature is verified before returning.
/// Duplicate serials are not detected.
///
/// SM2: OpenSSL (`crl -verify`, `verify -crl_check`) checks CRL signatures
/// with the empty ID only, so sign with [`Sm2Id::Empty`] for OpenSSL clients.
///
/// Errors: [`Error::IssuerNotCa`] (no CA:TRUE, or KeyUsage without cRLSign),
/// [`Error::IssuerKeyMismatch`], [`Error::InvalidValidity`] (thisUpdate not
/// before nextUpdate, times out of range), [`Error::InvalidSerial`],
/// [`Error::InvalidRevocation`] (removeFromCRL).
pub fn build_crl(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    entries: &[RevokedEntry],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
    sm2_id: Sm2Id,
) -> Result<Vec<u8>> {
    let issuer = crl_issuer(issuer_cert_der, issuer_key)?;
    let mut encoded = Vec::with_capacity(entries.len() * 53);
    for e in entries {
        e.encode_into(&mut encoded)?;
    }
    assemble(
        &issuer,
        issuer_key,
        &encoded,
        crl_number,
        (this_update, next_update),
        sm2_id,
    )
}

/// Like [`build_crl`], with the revoked entries already encoded:
/// `encoded_entries` is the concatenation of [`RevokedEntry::to_der`] outputs
/// (empty for no entries). Their structure is checked (one `SEQUENCE` each
/// holding a positive INTEGER of at most 20 octets, a UTCTime or
/// GeneralizedTime and optionally extensions), otherwise
/// [`Error::InvalidRevocation`].
pub fn build_crl_from_encoded(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    encoded_entries: &[u8],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
    sm2_id: Sm2Id,
) -> Result<Vec<u8>> {
    let issuer = crl_issuer(issuer_cert_der, issuer_key)?;
    check_encoded_entries(encoded_entries)?;
    assemble(
        &issuer,
        issuer_key,
        encoded_entries,
        crl_number,
        (this_update, next_update),
        sm2_id,
    )
}

/// The encoded revoked entries of a DER CRL (the content of its `revokedCertificates`,
/// empty when it has none), in the form [`build_crl_from_encoded`] takes: re-signing an
/// unchanged CRL need not read its entries from anywhere else. The signature is not checked.
pub fn crl_encoded_entries(crl_der: &[u8]) -> Result<&[u8]> {
    let bad = || Error::MalformedCrl("not a v2 CRL".into());
    let (_, list, _) = split_tlv(crl_der).filter(|t| t.0 == 0x30).ok_or_else(bad)?;
    let (_, tbs, _) = split_tlv(list).filter(|t| t.0 == 0x30).ok_or_else(bad)?;
    // version, signature, issuer, thisUpdate, then nextUpdate when it is a time
    let mut rest = tbs;
    for _ in 0..4 {
        rest = split_tlv(rest).ok_or_else(bad)?.2;
    }
    if let Some((0x17 | 0x18, _, after)) = split_tlv(rest) {
        rest = after;
    }
    match split_tlv(rest) {
        Some((0x30, entries, _)) => Ok(entries),
        _ => Ok(&[]),
    }
}

/// Splits one DER TLV off the front of `b`: (tag, content, rest).
fn split_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = match first {
        0..=0x7f => (usize::from(first), b),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let (len_bytes, rest) = b.split_at_checked(n)?;
            let len = len_bytes.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
            // DER: minimal length encoding.
            if len < 0x80 || len_bytes[0] == 0 {
                return None;
            }
            (len, rest)
        }
        _ => return None,
    };
    let (content, rest) = b.split_at_checked(len)?;
    Some((tag, content, rest))
}

fn check_encoded_entries(mut b: &[u8]) -> Result<()> {
    let mut index = 0usize;
    while !b.is_empty() {
        let bad = || Error::InvalidRevocation(format!("encoded revoked entry {index} is malformed"));
        let (tag, content, rest) = split_tlv(b).ok_or_else(bad)?;
        let (int_tag, serial, after) = split_tlv(content).ok_or_else(bad)?;
        let (time_tag, time, after) = split_tlv(after).ok_or_else(bad)?;
        let serial_ok = !serial.is_empty()
            && serial.len() <= MAX_SERIAL_LEN
            && serial[0] & 0x80 == 0
            && !(serial.len() > 1 && serial[0] == 0 && serial[1] & 0x80 == 0)
            && serial.iter().any(|b| *b != 0);
        let time_ok = matches!((time_tag, time.len()), (0x17, 13) | (0x18, 15)) && time.last() == Some(&b'Z');
        let exts_ok = match split_tlv(after) {
            None => after.is_empty(),
            Some((t, _, r)) => t == 0x30 && r.is_empty(),
        };
        if tag != 0x30 || int_tag != 0x02 || !serial_ok || !time_ok || !exts_ok {
            return Err(bad());
        }
        b = rest;
        index += 1;
    }
    Ok(())
}

fn assemble(
    issuer: &CrlIssuer,
    key: &PrivateKey,
    entries: &[u8],
    crl_number: u64,
    (this_update, next_update): (i64, i64),
    sm2_id: Sm2Id,
) -> Result<Vec<u8>> {
    if this_update >= next_update {
        return Err(Error::InvalidValidity("thisUpdate must precede nextUpdate".into()));
    }
    let sig_alg = key.algorithm().signature_algorithm();
    let alg_der = sig_alg.algorithm_identifier().to_der()?;

    // version v2, signature, issuer, thisUpdate, nextUpdate
    let mut head = vec![0x02, 0x01, 0x01];
    head.extend_from_slice(&alg_der);
    head.extend_from_slice(&issuer.name_der);
    push_datetime(&mut head, &unix_to_datetime(this_update)?);
    push_datetime(&mut head, &unix_to_datetime(next_update)?);

    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer.key_id.clone())?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let extensions = vec![ext(false, &aki)?, ext(false, &CrlNumber::try_from(crl_number)?)?].to_der()?;

    let revoked_len = if entries.is_empty() {
        0
    } else {
        header_len(entries.len()) + entries.len()
    };
    let tbs_content = head.len() + revoked_len + header_len(extensions.len()) + extensions.len();

    // The outer SEQUENCE header is only known after signing: leave room for
    // the longest one (tag + 0x84 + 4 length octets) and trim the front later.
    const ROOM: usize = 6;
    let sig_room = 16 + alg_der.len() + key.algorithm().key_size_bits() as usize / 4;
    let mut out = Vec::with_capacity(ROOM + header_len(tbs_content) + tbs_content + sig_room);
    out.resize(ROOM, 0);
    push_header(&mut out, 0x30, tbs_content);
    out.extend_from_slice(&head);
    if !entries.is_empty() {
        push_header(&mut out, 0x30, entries.len());
        out.extend_from_slice(entries);
    }
    push_header(&mut out, 0xa0, extensions.len());
    out.extend_from_slice(&extensions);

    let tbs = &out[ROOM..];
    let sig = key.sign(tbs, sm2_id)?;
    verify_signature(key.public_key_spki_der(), sig_alg, tbs, &sig, sm2_id)
        .map_err(|e| Error::Signing(format!("self-check of the new CRL signature failed: {e}")))?;
    out.extend_from_slice(&alg_der);
    push_header(&mut out, 0x03, sig.len() + 1);
    out.push(0);
    out.extend_from_slice(&sig);

    let mut outer = Vec::with_capacity(ROOM);
    push_header(&mut outer, 0x30, out.len() - ROOM);
    let start = ROOM - outer.len();
    out[start..ROOM].copy_from_slice(&outer);
    out.drain(..start);
    Ok(out)
}

/// One entry of a parsed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntryInfo {
    /// Serial as lower-case hex, leading zero bytes stripped (as `CertInfo::serial_hex`).
    pub serial_hex: String,
    /// Revocation time, Unix seconds.
    pub revocation_time: i64,
    /// The reasonCode entry extension, when present.
    pub reason: Option<RevocationReason>,
}

/// What [`parse_crl`] reports about a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// Issuer in CAS style (`C=CN,ST=...,CN=...`).
    pub issuer_dn: String,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// cRLNumber as lower-case hex without leading zeros.
    pub crl_number_hex: Option<String>,
    /// authorityKeyIdentifier keyIdentifier, lower-case hex.
    pub aki_hex: Option<String>,
    /// Signature algorithm, CAS style (`SHA256WITHRSA`, ...).
    pub signature_algorithm: String,
    /// The revoked certificates, in CRL order.
    pub entries: Vec<CrlEntryInfo>,
}

impl CrlInfo {
    /// The CRL number, when present and at most 64 bits.
    pub fn crl_number(&self) -> Option<u64> {
        u64::from_str_radix(self.crl_number_hex.as_deref()?, 16).ok()
    }
}

fn hex_magnitude(b: &[u8]) -> String {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len().saturating_sub(1));
    let h = hex::encode(&b[first.min(b.len())..]);
    if h.is_empty() { "00".into() } else { h }
}

/// Parses a DER CRL (the signature is not checked; use
/// `verify_certificate_signature` with the issuer's key for that).
pub fn parse_crl(der: &[u8]) -> Result<CrlInfo> {
    let crl: CertificateList = CertificateList::from_der(der).map_err(|e| Error::MalformedCrl(e.to_string()))?;
    let tbs = &crl.tbs_cert_list;
    let mut crl_number_hex = None;
    let mut aki_hex = None;
    for x in tbs.crl_extensions.iter().flatten() {
        let bad = |e: der::Error| Error::MalformedCrl(format!("extension {}: {e}", x.extn_id));
        if x.extn_id == oids::ID_CE_CRL_NUMBER {
            let n = CrlNumber::from_der(x.extn_value.as_bytes()).map_err(bad)?;
            crl_number_hex = Some(hex_magnitude(n.0.as_bytes()));
        } else if x.extn_id == oids::ID_CE_AUTHORITY_KEY_IDENTIFIER {
            let a = AuthorityKeyIdentifier::from_der(x.extn_value.as_bytes()).map_err(bad)?;
            aki_hex = a.key_identifier.map(|k| hex::encode(k.as_bytes()));
        }
    }
    let mut entries = Vec::with_capacity(tbs.revoked_certificates.as_ref().map_or(0, Vec::len));
    for rc in tbs.revoked_certificates.iter().flatten() {
        let mut reason = None;
        for x in rc.crl_entry_extensions.iter().flatten() {
            if x.extn_id == oids::ID_CE_CRL_REASONS {
                let r = CrlReason::from_der(x.extn_value.as_bytes())
                    .map_err(|e| Error::MalformedCrl(format!("reasonCode: {e}")))?;
                reason = Some(RevocationReason::from_x509(r));
            }
        }
        entries.push(CrlEntryInfo {
            serial_hex: hex_magnitude(rc.serial_number.as_bytes()),
            revocation_time: time_to_unix(&rc.revocation_date),
            reason,
        });
    }
    Ok(CrlInfo {
        issuer_dn: dn_string(&tbs.issuer),
        this_update: time_to_unix(&tbs.this_update),
        next_update: tbs.next_update.as_ref().map(time_to_unix),
        crl_number_hex,
        aki_hex,
        signature_algorithm: signature_algorithm_name(&crl.signature_algorithm.oid),
        entries,
    })
}
