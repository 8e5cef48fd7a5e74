//! CA certificate building: self-signed roots and subordinate CAs.

use std::time::Duration;

use const_oid::AssociatedOid;
use const_oid::db::rfc5280 as oids;
use der::asn1::{Ia5String, OctetString};
use der::{DateTime, Decode, Encode};
use rand_core::CryptoRng;
use sha1::{Digest, Sha1};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::alg::{KeyAlgorithm, Sm2Id};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::name::SubjectFields;
use crate::signer::{DerSignature, KeySigner};
use crate::verify::verify_certificate_signature;

/// A certificate serial number: 128 random bits made positive (top bit
/// cleared) with a non-zero first byte, so it always encodes as 16 octets and
/// prints as 32 lower-case hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Serial([u8; 16]);

impl Serial {
    /// Draws a fresh serial (≈127 bits of entropy). Re-roll on a collision.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        loop {
            rng.fill_bytes(&mut b);
            b[0] &= 0x7f;
            if b[0] != 0 {
                return Serial(b);
            }
        }
    }

    /// Wraps 16 bytes; the first byte must be in `0x01..=0x7f`.
    pub fn from_bytes(b: [u8; 16]) -> Result<Self> {
        if b[0] == 0 || b[0] & 0x80 != 0 {
            return Err(Error::InvalidSerial(
                "first byte must be in 0x01..=0x7f".into(),
            ));
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

/// Extended key usages that can be put into a CA certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtKeyUsage {
    /// id-kp-serverAuth.
    ServerAuth,
    /// id-kp-clientAuth.
    ClientAuth,
    /// id-kp-codeSigning.
    CodeSigning,
    /// id-kp-emailProtection.
    EmailProtection,
    /// id-kp-timeStamping.
    TimeStamping,
    /// id-kp-OCSPSigning.
    OcspSigning,
}

impl ExtKeyUsage {
    /// Parses the OpenSSL / RFC 5280 short name, case-insensitively:
    /// `serverAuth`, `clientAuth`, `codeSigning`, `emailProtection`,
    /// `timeStamping`, `OCSPSigning`.
    pub fn from_name(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "serverauth" => ExtKeyUsage::ServerAuth,
            "clientauth" => ExtKeyUsage::ClientAuth,
            "codesigning" => ExtKeyUsage::CodeSigning,
            "emailprotection" => ExtKeyUsage::EmailProtection,
            "timestamping" => ExtKeyUsage::TimeStamping,
            "ocspsigning" => ExtKeyUsage::OcspSigning,
            _ => {
                return Err(Error::InvalidExtension(format!(
                    "unknown extended key usage {s:?}"
                )));
            }
        })
    }

    /// The canonical short name (`serverAuth`, ..., `OCSPSigning`).
    pub fn name(self) -> &'static str {
        match self {
            ExtKeyUsage::ServerAuth => "serverAuth",
            ExtKeyUsage::ClientAuth => "clientAuth",
            ExtKeyUsage::CodeSigning => "codeSigning",
            ExtKeyUsage::EmailProtection => "emailProtection",
            ExtKeyUsage::TimeStamping => "timeStamping",
            ExtKeyUsage::OcspSigning => "OCSPSigning",
        }
    }

    /// The OID.
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            ExtKeyUsage::ServerAuth => oids::ID_KP_SERVER_AUTH,
            ExtKeyUsage::ClientAuth => oids::ID_KP_CLIENT_AUTH,
            ExtKeyUsage::CodeSigning => oids::ID_KP_CODE_SIGNING,
            ExtKeyUsage::EmailProtection => oids::ID_KP_EMAIL_PROTECTION,
            ExtKeyUsage::TimeStamping => oids::ID_KP_TIME_STAMPING,
            ExtKeyUsage::OcspSigning => oids::ID_KP_OCSP_SIGNING,
        }
    }

    /// Name for an OID, if it is one of these.
    pub fn name_of(oid: &const_oid::ObjectIdentifier) -> Option<&'static str> {
        [
            ExtKeyUsage::ServerAuth,
            ExtKeyUsage::ClientAuth,
            ExtKeyUsage::CodeSigning,
            ExtKeyUsage::EmailProtection,
            ExtKeyUsage::TimeStamping,
            ExtKeyUsage::OcspSigning,
        ]
        .into_iter()
        .find(|e| e.oid() == *oid)
        .map(ExtKeyUsage::name)
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
    fn to_x509(self) -> Result<Validity> {
        if self.not_before >= self.not_after {
            return Err(Error::InvalidValidity(
                "notBefore must precede notAfter".into(),
            ));
        }
        Ok(Validity::new(
            unix_to_time(self.not_before)?,
            unix_to_time(self.not_after)?,
        ))
    }
}

fn unix_to_time(secs: i64) -> Result<Time> {
    let secs = u64::try_from(secs)
        .map_err(|_| Error::InvalidValidity(format!("time {secs} is before 1970")))?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|_| Error::InvalidValidity(format!("time {secs} is out of range")))?;
    Ok(Time::from(dt))
}

pub(crate) fn time_to_unix(t: &Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// What goes into a CA certificate besides subject, key and validity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaProfile {
    /// The serial; `None` draws [`Serial::random`]. Pass one to re-roll after a
    /// uniqueness conflict.
    pub serial: Option<Serial>,
    /// BasicConstraints pathLenConstraint (`None`: no limit).
    pub path_len: Option<u8>,
    /// Add digitalSignature to keyCertSign + cRLSign (lets the CA key sign OCSP
    /// responses directly). Default true.
    pub key_usage_digital_signature: bool,
    /// ExtendedKeyUsage values; empty means no EKU extension.
    pub extended_key_usages: Vec<ExtKeyUsage>,
    /// CRL distribution point URI (fullName).
    pub crl_distribution_point: Option<String>,
    /// AIA caIssuers URI.
    pub ca_issuers_uri: Option<String>,
    /// AIA OCSP URI.
    pub ocsp_uri: Option<String>,
    /// The SM2 distinguishing ID the *issuer* signs with (ignored for other
    /// key algorithms). Default [`Sm2Id::Standard`].
    pub sm2_id: Sm2Id,
}

impl Default for CaProfile {
    fn default() -> Self {
        CaProfile {
            serial: None,
            path_len: None,
            key_usage_digital_signature: true,
            extended_key_usages: Vec::new(),
            crl_distribution_point: None,
            ca_issuers_uri: None,
            ocsp_uri: None,
            sm2_id: Sm2Id::Standard,
        }
    }
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

fn uri(what: &str, s: &str) -> Result<GeneralName> {
    let ok = !s.is_empty() && s.contains("://") && s.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(Error::InvalidExtension(format!(
            "{what} is not a valid URI: {s:?}"
        )));
    }
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(s).map_err(|e| Error::InvalidExtension(e.to_string()))?,
    ))
}

fn ca_extensions(profile: &CaProfile, ski: Vec<u8>, aki: Vec<u8>) -> Result<Vec<Extension>> {
    let mut exts = vec![ext(
        true,
        &BasicConstraints {
            ca: true,
            path_len_constraint: profile.path_len,
        },
    )?];
    let mut ku = KeyUsages::KeyCertSign | KeyUsages::CRLSign;
    if profile.key_usage_digital_signature {
        ku |= KeyUsages::DigitalSignature;
    }
    exts.push(ext(true, &KeyUsage(ku))?);
    if !profile.extended_key_usages.is_empty() {
        let mut oids: Vec<_> = Vec::new();
        for e in &profile.extended_key_usages {
            if !oids.contains(&e.oid()) {
                oids.push(e.oid());
            }
        }
        exts.push(ext(false, &ExtendedKeyUsage(oids))?);
    }
    exts.push(ext(false, &SubjectKeyIdentifier(OctetString::new(ski)?))?);
    exts.push(ext(
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(aki)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?);
    if let Some(u) = &profile.crl_distribution_point {
        let dp = DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(
                "CRL distribution point",
                u,
            )?])),
            reasons: None,
            crl_issuer: None,
        };
        exts.push(ext(false, &CrlDistributionPoints(vec![dp]))?);
    }
    let mut aia = Vec::new();
    if let Some(u) = &profile.ocsp_uri {
        aia.push(AccessDescription {
            access_method: oids::ID_AD_OCSP,
            access_location: uri("OCSP URI", u)?,
        });
    }
    if let Some(u) = &profile.ca_issuers_uri {
        aia.push(AccessDescription {
            access_method: oids::ID_AD_CA_ISSUERS,
            access_location: uri("caIssuers URI", u)?,
        });
    }
    if !aia.is_empty() {
        exts.push(ext(false, &AuthorityInfoAccessSyntax(aia))?);
    }
    Ok(exts)
}

/// A builder profile whose names and extensions are computed up front.
pub(crate) struct FixedProfile {
    pub(crate) subject: Name,
    pub(crate) issuer: Name,
    pub(crate) extensions: Vec<Extension>,
}

impl BuilderProfile for FixedProfile {
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
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

#[allow(clippy::too_many_arguments)]
fn build<R: CryptoRng + ?Sized>(
    issuer_key: &PrivateKey,
    issuer_name: Name,
    aki: Vec<u8>,
    subject_spki_der: &[u8],
    subject: &SubjectFields,
    validity: CertValidity,
    profile: &CaProfile,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let spki =
        SubjectPublicKeyInfoOwned::from_der(subject_spki_der).map_err(Error::malformed_key)?;
    let ski = key_identifier(subject_spki_der)?;
    let serial = profile.serial.unwrap_or_else(|| Serial::random(rng));
    let prof = FixedProfile {
        subject: subject.to_name()?,
        issuer: issuer_name,
        extensions: ca_extensions(profile, ski, aki)?,
    };
    let serial = SerialNumber::new(serial.as_bytes())?;
    let builder = CertificateBuilder::new(prof, serial, validity.to_x509()?, spki)?;
    let signer = KeySigner::new(issuer_key, profile.sm2_id)?;
    let cert: Certificate = builder.build::<_, DerSignature>(&signer)?;
    let der = cert.to_der()?;
    // Check the fresh signature before anything leaves the signer.
    verify_certificate_signature(&der, issuer_key.public_key_spki_der(), profile.sm2_id)
        .map_err(|e| Error::Signing(format!("self-check of the new signature failed: {e}")))?;
    Ok(der)
}

/// Builds a self-signed root CA certificate (DER): v3, BasicConstraints
/// critical CA:TRUE, KeyUsage critical, SKI, AKI = own SKI, plus the optional
/// extensions of `profile`.
pub fn build_root_ca<R: CryptoRng + ?Sized>(
    key: &PrivateKey,
    subject: &SubjectFields,
    validity: CertValidity,
    profile: &CaProfile,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let ski = key_identifier(key.public_key_spki_der())?;
    let name = subject.to_name()?;
    build(
        key,
        name,
        ski,
        key.public_key_spki_der(),
        subject,
        validity,
        profile,
        rng,
    )
}

/// Builds a subordinate CA certificate (DER) for `subject_public_key_spki`
/// (DER `SubjectPublicKeyInfo` of one of the supported algorithms), issued and
/// signed by `issuer_key` under `issuer_cert_der`.
///
/// Refuses with [`Error::IssuerNotCa`] when the issuer is not a CA (or lacks
/// keyCertSign), [`Error::IssuerKeyMismatch`] when the key is not the issuer
/// certificate's, [`Error::ValidityOutsideIssuer`] when `validity` does not lie
/// within the issuer's, and [`Error::PathLenExceeded`] when the issuer's
/// pathLenConstraint forbids the new CA or `profile.path_len`.
#[allow(clippy::too_many_arguments)]
pub fn build_sub_ca<R: CryptoRng + ?Sized>(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    subject_public_key_spki: &[u8],
    subject: &SubjectFields,
    validity: CertValidity,
    profile: &CaProfile,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let issuer = Certificate::from_der(issuer_cert_der).map_err(Error::malformed_cert)?;
    let tbs = issuer.tbs_certificate();
    let bc = tbs
        .get_extension::<BasicConstraints>()
        .map_err(Error::malformed_cert)?
        .map(|(_, bc)| bc);
    let Some(bc) = bc.filter(|bc| bc.ca) else {
        return Err(Error::IssuerNotCa);
    };
    if let Some((_, ku)) = tbs
        .get_extension::<KeyUsage>()
        .map_err(Error::malformed_cert)?
        && !ku.key_cert_sign()
    {
        return Err(Error::IssuerNotCa);
    }
    match (bc.path_len_constraint, profile.path_len) {
        (Some(0), _) => return Err(Error::PathLenExceeded),
        (Some(max), Some(req)) if req >= max => return Err(Error::PathLenExceeded),
        _ => {}
    }
    let issuer_spki = tbs.subject_public_key_info().to_der()?;
    if issuer_spki != issuer_key.public_key_spki_der() {
        return Err(Error::IssuerKeyMismatch);
    }
    validity.to_x509()?;
    let iv = tbs.validity();
    if validity.not_before < time_to_unix(&iv.not_before)
        || validity.not_after > time_to_unix(&iv.not_after)
    {
        return Err(Error::ValidityOutsideIssuer);
    }
    KeyAlgorithm::from_spki_der(subject_public_key_spki)?;
    let aki = match tbs
        .get_extension::<SubjectKeyIdentifier>()
        .map_err(Error::malformed_cert)?
    {
        Some((_, ski)) => ski.0.as_bytes().to_vec(),
        None => key_identifier(&issuer_spki)?,
    };
    build(
        issuer_key,
        tbs.subject().clone(),
        aki,
        subject_public_key_spki,
        subject,
        validity,
        profile,
        rng,
    )
}
