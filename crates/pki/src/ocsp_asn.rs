//! RFC 6960 ASN.1 types on der 0.8 (x509-ocsp has no release for this
//! generation). Used for both encoding and decoding; `AnyRef` fields keep the
//! exact bytes that are echoed (CertID) or signed (ResponseData).

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, GeneralizedTime, IntRef, Null, OctetString};
use der::{Choice, Enumerated, Sequence};
use spki::AlgorithmIdentifierRef;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::name::Name;

/// id-pkix-ocsp-basic.
pub(crate) const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
pub(crate) const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-pkix-ocsp-nocheck.
pub(crate) const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");

/// `OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }`
#[derive(Sequence)]
pub(crate) struct OcspRequestAsn<'a> {
    pub(crate) tbs: TbsRequestAsn<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) signature: Option<AnyRef<'a>>,
}

/// `TBSRequest`.
#[derive(Sequence)]
pub(crate) struct TbsRequestAsn<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) version: Option<IntRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) requestor_name: Option<AnyRef<'a>>,
    pub(crate) request_list: Vec<RequestAsn<'a>>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) extensions: Option<Vec<Extension>>,
}

/// `Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }`
#[derive(Sequence)]
pub(crate) struct RequestAsn<'a> {
    pub(crate) req_cert: AnyRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) extensions: Option<Vec<Extension>>,
}

/// `CertID`.
#[derive(Sequence)]
pub(crate) struct CertIdAsn<'a> {
    pub(crate) hash_algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) issuer_name_hash: OctetString,
    pub(crate) issuer_key_hash: OctetString,
    pub(crate) serial_number: IntRef<'a>,
}

/// `OCSPResponseStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u32)]
pub(crate) enum ResponseStatusAsn {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

/// `OCSPResponse`.
#[derive(Sequence)]
pub(crate) struct OcspResponseAsn {
    pub(crate) status: ResponseStatusAsn,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) bytes: Option<ResponseBytesAsn>,
}

/// `ResponseBytes`.
#[derive(Sequence)]
pub(crate) struct ResponseBytesAsn {
    pub(crate) response_type: ObjectIdentifier,
    pub(crate) response: OctetString,
}

/// `BasicOCSPResponse`.
#[derive(Sequence)]
pub(crate) struct BasicResponseAsn<'a> {
    pub(crate) tbs: AnyRef<'a>,
    pub(crate) signature_algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) signature: BitStringRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) certs: Option<Vec<AnyRef<'a>>>,
}

/// `ResponderID` (the module uses EXPLICIT tags).
#[derive(Choice)]
pub(crate) enum ResponderIdAsn {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// `ResponseData` (version DEFAULT v1, never encoded).
#[derive(Sequence)]
pub(crate) struct ResponseDataAsn<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) version: Option<IntRef<'a>>,
    pub(crate) responder_id: ResponderIdAsn,
    pub(crate) produced_at: GeneralizedTime,
    pub(crate) responses: Vec<SingleResponseAsn<'a>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) extensions: Option<Vec<Extension>>,
}

/// `SingleResponse`.
#[derive(Sequence)]
pub(crate) struct SingleResponseAsn<'a> {
    pub(crate) cert_id: AnyRef<'a>,
    pub(crate) cert_status: CertStatusAsn,
    pub(crate) this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) extensions: Option<Vec<Extension>>,
}

/// `CertStatus`.
#[derive(Choice)]
pub(crate) enum CertStatusAsn {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfoAsn),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// `RevokedInfo`.
#[derive(Sequence)]
pub(crate) struct RevokedInfoAsn {
    pub(crate) revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) reason: Option<CrlReason>,
}
