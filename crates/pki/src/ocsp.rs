//! OCSP (RFC 6960): request parsing, signed responses, error responses, and
//! delegated responder certificates.
//!
//! Responses are `id-pkix-ocsp-basic`, with ResponderID byKey, signed with
//! the responder key's certificate signature algorithm. SM2: `openssl ocsp`
//! verifies SM2 signatures with the empty ID only (research §5), so sign with
//! [`Sm2Id::Empty`] for OpenSSL clients.

use der::asn1::{AnyRef, BitStringRef, GeneralizedTime, IntRef, Null, OctetString};
use der::{Decode, Encode};
use rand_core::CryptoRng;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierRef;
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use crate::alg::Sm2Id;
use crate::crl::RevocationReason;
use crate::error::{Error, Result};
use crate::issue::{CertValidity, Serial, unix_to_datetime};
use crate::keys::PrivateKey;
use crate::leaf::{LeafKind, LeafProfile, build_leaf_with_extensions};
use crate::name::SubjectFields;
use crate::ocsp_asn::{
    BasicResponseAsn, CertIdAsn, CertStatusAsn, ID_PKIX_OCSP_BASIC, ID_PKIX_OCSP_NOCHECK, ID_PKIX_OCSP_NONCE,
    OcspRequestAsn, OcspResponseAsn, ResponderIdAsn, ResponseBytesAsn, ResponseDataAsn, ResponseStatusAsn,
    RevokedInfoAsn, SingleResponseAsn,
};
use crate::usage::{ExtKeyUsage, KeyUsageFlags};
use crate::verify::verify_signature;

/// The hash algorithm of a CertID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OcspHashAlgorithm {
    /// SHA-1 (the RFC 6960 / RFC 5019 default, and OpenSSL's).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl OcspHashAlgorithm {
    const ALL: [OcspHashAlgorithm; 4] = [
        OcspHashAlgorithm::Sha1,
        OcspHashAlgorithm::Sha256,
        OcspHashAlgorithm::Sha384,
        OcspHashAlgorithm::Sha512,
    ];

    /// The algorithm OID.
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        use const_oid::db::rfc5912 as o;
        match self {
            OcspHashAlgorithm::Sha1 => o::ID_SHA_1,
            OcspHashAlgorithm::Sha256 => o::ID_SHA_256,
            OcspHashAlgorithm::Sha384 => o::ID_SHA_384,
            OcspHashAlgorithm::Sha512 => o::ID_SHA_512,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            OcspHashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            OcspHashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            OcspHashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
            OcspHashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn output_len(self) -> usize {
        match self {
            OcspHashAlgorithm::Sha1 => 20,
            OcspHashAlgorithm::Sha256 => 32,
            OcspHashAlgorithm::Sha384 => 48,
            OcspHashAlgorithm::Sha512 => 64,
        }
    }
}

/// (issuerNameHash, issuerKeyHash) of an issuer certificate.
fn issuer_hashes(cert: &Certificate, alg: OcspHashAlgorithm) -> Result<(Vec<u8>, Vec<u8>)> {
    let tbs = cert.tbs_certificate();
    let name = alg.digest(&tbs.subject().to_der()?);
    let key = alg.digest(tbs.subject_public_key_info().subject_public_key.raw_bytes());
    Ok((name, key))
}

/// An OCSP `CertID`: which certificate of which issuer. Keeps its DER as
/// received so a response echoes it byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    hash_algorithm: OcspHashAlgorithm,
    issuer_name_hash: Vec<u8>,
    issuer_key_hash: Vec<u8>,
    serial: Vec<u8>,
    der: Vec<u8>,
}

impl CertId {
    /// The CertID of serial `serial` (big-endian magnitude) issued by
    /// `issuer_cert_der`, as a client computes it.
    pub fn new(hash_algorithm: OcspHashAlgorithm, issuer_cert_der: &[u8], serial: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(issuer_cert_der).map_err(Error::malformed_cert)?;
        let (name_hash, key_hash) = issuer_hashes(&cert, hash_algorithm)?;
        let first = serial
            .iter()
            .position(|b| *b != 0)
            .ok_or_else(|| Error::InvalidSerial("a serial number must be positive".into()))?;
        let mut int = Vec::with_capacity(serial.len() + 1);
        if serial[first] & 0x80 != 0 {
            int.push(0);
        }
        int.extend_from_slice(&serial[first..]);
        let asn = CertIdAsn {
            hash_algorithm: AlgorithmIdentifierRef {
                oid: hash_algorithm.oid(),
                parameters: Some(AnyRef::NULL),
            },
            issuer_name_hash: OctetString::new(name_hash)?,
            issuer_key_hash: OctetString::new(key_hash)?,
            serial_number: IntRef::new(&int)?,
        };
        Self::parse(&asn.to_der()?).map_err(Error::Encoding)
    }

    /// Parses a DER CertID; the message says what is wrong.
    fn parse(der: &[u8]) -> core::result::Result<Self, String> {
        let asn = CertIdAsn::from_der(der).map_err(|e| format!("CertID: {e}"))?;
        let alg = &asn.hash_algorithm;
        let hash_algorithm = OcspHashAlgorithm::ALL
            .into_iter()
            .find(|h| h.oid() == alg.oid)
            .ok_or_else(|| format!("unsupported CertID hash algorithm {}", alg.oid))?;
        if alg.parameters.is_some_and(|p| p != AnyRef::NULL) {
            return Err("unexpected hash algorithm parameters in CertID".into());
        }
        let n = hash_algorithm.output_len();
        if asn.issuer_name_hash.as_bytes().len() != n || asn.issuer_key_hash.as_bytes().len() != n {
            return Err("CertID hash of the wrong length".into());
        }
        let serial = asn.serial_number.as_bytes();
        if serial.first().is_some_and(|b| b & 0x80 != 0) {
            return Err("negative serial number in CertID".into());
        }
        let first = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
        Ok(CertId {
            hash_algorithm,
            issuer_name_hash: asn.issuer_name_hash.as_bytes().to_vec(),
            issuer_key_hash: asn.issuer_key_hash.as_bytes().to_vec(),
            serial: serial[first..].to_vec(),
            der: der.to_vec(),
        })
    }

    pub(crate) fn parse_response(der: &[u8]) -> Result<Self> {
        Self::parse(der).map_err(Error::MalformedOcspResponse)
    }

    /// The hash algorithm of the issuer hashes.
    pub fn hash_algorithm(&self) -> OcspHashAlgorithm {
        self.hash_algorithm
    }

    /// issuerNameHash.
    pub fn issuer_name_hash(&self) -> &[u8] {
        &self.issuer_name_hash
    }

    /// issuerKeyHash.
    pub fn issuer_key_hash(&self) -> &[u8] {
        &self.issuer_key_hash
    }

    /// The serial as a big-endian magnitude without leading zeros (empty for 0).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The serial as lower-case hex without leading zero bytes (as
    /// `CertInfo::serial_hex`; `00` for 0).
    pub fn serial_hex(&self) -> String {
        if self.serial.is_empty() {
            "00".into()
        } else {
            hex::encode(&self.serial)
        }
    }

    /// The DER CertID (as received).
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// Whether the issuer hashes name `issuer_cert_der` (computed with this
    /// CertID's hash algorithm). False for an undecodable certificate.
    pub fn matches_issuer(&self, issuer_cert_der: &[u8]) -> bool {
        Certificate::from_der(issuer_cert_der).is_ok_and(|c| self.matches(&c))
    }

    fn matches(&self, issuer: &Certificate) -> bool {
        issuer_hashes(issuer, self.hash_algorithm)
            .is_ok_and(|(name, key)| name == self.issuer_name_hash && key == self.issuer_key_hash)
    }
}

/// A parsed OCSP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    /// The requested certificates, in request order (at least one).
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's `extnValue` contents, verbatim (normally the DER
    /// of an OCTET STRING); pass it to [`build_ocsp_response`] to echo it.
    pub nonce: Option<Vec<u8>>,
    /// Whether the request carried an optionalSignature (not verified; this
    /// responder does not require signed requests).
    pub signed: bool,
}

/// Recognised extensions are listed in `known`; an unrecognised critical one
/// makes the request malformed (RFC 6960 §4.4), duplicates too.
fn check_request_extensions(exts: &[Extension], known: &[const_oid::ObjectIdentifier]) -> Result<()> {
    for (i, x) in exts.iter().enumerate() {
        if x.critical && !known.contains(&x.extn_id) {
            return Err(Error::MalformedOcspRequest(format!(
                "unsupported critical extension {}",
                x.extn_id
            )));
        }
        if exts[..i].iter().any(|y| y.extn_id == x.extn_id) {
            return Err(Error::MalformedOcspRequest(format!(
                "duplicate extension {}",
                x.extn_id
            )));
        }
    }
    Ok(())
}

impl OcspRequest {
    /// Parses a DER `OCSPRequest`. Every failure is an
    /// [`Error::MalformedOcspRequest`] (answer `malformedRequest`): not DER,
    /// trailing data, a version other than v1, an empty request list, an
    /// unsupported CertID hash algorithm (SHA-1/256/384/512 are supported),
    /// hashes of the wrong length, a negative serial, or an unsupported
    /// critical extension. A signature, if present, is ignored.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::MalformedOcspRequest(m);
        let req = OcspRequestAsn::from_der(der).map_err(|e| bad(e.to_string()))?;
        let tbs = &req.tbs;
        if tbs.version.as_ref().is_some_and(|v| v.as_bytes() != [0]) {
            return Err(bad("unsupported OCSP request version".into()));
        }
        if tbs.request_list.is_empty() {
            return Err(bad("the request names no certificate".into()));
        }
        let mut cert_ids = Vec::with_capacity(tbs.request_list.len());
        for r in &tbs.request_list {
            check_request_extensions(r.extensions.as_deref().unwrap_or_default(), &[])?;
            cert_ids.push(CertId::parse(&r.req_cert.to_der()?).map_err(bad)?);
        }
        let exts = tbs.extensions.as_deref().unwrap_or_default();
        check_request_extensions(exts, &[ID_PKIX_OCSP_NONCE])?;
        let nonce = exts
            .iter()
            .find(|x| x.extn_id == ID_PKIX_OCSP_NONCE)
            .map(|x| x.extn_value.as_bytes().to_vec());
        Ok(OcspRequest {
            cert_ids,
            nonce,
            signed: req.signature.is_some(),
        })
    }
}

/// The status of one certificate in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspCertStatus {
    /// Not revoked.
    Good,
    /// Revoked at `time` (Unix seconds); an unspecified reason is not written.
    Revoked {
        /// Revocation time, Unix seconds.
        time: i64,
        /// The reason (removeFromCRL is refused).
        reason: Option<RevocationReason>,
    },
    /// Not known to this responder.
    Unknown,
}

/// One certificate's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleResponse {
    /// The CertID, normally echoed from the request.
    pub cert_id: CertId,
    /// The status.
    pub status: OcspCertStatus,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds (not before thisUpdate).
    pub next_update: Option<i64>,
}

/// The non-successful `OCSPResponseStatus` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OcspResponseStatus {
    /// malformedRequest (1).
    MalformedRequest,
    /// internalError (2).
    InternalError,
    /// tryLater (3).
    TryLater,
    /// sigRequired (5).
    SigRequired,
    /// unauthorized (6).
    Unauthorized,
}

impl OcspResponseStatus {
    /// The RFC 6960 code.
    pub fn code(self) -> u8 {
        self.to_asn() as u8
    }

    fn to_asn(self) -> ResponseStatusAsn {
        match self {
            OcspResponseStatus::MalformedRequest => ResponseStatusAsn::MalformedRequest,
            OcspResponseStatus::InternalError => ResponseStatusAsn::InternalError,
            OcspResponseStatus::TryLater => ResponseStatusAsn::TryLater,
            OcspResponseStatus::SigRequired => ResponseStatusAsn::SigRequired,
            OcspResponseStatus::Unauthorized => ResponseStatusAsn::Unauthorized,
        }
    }

    pub(crate) fn from_asn(s: ResponseStatusAsn) -> Option<Self> {
        Some(match s {
            ResponseStatusAsn::Successful => return None,
            ResponseStatusAsn::MalformedRequest => OcspResponseStatus::MalformedRequest,
            ResponseStatusAsn::InternalError => OcspResponseStatus::InternalError,
            ResponseStatusAsn::TryLater => OcspResponseStatus::TryLater,
            ResponseStatusAsn::SigRequired => OcspResponseStatus::SigRequired,
            ResponseStatusAsn::Unauthorized => OcspResponseStatus::Unauthorized,
        })
    }
}

/// An unsigned `OCSPResponse` carrying only an error status (DER).
pub fn ocsp_error_response(status: OcspResponseStatus) -> Vec<u8> {
    vec![0x30, 0x03, 0x0a, 0x01, status.code()]
}

fn gtime(secs: i64) -> Result<GeneralizedTime> {
    Ok(GeneralizedTime::from_date_time(unix_to_datetime(secs)?))
}

fn single_response(r: &SingleResponse) -> Result<SingleResponseAsn<'_>> {
    if r.next_update.is_some_and(|n| n < r.this_update) {
        return Err(Error::InvalidValidity("nextUpdate precedes thisUpdate".into()));
    }
    let cert_status = match r.status {
        OcspCertStatus::Good => CertStatusAsn::Good(Null),
        OcspCertStatus::Unknown => CertStatusAsn::Unknown(Null),
        OcspCertStatus::Revoked { time, reason } => CertStatusAsn::Revoked(RevokedInfoAsn {
            revocation_time: gtime(time)?,
            reason: RevocationReason::written(reason)?.map(RevocationReason::to_x509),
        }),
    };
    Ok(SingleResponseAsn {
        cert_id: AnyRef::from_der(&r.cert_id.der)?,
        cert_status,
        this_update: gtime(r.this_update)?,
        next_update: r.next_update.map(gtime).transpose()?,
        extensions: None,
    })
}

/// Builds a signed, successful `OCSPResponse` (DER, `id-pkix-ocsp-basic`).
///
/// ResponderID is byKey (SHA-1 of the responder's public key); producedAt,
/// thisUpdate and nextUpdate are GeneralizedTime; `nonce` (the request's
/// nonce `extnValue`, see [`OcspRequest::nonce`]) is echoed as a
/// non-critical response extension. When a CertID does not name the
/// responder certificate as its issuer (a delegated responder), `certs`
/// carries the responder certificate. The signature is verified before
/// returning unless the key's back-end guarantees it (aws-lc: RSA, ECDSA).
///
/// Errors: [`Error::KeyMismatch`] when the key is not the certificate's,
/// [`Error::InvalidRevocation`] for no responses or removeFromCRL,
/// [`Error::InvalidValidity`] for times out of range or nextUpdate before thisUpdate.
pub fn build_ocsp_response(
    responder_cert_der: &[u8],
    responder_key: &PrivateKey,
    responses: &[SingleResponse],
    produced_at: i64,
    nonce: Option<&[u8]>,
    sm2_id: Sm2Id,
) -> Result<Vec<u8>> {
    if responses.is_empty() {
        return Err(Error::InvalidRevocation(
            "an OCSP response needs at least one certificate".into(),
        ));
    }
    let cert = Certificate::from_der(responder_cert_der).map_err(Error::malformed_cert)?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.to_der()? != responder_key.public_key_spki_der() {
        return Err(Error::KeyMismatch);
    }
    let key_hash = Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec();
    let delegated = responses.iter().any(|r| !r.cert_id.matches(&cert));

    let extensions = match nonce {
        Some(n) => Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(n)?,
        }]),
        None => None,
    };
    let data = ResponseDataAsn {
        version: None,
        responder_id: ResponderIdAsn::ByKey(OctetString::new(key_hash)?),
        produced_at: gtime(produced_at)?,
        responses: responses.iter().map(single_response).collect::<Result<_>>()?,
        extensions,
    };
    let tbs = data.to_der()?;
    let sig_alg = responder_key.algorithm().signature_algorithm();
    let sig = responder_key.sign(&tbs, sm2_id)?;
    // An OCSP answer is signed per request (with a nonce), and verifying a P-256 signature
    // costs about three signatures: the self-check took two thirds of the responder's CPU.
    // It is kept only where the signer does not already guarantee the result (see
    // `PrivateKey::signature_right_by_construction`); Boulder does not verify its OCSP
    // responses after signing either. CRLs, signed rarely, are still always checked.
    if !responder_key.signature_right_by_construction() {
        verify_signature(responder_key.public_key_spki_der(), sig_alg, &tbs, &sig, sm2_id)
            .map_err(|e| Error::Signing(format!("self-check of the new OCSP signature failed: {e}")))?;
    }
    let alg_der = sig_alg.algorithm_identifier().to_der()?;
    let basic = BasicResponseAsn {
        tbs: AnyRef::from_der(&tbs)?,
        signature_algorithm: AlgorithmIdentifierRef::from_der(&alg_der)?,
        signature: BitStringRef::from_bytes(&sig)?,
        certs: if delegated {
            Some(vec![AnyRef::from_der(responder_cert_der)?])
        } else {
            None
        },
    };
    let resp = OcspResponseAsn {
        status: ResponseStatusAsn::Successful,
        bytes: Some(ResponseBytesAsn {
            response_type: ID_PKIX_OCSP_BASIC,
            response: OctetString::new(basic.to_der()?)?,
        }),
    };
    Ok(resp.to_der()?)
}

/// Builds a delegated OCSP responder certificate (DER) for
/// `subject_spki_der`, issued by the CA `issuer_cert_der` through
/// [`crate::build_leaf`]: KeyUsage digitalSignature, EKU OCSPSigning, and the
/// non-critical `id-pkix-ocsp-nocheck` extension (RFC 6960 §4.2.2.2.1), no
/// SANs. `sm2_id` is the ID the CA signs with. Errors as for `build_leaf`.
#[allow(clippy::too_many_arguments)]
pub fn build_ocsp_signer_cert<R: CryptoRng + ?Sized>(
    issuer_cert_der: &[u8],
    issuer_key: &PrivateKey,
    subject_spki_der: &[u8],
    subject: &SubjectFields,
    validity: CertValidity,
    serial: Option<Serial>,
    sm2_id: Sm2Id,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let profile = LeafProfile {
        serial,
        sm2_id,
        ..LeafProfile::new(LeafKind::Custom {
            key_usage: KeyUsageFlags::DIGITAL_SIGNATURE,
            extended_key_usages: vec![ExtKeyUsage::OcspSigning],
        })
    };
    let nocheck = Extension {
        extn_id: ID_PKIX_OCSP_NOCHECK,
        critical: false,
        extn_value: OctetString::new(Null.to_der()?)?,
    };
    build_leaf_with_extensions(
        issuer_cert_der,
        issuer_key,
        subject_spki_der,
        subject,
        &[],
        validity,
        &profile,
        vec![nocheck],
        rng,
    )
    .map(|(der, _)| der)
}
