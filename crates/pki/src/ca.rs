//! CA certificate building: self-signed roots and subordinate CAs.

use rand_core::CryptoRng;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::BasicConstraints;

use crate::alg::Sm2Id;
use crate::error::{Error, Result};
use crate::issue::{
    CertValidity, Issuance, Serial, check_issuer, eku_extension, ext, key_id_extensions, key_identifier,
    location_extensions, policies_extension, sign_certificate,
};
use crate::keys::PrivateKey;
use crate::lint::{Expect, LintContext};
use crate::name::SubjectFields;
use crate::usage::{ExtKeyUsage, KeyUsageFlags};

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
    /// The request explicitly chose an RSA-1024 key for this CA; without it
    /// the pre-issuance lint refuses one. Default false.
    pub allow_rsa_1024: bool,
    /// certificatePolicies OIDs (dotted); empty means no extension.
    pub certificate_policies: Vec<String>,
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
            allow_rsa_1024: false,
            certificate_policies: Vec::new(),
        }
    }
}

fn ca_extensions(profile: &CaProfile, ski: Vec<u8>, aki: Vec<u8>) -> Result<Vec<Extension>> {
    let mut exts = vec![ext(
        true,
        &BasicConstraints {
            ca: true,
            path_len_constraint: profile.path_len,
        },
    )?];
    let mut ku = KeyUsageFlags::KEY_CERT_SIGN | KeyUsageFlags::CRL_SIGN;
    if profile.key_usage_digital_signature {
        ku |= KeyUsageFlags::DIGITAL_SIGNATURE;
    }
    exts.push(ext(true, &ku.to_x509()?)?);
    exts.extend(eku_extension(&profile.extended_key_usages)?);
    exts.extend(policies_extension(&profile.certificate_policies)?);
    exts.extend(key_id_extensions(ski, aki)?);
    exts.extend(location_extensions(
        profile.crl_distribution_point.as_deref(),
        profile.ocsp_uri.as_deref(),
        profile.ca_issuers_uri.as_deref(),
    )?);
    Ok(exts)
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
    let issuance = Issuance {
        issuer_key: key,
        sm2_id: profile.sm2_id,
        issuer_name: name.clone(),
        subject: name,
        subject_spki_der: key.public_key_spki_der(),
        serial: profile.serial,
        custom_serial: None,
        validity,
        extensions: ca_extensions(profile, ski.clone(), ski.clone())?,
        lint: LintContext {
            expect: Expect::Ca,
            issuer_validity: None,
            issuer_key_id: ski,
            allow_rsa_1024: profile.allow_rsa_1024,
            requested_serial: false,
        },
    };
    sign_certificate(issuance, rng)
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
    let issuer = check_issuer(issuer_cert_der, issuer_key, validity)?;
    match (issuer.path_len, profile.path_len) {
        (Some(0), _) => return Err(Error::PathLenExceeded),
        (Some(max), Some(req)) if req >= max => return Err(Error::PathLenExceeded),
        _ => {}
    }
    let ski = key_identifier(subject_public_key_spki)?;
    let issuance = Issuance {
        issuer_key,
        sm2_id: profile.sm2_id,
        issuer_name: issuer.name,
        subject: subject.to_name()?,
        subject_spki_der: subject_public_key_spki,
        serial: profile.serial,
        custom_serial: None,
        validity,
        extensions: ca_extensions(profile, ski, issuer.key_id.clone())?,
        lint: LintContext {
            expect: Expect::Ca,
            issuer_validity: Some(issuer.validity),
            issuer_key_id: issuer.key_id,
            allow_rsa_1024: profile.allow_rsa_1024,
            requested_serial: false,
        },
    };
    sign_certificate(issuance, rng)
}
