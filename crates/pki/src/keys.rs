//! Private keys: generation, PKCS#8 / PKCS#1 / SEC1 import, PKCS#8 export
//! (plain and PBES2-encrypted), and raw signing.
//!
//! Back-ends: aws-lc-rs for RSA ≥ 2048 and ECDSA P-256/384/521, the `rsa`
//! crate for RSA-1024 only (aws-lc-rs refuses < 2048), `sm2` for SM2.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc_sig, EcdsaKeyPair, KeyPair as _};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode};
use pkcs8::{EncodePrivateKey, EncodePublicKey, PrivateKeyInfoRef};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::alg::{KeyAlgorithm, KeyFamily, Sm2Id, oid, uint_bits};
use crate::error::{Error, Result};
use crate::pem::{self, PemBlock};

/// PBKDF2-HMAC-SHA256 iteration count used for encrypted PKCS#8 export.
pub const PBKDF2_ITERATIONS: u32 = 100_000;

pub(crate) enum Backend {
    /// RSA 2048/3072/4096 in aws-lc-rs.
    AwsRsa(aws_lc_rs::rsa::KeyPair),
    /// RSA-1024 in the `rsa` crate (PKCS#1 v1.5 with SHA-256).
    Rsa1024(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    /// ECDSA P-256/384/521 in aws-lc-rs (ASN.1 DER signatures).
    Ecdsa(EcdsaKeyPair),
    /// SM2; the distinguishing ID is chosen per signature.
    Sm2(Box<sm2::SecretKey>),
}

/// A private key of one of the supported [`KeyAlgorithm`]s.
///
/// Holds the back-end key, its canonical PKCS#8 encoding (zeroized on drop)
/// and its public key as DER `SubjectPublicKeyInfo`.
pub struct PrivateKey {
    alg: KeyAlgorithm,
    backend: Backend,
    pkcs8: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.alg)
            .finish_non_exhaustive()
    }
}

fn ec_signing_alg(alg: KeyAlgorithm) -> &'static lc_sig::EcdsaSigningAlgorithm {
    match alg {
        KeyAlgorithm::EcP384 => &lc_sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeyAlgorithm::EcP521 => &lc_sig::ECDSA_P521_SHA512_ASN1_SIGNING,
        _ => &lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

impl PrivateKey {
    /// Generates a fresh key.
    ///
    /// `rng` drives RSA-1024 and SM2 generation. aws-lc-rs keys (RSA ≥ 2048,
    /// ECDSA) come from AWS-LC's own DRBG, which takes no external RNG.
    pub fn generate<R: CryptoRng + ?Sized>(alg: KeyAlgorithm, rng: &mut R) -> Result<Self> {
        let unspecified = |_| Error::Signing(format!("{} key generation failed", alg.as_api()));
        let backend = match alg {
            KeyAlgorithm::Rsa1024 => {
                let k = rsa::RsaPrivateKey::new(rng, 1024).map_err(|e| Error::Signing(e.to_string()))?;
                Backend::Rsa1024(Box::new(rsa::pkcs1v15::SigningKey::new(k)))
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let size = match alg {
                    KeyAlgorithm::Rsa2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                    KeyAlgorithm::Rsa3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                    _ => aws_lc_rs::rsa::KeySize::Rsa4096,
                };
                Backend::AwsRsa(aws_lc_rs::rsa::KeyPair::generate(size).map_err(unspecified)?)
            }
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 | KeyAlgorithm::EcP521 => {
                Backend::Ecdsa(EcdsaKeyPair::generate(ec_signing_alg(alg)).map_err(unspecified)?)
            }
            KeyAlgorithm::Sm2 => {
                use sm2::elliptic_curve::Generate;
                Backend::Sm2(Box::new(sm2::SecretKey::generate_from_rng(rng)))
            }
        };
        Self::from_backend(alg, backend)
    }

    fn from_backend(alg: KeyAlgorithm, backend: Backend) -> Result<Self> {
        let fail = |_| Error::Encoding("key export failed".into());
        let (pkcs8, spki): (Zeroizing<Vec<u8>>, Vec<u8>) = match &backend {
            Backend::AwsRsa(kp) => {
                let p8: Pkcs8V1Der<'static> = kp.as_der().map_err(fail)?;
                let pk: PublicKeyX509Der<'static> = kp.public_key().as_der().map_err(fail)?;
                (Zeroizing::new(p8.as_ref().to_vec()), pk.as_ref().to_vec())
            }
            Backend::Rsa1024(sk) => {
                let k: &rsa::RsaPrivateKey = (**sk).as_ref();
                let p8 = k.to_pkcs8_der().map_err(Error::encoding)?;
                let pk = k.to_public_key().to_public_key_der().map_err(Error::encoding)?;
                (Zeroizing::new(p8.as_bytes().to_vec()), pk.as_bytes().to_vec())
            }
            Backend::Ecdsa(kp) => {
                let p8 = kp.to_pkcs8v1().map_err(fail)?;
                let pk: PublicKeyX509Der<'static> = kp.public_key().as_der().map_err(fail)?;
                (Zeroizing::new(p8.as_ref().to_vec()), pk.as_ref().to_vec())
            }
            Backend::Sm2(sk) => {
                let p8 = sk.to_pkcs8_der().map_err(Error::encoding)?;
                let pk = sk.public_key().to_public_key_der().map_err(Error::encoding)?;
                (Zeroizing::new(p8.as_bytes().to_vec()), pk.as_bytes().to_vec())
            }
        };
        Ok(PrivateKey {
            alg,
            backend,
            pkcs8,
            spki,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// Whether a signature made with this key is right by construction, so that verifying
    /// it again (as CRLs are) would only repeat work. True for the aws-lc back-ends:
    /// aws-lc checks every RSA private-key operation against the public exponent before
    /// returning it (`rsa_default_private_transform`, against fault attacks), and an ECDSA
    /// key pair is checked for consistency (`EC_KEY_check_key`) when it is loaded, after
    /// which signing is arithmetic on that validated key, retried when r or s would be 0:
    /// no input makes it return an invalid signature, short of a hardware fault or a bug
    /// in aws-lc itself (which a self-check with aws-lc's own verifier would share). False for the RustCrypto back-ends (RSA-1024, SM2), which make no
    /// such check and are rare enough that the self-check costs nothing that matters.
    pub(crate) fn signature_right_by_construction(&self) -> bool {
        matches!(self.backend, Backend::AwsRsa(_) | Backend::Ecdsa(_))
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public key as a `PUBLIC KEY` PEM block.
    pub fn public_key_pem(&self) -> String {
        pem::encode("PUBLIC KEY", &self.spki)
    }

    /// Canonical unencrypted PKCS#8 DER (`PrivateKeyInfo`, v1).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// Unencrypted PKCS#8 `PRIVATE KEY` PEM.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode("PRIVATE KEY", &self.pkcs8))
    }

    /// PBES2-encrypted PKCS#8 `ENCRYPTED PRIVATE KEY` PEM: PBKDF2-HMAC-SHA256
    /// ([`PBKDF2_ITERATIONS`] rounds, 16-byte salt) and AES-256-CBC, which
    /// `openssl pkcs8`, Java and most tools read.
    pub fn to_encrypted_pkcs8_pem<R: CryptoRng + ?Sized>(
        &self,
        password: impl AsRef<[u8]>,
        rng: &mut R,
    ) -> Result<Zeroizing<String>> {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
            .map_err(Error::encoding)?;
        let info = PrivateKeyInfoRef::from_der(&self.pkcs8).map_err(Error::encoding)?;
        let doc = info.encrypt_with_params(params, password).map_err(Error::encoding)?;
        Ok(Zeroizing::new(pem::encode("ENCRYPTED PRIVATE KEY", doc.as_bytes())))
    }

    /// Loads an unencrypted PKCS#8 DER key. RSA must be 1024/2048/3072/4096
    /// bits; EC keys must be on P-256/384/521 or the SM2 curve (SM2 is detected
    /// by the curve OID).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(Error::malformed_key)?;
        let (alg_oid, param_oid) = info.algorithm.oids().map_err(Error::malformed_key)?;
        let inner = info.private_key.as_bytes();
        let bad = |e: aws_lc_rs::error::KeyRejected| Error::MalformedKey(e.to_string());
        match (alg_oid, param_oid) {
            (oid::RSA_ENCRYPTION, _) => {
                let pk = pkcs1::RsaPrivateKeyRef::from_der(inner).map_err(Error::malformed_key)?;
                let bits = uint_bits(pk.modulus.as_bytes());
                let alg = match bits {
                    1024 => KeyAlgorithm::Rsa1024,
                    2048 => KeyAlgorithm::Rsa2048,
                    3072 => KeyAlgorithm::Rsa3072,
                    4096 => KeyAlgorithm::Rsa4096,
                    other => return Err(Error::UnsupportedKey(format!("RSA key of {other} bits"))),
                };
                let backend = if alg == KeyAlgorithm::Rsa1024 {
                    use pkcs8::DecodePrivateKey;
                    let k = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(Error::malformed_key)?;
                    Backend::Rsa1024(Box::new(rsa::pkcs1v15::SigningKey::new(k)))
                } else {
                    Backend::AwsRsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(bad)?)
                };
                Self::from_backend(alg, backend)
            }
            (oid::SM2, _) | (oid::EC_PUBLIC_KEY, Some(oid::SM2)) => {
                let sk = sm2::SecretKey::from_sec1_der(inner).map_err(Error::malformed_key)?;
                Self::from_backend(KeyAlgorithm::Sm2, Backend::Sm2(Box::new(sk)))
            }
            (oid::EC_PUBLIC_KEY, curve) => {
                let alg = match curve {
                    Some(oid::SECP256R1) => KeyAlgorithm::EcP256,
                    Some(oid::SECP384R1) => KeyAlgorithm::EcP384,
                    Some(oid::SECP521R1) => KeyAlgorithm::EcP521,
                    Some(other) => return Err(Error::UnsupportedKey(format!("EC curve {other}"))),
                    None => return Err(Error::MalformedKey("EC key without named curve".into())),
                };
                let kp = EcdsaKeyPair::from_pkcs8(ec_signing_alg(alg), der).map_err(bad)?;
                Self::from_backend(alg, Backend::Ecdsa(kp))
            }
            (other, _) => Err(Error::UnsupportedKey(format!("key algorithm {other}"))),
        }
    }

    /// Loads a PKCS#1 `RSAPrivateKey` DER key (`RSA PRIVATE KEY`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        pkcs1::RsaPrivateKeyRef::from_der(der).map_err(Error::malformed_key)?;
        let alg = AlgorithmIdentifierRef {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        };
        Self::from_pkcs8_der(&wrap_pkcs8(alg, der)?)
    }

    /// Loads a SEC1 `ECPrivateKey` DER key (`EC PRIVATE KEY`); the curve must be
    /// named in the key's parameters (SM2 keys are recognised by the SM2 curve OID).
    pub fn from_sec1_der(der: &[u8]) -> Result<Self> {
        let ec = sec1::EcPrivateKey::from_der(der).map_err(Error::malformed_key)?;
        let curve = ec
            .parameters
            .and_then(|p| p.named_curve())
            .ok_or_else(|| Error::MalformedKey("SEC1 key without named curve".into()))?;
        let alg = AlgorithmIdentifierRef {
            oid: oid::EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve)),
        };
        Self::from_pkcs8_der(&wrap_pkcs8(alg, der)?)
    }

    /// Loads an unencrypted DER key of any of the three formats (PKCS#8 first,
    /// then PKCS#1, then SEC1).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        match Self::from_pkcs8_der(der) {
            Err(Error::MalformedKey(e)) => {
                if pkcs1::RsaPrivateKeyRef::from_der(der).is_ok() {
                    Self::from_pkcs1_der(der)
                } else if sec1::EcPrivateKey::from_der(der).is_ok() {
                    Self::from_sec1_der(der)
                } else {
                    Err(Error::MalformedKey(e))
                }
            }
            other => other,
        }
    }

    /// Loads a PEM key: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC1, an `EC PARAMETERS` block before it is skipped).
    /// `ENCRYPTED PRIVATE KEY` yields [`Error::PasswordRequired`].
    pub fn from_pem(text: &str) -> Result<Self> {
        Self::load_pem(text, None)
    }

    /// Like [`PrivateKey::from_pem`], and also decrypts `ENCRYPTED PRIVATE KEY`
    /// (PBES2) blocks with `password`.
    pub fn from_pem_with_password(text: &str, password: impl AsRef<[u8]>) -> Result<Self> {
        Self::load_pem(text, Some(password.as_ref()))
    }

    fn load_pem(text: &str, password: Option<&[u8]>) -> Result<Self> {
        let blocks = pem::parse_blocks(text)?;
        let block: &PemBlock = blocks
            .iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))
            .ok_or_else(|| Error::Pem("no private key block".into()))?;
        if block.encrypted_headers {
            return Err(Error::UnsupportedKey(
                "legacy OpenSSL-encrypted PEM; convert with `openssl pkcs8 -topk8`".into(),
            ));
        }
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&block.der),
            // `openssl ec` writes SEC1 SM2 keys under their own label.
            "EC PRIVATE KEY" | "SM2 PRIVATE KEY" => Self::from_sec1_der(&block.der),
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or(Error::PasswordRequired)?;
                let enc = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&block.der).map_err(Error::malformed_key)?;
                check_kdf_cost(&enc.encryption_algorithm)?;
                let doc = enc.decrypt(password).map_err(|_| Error::DecryptionFailed)?;
                Self::from_pkcs8_der(doc.as_bytes())
            }
            other => Err(Error::UnsupportedKey(format!("PEM label {other:?}"))),
        }
    }

    /// Signs `msg` with this key's certificate signature algorithm
    /// ([`KeyAlgorithm::signature_algorithm`]) and returns the signature as it
    /// goes into a BIT STRING: PKCS#1 v1.5 bytes for RSA, DER `ECDSA-Sig-Value`
    /// for ECDSA, DER `SM2Signature` for SM2 (computed with `sm2_id`; ignored
    /// for other algorithms).
    pub fn sign(&self, msg: &[u8], sm2_id: Sm2Id) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Sm2(sk) => {
                let signer =
                    sm2::dsa::SigningKey::new(sm2_id.as_str(), sk).map_err(|e| Error::Signing(e.to_string()))?;
                sign_sm2(&signer, msg)
            }
            _ => self.sign_non_sm2(msg),
        }
    }

    /// Signs with any back-end except SM2 (the caller holds the SM2 signing key).
    pub(crate) fn sign_non_sm2(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let lc_fail = |_| Error::Signing(format!("{} signing failed", self.alg.as_api()));
        match &self.backend {
            Backend::AwsRsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&lc_sig::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(lc_fail)?;
                Ok(sig)
            }
            Backend::Rsa1024(sk) => {
                use signature::{RandomizedSigner, SignatureEncoding};
                // Blinded signing with OS randomness.
                let sig = sk
                    .try_sign_with_rng(&mut getrandom::SysRng, msg)
                    .map_err(|e| Error::Signing(e.to_string()))?;
                Ok(sig.to_vec())
            }
            Backend::Ecdsa(kp) => Ok(kp.sign(&SystemRandom::new(), msg).map_err(lc_fail)?.as_ref().to_vec()),
            Backend::Sm2(_) => Err(Error::Signing("SM2 needs a distinguishing ID".into())),
        }
    }

    /// The SM2 secret key, when this is an SM2 key.
    pub(crate) fn sm2_secret(&self) -> Option<&sm2::SecretKey> {
        match &self.backend {
            Backend::Sm2(sk) => Some(sk),
            _ => None,
        }
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        self.alg.family()
    }
}

/// SM3withSM2, DER-encoded (trap T1: the raw r‖s form is invalid in X.509).
pub(crate) fn sign_sm2(signer: &sm2::dsa::SigningKey, msg: &[u8]) -> Result<Vec<u8>> {
    use signature::Signer;
    let sig: sm2::dsa::Signature = signer.try_sign(msg).map_err(|e| Error::Signing(e.to_string()))?;
    Ok(sig.to_der().to_vec())
}

fn wrap_pkcs8(alg: AlgorithmIdentifierRef<'_>, inner: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let key = OctetStringRef::new(inner).map_err(Error::malformed_key)?;
    let info = PrivateKeyInfoRef::new(alg, key);
    Ok(Zeroizing::new(info.to_der().map_err(Error::encoding)?))
}

/// Most PBKDF2 iterations an encrypted key may ask for (RFC 8018 suggests up to 10,000,000
/// where performance is not critical; OpenSSL writes 2,048). The count comes from the
/// uploaded key itself, and the pkcs5 crate takes any `u32`: hours of CPU for one request.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most memory scrypt may take (128·N·r bytes); OpenSSL's default is 16 MiB. Beyond this a
/// hostile key could make the process allocate gigabytes and be killed.
const MAX_SCRYPT_BYTES: u64 = 256 << 20;

/// Refuses key-derivation parameters that would cost more than any honest key needs.
pub(crate) fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<()> {
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(()); // PBES1 has a fixed, small cost and is refused by decrypt anyway
    };
    let too_costly = match &params.kdf {
        Kdf::Pbkdf2(p) => p.iteration_count > MAX_PBKDF2_ITERATIONS,
        Kdf::Scrypt(p) => {
            let n = p.cost_parameter;
            let (r, parallel) = (u64::from(p.block_size), u64::from(p.parallelization));
            let memory = 128u64.saturating_mul(n).saturating_mul(r);
            memory > MAX_SCRYPT_BYTES || n.saturating_mul(r).saturating_mul(parallel) > MAX_SCRYPT_BYTES / 128
        }
        _ => true, // a KDF added to the crate later: refused until its cost can be checked
    };
    if too_costly {
        return Err(Error::UnsupportedKey(
            "the encrypted key asks for a key derivation cost beyond what this service runs \
             (PBKDF2 over 10,000,000 iterations or scrypt over 256 MiB); re-encrypt it with default settings"
                .into(),
        ));
    }
    Ok(())
}
