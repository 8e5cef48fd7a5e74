//! PKCS#10 certificate signing requests: strict parsing with self-signature
//! verification ([`ParsedCsr`]), and building ([`build_csr`]).

use const_oid::AssociatedOid;
use der::asn1::BitString;
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::alg::{KeyAlgorithm, KeyFamily, SignatureAlgorithm, Sm2Id};
use crate::error::{Error, Result};
use crate::issue::ext;
use crate::keys::PrivateKey;
use crate::name::{SubjectFields, dn_string};
use crate::pem;
use crate::san::{San, general_names};
use crate::signer::KeySigner;
use crate::verify::{SigAlg, parse_sig_alg, split_signed, verify_certificate_signature, verify_sig_alg};

/// What a CSR may contain to be accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsrPolicy {
    /// Accept RSA-1024 public keys (refused by default).
    pub allow_rsa_1024: bool,
}

/// A PKCS#10 request whose self-signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCsr {
    /// The six CAS subject fields (first occurrence of each).
    pub subject: SubjectFields,
    /// The full subject DN in CAS style ([`dn_string`]).
    pub subject_dn: String,
    /// The requested public key, DER `SubjectPublicKeyInfo`.
    pub public_key_spki_der: Vec<u8>,
    /// The algorithm of that key.
    pub key_algorithm: KeyAlgorithm,
    /// The self-signature algorithm, CAS style (`SHA256WITHRSA`,
    /// `SHA256WITHRSA/PSS`, `SHA256WITHECDSA`, `SM3WITHSM2`, ...).
    pub signature_algorithm: String,
    /// For SM2 requests: the distinguishing ID the signature verified with.
    pub sm2_id: Option<Sm2Id>,
    /// The subject alternative names of the extensionRequest attribute.
    pub sans: Vec<San>,
    /// Every extension of the extensionRequest attribute, as encoded.
    pub requested_extensions: Vec<Extension>,
    /// The request, DER.
    pub der: Vec<u8>,
}

/// Errors about the request's structure become [`Error::MalformedCsr`].
fn to_csr_error(e: Error) -> Error {
    match e {
        Error::MalformedCertificate(m) | Error::MalformedKey(m) | Error::Encoding(m) => Error::MalformedCsr(m),
        other => other,
    }
}

impl ParsedCsr {
    /// Parses the first `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`)
    /// PEM block of `text`; see [`ParsedCsr::from_der`].
    pub fn from_pem(text: &str, policy: CsrPolicy) -> Result<Self> {
        let blocks = pem::parse_blocks(text).map_err(|e| Error::MalformedCsr(e.to_string()))?;
        let block = blocks
            .into_iter()
            .find(|b| b.label == "CERTIFICATE REQUEST" || b.label == "NEW CERTIFICATE REQUEST")
            .ok_or_else(|| Error::MalformedCsr("no CERTIFICATE REQUEST PEM block".into()))?;
        Self::from_der(&block.der, policy)
    }

    /// Parses a DER PKCS#10 request strictly and verifies its self-signature.
    ///
    /// * [`Error::MalformedCsr`]: not strict DER, trailing data, bad signature
    ///   algorithm parameters, a signature algorithm of another key family,
    ///   or an undecodable / duplicated extensionRequest.
    /// * [`Error::UnsupportedKey`]: a key outside RSA 1024/2048/3072/4096,
    ///   P-256/384/521 and SM2 (e.g. secp256k1, brainpool, Ed25519), or
    ///   RSA-1024 without [`CsrPolicy::allow_rsa_1024`].
    /// * [`Error::UnsupportedAlgorithm`]: MD5 / SHA-1 signatures, PSS with
    ///   SHA-1 or unusual parameters.
    /// * [`Error::BadSignature`]: the self-signature does not verify. ECDSA is
    ///   verified with the hash the signature algorithm names (OpenSSL signs
    ///   P-521 requests with SHA-256); SM2 with the standard ID, then the
    ///   empty one (OpenSSL's default).
    pub fn from_der(der: &[u8], policy: CsrPolicy) -> Result<Self> {
        let req = CertReq::from_der(der).map_err(Error::malformed_csr)?;
        let spki_der = req.info.public_key.to_der().map_err(Error::malformed_csr)?;
        let key_algorithm = KeyAlgorithm::from_spki_der(&spki_der).map_err(to_csr_error)?;
        if key_algorithm == KeyAlgorithm::Rsa1024 && !policy.allow_rsa_1024 {
            return Err(Error::UnsupportedKey(
                "RSA-1024 keys are not accepted (at least 2048 bits)".into(),
            ));
        }
        let (tbs, alg_id, sig) = split_signed(der).map_err(to_csr_error)?;
        let sig_alg = parse_sig_alg(&alg_id).map_err(to_csr_error)?;
        check_signature_algorithm(sig_alg, alg_id.parameters.as_ref(), key_algorithm)?;
        let verify = |id| verify_sig_alg(&spki_der, sig_alg, tbs, sig, id).map_err(to_csr_error);
        let sm2_id = if key_algorithm == KeyAlgorithm::Sm2 {
            match verify(Sm2Id::Standard) {
                Ok(()) => Some(Sm2Id::Standard),
                Err(Error::BadSignature) => verify(Sm2Id::Empty).map(|()| Some(Sm2Id::Empty))?,
                Err(e) => return Err(e),
            }
        } else {
            verify(Sm2Id::Standard)?;
            None
        };
        let requested_extensions = extension_request(&req.info.attributes)?;
        let mut sans = Vec::new();
        for e in &requested_extensions {
            if e.extn_id == SubjectAltName::OID {
                let san = SubjectAltName::from_der(e.extn_value.as_bytes())
                    .map_err(|e| Error::MalformedCsr(format!("subjectAltName: {e}")))?;
                sans.extend(san.0.iter().map(San::from_general_name));
            }
        }
        Ok(ParsedCsr {
            subject: SubjectFields::from_name(&req.info.subject),
            subject_dn: dn_string(&req.info.subject),
            public_key_spki_der: spki_der,
            key_algorithm,
            signature_algorithm: sig_alg.name(),
            sm2_id,
            sans,
            requested_extensions,
            der: der.to_vec(),
        })
    }

    /// The request as `CERTIFICATE REQUEST` PEM.
    pub fn to_pem(&self) -> String {
        pem::encode("CERTIFICATE REQUEST", &self.der)
    }
}

/// Accepts SHA-256/384/512 with RSA (PKCS#1 v1.5 with NULL or absent
/// parameters, or PSS), ECDSA (absent parameters) and SM3withSM2, each only
/// with a key of its own family.
fn check_signature_algorithm(alg: SigAlg, params: Option<&der::asn1::AnyRef<'_>>, key: KeyAlgorithm) -> Result<()> {
    use SignatureAlgorithm as S;
    let family = match alg {
        SigAlg::Pss { .. } => KeyFamily::Rsa,
        SigAlg::Plain(a) => {
            let family = match a {
                S::RsaSha256 | S::RsaSha384 | S::RsaSha512 => KeyFamily::Rsa,
                S::EcdsaSha256 | S::EcdsaSha384 | S::EcdsaSha512 => KeyFamily::Ecc,
                S::Sm3WithSm2 => KeyFamily::Sm2,
                S::RsaMd5 | S::RsaSha1 | S::EcdsaSha1 => {
                    return Err(Error::UnsupportedAlgorithm(format!(
                        "{} signatures are not accepted",
                        a.cas_name()
                    )));
                }
            };
            let params_ok = match (family, params) {
                (_, None) => true,
                (KeyFamily::Rsa, Some(p)) => *p == der::asn1::AnyRef::NULL,
                _ => false,
            };
            if !params_ok {
                return Err(Error::MalformedCsr(format!(
                    "unexpected parameters for {}",
                    a.cas_name()
                )));
            }
            family
        }
    };
    if family != key.family() {
        return Err(Error::MalformedCsr(format!(
            "signature algorithm {} does not fit a {} key",
            alg.name(),
            key.as_api()
        )));
    }
    Ok(())
}

/// The extensions of the (single, single-valued) extensionRequest
/// attribute; no attribute gives an empty list. Duplicate OIDs are refused.
fn extension_request(attrs: &Attributes) -> Result<Vec<Extension>> {
    let mut found: Option<Vec<Extension>> = None;
    for attr in attrs.iter().filter(|a| a.oid == ExtensionReq::OID) {
        if found.is_some() {
            return Err(Error::MalformedCsr("more than one extensionRequest attribute".into()));
        }
        let mut values = attr.values.iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Error::MalformedCsr(
                "extensionRequest must have exactly one value".into(),
            ));
        };
        let exts: Vec<Extension> = value
            .decode_as()
            .map_err(|e| Error::MalformedCsr(format!("extensionRequest: {e}")))?;
        for (i, e) in exts.iter().enumerate() {
            if exts[..i].iter().any(|p| p.extn_id == e.extn_id) {
                return Err(Error::MalformedCsr(format!("extension {} requested twice", e.extn_id)));
            }
        }
        found = Some(exts);
    }
    Ok(found.unwrap_or_default())
}

/// Builds a PKCS#10 request (DER) for `key`, signed with it (SM2 with
/// `sm2_id`; ignored for other keys): the subject from `subject`, and, when
/// `sans` is non-empty, an extensionRequest with a subjectAltName extension
/// (values validated as in [`San::validate`], duplicates dropped). Without
/// SANs there are no attributes at all (as `openssl req` writes them).
/// The signature is checked before the request is returned.
pub fn build_csr(key: &PrivateKey, subject: &SubjectFields, sans: &[San], sm2_id: Sm2Id) -> Result<Vec<u8>> {
    let name = subject.to_name()?;
    let names = general_names(sans)?;
    let mut attributes = Attributes::new();
    if !names.is_empty() {
        // RFC 5280 §4.2.1.6: critical only when the subject is empty.
        let critical = name.iter_rdn().next().is_none();
        let req = ExtensionReq(vec![ext(critical, &SubjectAltName(names))?]);
        attributes.insert(Attribute::try_from(req)?)?;
    }
    let info = CertReqInfo {
        version: Version::V1,
        subject: name,
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_spki_der()).map_err(Error::malformed_key)?,
        attributes,
    };
    let signer = KeySigner::new(key, sm2_id)?;
    let signature = signer.sign_bytes(&info.to_der()?)?;
    let der = CertReq {
        info,
        algorithm: signer.signature_algorithm().algorithm_identifier(),
        signature: BitString::from_bytes(&signature)?,
    }
    .to_der()?;
    verify_certificate_signature(&der, key.public_key_spki_der(), sm2_id)
        .map_err(|e| Error::Signing(format!("self-check of the new signature failed: {e}")))?;
    Ok(der)
}
