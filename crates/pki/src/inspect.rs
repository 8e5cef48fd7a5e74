//! Certificate inspection: everything the CAS API reports about a certificate.

use der::{Decode, Encode};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::certificate::{CertificateInner, Profile, Raw, Rfc5280};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage,
    SubjectAltName, SubjectKeyIdentifier,
};

use crate::alg::{KeyAlgorithm, KeyFamily, describe_spki, signature_algorithm_name};
use crate::error::{Error, Result};
use crate::issue::time_to_unix;
use crate::name::{SubjectFields, dn_string};
use crate::san::San;
use crate::usage::ExtKeyUsage;

/// Certificate fingerprints (over the whole DER certificate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    /// MD5.
    pub md5: [u8; 16],
    /// SHA-1.
    pub sha1: [u8; 20],
    /// SHA-256.
    pub sha256: [u8; 32],
}

impl Fingerprints {
    /// Computes the three fingerprints of `der`.
    pub fn of(der: &[u8]) -> Self {
        Fingerprints {
            md5: Md5::digest(der).into(),
            sha1: Sha1::digest(der).into(),
            sha256: Sha256::digest(der).into(),
        }
    }
    /// MD5 as upper-case hex without separators.
    pub fn md5_hex(&self) -> String {
        hex::encode_upper(self.md5)
    }
    /// SHA-1 as upper-case hex without separators.
    pub fn sha1_hex(&self) -> String {
        hex::encode_upper(self.sha1)
    }
    /// SHA-256 as upper-case hex without separators.
    pub fn sha256_hex(&self) -> String {
        hex::encode_upper(self.sha256)
    }
}

/// What the CAS API reports about a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject in CAS style, encoding order (`C=CN,ST=...,CN=...`).
    pub subject_dn: String,
    /// Issuer in the same style.
    pub issuer_dn: String,
    /// The six CAS subject fields.
    pub subject: SubjectFields,
    /// Whether subject and issuer names are identical (self-issued).
    pub self_issued: bool,
    /// Serial as lower-case hex, leading zero bytes stripped, at least 2 digits.
    pub serial_hex: String,
    /// notBefore, Unix milliseconds.
    pub not_before_ms: i64,
    /// notAfter, Unix milliseconds.
    pub not_after_ms: i64,
    /// MD5 / SHA-1 / SHA-256 fingerprints.
    pub fingerprints: Fingerprints,
    /// Key family, when RSA / ECC / SM2.
    pub key_family: Option<KeyFamily>,
    /// Key size in bits (521 for P-521).
    pub key_size_bits: u32,
    /// The exact supported key algorithm, if it is one.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Signature algorithm, CAS style: `SHA256WITHRSA`, `SHA384WITHECDSA`, `SM3WITHSM2`, ...
    pub signature_algorithm: String,
    /// Subject alternative names, in order.
    pub sans: Vec<San>,
    /// BasicConstraints CA flag.
    pub is_ca: bool,
    /// BasicConstraints pathLenConstraint.
    pub path_len: Option<u8>,
    /// Subject key identifier, lower-case hex.
    pub ski_hex: Option<String>,
    /// Authority key identifier (keyIdentifier), lower-case hex.
    pub aki_hex: Option<String>,
    /// Extended key usages (short names, or dotted OIDs for others).
    pub extended_key_usages: Vec<String>,
    /// CRL distribution point URIs.
    pub crl_urls: Vec<String>,
    /// AIA OCSP URIs.
    pub ocsp_urls: Vec<String>,
    /// AIA caIssuers URIs.
    pub ca_issuers_urls: Vec<String>,
    /// The certificate's public key, DER `SubjectPublicKeyInfo`.
    pub public_key_spki_der: Vec<u8>,
}

impl CertInfo {
    /// Parses a DER certificate. Strict RFC 5280 DER first; if that fails, the
    /// lenient `Raw` profile (e.g. for uploaded certificates with negative or
    /// over-long serials).
    pub fn parse(der: &[u8]) -> Result<Self> {
        match CertificateInner::<Rfc5280>::from_der(der) {
            Ok(c) => Self::extract(&c, der),
            Err(strict) => match CertificateInner::<Raw>::from_der(der) {
                Ok(c) => Self::extract(&c, der),
                Err(_) => Err(Error::malformed_cert(strict)),
            },
        }
    }

    /// Describes a certificate this crate just built, whose encoding is `der`.
    pub(crate) fn from_built(cert: &CertificateInner<Rfc5280>, der: &[u8]) -> Result<Self> {
        Self::extract(cert, der)
    }

    /// Parses the first `CERTIFICATE` block of PEM text.
    pub fn parse_pem(text: &str) -> Result<Self> {
        Self::parse(&crate::pem::cert_pem_to_der(text)?)
    }

    fn extract<P: Profile>(cert: &CertificateInner<P>, der: &[u8]) -> Result<Self> {
        let tbs = cert.tbs_certificate();
        let e = Error::malformed_cert;
        let spki_der = tbs.subject_public_key_info().to_der()?;
        let key = describe_spki(&spki_der)?;

        let serial = tbs.serial_number().as_bytes();
        let first = serial
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(serial.len().saturating_sub(1));
        let serial_hex = hex::encode(&serial[first.min(serial.len())..]);

        let bc = tbs.get_extension::<BasicConstraints>().map_err(e)?.map(|(_, v)| v);
        let ski = tbs.get_extension::<SubjectKeyIdentifier>().map_err(e)?;
        let aki = tbs.get_extension::<AuthorityKeyIdentifier>().map_err(e)?;
        let sans = tbs
            .get_extension::<SubjectAltName>()
            .map_err(e)?
            .map(|(_, s)| s.0.iter().map(San::from_general_name).collect())
            .unwrap_or_default();
        let extended_key_usages = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(e)?
            .map(|(_, eku)| {
                eku.0
                    .iter()
                    .map(|o| {
                        ExtKeyUsage::name_of(o)
                            .map(str::to_string)
                            .unwrap_or_else(|| o.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut crl_urls = Vec::new();
        if let Some((_, dps)) = tbs.get_extension::<CrlDistributionPoints>().map_err(e)? {
            for dp in &dps.0 {
                if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
                    crl_urls.extend(names.iter().filter_map(uri_of));
                }
            }
        }
        let (mut ocsp_urls, mut ca_issuers_urls) = (Vec::new(), Vec::new());
        if let Some((_, aia)) = tbs.get_extension::<AuthorityInfoAccessSyntax>().map_err(e)? {
            for ad in &aia.0 {
                let Some(u) = uri_of(&ad.access_location) else {
                    continue;
                };
                if ad.access_method == const_oid::db::rfc5280::ID_AD_OCSP {
                    ocsp_urls.push(u);
                } else if ad.access_method == const_oid::db::rfc5280::ID_AD_CA_ISSUERS {
                    ca_issuers_urls.push(u);
                }
            }
        }
        let v = tbs.validity();
        Ok(CertInfo {
            subject_dn: dn_string(tbs.subject()),
            issuer_dn: dn_string(tbs.issuer()),
            subject: SubjectFields::from_name(tbs.subject()),
            self_issued: tbs.subject() == tbs.issuer(),
            serial_hex: if serial_hex.is_empty() { "00".into() } else { serial_hex },
            not_before_ms: time_to_unix(&v.not_before) * 1000,
            not_after_ms: time_to_unix(&v.not_after) * 1000,
            fingerprints: Fingerprints::of(der),
            key_family: key.family,
            key_size_bits: key.bits,
            key_algorithm: key.algorithm,
            signature_algorithm: signature_algorithm_name(&cert.signature_algorithm().oid),
            sans,
            is_ca: bc.as_ref().is_some_and(|b| b.ca),
            path_len: bc.and_then(|b| b.path_len_constraint),
            ski_hex: ski.map(|(_, s)| hex::encode(s.0.as_bytes())),
            aki_hex: aki.and_then(|(_, a)| a.key_identifier.map(|k| hex::encode(k.as_bytes()))),
            extended_key_usages,
            crl_urls,
            ocsp_urls,
            ca_issuers_urls,
            public_key_spki_der: spki_der,
        })
    }
}

fn uri_of(g: &GeneralName) -> Option<String> {
    match g {
        GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
        _ => None,
    }
}
