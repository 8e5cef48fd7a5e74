//! The signer adapter between [`PrivateKey`] and the x509-cert 0.3 builders.
//!
//! [`KeySigner`] implements `signature::Keypair`,
//! `spki::DynSignatureAlgorithmIdentifier` and `signature::Signer<DerSignature>`,
//! so `CertificateBuilder::build::<_, DerSignature>(&signer)` works for every
//! key algorithm. The same seam can later front HSM/KMS keys.

use der::asn1::BitString;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};

use crate::alg::{SignatureAlgorithm, Sm2Id};
use crate::error::{Error, Result};
use crate::keys::{PrivateKey, sign_sm2};

/// A signature as it goes into an X.509 BIT STRING (RSA PKCS#1 v1.5 bytes, or
/// DER `ECDSA-Sig-Value` / `SM2Signature`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerSignature(Box<[u8]>);

impl DerSignature {
    /// The signature bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<&[u8]> for DerSignature {
    type Error = signature::Error;
    fn try_from(bytes: &[u8]) -> core::result::Result<Self, Self::Error> {
        Ok(DerSignature(bytes.into()))
    }
}

impl From<DerSignature> for Box<[u8]> {
    fn from(sig: DerSignature) -> Self {
        sig.0
    }
}

impl signature::SignatureEncoding for DerSignature {
    type Repr = Box<[u8]>;
}

impl SignatureBitStringEncoding for DerSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// A public key as DER `SubjectPublicKeyInfo` (the signer's verifying key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpkiPublicKey(Vec<u8>);

impl SpkiPublicKey {
    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }
}

impl spki::EncodePublicKey for SpkiPublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::try_from(self.0.as_slice())?)
    }
}

/// Signs with a [`PrivateKey`] using its certificate signature algorithm
/// (RSA → sha256WithRSAEncryption, P-256/384/521 → ecdsa-with-SHA256/384/512,
/// SM2 → SM3withSM2 with the chosen distinguishing ID).
pub struct KeySigner<'k> {
    key: &'k PrivateKey,
    sm2: Option<sm2::dsa::SigningKey>,
}

impl<'k> KeySigner<'k> {
    /// Wraps `key`; `sm2_id` is used only when `key` is an SM2 key.
    pub fn new(key: &'k PrivateKey, sm2_id: Sm2Id) -> Result<Self> {
        let sm2 = match key.sm2_secret() {
            Some(sk) => {
                Some(sm2::dsa::SigningKey::new(sm2_id.as_str(), sk).map_err(|e| Error::Signing(e.to_string()))?)
            }
            None => None,
        };
        Ok(KeySigner { key, sm2 })
    }

    /// The signature algorithm this signer produces.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.key.algorithm().signature_algorithm()
    }

    /// The underlying key.
    pub fn key(&self) -> &PrivateKey {
        self.key
    }

    /// Signs `msg` (the whole message; hashing is part of the algorithm).
    pub fn sign_bytes(&self, msg: &[u8]) -> Result<Vec<u8>> {
        match &self.sm2 {
            Some(sk) => sign_sm2(sk, msg),
            None => self.key.sign_non_sm2(msg),
        }
    }
}

impl signature::Keypair for KeySigner<'_> {
    type VerifyingKey = SpkiPublicKey;

    fn verifying_key(&self) -> SpkiPublicKey {
        SpkiPublicKey(self.key.public_key_spki_der().to_vec())
    }
}

impl DynSignatureAlgorithmIdentifier for KeySigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.signature_algorithm().algorithm_identifier())
    }
}

impl signature::Signer<DerSignature> for KeySigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> core::result::Result<DerSignature, signature::Error> {
        self.sign_bytes(msg)
            .map(|s| DerSignature(s.into_boxed_slice()))
            .map_err(signature::Error::from_source)
    }
}
