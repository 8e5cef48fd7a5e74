//! Pre-issuance linting (after Boulder's lint-before-sign): the to-be-signed
//! certificate is checked against its profile and its issuer just before the
//! signature is computed, so that a bug in a profile, a SAN parser or the RNG
//! refuses the issuance instead of putting a bad certificate into the world.
//!
//! The checks read the structures the builder already holds (the
//! `TbsCertificate` fields and the extension list); only the few extension
//! values that are needed are decoded, and nothing is re-encoded.

mod names;
#[cfg(test)]
mod tests;

use const_oid::AssociatedOid;
use const_oid::ObjectIdentifier;
use der::Decode;
use sha1::{Digest, Sha1};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage,
    KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use crate::alg::{KeyAlgorithm, KeyFamily, describe_spki_ref};
use crate::error::{Error, Result};
use crate::usage::{ExtKeyUsage, KeyUsageFlags};

/// The largest serial RFC 5280 §4.1.2.2 allows, in octets.
const MAX_SERIAL_OCTETS: usize = 20;
/// A random serial carries at least 64 bits (CA/B Forum BR §7.1): 8 octets
/// plus the one whose top bit keeps the INTEGER positive.
const MIN_RANDOM_SERIAL_OCTETS: usize = 9;

/// What the certificate is meant to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A CA certificate (root or subordinate).
    Ca,
    /// A TLS server certificate.
    Server,
    /// A TLS client certificate.
    Client,
    /// An end-entity certificate with exactly these usages.
    Custom {
        key_usage: KeyUsageFlags,
        extended_key_usages: Vec<ExtKeyUsage>,
    },
}

/// The profile and issuer facts the certificate is checked against.
#[derive(Clone, Debug)]
pub(crate) struct LintContext {
    pub(crate) expect: Expect,
    /// The issuer's validity in Unix seconds; `None` for a self-signed root.
    pub(crate) issuer_validity: Option<(i64, i64)>,
    /// The issuer's key identifier, which the AKI must carry.
    pub(crate) issuer_key_id: Vec<u8>,
    /// The request explicitly asked for an RSA-1024 key.
    pub(crate) allow_rsa_1024: bool,
    /// The serial was chosen by the requester (an exact custom serial), so it
    /// carries no entropy by design; it is still checked for form.
    pub(crate) requested_serial: bool,
}

/// The parts of a `TbsCertificate` the lints read.
pub(crate) struct TbsParts<'a> {
    /// The serial's INTEGER content octets.
    pub(crate) serial: &'a [u8],
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) subject: &'a Name,
    pub(crate) spki: SubjectPublicKeyInfoRef<'a>,
    pub(crate) extensions: &'a [Extension],
}

/// Runs every lint; all findings are reported together in one
/// [`Error::LintFailed`].
pub(crate) fn lint_tbs(tbs: &TbsParts<'_>, ctx: &LintContext) -> Result<()> {
    let mut f = Findings(Vec::new());
    lint_serial(tbs.serial, ctx, &mut f);
    lint_validity(tbs, ctx, &mut f);
    let alg = lint_key(tbs, ctx, &mut f);
    lint_extensions(tbs, ctx, alg, &mut f);
    if f.0.is_empty() {
        Ok(())
    } else {
        Err(Error::LintFailed(f.0.join("; ")))
    }
}

struct Findings(Vec<String>);

impl Findings {
    fn add(&mut self, m: impl Into<String>) {
        self.0.push(m.into());
    }
}

fn lint_serial(serial: &[u8], ctx: &LintContext, f: &mut Findings) {
    let Some(first) = serial.first() else {
        return f.add("serial: empty");
    };
    if first & 0x80 != 0 {
        f.add("serial: negative");
    }
    if serial.iter().all(|b| *b == 0) {
        f.add("serial: zero");
    }
    if serial.len() > MAX_SERIAL_OCTETS {
        f.add(format!(
            "serial: {} octets, more than {MAX_SERIAL_OCTETS}",
            serial.len()
        ));
    }
    if ctx.requested_serial {
        return;
    }
    if serial.len() < MIN_RANDOM_SERIAL_OCTETS {
        f.add(format!(
            "serial: {} octets, fewer than the {MIN_RANDOM_SERIAL_OCTETS} that carry 64 random bits",
            serial.len()
        ));
        return;
    }
    // A failing RNG tends to give runs of one value: refuse a serial of which
    // either half is one repeated byte. The first octet is left out: keeping
    // the INTEGER positive and minimal constrains it.
    let (high, low) = serial.split_at(serial.len() / 2);
    let constant = |h: &[u8]| h.windows(2).all(|w| w[0] == w[1]);
    if constant(&high[1..]) || constant(low) {
        f.add("serial: half of it is one repeated byte (no entropy)");
    }
}

fn lint_validity(tbs: &TbsParts<'_>, ctx: &LintContext, f: &mut Findings) {
    if tbs.not_before > tbs.not_after {
        f.add("validity: notBefore is after notAfter");
    }
    if let Some((nb, na)) = ctx.issuer_validity
        && (tbs.not_before < nb || tbs.not_after > na)
    {
        f.add("validity: outside the issuer's validity");
    }
}

fn lint_key(tbs: &TbsParts<'_>, ctx: &LintContext, f: &mut Findings) -> Option<KeyAlgorithm> {
    match describe_spki_ref(&tbs.spki) {
        Ok(d) => match d.algorithm {
            Some(KeyAlgorithm::Rsa1024) if !ctx.allow_rsa_1024 => {
                f.add("key: RSA-1024 without an explicit request for it");
                Some(KeyAlgorithm::Rsa1024)
            }
            Some(a) => Some(a),
            None => {
                f.add(format!("key: {} of {} bits is not allowed", d.name, d.bits));
                None
            }
        },
        Err(e) => {
            f.add(format!("key: {e}"));
            None
        }
    }
}

/// Decodes one extension value, recording a finding when it does not decode.
fn decode<'a, T: Decode<'a>>(e: &'a Extension, what: &str, f: &mut Findings) -> Option<T> {
    match T::from_der(e.extn_value.as_bytes()) {
        Ok(v) => Some(v),
        Err(err) => {
            f.add(format!("{what}: does not decode ({err})"));
            None
        }
    }
}

/// The extensions that may be critical; every other one must not be.
fn may_be_critical(oid: &ObjectIdentifier) -> bool {
    [
        BasicConstraints::OID,
        KeyUsage::OID,
        ExtendedKeyUsage::OID,
        SubjectAltName::OID,
    ]
    .contains(oid)
}

fn lint_extensions(tbs: &TbsParts<'_>, ctx: &LintContext, alg: Option<KeyAlgorithm>, f: &mut Findings) {
    let exts = tbs.extensions;
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|p| p.extn_id == e.extn_id) {
            f.add(format!("extensions: {} appears more than once", e.extn_id));
        }
        if e.critical && !may_be_critical(&e.extn_id) {
            f.add(format!("extensions: {} must not be critical", e.extn_id));
        }
    }
    let find = |oid: ObjectIdentifier| exts.iter().find(|e| e.extn_id == oid);
    let is_ca = ctx.expect == Expect::Ca;

    match find(BasicConstraints::OID) {
        None => f.add("basicConstraints: missing"),
        Some(e) => {
            if !e.critical {
                f.add("basicConstraints: not critical");
            }
            if let Some(bc) = decode::<BasicConstraints>(e, "basicConstraints", f) {
                if bc.ca != is_ca {
                    f.add(format!("basicConstraints: cA is {}, the profile wants {is_ca}", bc.ca));
                }
                if !bc.ca && bc.path_len_constraint.is_some() {
                    f.add("basicConstraints: pathLenConstraint on an end-entity certificate");
                }
            }
        }
    }

    let ku = match find(KeyUsage::OID) {
        None => {
            f.add("keyUsage: missing");
            None
        }
        Some(e) => {
            if !e.critical {
                f.add("keyUsage: not critical");
            }
            decode::<KeyUsage>(e, "keyUsage", f).map(|ku| KeyUsageFlags::from_bits(ku.0.bits()).unwrap_or_default())
        }
    };
    let eku = find(ExtendedKeyUsage::OID).and_then(|e| decode::<ExtendedKeyUsage>(e, "extendedKeyUsage", f));
    if let Some(ku) = ku {
        lint_key_usage(ku, alg, ctx, f);
    }
    lint_eku(eku.as_ref().map(|e| e.0.as_slice()), ctx, f);

    lint_san(find(SubjectAltName::OID), tbs.subject, ctx, f);
    lint_key_ids(
        tbs,
        find(SubjectKeyIdentifier::OID),
        find(AuthorityKeyIdentifier::OID),
        ctx,
        f,
    );
    if let Some(e) = find(CrlDistributionPoints::OID) {
        decode::<CrlDistributionPoints>(e, "cRLDistributionPoints", f);
    }
    if let Some(e) = find(AuthorityInfoAccessSyntax::OID) {
        decode::<AuthorityInfoAccessSyntax>(e, "authorityInfoAccess", f);
    }
    if is_ca && tbs.subject.iter_rdn().next().is_none() {
        f.add("subject: a CA certificate needs a subject name");
    }
}

fn lint_key_usage(ku: KeyUsageFlags, alg: Option<KeyAlgorithm>, ctx: &LintContext, f: &mut Findings) {
    use KeyUsageFlags as K;
    let has = |k: K| ku.contains(k);
    if ku.is_empty() {
        f.add("keyUsage: no bit set");
    }
    let only = K::ENCIPHER_ONLY.bits() | K::DECIPHER_ONLY.bits();
    if ku.bits() & only != 0 && !has(K::KEY_AGREEMENT) {
        f.add("keyUsage: encipherOnly / decipherOnly without keyAgreement");
    }
    match alg.map(KeyAlgorithm::family) {
        Some(KeyFamily::Rsa) if has(K::KEY_AGREEMENT) => f.add("keyUsage: keyAgreement with an RSA key"),
        Some(KeyFamily::Ecc) if has(K::KEY_ENCIPHERMENT) || has(K::DATA_ENCIPHERMENT) => {
            f.add("keyUsage: key or data encipherment with an EC key")
        }
        _ => {}
    }
    let tls = || {
        let mut allowed = K::DIGITAL_SIGNATURE;
        if alg.map(KeyAlgorithm::family) == Some(KeyFamily::Rsa) {
            allowed |= K::KEY_ENCIPHERMENT;
        }
        allowed
    };
    match &ctx.expect {
        Expect::Ca => {
            if !has(K::KEY_CERT_SIGN) {
                f.add("keyUsage: a CA certificate without keyCertSign");
            }
        }
        Expect::Server | Expect::Client => {
            if !has(K::DIGITAL_SIGNATURE) || ku.bits() & !tls().bits() != 0 {
                f.add(format!(
                    "keyUsage: {:?} is not the TLS profile's {:?}",
                    ku.names(),
                    tls().names()
                ));
            }
        }
        Expect::Custom { key_usage, .. } => {
            if ku != *key_usage {
                f.add(format!(
                    "keyUsage: {:?}, the profile asked for {:?}",
                    ku.names(),
                    key_usage.names()
                ));
            }
        }
    }
    if ctx.expect != Expect::Ca && (has(K::KEY_CERT_SIGN) || has(K::CRL_SIGN)) {
        f.add("keyUsage: keyCertSign or cRLSign on an end-entity certificate");
    }
}

fn lint_eku(eku: Option<&[ObjectIdentifier]>, ctx: &LintContext, f: &mut Findings) {
    if eku.is_some_and(<[_]>::is_empty) {
        f.add("extendedKeyUsage: empty");
    }
    let want: Vec<ObjectIdentifier> = match &ctx.expect {
        // A CA may be limited to some purposes, or not at all.
        Expect::Ca => return,
        Expect::Server => vec![ExtKeyUsage::ServerAuth.oid()],
        Expect::Client => vec![ExtKeyUsage::ClientAuth.oid()],
        Expect::Custom {
            extended_key_usages, ..
        } => extended_key_usages.iter().map(|e| e.oid()).collect(),
    };
    let got = eku.unwrap_or_default();
    let same = got.len() <= want.len() && want.iter().all(|w| got.contains(w)) && got.iter().all(|g| want.contains(g));
    if !same {
        let names = |v: &[ObjectIdentifier]| {
            v.iter()
                .map(|o| ExtKeyUsage::name_of(o).map_or_else(|| o.to_string(), str::to_owned))
                .collect::<Vec<_>>()
        };
        f.add(format!(
            "extendedKeyUsage: {:?}, the profile wants {:?}",
            names(got),
            names(&want)
        ));
    }
}

fn lint_san(ext: Option<&Extension>, subject: &Name, ctx: &LintContext, f: &mut Findings) {
    let empty_subject = subject.iter_rdn().next().is_none();
    let Some(e) = ext else {
        if empty_subject {
            f.add("subjectAltName: missing with an empty subject");
        }
        return;
    };
    if empty_subject && !e.critical {
        f.add("subjectAltName: not critical with an empty subject");
    }
    let Some(san) = decode::<SubjectAltName>(e, "subjectAltName", f) else {
        return;
    };
    if san.0.is_empty() {
        f.add("subjectAltName: empty");
    }
    for g in &san.0 {
        if let Err(why) = names::check_general_name(g) {
            f.add(format!("subjectAltName: {why}"));
        }
    }
    if ctx.expect == Expect::Ca {
        f.add("subjectAltName: on a CA certificate");
    }
}

fn lint_key_ids(
    tbs: &TbsParts<'_>,
    ski: Option<&Extension>,
    aki: Option<&Extension>,
    ctx: &LintContext,
    f: &mut Findings,
) {
    match ski.and_then(|e| decode::<SubjectKeyIdentifier>(e, "subjectKeyIdentifier", f)) {
        None if ski.is_none() => f.add("subjectKeyIdentifier: missing"),
        None => {}
        Some(ski) => {
            let want = Sha1::digest(tbs.spki.subject_public_key.raw_bytes());
            if ski.0.as_bytes() != want.as_slice() {
                f.add("subjectKeyIdentifier: not the SHA-1 of the subject key");
            }
        }
    }
    match aki.and_then(|e| decode::<AuthorityKeyIdentifier>(e, "authorityKeyIdentifier", f)) {
        None if aki.is_none() => f.add("authorityKeyIdentifier: missing"),
        None => {}
        Some(aki) => match aki.key_identifier {
            Some(id) if id.as_bytes() == ctx.issuer_key_id.as_slice() => {}
            Some(_) => f.add("authorityKeyIdentifier: does not match the issuer's key identifier"),
            None => f.add("authorityKeyIdentifier: no keyIdentifier"),
        },
    }
}
