//! Detached CMS `SignedData` (RFC 5652), the `SHA256withRSA/P7` signature. Assembled from the
//! `cms` crate's types by hand: its builder cannot join this dependency graph (DESIGN.md,
//! stack table: p12-keystore pins the pre-release `cms` without it).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use const_oid::db::rfc5912::{ID_SHA_256, RSA_ENCRYPTION};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

use crate::error::{Error, Result};

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// A DER `ContentInfo` holding a detached `SignedData` over content whose SHA-256 is
/// `content_sha256`, signed by the holder of `signer_cert_der`'s key through `sign`, which
/// gets the DER of the signed attributes (RFC 5652 §5.4: their explicit SET OF encoding) and
/// returns the PKCS#1 v1.5 SHA-256 signature. `signing_time` is unix seconds. The certificates
/// of `chain_der` (the signer's issuers) travel along so a verifier needs only the root.
pub(crate) fn detached_signed_data(
    signer_cert_der: &[u8],
    chain_der: &[Vec<u8>],
    content_sha256: &[u8],
    signing_time: i64,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let cert = Certificate::from_der(signer_cert_der).map_err(Error::malformed_cert)?;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(signing_time).unwrap_or(0));
    let signing_time = Time::try_from(time).map_err(Error::encoding)?;
    let signed_attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
        attribute(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(content_sha256)?)?)?,
        attribute(ID_SIGNING_TIME, Any::encode_from(&signing_time)?)?,
    ])?;
    let signature = sign(&signed_attrs.to_der()?)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    };
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate().issuer().clone(),
            serial_number: cert.tbs_certificate().serial_number().clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![CertificateChoices::Certificate(cert)];
    for der in chain_der {
        certificates.push(CertificateChoices::Certificate(
            Certificate::from_der(der).map_err(Error::malformed_cert)?,
        ));
    }
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
    };
    let info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(info.to_der()?)
}
