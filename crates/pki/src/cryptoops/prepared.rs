//! A private key parsed once for many operations. Parsing is not free: aws-lc checks an RSA
//! key's consistency on every load, and an SM2 signing key computes its public point and Z
//! value (a scalar multiplication, as costly as a signature). A caller that signs or decrypts
//! repeatedly with one key keeps an `OperationKey`.

use aws_lc_rs::digest::{self as lc_digest, Digest};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{self as lc_sig, EcdsaKeyPair, RsaKeyPair};

use super::{
    CmsSigner, EncryptionAlgorithm, SignInput, SigningScheme, check_encryption_key, check_signing_key, check_sm3_len,
    mismatch, sha256_digest, sm2_decrypt,
};
use crate::alg::{KeyAlgorithm, Sm2Id};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;

enum Prepared {
    Rsa {
        signing: RsaKeyPair,
        decrypting: Option<OaepPrivateDecryptingKey>,
    },
    Ecdsa(EcdsaKeyPair),
    Sm2 {
        signing: Box<sm2::dsa::SigningKey>,
        decrypting: Box<sm2::pke::DecryptingKey>,
    },
    /// A key no operation here accepts (RSA-1024, P-384, P-521): every call is refused by
    /// the algorithm checks before this is looked at.
    Unusable(String),
}

/// A private key ready for Sign and Decrypt.
pub struct OperationKey {
    alg: KeyAlgorithm,
    cert_der: Vec<u8>,
    chain_der: Vec<Vec<u8>>,
    prepared: Prepared,
}

impl core::fmt::Debug for OperationKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OperationKey")
            .field("algorithm", &self.alg)
            .finish_non_exhaustive()
    }
}

impl OperationKey {
    /// Prepares `key`; never fails: a key that cannot be prepared is refused when used.
    pub fn new(key: &PrivateKey) -> Self {
        Self {
            alg: key.algorithm(),
            cert_der: Vec::new(),
            chain_der: Vec::new(),
            prepared: prepare(key),
        }
    }

    /// Prepares `key` with the certificate (and its issuers, DER) a CMS signature carries.
    pub fn with_certificate(key: &PrivateKey, cert_der: Vec<u8>, chain_der: Vec<Vec<u8>>) -> Self {
        Self {
            cert_der,
            chain_der,
            ..Self::new(key)
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The CMS signer this key was prepared with, if any.
    pub fn cms_signer(&self, signing_time: i64) -> Option<CmsSigner<'_>> {
        (!self.cert_der.is_empty()).then_some(CmsSigner {
            cert_der: &self.cert_der,
            chain_der: &self.chain_der,
            signing_time,
        })
    }

    fn unusable(&self) -> Error {
        match &self.prepared {
            Prepared::Unusable(why) => Error::MalformedKey(why.clone()),
            _ => Error::MalformedKey(format!("a {} key of an unexpected kind", self.alg.as_api())),
        }
    }

    /// Decrypts `ciphertext`. Every failure after the key checks reads the same
    /// (`Error::CiphertextInvalid`), so the answer says nothing about the padding.
    pub fn decrypt(&self, alg: EncryptionAlgorithm, ciphertext: &[u8]) -> Result<Vec<u8>> {
        check_encryption_key(self.alg, alg)?;
        match (&self.prepared, alg) {
            (Prepared::Sm2 { decrypting, .. }, EncryptionAlgorithm::Sm2Pke) => sm2_decrypt(decrypting, ciphertext),
            (
                Prepared::Rsa { decrypting, .. },
                EncryptionAlgorithm::RsaesOaepSha1 | EncryptionAlgorithm::RsaesOaepSha256,
            ) => {
                let oaep = decrypting.as_ref().ok_or(Error::CiphertextInvalid)?;
                let mut out = vec![0u8; oaep.min_output_size()];
                let len = oaep
                    .decrypt(alg.oaep(), ciphertext, &mut out, None)
                    .map_err(|_| Error::CiphertextInvalid)?
                    .len();
                out.truncate(len);
                Ok(out)
            }
            (Prepared::Unusable(_), _) => Err(self.unusable()),
            _ => Err(mismatch(alg.as_api(), self.alg)),
        }
    }

    /// Signs `input`. The CMS scheme needs `cms` (the key's certificate names the signer by
    /// issuer and serial and travels in the signature).
    pub fn sign(&self, scheme: SigningScheme, input: SignInput<'_>, cms: Option<CmsSigner<'_>>) -> Result<Vec<u8>> {
        check_signing_key(self.alg, scheme)?;
        match (&self.prepared, scheme) {
            (Prepared::Sm2 { signing, .. }, SigningScheme::Sm3WithSm2) => sign_sm2(signing, input),
            (Prepared::Ecdsa(pair), SigningScheme::Sha256WithEcdsa) => {
                let sig = pair
                    .sign_digest(&sha256_digest(input)?)
                    .map_err(|_| Error::Signing("SHA256withECDSA signing failed".into()))?;
                Ok(sig.as_ref().to_vec())
            }
            (Prepared::Rsa { signing, .. }, SigningScheme::Sha256WithRsa) => {
                rsa_sign_digest(signing, &lc_sig::RSA_PKCS1_SHA256, &sha256_digest(input)?)
            }
            (Prepared::Rsa { signing, .. }, SigningScheme::Sha256WithRsaPss) => {
                rsa_sign_digest(signing, &lc_sig::RSA_PSS_SHA256, &sha256_digest(input)?)
            }
            (Prepared::Rsa { signing, .. }, SigningScheme::Sha256WithRsaP7) => {
                let cms = cms.ok_or_else(|| Error::Signing("a CMS signature needs the signer's certificate".into()))?;
                let digest = sha256_digest(input)?;
                crate::pkcs7::detached_signed_data(
                    cms.cert_der,
                    cms.chain_der,
                    digest.as_ref(),
                    cms.signing_time,
                    |signed_attrs| {
                        rsa_sign_digest(
                            signing,
                            &lc_sig::RSA_PKCS1_SHA256,
                            &lc_digest::digest(&lc_digest::SHA256, signed_attrs),
                        )
                    },
                )
            }
            (Prepared::Unusable(_), _) => Err(self.unusable()),
            _ => Err(mismatch(scheme.as_api(), self.alg)),
        }
    }
}

fn prepare(key: &PrivateKey) -> Prepared {
    let pkcs8 = key.to_pkcs8_der();
    match key.algorithm() {
        KeyAlgorithm::Sm2 => {
            let Some(secret) = key.sm2_secret() else {
                return Prepared::Unusable("not an SM2 key".into());
            };
            match sm2::dsa::SigningKey::new(Sm2Id::Standard.as_str(), secret) {
                Ok(signing) => Prepared::Sm2 {
                    signing: Box::new(signing),
                    decrypting: Box::new(sm2::pke::DecryptingKey::new_with_mode(
                        secret.to_nonzero_scalar(),
                        sm2::pke::Mode::C1C3C2,
                    )),
                },
                Err(e) => Prepared::Unusable(e.to_string()),
            }
        }
        KeyAlgorithm::EcP256 => match EcdsaKeyPair::from_pkcs8(&lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8) {
            Ok(pair) => Prepared::Ecdsa(pair),
            Err(e) => Prepared::Unusable(e.to_string()),
        },
        alg if alg.family() == crate::alg::KeyFamily::Rsa && alg != KeyAlgorithm::Rsa1024 => {
            match RsaKeyPair::from_pkcs8(&pkcs8) {
                Ok(signing) => Prepared::Rsa {
                    signing,
                    decrypting: PrivateDecryptingKey::from_pkcs8(&pkcs8)
                        .ok()
                        .and_then(|k| OaepPrivateDecryptingKey::new(k).ok()),
                },
                Err(e) => Prepared::Unusable(e.to_string()),
            }
        }
        alg => Prepared::Unusable(format!("{} keys are not used for these operations", alg.as_api())),
    }
}

fn rsa_sign_digest(pair: &RsaKeyPair, encoding: &'static dyn lc_sig::RsaEncoding, digest: &Digest) -> Result<Vec<u8>> {
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign_digest(encoding, digest, &mut sig)
        .map_err(|_| Error::Signing("RSA signing failed".into()))?;
    Ok(sig)
}

fn sign_sm2(signer: &sm2::dsa::SigningKey, input: SignInput<'_>) -> Result<Vec<u8>> {
    use signature::hazmat::PrehashSigner;
    match input {
        SignInput::Message(m) => crate::keys::sign_sm2(signer, m),
        SignInput::Digest(e) => {
            check_sm3_len(e)?;
            let sig: sm2::dsa::Signature = signer.sign_prehash(e).map_err(|e| Error::Signing(e.to_string()))?;
            Ok(sig.to_der().to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encrypt, verify};
    use super::*;

    fn key(alg: KeyAlgorithm) -> PrivateKey {
        PrivateKey::generate(alg, &mut crate::os_rng()).unwrap()
    }

    #[test]
    fn one_prepared_key_serves_many_operations() {
        for (alg, scheme) in [
            (KeyAlgorithm::EcP256, SigningScheme::Sha256WithEcdsa),
            (KeyAlgorithm::Rsa2048, SigningScheme::Sha256WithRsaPss),
            (KeyAlgorithm::Sm2, SigningScheme::Sm3WithSm2),
        ] {
            let k = key(alg);
            let op = OperationKey::new(&k);
            for msg in [&b"first"[..], b"second", b""] {
                let sig = op.sign(scheme, SignInput::Message(msg), None).unwrap();
                assert!(verify(k.public_key_spki_der(), scheme, SignInput::Message(msg), &sig).unwrap());
                assert!(!verify(k.public_key_spki_der(), scheme, SignInput::Message(b"other"), &sig).unwrap());
            }
        }
        for (alg, enc) in [
            (KeyAlgorithm::Rsa2048, EncryptionAlgorithm::RsaesOaepSha1),
            (KeyAlgorithm::Sm2, EncryptionAlgorithm::Sm2Pke),
        ] {
            let k = key(alg);
            let op = OperationKey::new(&k);
            for msg in [&b"one"[..], b"two"] {
                let ct = encrypt(k.public_key_spki_der(), enc, msg).unwrap();
                assert_eq!(op.decrypt(enc, &ct).unwrap(), msg);
            }
        }
    }

    #[test]
    fn keys_without_operations_are_refused_not_panicking() {
        let op = OperationKey::new(&key(KeyAlgorithm::EcP384));
        assert!(matches!(
            op.sign(SigningScheme::Sha256WithEcdsa, SignInput::Message(b"m"), None),
            Err(Error::AlgorithmMismatch(_))
        ));
        assert!(matches!(
            op.decrypt(EncryptionAlgorithm::Sm2Pke, b"x"),
            Err(Error::AlgorithmMismatch(_))
        ));
        // the CMS scheme needs the certificate the key was prepared with
        let rsa = OperationKey::new(&key(KeyAlgorithm::Rsa2048));
        assert!(rsa.cms_signer(0).is_none());
        assert!(
            rsa.sign(SigningScheme::Sha256WithRsaP7, SignInput::Message(b"m"), None)
                .is_err()
        );
    }
}
