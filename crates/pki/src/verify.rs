//! Signature verification against a DER `SubjectPublicKeyInfo`: RSA PKCS#1
//! v1.5 and ECDSA through aws-lc-rs, SM3withSM2 through `sm2`.

use aws_lc_rs::signature::{self as lc_sig, UnparsedPublicKey, VerificationAlgorithm};
use der::Decode;
use der::asn1::BitStringRef;
use der::{Reader, SliceReader};
use spki::SubjectPublicKeyInfoRef;

use crate::alg::{KeyFamily, SignatureAlgorithm, Sm2Id, describe_spki_ref, oid};
use crate::error::{Error, Result};

/// Verifies `sig` over `msg` made by the holder of `spki_der` with `alg`.
/// `sm2_id` is the distinguishing ID for SM3withSM2 (ignored otherwise).
pub fn verify_signature(
    spki_der: &[u8],
    alg: SignatureAlgorithm,
    msg: &[u8],
    sig: &[u8],
    sm2_id: Sm2Id,
) -> Result<()> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    let desc = describe_spki_ref(&spki)?;
    let key = spki.subject_public_key.raw_bytes();
    let family = desc.family;
    let lc: &'static dyn VerificationAlgorithm = match (alg, family) {
        (SignatureAlgorithm::Sm3WithSm2, Some(KeyFamily::Sm2)) => {
            return verify_sm2(key, msg, sig, sm2_id);
        }
        (SignatureAlgorithm::RsaSha1, Some(KeyFamily::Rsa)) => {
            &lc_sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaSha256, Some(KeyFamily::Rsa)) => {
            &lc_sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaSha384, Some(KeyFamily::Rsa)) if desc.bits >= 2048 => {
            &lc_sig::RSA_PKCS1_2048_8192_SHA384
        }
        (SignatureAlgorithm::RsaSha512, Some(KeyFamily::Rsa)) => {
            &lc_sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
        }
        (
            SignatureAlgorithm::EcdsaSha1
            | SignatureAlgorithm::EcdsaSha256
            | SignatureAlgorithm::EcdsaSha384
            | SignatureAlgorithm::EcdsaSha512,
            Some(KeyFamily::Ecc),
        ) => ecdsa_alg(alg, desc.bits)?,
        _ => {
            return Err(Error::UnsupportedAlgorithm(format!(
                "{} with a {} key",
                alg.cas_name(),
                desc.name
            )));
        }
    };
    UnparsedPublicKey::new(lc, key)
        .verify(msg, sig)
        .map_err(|_| Error::BadSignature)
}

fn ecdsa_alg(alg: SignatureAlgorithm, bits: u32) -> Result<&'static dyn VerificationAlgorithm> {
    use SignatureAlgorithm as S;
    Ok(match (bits, alg) {
        (256, S::EcdsaSha1) => &lc_sig::ECDSA_P256_SHA1_ASN1,
        (256, S::EcdsaSha256) => &lc_sig::ECDSA_P256_SHA256_ASN1,
        (256, S::EcdsaSha384) => &lc_sig::ECDSA_P256_SHA384_ASN1,
        (256, S::EcdsaSha512) => &lc_sig::ECDSA_P256_SHA512_ASN1,
        (384, S::EcdsaSha256) => &lc_sig::ECDSA_P384_SHA256_ASN1,
        (384, S::EcdsaSha384) => &lc_sig::ECDSA_P384_SHA384_ASN1,
        (384, S::EcdsaSha512) => &lc_sig::ECDSA_P384_SHA512_ASN1,
        (521, S::EcdsaSha1) => &lc_sig::ECDSA_P521_SHA1_ASN1,
        (521, S::EcdsaSha256) => &lc_sig::ECDSA_P521_SHA256_ASN1,
        (521, S::EcdsaSha384) => &lc_sig::ECDSA_P521_SHA384_ASN1,
        (521, S::EcdsaSha512) => &lc_sig::ECDSA_P521_SHA512_ASN1,
        _ => {
            return Err(Error::UnsupportedAlgorithm(format!(
                "{} on a {bits}-bit curve",
                alg.cas_name()
            )));
        }
    })
}

fn verify_sm2(point: &[u8], msg: &[u8], sig: &[u8], sm2_id: Sm2Id) -> Result<()> {
    use signature::Verifier;
    let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(sm2_id.as_str(), point)
        .map_err(|_| Error::MalformedKey("invalid SM2 public key".into()))?;
    let sig = sm2::dsa::Signature::from_der(sig).map_err(|_| Error::BadSignature)?;
    vk.verify(msg, &sig).map_err(|_| Error::BadSignature)
}

/// The signed parts of a certificate / CRL / CSR: (TBS bytes exactly as
/// encoded, signature algorithm OID, signature bytes).
pub(crate) fn split_signed(der: &[u8]) -> Result<(&[u8], const_oid::ObjectIdentifier, &[u8])> {
    let mut reader = SliceReader::new(der).map_err(Error::malformed_cert)?;
    let parts = reader
        .sequence(|r| {
            let tbs = r.tlv_bytes()?;
            let alg = spki::AlgorithmIdentifierRef::decode(r)?;
            let sig = BitStringRef::decode(r)?;
            Ok::<_, der::Error>((tbs, alg.oid, sig))
        })
        .map_err(Error::malformed_cert)?;
    reader.finish().map_err(Error::malformed_cert)?;
    let (tbs, alg, sig) = parts;
    let sig = sig
        .as_bytes()
        .ok_or_else(|| Error::MalformedCertificate("signature has unused bits".into()))?;
    Ok((tbs, alg, sig))
}

/// Verifies the signature of a DER certificate (or any
/// `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }`, e.g. a CRL or CSR)
/// with the issuer's DER `SubjectPublicKeyInfo`.
pub fn verify_certificate_signature(
    cert_der: &[u8],
    issuer_spki_der: &[u8],
    sm2_id: Sm2Id,
) -> Result<()> {
    let (tbs, alg_oid, sig) = split_signed(cert_der)?;
    let alg = SignatureAlgorithm::from_oid(&alg_oid)
        .ok_or_else(|| Error::UnsupportedAlgorithm(alg_oid.to_string()))?;
    verify_signature(issuer_spki_der, alg, tbs, sig, sm2_id)
}

/// For SM2 signatures of unknown ID: tries the standard ID, then the empty
/// one, and returns the ID that verified.
pub fn verify_certificate_signature_any_sm2_id(
    cert_der: &[u8],
    issuer_spki_der: &[u8],
) -> Result<Sm2Id> {
    match verify_certificate_signature(cert_der, issuer_spki_der, Sm2Id::Standard) {
        Ok(()) => Ok(Sm2Id::Standard),
        Err(Error::BadSignature) => {
            let (_, alg, _) = split_signed(cert_der)?;
            if alg != oid::SM3_WITH_SM2 {
                return Err(Error::BadSignature);
            }
            verify_certificate_signature(cert_der, issuer_spki_der, Sm2Id::Empty)
                .map(|()| Sm2Id::Empty)
        }
        Err(e) => Err(e),
    }
}
