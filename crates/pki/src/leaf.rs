//! End-entity (leaf) certificate building: TLS server, TLS client, or a
//! custom key usage profile, issued under a CA certificate.

use rand_core::CryptoRng;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};

use crate::alg::{KeyAlgorithm, KeyFamily, Sm2Id};
use crate::error::{Error, Result};
use crate::inspect::CertInfo;
use crate::issue::{
    CertValidity, Issuance, Serial, check_issuer, eku_extension, ext, key_id_extensions, key_identifier,
    location_extensions, policies_extension, sign_certificate_kept,
};
use crate::keys::PrivateKey;
use crate::lint::{Expect, LintContext};
use crate::name::SubjectFields;
use crate::san::{San, general_names};
use crate::usage::{ExtKeyUsage, KeyUsageFlags};

/// The kind of end-entity certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeafKind {
    /// TLS server: digitalSignature (+ keyEncipherment for RSA keys), EKU serverAuth.
    Server,
    /// TLS client: digitalSignature (+ keyEncipherment for RSA keys), EKU clientAuth.
    Client,
    /// Explicit key usage and EKUs. `key_usage` must not be empty and must not
    /// contain keyCertSign (CA:FALSE); encipherOnly / decipherOnly need
    /// keyAgreement. An empty EKU list means no EKU extension.
    Custom {
        /// KeyUsage bits (critical extension).
        key_usage: KeyUsageFlags,
        /// ExtendedKeyUsage values (non-critical extension).
        extended_key_usages: Vec<ExtKeyUsage>,
    },
}

/// What goes into an end-entity certificate besides subject, key, SANs and
/// validity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafProfile {
    /// The serial; `None` draws [`Serial::random`].
    pub serial: Option<Serial>,
    /// Server, client or custom usage.
    pub kind: LeafKind,
    /// CRL distribution point URI (fullName).
    pub crl_distribution_point: Option<String>,
    /// AIA caIssuers URI.
    pub ca_issuers_uri: Option<String>,
    /// AIA OCSP URI.
    pub ocsp_uri: Option<String>,
    /// The SM2 distinguishing ID the *issuer* signs with (ignored for other
    /// key algorithms). Default [`Sm2Id::Standard`].
    pub sm2_id: Sm2Id,
    /// Extra subject attributes, (dotted OID, value), appended after the
    /// [`SubjectFields`] ones, each its own RDN. UTF8String values, except
    /// countryName (2.5.4.6, an ISO 3166-1 code, PrintableString),
    /// serialNumber (2.5.4.5) and dnQualifier (2.5.4.46) as PrintableString,
    /// emailAddress (1.2.840.113549.1.9.1) and domainComponent
    /// (0.9.2342.19200300.100.1.25) as IA5String. A value must be non-blank,
    /// free of control characters and at most 128 characters; one of the six
    /// standard attributes is refused when [`SubjectFields`] already sets it.
    /// Default: none.
    pub extra_subject_attributes: Vec<(String, String)>,
    /// An exact serial number (≥ 1, encoded as the minimal positive DER
    /// INTEGER); overrides `serial`. Default `None`.
    pub custom_serial: Option<u64>,
    /// Extensions to mark critical beyond the profile's defaults.
    pub criticals: Criticals,
    /// The request explicitly chose an RSA-1024 key; without it the
    /// pre-issuance lint refuses one. Default false.
    pub allow_rsa_1024: bool,
    /// certificatePolicies OIDs (dotted); empty means no extension.
    pub certificate_policies: Vec<String>,
}

/// Which extensions of an end-entity certificate are forced critical.
///
/// KeyUsage and BasicConstraints are always critical (RFC 5280 §4.2.1.3 /
/// §4.2.1.9, CA/Browser Forum), whatever `key_usage` and `basic_constraints`
/// say; ExtendedKeyUsage and subjectAltName are non-critical unless
/// `extended_key_usage` / `subject_alt_name` is set (subjectAltName is also
/// critical for an empty subject). A flag has no effect when its extension
/// is absent. The default reproduces the standard profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Criticals {
    /// keyUsage (always critical).
    pub key_usage: bool,
    /// extendedKeyUsage.
    pub extended_key_usage: bool,
    /// subjectAltName.
    pub subject_alt_name: bool,
    /// basicConstraints (always critical).
    pub basic_constraints: bool,
}

impl Criticals {
    /// From extension names, case-insensitively: `keyUsage`,
    /// `extendedKeyUsage`, `subjectAlternativeName` (or
    /// `subjectAlternativeNames`), `basicConstraints`. An unknown name is
    /// [`Error::InvalidExtension`].
    pub fn from_names(names: &[String]) -> Result<Criticals> {
        let mut c = Criticals::default();
        for n in names {
            let is = |s: &str| n.eq_ignore_ascii_case(s);
            if is("keyUsage") {
                c.key_usage = true;
            } else if is("extendedKeyUsage") {
                c.extended_key_usage = true;
            } else if is("subjectAlternativeName") || is("subjectAlternativeNames") {
                c.subject_alt_name = true;
            } else if is("basicConstraints") {
                c.basic_constraints = true;
            } else {
                return Err(Error::InvalidExtension(format!(
                    "unknown extension name {n:?} for a critical extension"
                )));
            }
        }
        Ok(c)
    }
}

impl LeafProfile {
    /// A profile of `kind` with no optional extensions, a random serial and
    /// the standard SM2 ID.
    pub fn new(kind: LeafKind) -> Self {
        LeafProfile {
            serial: None,
            kind,
            crl_distribution_point: None,
            ca_issuers_uri: None,
            ocsp_uri: None,
            sm2_id: Sm2Id::Standard,
            extra_subject_attributes: Vec::new(),
            custom_serial: None,
            criticals: Criticals::default(),
            allow_rsa_1024: false,
            certificate_policies: Vec::new(),
        }
    }
}

impl Default for LeafProfile {
    /// A [`LeafKind::Server`] profile.
    fn default() -> Self {
        LeafProfile::new(LeafKind::Server)
    }
}

/// KeyUsage and EKUs for `kind` and a subject key of `alg`.
fn usages(kind: &LeafKind, alg: KeyAlgorithm) -> Result<(KeyUsageFlags, Vec<ExtKeyUsage>)> {
    let tls_ku = || {
        let mut ku = KeyUsageFlags::DIGITAL_SIGNATURE;
        if alg.family() == KeyFamily::Rsa {
            ku |= KeyUsageFlags::KEY_ENCIPHERMENT;
        }
        ku
    };
    Ok(match kind {
        LeafKind::Server => (tls_ku(), vec![ExtKeyUsage::ServerAuth]),
        LeafKind::Client => (tls_ku(), vec![ExtKeyUsage::ClientAuth]),
        LeafKind::Custom {
            key_usage,
            extended_key_usages,
        } => {
            let bad = |m: &str| Err(Error::InvalidExtension(m.into()));
            if key_usage.is_empty() {
                return bad("an end-entity key usage needs at least one bit");
            }
            if key_usage.contains(KeyUsageFlags::KEY_CERT_SIGN) {
                return bad("keyCertSign is only allowed in CA certificates");
            }
            let only = KeyUsageFlags::ENCIPHER_ONLY | KeyUsageFlags::DECIPHER_ONLY;
            if key_usage.bits() & only.bits() != 0 && !key_usage.contains(KeyUsageFlags::KEY_AGREEMENT) {
                return bad("encipherOnly / decipherOnly need keyAgreement");
            }
            (*key_usage, extended_key_usages.clone())
        }
    })
}

/// Builds an end-entity certificate (DER) for `subject_spki_der`, issued and
/// signed by `issuer_key` under the CA certificate `issuer_cert_der`.
///
/// Profile: v3; serial `custom_serial`, else `serial`, else random 128-bit;
/// subject from `subject` plus `extra_subject_attributes`; BasicConstraints
/// CA:FALSE (critical); KeyUsage (critical) and EKU per [`LeafKind`] (EKU
/// critical when [`Criticals::extended_key_usage`]); SKI; AKI = the issuer's
/// SKI; subjectAltName with `sans` (validated strictly, duplicates dropped;
/// critical when [`Criticals::subject_alt_name`] or for an empty subject,
/// which [`SubjectFields`] never produces); CRL distribution point and AIA
/// when given. The new signature is checked before the certificate is
/// returned (verified, or for aws-lc signers compared with what was signed).
///
/// Errors: [`Error::InvalidSan`] naming the bad value,
/// [`Error::InvalidSubject`] / [`Error::InvalidCountryCode`] (also for extra
/// attributes), [`Error::InvalidSerial`] for a custom serial of 0,
/// [`Error::InvalidExtension`] (custom usages, URIs),
/// [`Error::UnsupportedKey`] for an unsupported subject key,
/// [`Error::IssuerNotCa`], [`Error::IssuerKeyMismatch`],
/// [`Error::InvalidValidity`], [`Error::ValidityOutsideIssuer`].
#[allow(clippy::too_many_arguments)]
pub fn build_leaf<R: CryptoRng + ?Sized>(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    subject_spki_der: &[u8],
    subject: &SubjectFields,
    sans: &[San],
    validity: CertValidity,
    profile: &LeafProfile,
    rng: &mut R,
) -> Result<Vec<u8>> {
    build_leaf_with_extensions(
        issuer_cert_der,
        issuer_key,
        subject_spki_der,
        subject,
        sans,
        validity,
        profile,
        Vec::new(),
        rng,
    )
    .map(|(der, _)| der)
}

/// [`build_leaf`], with the new certificate described as [`CertInfo::parse`] would describe
/// its DER, but from the certificate as built: decoding it again cost ~12 µs per issuance.
#[allow(clippy::too_many_arguments)]
pub fn build_leaf_described<R: CryptoRng + ?Sized>(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    subject_spki_der: &[u8],
    subject: &SubjectFields,
    sans: &[San],
    validity: CertValidity,
    profile: &LeafProfile,
    rng: &mut R,
) -> Result<(Vec<u8>, CertInfo)> {
    let (der, cert) = build_leaf_with_extensions(
        issuer_cert_der,
        issuer_key,
        subject_spki_der,
        subject,
        sans,
        validity,
        profile,
        Vec::new(),
        rng,
    )?;
    let info = CertInfo::from_built(&cert, &der)?;
    Ok((der, info))
}

/// [`build_leaf`] with `extra` extensions appended after the profile's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_leaf_with_extensions<R: CryptoRng + ?Sized>(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    subject_spki_der: &[u8],
    subject: &SubjectFields,
    sans: &[San],
    validity: CertValidity,
    profile: &LeafProfile,
    extra: Vec<Extension>,
    rng: &mut R,
) -> Result<(Vec<u8>, Certificate)> {
    if profile.custom_serial == Some(0) {
        return Err(Error::InvalidSerial("a custom serial number must be at least 1".into()));
    }
    let name = subject.to_name_with_extra(&profile.extra_subject_attributes)?;
    let names = general_names(sans)?;
    let alg = KeyAlgorithm::from_spki_der(subject_spki_der)?;
    let (key_usage, ekus) = usages(&profile.kind, alg)?;
    let issuer = check_issuer(issuer_cert_der, issuer_key, validity)?;

    let mut exts = vec![
        ext(
            true,
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
        )?,
        ext(true, &key_usage.to_x509()?)?,
    ];
    exts.extend(eku_extension(&ekus)?.map(|mut e| {
        e.critical |= profile.criticals.extended_key_usage;
        e
    }));
    exts.extend(policies_extension(&profile.certificate_policies)?);
    exts.extend(key_id_extensions(
        key_identifier(subject_spki_der)?,
        issuer.key_id.clone(),
    )?);
    if !names.is_empty() {
        let critical = profile.criticals.subject_alt_name || name.iter_rdn().next().is_none();
        exts.push(ext(critical, &SubjectAltName(names))?);
    }
    exts.extend(location_extensions(
        profile.crl_distribution_point.as_deref(),
        profile.ocsp_uri.as_deref(),
        profile.ca_issuers_uri.as_deref(),
    )?);
    exts.extend(extra);
    let expect = match &profile.kind {
        LeafKind::Server => Expect::Server,
        LeafKind::Client => Expect::Client,
        LeafKind::Custom { .. } => Expect::Custom {
            key_usage,
            extended_key_usages: ekus,
        },
    };
    let lint = LintContext {
        expect,
        issuer_validity: Some(issuer.validity),
        issuer_key_id: issuer.key_id,
        allow_rsa_1024: profile.allow_rsa_1024,
        requested_serial: profile.custom_serial.is_some(),
    };
    let issuance = Issuance {
        issuer_key,
        sm2_id: profile.sm2_id,
        issuer_name: issuer.name,
        subject: name,
        subject_spki_der,
        serial: profile.serial,
        custom_serial: profile.custom_serial,
        validity,
        extensions: exts,
        lint,
    };
    sign_certificate_kept(issuance, rng)
}
