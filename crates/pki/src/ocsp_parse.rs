//! Parsing OCSP responses (for tests, and for checking what was served).

use der::asn1::AnyRef;
use der::{Decode, Encode};
use spki::AlgorithmIdentifierRef;

use crate::alg::{Sm2Id, signature_algorithm_name};
use crate::crl::RevocationReason;
use crate::error::{Error, Result};
use crate::name::dn_string;
use crate::ocsp::{CertId, OcspCertStatus, OcspResponseStatus, SingleResponse};
use crate::ocsp_asn::{
    BasicResponseAsn, CertStatusAsn, ID_PKIX_OCSP_BASIC, ID_PKIX_OCSP_NONCE, OcspResponseAsn, ResponderIdAsn,
    ResponseDataAsn,
};
use crate::verify::{parse_sig_alg, verify_sig_alg};

/// What [`parse_ocsp_response`] reports about an `OCSPResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspResponseInfo {
    /// `None` for a successful response; the error status otherwise, in which
    /// case every other field is empty.
    pub error: Option<OcspResponseStatus>,
    /// ResponderID byKey: SHA-1 of the responder's public key.
    pub responder_key_hash: Option<Vec<u8>>,
    /// ResponderID byName, CAS style.
    pub responder_dn: Option<String>,
    /// producedAt, Unix seconds.
    pub produced_at: i64,
    /// The per-certificate answers.
    pub responses: Vec<SingleResponse>,
    /// The nonce response extension's `extnValue` contents.
    pub nonce: Option<Vec<u8>>,
    /// The certificates in `certs` (DER).
    pub certs: Vec<Vec<u8>>,
    /// Signature algorithm, CAS style.
    pub signature_algorithm: String,
    tbs: Vec<u8>,
    signature_algorithm_der: Vec<u8>,
    signature: Vec<u8>,
}

impl OcspResponseInfo {
    /// Verifies the response signature with the responder's DER
    /// `SubjectPublicKeyInfo` (`sm2_id` for SM3withSM2).
    pub fn verify_signature(&self, responder_spki_der: &[u8], sm2_id: Sm2Id) -> Result<()> {
        let alg = AlgorithmIdentifierRef::from_der(&self.signature_algorithm_der)
            .map_err(|e| Error::MalformedOcspResponse(e.to_string()))?;
        verify_sig_alg(
            responder_spki_der,
            parse_sig_alg(&alg)?,
            &self.tbs,
            &self.signature,
            sm2_id,
        )
    }
}

fn unix(t: &der::asn1::GeneralizedTime) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// Parses a DER `OCSPResponse` (`id-pkix-ocsp-basic` only). The signature is
/// not checked here; see [`OcspResponseInfo::verify_signature`].
pub fn parse_ocsp_response(der: &[u8]) -> Result<OcspResponseInfo> {
    let bad = |e: der::Error| Error::MalformedOcspResponse(e.to_string());
    let resp = OcspResponseAsn::from_der(der).map_err(bad)?;
    let mut info = OcspResponseInfo {
        error: OcspResponseStatus::from_asn(resp.status),
        responder_key_hash: None,
        responder_dn: None,
        produced_at: 0,
        responses: Vec::new(),
        nonce: None,
        certs: Vec::new(),
        signature_algorithm: String::new(),
        tbs: Vec::new(),
        signature_algorithm_der: Vec::new(),
        signature: Vec::new(),
    };
    let bytes = match (&info.error, resp.bytes) {
        (Some(_), None) => return Ok(info),
        (None, Some(b)) => b,
        _ => {
            return Err(Error::MalformedOcspResponse(
                "responseBytes do not match the status".into(),
            ));
        }
    };
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(Error::MalformedOcspResponse(format!(
            "unsupported response type {}",
            bytes.response_type
        )));
    }
    let basic = BasicResponseAsn::from_der(bytes.response.as_bytes()).map_err(bad)?;
    info.tbs = basic.tbs.to_der()?;
    info.signature_algorithm = signature_algorithm_name(&basic.signature_algorithm.oid);
    info.signature_algorithm_der = basic.signature_algorithm.to_der()?;
    info.signature = basic
        .signature
        .as_bytes()
        .ok_or_else(|| Error::MalformedOcspResponse("signature has unused bits".into()))?
        .to_vec();
    info.certs = basic
        .certs
        .iter()
        .flatten()
        .map(AnyRef::to_der)
        .collect::<der::Result<_>>()?;

    let data = ResponseDataAsn::from_der(&info.tbs).map_err(bad)?;
    if data.version.as_ref().is_some_and(|v| v.as_bytes() != [0]) {
        return Err(Error::MalformedOcspResponse("unsupported ResponseData version".into()));
    }
    match data.responder_id {
        ResponderIdAsn::ByKey(k) => info.responder_key_hash = Some(k.as_bytes().to_vec()),
        ResponderIdAsn::ByName(n) => info.responder_dn = Some(dn_string(&n)),
    }
    info.produced_at = unix(&data.produced_at);
    for r in &data.responses {
        let status = match &r.cert_status {
            CertStatusAsn::Good(_) => OcspCertStatus::Good,
            CertStatusAsn::Unknown(_) => OcspCertStatus::Unknown,
            CertStatusAsn::Revoked(ri) => OcspCertStatus::Revoked {
                time: unix(&ri.revocation_time),
                reason: ri.reason.map(RevocationReason::from_x509),
            },
        };
        info.responses.push(SingleResponse {
            cert_id: CertId::parse_response(&r.cert_id.to_der()?)?,
            status,
            this_update: unix(&r.this_update),
            next_update: r.next_update.as_ref().map(unix),
        });
    }
    info.nonce = data
        .extensions
        .iter()
        .flatten()
        .find(|x| x.extn_id == ID_PKIX_OCSP_NONCE)
        .map(|x| x.extn_value.as_bytes().to_vec());
    Ok(info)
}
