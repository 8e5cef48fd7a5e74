//! Certificate issuance internals shared by CA and end-entity building:
//! serials, validity, extension helpers, issuer checks, and signing with a
//! self-check of the fresh signature.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use const_oid::AssociatedOid;
use const_oid::db::rfc5280 as oids;
use der::asn1::{Ia5String, OctetString};
use der::referenced::OwnedToRef;
use der::{DateTime, Decode, Encode};
use rand_core::CryptoRng;
use sha1::{Digest, Sha1};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::alg::{KeyAlgorithm, Sm2Id};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::lint::{LintContext, TbsParts, lint_tbs};
use crate::signer::{DerSignature, KeySigner};
use crate::usage::ExtKeyUsage;
use crate::verify::{split_signed, verify_certificate_signature};

/// The current Unix time in milliseconds as 6 big-endian octets: the prefix that makes
/// serials (and resource identifiers, `opencas_service::new_identifier`) sort by age.
pub fn unix_millis_48() -> [u8; 6] {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let be = ms.to_be_bytes();
    [be[2], be[3], be[4], be[5], be[6], be[7]]
}

/// A certificate serial number: the issuing instant in milliseconds (48 bits) followed by 80
/// random bits, 16 octets that print as 32 lower-case hex digits. The time prefix keeps the
/// first octet in `0x01..=0x7f` (from 2004 to the year 6429), so the INTEGER is positive and
/// always 16 octets long. It also makes a new serial sort after the ones before it: the
/// `(issuer, serial)` index is appended to instead of dirtying a random page per certificate,
/// which with fully random serials cost every group commit a WAL page per certificate (see
/// docs/PERFORMANCE.md, "Time-ordered identifiers and serials"). 80 random bits are more than
/// the 64 the CA/Browser Forum asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Serial([u8; 16]);

impl Serial {
    /// Draws a fresh serial (now, and 80 random bits). Re-roll on a collision.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b[6..]);
        b[..6].copy_from_slice(&unix_millis_48());
        // a clock before 2004 (or past 6429) would break the sign or the length
        if b[0] == 0 || b[0] >= 0x80 {
            b[0] = 0x01;
        }
        Serial(b)
    }

    /// Wraps 16 bytes; the first byte must be in `0x01..=0x7f`.
    pub fn from_bytes(b: [u8; 16]) -> Result<Self> {
        if b[0] == 0 || b[0] & 0x80 != 0 {
            return Err(Error::InvalidSerial("first byte must be in 0x01..=0x7f".into()));
        }
        Ok(Serial(b))
    }

    /// The big-endian bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lower-case hex, 32 digits (the CAS `SerialNumber` form).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A validity period in Unix seconds (UTC). Encoded as UTCTime through 2049
/// and GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertValidity {
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds (inclusive, as X.509 defines it).
    pub not_after: i64,
}

impl CertValidity {
    pub(crate) fn to_x509(self) -> Result<Validity> {
        if self.not_before >= self.not_after {
            return Err(Error::InvalidValidity("notBefore must precede notAfter".into()));
        }
        Ok(Validity::new(
            unix_to_time(self.not_before)?,
            unix_to_time(self.not_after)?,
        ))
    }
}

fn unix_to_time(secs: i64) -> Result<Time> {
    Ok(Time::from(unix_to_datetime(secs)?))
}

/// Unix seconds → calendar time (1970 through 9999, else [`Error::InvalidValidity`]).
pub(crate) fn unix_to_datetime(secs: i64) -> Result<DateTime> {
    let secs = u64::try_from(secs).map_err(|_| Error::InvalidValidity(format!("time {secs} is before 1970")))?;
    DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|_| Error::InvalidValidity(format!("time {secs} is out of range")))
}

pub(crate) fn time_to_unix(t: &Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2, method 1).
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    Ok(Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec())
}

pub(crate) fn ext<T: Encode + AssociatedOid>(critical: bool, value: &T) -> Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// A CRL / AIA location URI (lenient: `scheme://` and printable ASCII, so
/// that e.g. `ldap:///CN=…` distribution points pass).
fn location_uri(what: &str, s: &str) -> Result<GeneralName> {
    let ok = !s.is_empty() && s.contains("://") && s.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(Error::InvalidExtension(format!("{what} is not a valid URI: {s:?}")));
    }
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(s).map_err(|e| Error::InvalidExtension(e.to_string()))?,
    ))
}

/// SubjectKeyIdentifier and AuthorityKeyIdentifier (keyIdentifier only).
pub(crate) fn key_id_extensions(ski: Vec<u8>, aki: Vec<u8>) -> Result<[Extension; 2]> {
    Ok([
        ext(false, &SubjectKeyIdentifier(OctetString::new(ski)?))?,
        ext(
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?,
    ])
}

/// A non-critical ExtendedKeyUsage extension (duplicates dropped), or none
/// for an empty list.
pub(crate) fn eku_extension(ekus: &[ExtKeyUsage]) -> Result<Option<Extension>> {
    if ekus.is_empty() {
        return Ok(None);
    }
    let mut oids = Vec::new();
    for e in ekus {
        if !oids.contains(&e.oid()) {
            oids.push(e.oid());
        }
    }
    Ok(Some(ext(false, &ExtendedKeyUsage(oids))?))
}

/// A non-critical certificatePolicies extension with these policy OIDs
/// (dotted, no qualifiers), or none for an empty list.
pub(crate) fn policies_extension(policies: &[String]) -> Result<Option<Extension>> {
    if policies.is_empty() {
        return Ok(None);
    }
    let infos = policies
        .iter()
        .map(|p| {
            Ok(PolicyInformation {
                policy_identifier: p
                    .parse()
                    .map_err(|_| Error::InvalidExtension(format!("policy {p:?} is not a dotted OID")))?,
                policy_qualifiers: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(ext(false, &CertificatePolicies(infos))?))
}

/// CRL distribution point (fullName URI) and AIA (OCSP, caIssuers), each
/// only when given.
pub(crate) fn location_extensions(
    crl_distribution_point: Option<&str>,
    ocsp_uri: Option<&str>,
    ca_issuers_uri: Option<&str>,
) -> Result<Vec<Extension>> {
    let mut exts = Vec::new();
    if let Some(u) = crl_distribution_point {
        let dp = DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![location_uri(
                "CRL distribution point",
                u,
            )?])),
            reasons: None,
            crl_issuer: None,
        };
        exts.push(ext(false, &CrlDistributionPoints(vec![dp]))?);
    }
    let mut aia = Vec::new();
    if let Some(u) = ocsp_uri {
        aia.push(AccessDescription {
            access_method: oids::ID_AD_OCSP,
            access_location: location_uri("OCSP URI", u)?,
        });
    }
    if let Some(u) = ca_issuers_uri {
        aia.push(AccessDescription {
            access_method: oids::ID_AD_CA_ISSUERS,
            access_location: location_uri("caIssuers URI", u)?,
        });
    }
    if !aia.is_empty() {
        exts.push(ext(false, &AuthorityInfoAccessSyntax(aia))?);
    }
    Ok(exts)
}

/// A builder profile whose names and extensions are computed up front. The
/// builder asks it for the extensions with the finished `TbsCertificate` in
/// hand, just before it encodes and signs it: that is where the lints run.
pub(crate) struct FixedProfile<'a> {
    pub(crate) subject: Name,
    pub(crate) issuer: Name,
    pub(crate) extensions: Vec<Extension>,
    /// The lints to run and where to put their failure (which the builder's
    /// own error type cannot carry). Only unit tests that build deliberately
    /// broken certificates leave it out.
    pub(crate) lint: Option<(&'a LintContext, &'a RefCell<Option<Error>>)>,
}

impl BuilderProfile for FixedProfile<'_> {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let Some((lint, failure)) = self.lint else {
            return Ok(self.extensions.clone());
        };
        let validity = tbs.validity();
        let parts = TbsParts {
            serial: tbs.serial_number().as_bytes(),
            not_before: time_to_unix(&validity.not_before),
            not_after: time_to_unix(&validity.not_after),
            subject: tbs.subject(),
            spki: tbs.subject_public_key_info().owned_to_ref(),
            extensions: &self.extensions,
        };
        if let Err(e) = lint_tbs(&parts, lint) {
            *failure.borrow_mut() = Some(e);
            return Err(x509_cert::builder::Error::MissingAttributes);
        }
        Ok(self.extensions.clone())
    }
}

/// What an issuing CA certificate contributes to a certificate it signs.
#[derive(Clone)]
pub(crate) struct CheckedIssuer {
    /// The issuer's subject name.
    pub(crate) name: Name,
    /// The issuer's SKI (or the key identifier computed from its key).
    pub(crate) key_id: Vec<u8>,
    /// The issuer's BasicConstraints pathLenConstraint.
    pub(crate) path_len: Option<u8>,
    /// The issuer's validity, Unix seconds.
    pub(crate) validity: (i64, i64),
}

/// Checks that `issuer_cert_der` is a CA certificate (BasicConstraints
/// CA:TRUE and, when KeyUsage is present, keyCertSign), that `issuer_key` is
/// its key, and that `validity` is well-formed and lies within the issuer's.
pub(crate) fn check_issuer(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    validity: CertValidity,
) -> Result<CheckedIssuer> {
    let issuer = match ISSUERS.find(issuer_cert_der, issuer_key.public_key_spki_der()) {
        Some(known) => known,
        None => {
            let checked = Arc::new(inspect_issuer(issuer_cert_der, issuer_key)?);
            ISSUERS.keep(issuer_cert_der, issuer_key.public_key_spki_der(), checked.clone());
            checked
        }
    };
    validity.to_x509()?;
    if validity.not_before < issuer.validity.0 || validity.not_after > issuer.validity.1 {
        return Err(Error::ValidityOutsideIssuer);
    }
    Ok(CheckedIssuer::clone(&issuer))
}

/// The part of [`check_issuer`] that depends on the issuer alone.
fn inspect_issuer(issuer_cert_der: &[u8], issuer_key: &PrivateKey) -> Result<CheckedIssuer> {
    let issuer = Certificate::from_der(issuer_cert_der).map_err(Error::malformed_cert)?;
    let tbs = issuer.tbs_certificate();
    let bc = tbs
        .get_extension::<BasicConstraints>()
        .map_err(Error::malformed_cert)?
        .map(|(_, bc)| bc);
    let Some(bc) = bc.filter(|bc| bc.ca) else {
        return Err(Error::IssuerNotCa);
    };
    if let Some((_, ku)) = tbs.get_extension::<KeyUsage>().map_err(Error::malformed_cert)?
        && !ku.key_cert_sign()
    {
        return Err(Error::IssuerNotCa);
    }
    let issuer_spki = tbs.subject_public_key_info().to_der()?;
    if issuer_spki != issuer_key.public_key_spki_der() {
        return Err(Error::IssuerKeyMismatch);
    }
    let iv = tbs.validity();
    let key_id = match tbs
        .get_extension::<SubjectKeyIdentifier>()
        .map_err(Error::malformed_cert)?
    {
        Some((_, ski)) => ski.0.as_bytes().to_vec(),
        None => key_identifier(&issuer_spki)?,
    };
    Ok(CheckedIssuer {
        name: tbs.subject().clone(),
        key_id,
        path_len: bc.path_len_constraint,
        validity: (time_to_unix(&iv.not_before), time_to_unix(&iv.not_after)),
    })
}

/// Issuers that passed [`inspect_issuer`], by certificate and key. Decoding the CA certificate
/// for every certificate it signed cost ~17 µs, about a twentieth of the request path's CPU for a
/// P-256 issuance, and a CA signs thousands with the same certificate. Entries are whole
/// (certificate, key) pairs, so a CA whose certificate or key changes is simply a new entry.
static ISSUERS: IssuerMemo = IssuerMemo(Mutex::new(VecDeque::new()));

/// Most issuers remembered; the oldest is forgotten first.
const ISSUERS_KEPT: usize = 64;

type KnownIssuer = (Vec<u8>, Vec<u8>, Arc<CheckedIssuer>);

struct IssuerMemo(Mutex<VecDeque<KnownIssuer>>);

impl IssuerMemo {
    fn find(&self, cert_der: &[u8], key_spki: &[u8]) -> Option<Arc<CheckedIssuer>> {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known
            .iter()
            .find(|(c, k, _)| c == cert_der && k == key_spki)
            .map(|(_, _, checked)| checked.clone())
    }

    fn keep(&self, cert_der: &[u8], key_spki: &[u8], checked: Arc<CheckedIssuer>) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if known.iter().any(|(c, k, _)| c == cert_der && k == key_spki) {
            return;
        }
        if known.len() == ISSUERS_KEPT {
            known.pop_front();
        }
        known.push_back((cert_der.to_vec(), key_spki.to_vec(), checked));
    }
}

/// Everything a certificate to be signed consists of.
pub(crate) struct Issuance<'a> {
    pub(crate) issuer_key: &'a PrivateKey,
    pub(crate) sm2_id: Sm2Id,
    pub(crate) issuer_name: Name,
    pub(crate) subject: Name,
    pub(crate) subject_spki_der: &'a [u8],
    pub(crate) serial: Option<Serial>,
    /// An exact serial (≥ 1), overriding `serial`.
    pub(crate) custom_serial: Option<u64>,
    pub(crate) validity: CertValidity,
    pub(crate) extensions: Vec<Extension>,
    /// What the pre-issuance lints check the certificate against.
    pub(crate) lint: LintContext,
}

/// Builds a v3 certificate, lints it against `i.lint` before it is signed
/// ([`Error::LintFailed`] naming every finding, nothing signed), signs it,
/// then checks the fresh signature ([`check_fresh_signature`]) before
/// returning the DER.
pub(crate) fn sign_certificate<R: CryptoRng + ?Sized>(i: Issuance<'_>, rng: &mut R) -> Result<Vec<u8>> {
    sign_certificate_kept(i, rng).map(|(der, _)| der)
}

/// [`sign_certificate`], also handing back the certificate as built, so that a caller that
/// describes it need not decode the DER again.
pub(crate) fn sign_certificate_kept<R: CryptoRng + ?Sized>(
    i: Issuance<'_>,
    rng: &mut R,
) -> Result<(Vec<u8>, Certificate)> {
    KeyAlgorithm::from_spki_der(i.subject_spki_der)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(i.subject_spki_der).map_err(Error::malformed_key)?;
    let serial = match i.custom_serial {
        Some(0) => return Err(Error::InvalidSerial("a serial number must be at least 1".into())),
        // minimal positive DER INTEGER
        Some(n) => SerialNumber::from(n),
        None => SerialNumber::new(i.serial.unwrap_or_else(|| Serial::random(rng)).as_bytes())?,
    };
    let lint_failure = RefCell::new(None);
    let prof = FixedProfile {
        subject: i.subject,
        issuer: i.issuer_name,
        extensions: i.extensions,
        lint: Some((&i.lint, &lint_failure)),
    };
    let builder = CertificateBuilder::new(prof, serial, i.validity.to_x509()?, spki)?;
    let signer = RecordingSigner {
        inner: KeySigner::new(i.issuer_key, i.sm2_id)?,
        signed: RefCell::new(None),
    };
    let cert: Certificate = match builder.build::<_, DerSignature>(&signer) {
        Ok(c) => c,
        Err(e) => return Err(lint_failure.into_inner().unwrap_or_else(|| e.into())),
    };
    let der = cert.to_der()?;
    check_fresh_signature(&der, i.issuer_key, i.sm2_id, signer.signed.into_inner())?;
    Ok((der, cert))
}

/// Checks a freshly signed certificate before it leaves the signer.
///
/// For the aws-lc back-ends the signature over the bytes handed to the signer is right by
/// construction (`PrivateKey::signature_right_by_construction`), so what remains to check is
/// that the certificate carries exactly those bytes and that signature: two comparisons
/// instead of a verification, which costs about three signatures and was ~12 % of the
/// server's CPU per issued P-256 certificate. The other back-ends are verified in full.
pub(crate) fn check_fresh_signature(
    der: &[u8],
    issuer_key: &PrivateKey,
    sm2_id: Sm2Id,
    signed: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<()> {
    let failed = |what: &str| Error::Signing(format!("self-check of the new signature failed: {what}"));
    if issuer_key.signature_right_by_construction() {
        let (tbs, _, sig) = split_signed(der)?;
        return match signed {
            Some((message, signature)) if message == tbs && signature == sig => Ok(()),
            Some(_) => Err(failed("the certificate does not carry the bytes that were signed")),
            None => Err(failed("nothing was signed")),
        };
    }
    verify_certificate_signature(der, issuer_key.public_key_spki_der(), sm2_id).map_err(|e| failed(&e.to_string()))
}

/// A [`KeySigner`] that keeps what it signed and the signature it made, for
/// [`check_fresh_signature`].
struct RecordingSigner<'k> {
    inner: KeySigner<'k>,
    signed: RefCell<Option<(Vec<u8>, Vec<u8>)>>,
}

impl signature::Keypair for RecordingSigner<'_> {
    type VerifyingKey = crate::signer::SpkiPublicKey;

    fn verifying_key(&self) -> Self::VerifyingKey {
        self.inner.verifying_key()
    }
}

impl spki::DynSignatureAlgorithmIdentifier for RecordingSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        self.inner.signature_algorithm_identifier()
    }
}

impl signature::Signer<DerSignature> for RecordingSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> core::result::Result<DerSignature, signature::Error> {
        let sig: DerSignature = self.inner.try_sign(msg)?;
        *self.signed.borrow_mut() = Some((msg.to_vec(), sig.as_bytes().to_vec()));
        Ok(sig)
    }
}
