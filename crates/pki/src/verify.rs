//! Signature verification against a DER `SubjectPublicKeyInfo`: RSA PKCS#1
//! v1.5 and ECDSA through aws-lc-rs, SM3withSM2 through `sm2`, RSASSA-PSS
//! (any salt length) and RSA-1024 with SHA-384 through `rsa`.

use aws_lc_rs::signature::{self as lc_sig, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use der::asn1::BitStringRef;
use der::{Decode, Reader, Sequence, SliceReader};
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::alg::{KeyFamily, SignatureAlgorithm, Sm2Id, describe_spki_ref, oid};
use crate::error::{Error, Result};

/// Verifies `sig` over `msg` made by the holder of `spki_der` with `alg`.
/// `sm2_id` is the distinguishing ID for SM3withSM2 (ignored otherwise).
pub fn verify_signature(spki_der: &[u8], alg: SignatureAlgorithm, msg: &[u8], sig: &[u8], sm2_id: Sm2Id) -> Result<()> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    let desc = describe_spki_ref(&spki)?;
    let key = spki.subject_public_key.raw_bytes();
    let family = desc.family;
    let lc: &'static dyn VerificationAlgorithm = match (alg, family) {
        (SignatureAlgorithm::Sm3WithSm2, Some(KeyFamily::Sm2)) => {
            return verify_sm2(key, msg, sig, sm2_id);
        }
        (SignatureAlgorithm::RsaSha1, Some(KeyFamily::Rsa)) => &lc_sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (SignatureAlgorithm::RsaSha256, Some(KeyFamily::Rsa)) => {
            &lc_sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (SignatureAlgorithm::RsaSha384, Some(KeyFamily::Rsa)) if desc.bits >= 2048 => {
            &lc_sig::RSA_PKCS1_2048_8192_SHA384
        }
        (SignatureAlgorithm::RsaSha384, Some(KeyFamily::Rsa)) => {
            // aws-lc-rs has no PKCS#1 v1.5 SHA-384 verifier below 2048 bits.
            return rsa_public(spki_der)?
                .verify(
                    rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    &sha2::Sha384::digest(msg),
                    sig,
                )
                .map_err(|_| Error::BadSignature);
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
/// encoded, signature algorithm, signature bytes).
pub(crate) fn split_signed(der: &[u8]) -> Result<(&[u8], AlgorithmIdentifierRef<'_>, &[u8])> {
    let mut reader = SliceReader::new(der).map_err(Error::malformed_cert)?;
    let parts = reader
        .sequence(|r| {
            let tbs = r.tlv_bytes()?;
            let alg = AlgorithmIdentifierRef::decode(r)?;
            let sig = BitStringRef::decode(r)?;
            Ok::<_, der::Error>((tbs, alg, sig))
        })
        .map_err(Error::malformed_cert)?;
    reader.finish().map_err(Error::malformed_cert)?;
    let (tbs, alg, sig) = parts;
    let sig = sig
        .as_bytes()
        .ok_or_else(|| Error::MalformedCertificate("signature has unused bits".into()))?;
    Ok((tbs, alg, sig))
}

/// A signature algorithm with its parameters, as named in a signed structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigAlg {
    /// One of the parameter-less (or NULL-parameter) algorithms.
    Plain(SignatureAlgorithm),
    /// RSASSA-PSS with MGF1 over the same hash, trailer field 1.
    Pss {
        /// The message hash (and MGF1 hash).
        hash: PssHash,
        /// The salt length in bytes.
        salt_len: usize,
    },
}

/// Hashes accepted for RSASSA-PSS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PssHash {
    Sha256,
    Sha384,
    Sha512,
}

impl SigAlg {
    /// CAS-style name (`SHA256WITHRSA`, `SHA256WITHRSA/PSS`, ...).
    pub(crate) fn name(self) -> String {
        match self {
            SigAlg::Plain(a) => a.cas_name().to_string(),
            SigAlg::Pss { hash, .. } => format!(
                "{}WITHRSA/PSS",
                match hash {
                    PssHash::Sha256 => "SHA256",
                    PssHash::Sha384 => "SHA384",
                    PssHash::Sha512 => "SHA512",
                }
            ),
        }
    }
}

pub(crate) const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
pub(crate) const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");

/// RSASSA-PSS-params (RFC 4055), with a salt length wider than a byte.
#[derive(Sequence)]
pub(crate) struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) trailer_field: Option<u32>,
}

fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Result<PssHash> {
    let null_or_absent = alg
        .parameters
        .as_ref()
        .is_none_or(|p| der::Tagged::tag(p) == der::Tag::Null && p.value().is_empty());
    if !null_or_absent {
        return Err(Error::MalformedCertificate(
            "unexpected hash parameters in RSASSA-PSS-params".into(),
        ));
    }
    match alg.oid {
        ID_SHA256 => Ok(PssHash::Sha256),
        ID_SHA384 => Ok(PssHash::Sha384),
        ID_SHA512 => Ok(PssHash::Sha512),
        other => Err(Error::UnsupportedAlgorithm(format!("RSASSA-PSS with hash {other}"))),
    }
}

/// Interprets an `AlgorithmIdentifier` of a signature. Parameters of the
/// plain algorithms are not checked here (see [`SigAlg`] users); PSS
/// parameters must name SHA-256/384/512, MGF1 with the same hash, and
/// trailer field 1 (the SHA-1 defaults are refused).
pub(crate) fn parse_sig_alg(alg: &AlgorithmIdentifierRef<'_>) -> Result<SigAlg> {
    if let Some(a) = SignatureAlgorithm::from_oid(&alg.oid) {
        return Ok(SigAlg::Plain(a));
    }
    if alg.oid != oid::RSASSA_PSS {
        return Err(Error::UnsupportedAlgorithm(crate::alg::signature_algorithm_name(
            &alg.oid,
        )));
    }
    let bad = |e: der::Error| Error::MalformedCertificate(format!("RSASSA-PSS-params: {e}"));
    let params: PssParams = alg
        .parameters
        .ok_or_else(|| Error::MalformedCertificate("RSASSA-PSS without parameters".into()))?
        .decode_as()
        .map_err(bad)?;
    let sha1 = || Error::UnsupportedAlgorithm("RSASSA-PSS with SHA-1".into());
    let hash = pss_hash(params.hash.as_ref().ok_or_else(sha1)?)?;
    let mgf = params.mask_gen.as_ref().ok_or_else(sha1)?;
    if mgf.oid != ID_MGF1 {
        return Err(Error::UnsupportedAlgorithm(format!(
            "RSASSA-PSS with mask generation {}",
            mgf.oid
        )));
    }
    let mgf_hash: AlgorithmIdentifierOwned = mgf
        .parameters
        .as_ref()
        .ok_or_else(|| Error::MalformedCertificate("MGF1 without hash".into()))?
        .decode_as()
        .map_err(bad)?;
    if pss_hash(&mgf_hash)? != hash {
        return Err(Error::UnsupportedAlgorithm(
            "RSASSA-PSS with different message and MGF1 hashes".into(),
        ));
    }
    if params.trailer_field.unwrap_or(1) != 1 {
        return Err(Error::MalformedCertificate("RSASSA-PSS trailer field is not 1".into()));
    }
    Ok(SigAlg::Pss {
        hash,
        salt_len: params.salt_len.unwrap_or(20) as usize,
    })
}

fn rsa_public(spki_der: &[u8]) -> Result<rsa::RsaPublicKey> {
    use spki::DecodePublicKey;
    rsa::RsaPublicKey::from_public_key_der(spki_der).map_err(Error::malformed_key)
}

/// Verifies with a parsed [`SigAlg`] (PSS included).
pub(crate) fn verify_sig_alg(spki_der: &[u8], alg: SigAlg, msg: &[u8], sig: &[u8], sm2_id: Sm2Id) -> Result<()> {
    let (hash, salt_len) = match alg {
        SigAlg::Plain(a) => return verify_signature(spki_der, a, msg, sig, sm2_id),
        SigAlg::Pss { hash, salt_len } => (hash, salt_len),
    };
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    let desc = describe_spki_ref(&spki)?;
    if desc.family != Some(KeyFamily::Rsa) {
        return Err(Error::UnsupportedAlgorithm(format!(
            "RSASSA-PSS with a {} key",
            desc.name
        )));
    }
    let pk = rsa_public(spki_der)?;
    let r = match hash {
        PssHash::Sha256 => pk.verify(
            rsa::Pss::<sha2::Sha256>::new_with_salt(salt_len),
            &sha2::Sha256::digest(msg),
            sig,
        ),
        PssHash::Sha384 => pk.verify(
            rsa::Pss::<sha2::Sha384>::new_with_salt(salt_len),
            &sha2::Sha384::digest(msg),
            sig,
        ),
        PssHash::Sha512 => pk.verify(
            rsa::Pss::<sha2::Sha512>::new_with_salt(salt_len),
            &sha2::Sha512::digest(msg),
            sig,
        ),
    };
    r.map_err(|_| Error::BadSignature)
}

/// Verifies the signature of a DER certificate (or any
/// `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }`, e.g. a CRL or CSR)
/// with the issuer's DER `SubjectPublicKeyInfo`. RSASSA-PSS signatures
/// (SHA-256/384/512) are verified too.
pub fn verify_certificate_signature(cert_der: &[u8], issuer_spki_der: &[u8], sm2_id: Sm2Id) -> Result<()> {
    let (tbs, alg, sig) = split_signed(cert_der)?;
    verify_sig_alg(issuer_spki_der, parse_sig_alg(&alg)?, tbs, sig, sm2_id)
}

/// For SM2 signatures of unknown ID: tries the standard ID, then the empty
/// one, and returns the ID that verified.
pub fn verify_certificate_signature_any_sm2_id(cert_der: &[u8], issuer_spki_der: &[u8]) -> Result<Sm2Id> {
    match verify_certificate_signature(cert_der, issuer_spki_der, Sm2Id::Standard) {
        Ok(()) => Ok(Sm2Id::Standard),
        Err(Error::BadSignature) => {
            let (_, alg, _) = split_signed(cert_der)?;
            if alg.oid != oid::SM3_WITH_SM2 {
                return Err(Error::BadSignature);
            }
            verify_certificate_signature(cert_der, issuer_spki_der, Sm2Id::Empty).map(|()| Sm2Id::Empty)
        }
        Err(e) => Err(e),
    }
}
