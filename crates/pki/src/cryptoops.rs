//! Cryptographic operations with a managed key: encrypt and decrypt (RSAES-OAEP with SHA-1
//! or SHA-256, SM2 public-key encryption), sign and verify (PKCS#1 v1.5 and PSS with
//! SHA-256, ECDSA P-256 with SHA-256, SM3withSM2 with the distinguishing ID and Z value, and
//! a detached CMS signature). Inputs are either the message or, for signatures, its digest.

use aws_lc_rs::digest::{self as lc_digest, Digest};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPublicEncryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self as lc_sig, UnparsedPublicKey, VerificationAlgorithm};
use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use crate::alg::{KeyAlgorithm, KeyFamily, Sm2Id, describe_spki_ref};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

mod prepared;
pub use prepared::OperationKey;

/// The most an SM2PKE plaintext may hold, as the CAS API documents it.
pub const SM2PKE_MAX_PLAINTEXT: usize = 6047;

/// The `Algorithm` of Encrypt / Decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptionAlgorithm {
    /// RSAES-OAEP, SHA-1 and MGF1-SHA-1.
    RsaesOaepSha1,
    /// RSAES-OAEP, SHA-256 and MGF1-SHA-256.
    RsaesOaepSha256,
    /// GM/T 0003.4 public-key encryption; ciphertext C1‖C3‖C2 with C1 an uncompressed point.
    Sm2Pke,
}

impl EncryptionAlgorithm {
    /// Every algorithm, in API order.
    pub const ALL: [Self; 3] = [Self::RsaesOaepSha1, Self::RsaesOaepSha256, Self::Sm2Pke];

    /// The name the API uses.
    pub fn as_api(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::Sm2Pke => "SM2PKE",
        }
    }

    /// The value the API calls `name`.
    pub fn from_api(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_api() == name)
    }

    /// The key family the algorithm needs.
    pub fn family(self) -> KeyFamily {
        match self {
            Self::RsaesOaepSha1 | Self::RsaesOaepSha256 => KeyFamily::Rsa,
            Self::Sm2Pke => KeyFamily::Sm2,
        }
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            Self::RsaesOaepSha1 => &OAEP_SHA1_MGF1SHA1,
            _ => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

/// The `SigningAlgorithm` of Sign / Verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Sha256WithRsa,
    /// RSASSA-PSS, SHA-256 and MGF1-SHA-256, salt as long as the hash.
    Sha256WithRsaPss,
    /// ECDSA on P-256, DER `Ecdsa-Sig-Value`.
    Sha256WithEcdsa,
    /// SM2 with SM3 over Z‖M, DER `SM2Signature`.
    Sm3WithSm2,
    /// A detached CMS `SignedData` (DER `ContentInfo`) signed with SHA256withRSA.
    Sha256WithRsaP7,
}

impl SigningScheme {
    /// Every scheme, in API order.
    pub const ALL: [Self; 5] = [
        Self::Sha256WithRsa,
        Self::Sha256WithRsaPss,
        Self::Sha256WithEcdsa,
        Self::Sm3WithSm2,
        Self::Sha256WithRsaP7,
    ];

    /// The name the API uses.
    pub fn as_api(self) -> &'static str {
        match self {
            Self::Sha256WithRsa => "SHA256withRSA",
            Self::Sha256WithRsaPss => "SHA256withRSA/PSS",
            Self::Sha256WithEcdsa => "SHA256withECDSA",
            Self::Sm3WithSm2 => "SM3withSM2",
            Self::Sha256WithRsaP7 => "SHA256withRSA/P7",
        }
    }

    /// The value the API calls `name`.
    pub fn from_api(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_api() == name)
    }

    /// Bytes of the digest a `DIGEST` input must have (SHA-256 or SM3: both 32).
    pub const DIGEST_LEN: usize = 32;
}

/// What is signed or verified: the message itself, or its digest computed by the caller
/// (SHA-256, or for SM3withSM2 the SM3 hash of Z‖M).
#[derive(Clone, Copy, Debug)]
pub enum SignInput<'a> {
    /// The message itself.
    Message(&'a [u8]),
    /// Its digest, computed by the caller.
    Digest(&'a [u8]),
}

fn mismatch(what: &str, alg: KeyAlgorithm) -> Error {
    Error::AlgorithmMismatch(format!("{what} cannot be used with a {} key", alg.as_api()))
}

fn spki_algorithm(spki_der: &[u8]) -> Result<KeyAlgorithm> {
    KeyAlgorithm::from_spki_der(spki_der)
}

/// The longest plaintext `alg` can encrypt under the public key `spki_der`.
pub fn max_plaintext_len(spki_der: &[u8], alg: EncryptionAlgorithm) -> Result<usize> {
    let key_alg = spki_algorithm(spki_der)?;
    check_encryption_key(key_alg, alg)?;
    match alg {
        EncryptionAlgorithm::Sm2Pke => Ok(SM2PKE_MAX_PLAINTEXT),
        _ => Ok(rsa_public(spki_der)?.max_plaintext_size(alg.oaep())),
    }
}

fn check_encryption_key(key_alg: KeyAlgorithm, alg: EncryptionAlgorithm) -> Result<()> {
    if key_alg.family() != alg.family() {
        return Err(mismatch(alg.as_api(), key_alg));
    }
    if key_alg == KeyAlgorithm::Rsa1024 {
        // aws-lc refuses RSA below 2048 bits, and the only other RSA code here (the `rsa`
        // crate) is not constant-time for decryption (RUSTSEC-2023-0071).
        return Err(Error::UnsupportedKey(
            "RSA keys under 2048 bits cannot encrypt or decrypt".into(),
        ));
    }
    Ok(())
}

fn rsa_public(spki_der: &[u8]) -> Result<OaepPublicEncryptingKey> {
    let key = PublicEncryptingKey::from_der(spki_der).map_err(|e| Error::MalformedKey(e.to_string()))?;
    OaepPublicEncryptingKey::new(key).map_err(|_| Error::MalformedKey("not an RSA encryption key".into()))
}

/// Encrypts `plaintext` to the public key `spki_der`.
pub fn encrypt(spki_der: &[u8], alg: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
    let max = max_plaintext_len(spki_der, alg)?;
    if plaintext.len() > max {
        return Err(Error::PlaintextTooLong { max });
    }
    match alg {
        EncryptionAlgorithm::Sm2Pke => {
            let point = sm2_point(spki_der)?;
            let public = sm2::PublicKey::from_sec1_bytes(&point)
                .map_err(|_| Error::MalformedKey("invalid SM2 public key".into()))?;
            let key = sm2::pke::EncryptingKey::new_with_mode(public, sm2::pke::Mode::C1C3C2);
            key.encrypt(&mut getrandom::SysRng, plaintext)
                .map_err(|_| Error::Signing("SM2 encryption failed".into()))
        }
        _ => {
            let key = rsa_public(spki_der)?;
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key
                .encrypt(alg.oaep(), plaintext, &mut out, None)
                .map_err(|_| Error::Signing("RSA-OAEP encryption failed".into()))?
                .len();
            out.truncate(len);
            Ok(out)
        }
    }
}

/// Decrypts `ciphertext` with `key`. Every failure after the key checks reads the same
/// (`Error::CiphertextInvalid`), so the answer says nothing about the padding.
pub fn decrypt(key: &PrivateKey, alg: EncryptionAlgorithm, ciphertext: &[u8]) -> Result<Vec<u8>> {
    OperationKey::new(key).decrypt(alg, ciphertext)
}

/// GM/T 0003 writes C1 as a full point (`04‖x‖y`); some libraries (gmssl) leave the `04` out.
/// Both are read. A ciphertext starting with `04` is ambiguous: without the prefix, `x` itself
/// starts with `04` once in 256 times. So it is read as written and, if that fails, with a `04`
/// put in front; C3 (a hash over the plaintext) tells a wrong reading from a right one.
fn sm2_decrypt(key: &sm2::pke::DecryptingKey, ciphertext: &[u8]) -> Result<Vec<u8>> {
    let prefixed = |c: &[u8]| {
        let mut p = Vec::with_capacity(c.len() + 1);
        p.push(0x04);
        p.extend_from_slice(c);
        p
    };
    let as_written = if ciphertext.first() == Some(&0x04) {
        key.decrypt(ciphertext).ok()
    } else {
        None
    };
    match as_written {
        Some(plaintext) => Ok(plaintext),
        // 64 bytes of C1 without its prefix and 32 of C3, at least
        None if ciphertext.len() >= 96 => key.decrypt(&prefixed(ciphertext)).map_err(|_| Error::CiphertextInvalid),
        None => Err(Error::CiphertextInvalid),
    }
}

fn sm2_point(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

fn check_signing_key(key_alg: KeyAlgorithm, scheme: SigningScheme) -> Result<()> {
    let fits = match scheme {
        SigningScheme::Sha256WithRsa | SigningScheme::Sha256WithRsaPss | SigningScheme::Sha256WithRsaP7 => {
            key_alg.family() == KeyFamily::Rsa && key_alg != KeyAlgorithm::Rsa1024
        }
        // SHA-256 is P-256's hash (RFC 5480 §4); P-384/P-521 keys sign with their own.
        SigningScheme::Sha256WithEcdsa => key_alg == KeyAlgorithm::EcP256,
        SigningScheme::Sm3WithSm2 => key_alg == KeyAlgorithm::Sm2,
    };
    if fits {
        Ok(())
    } else {
        Err(mismatch(scheme.as_api(), key_alg))
    }
}

fn sha256_digest(input: SignInput<'_>) -> Result<Digest> {
    match input {
        SignInput::Message(m) => Ok(lc_digest::digest(&lc_digest::SHA256, m)),
        SignInput::Digest(d) => Digest::import_less_safe(d, &lc_digest::SHA256)
            .map_err(|_| Error::InvalidDigest(format!("a SHA-256 digest has 32 bytes, not {}", d.len()))),
    }
}

/// The signer's certificate, the certificates above it and the signing time (unix seconds)
/// a CMS signature carries.
#[derive(Clone, Copy, Debug)]
pub struct CmsSigner<'a> {
    /// The signer's certificate, DER.
    pub cert_der: &'a [u8],
    /// Its issuers' certificates, DER, so that a verifier holding only the root can build the path.
    pub chain_der: &'a [Vec<u8>],
    /// Unix seconds.
    pub signing_time: i64,
}

/// Signs `input` with `key`. The CMS scheme needs `cms` (the key's certificate names the
/// signer by issuer and serial and travels in the signature).
pub fn sign(
    key: &PrivateKey,
    scheme: SigningScheme,
    input: SignInput<'_>,
    cms: Option<CmsSigner<'_>>,
) -> Result<Vec<u8>> {
    OperationKey::new(key).sign(scheme, input, cms)
}

fn check_sm3_len(e: &[u8]) -> Result<()> {
    if e.len() == SigningScheme::DIGEST_LEN {
        Ok(())
    } else {
        Err(Error::InvalidDigest(format!(
            "an SM3 digest of Z‖M has 32 bytes, not {}",
            e.len()
        )))
    }
}

/// Whether `signature` is a valid `scheme` signature of `input` by the holder of `spki_der`.
/// A wrong signature is `Ok(false)`; a key that cannot do `scheme` or a malformed digest is
/// an error. The CMS scheme is verified with the CMS tools, not here.
pub fn verify(spki_der: &[u8], scheme: SigningScheme, input: SignInput<'_>, signature: &[u8]) -> Result<bool> {
    let key_alg = spki_algorithm(spki_der)?;
    if scheme == SigningScheme::Sha256WithRsaP7 {
        return Err(Error::UnsupportedAlgorithm(
            "SHA256withRSA/P7 signatures are verified as CMS (openssl cms -verify)".into(),
        ));
    }
    check_signing_key(key_alg, scheme)?;
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    describe_spki_ref(&spki)?;
    let point = spki.subject_public_key.raw_bytes();
    if scheme == SigningScheme::Sm3WithSm2 {
        return verify_sm2(point, input, signature);
    }
    let alg: &'static dyn VerificationAlgorithm = match scheme {
        SigningScheme::Sha256WithEcdsa => &lc_sig::ECDSA_P256_SHA256_ASN1,
        SigningScheme::Sha256WithRsaPss => &lc_sig::RSA_PSS_2048_8192_SHA256,
        _ => &lc_sig::RSA_PKCS1_2048_8192_SHA256,
    };
    let digest = sha256_digest(input)?;
    Ok(UnparsedPublicKey::new(alg, point)
        .verify_digest(&digest, signature)
        .is_ok())
}

fn verify_sm2(point: &[u8], input: SignInput<'_>, signature: &[u8]) -> Result<bool> {
    use signature::Verifier;
    use signature::hazmat::PrehashVerifier;
    let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(Sm2Id::Standard.as_str(), point)
        .map_err(|_| Error::MalformedKey("invalid SM2 public key".into()))?;
    let Ok(sig) = sm2::dsa::Signature::from_der(signature) else {
        return Ok(false);
    };
    Ok(match input {
        SignInput::Message(m) => vk.verify(m, &sig).is_ok(),
        SignInput::Digest(e) => {
            check_sm3_len(e)?;
            vk.verify_prehash(e, &sig).is_ok()
        }
    })
}
