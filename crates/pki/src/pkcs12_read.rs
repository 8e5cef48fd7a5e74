//! Reading PKCS#12 (PFX) files under a budget of key-derivation work.
//!
//! Every MAC and every encrypted part of a PFX names its own iteration count, taken from the
//! file. p12-keystore caps each derivation at 1,000,000 iterations, but not how many derivations
//! a file asks for: a 1 MiB file holds thousands of encrypted bags, each worth a second of CPU at
//! that cap, and shrouded key bags hidden inside an encrypted part are only seen once it has been
//! decrypted. So the file is read here, and each derivation is charged to one budget for the whole
//! file before it runs; p12-keystore remains the writer.

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use der::asn1::{ContextSpecific, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::{AuthenticatedSafe, CertBag, MacData, Pfx, SafeBag};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::formats::leaf_first;
use crate::keys::{PrivateKey, check_kdf_cost};

/// Most key-derivation iterations one PFX may ask for, its MAC and every decryption together
/// (scrypt counts N·r·p). OpenSSL writes 2,048 per derivation and p12-keystore and Java 10,000,
/// with three derivations in a typical file; this leaves room for files made with a far higher
/// count while holding a hostile file to a few seconds of CPU.
pub const MAX_PKCS12_KDF_ITERATIONS: u64 = 10_000_000;

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// What is left of a file's derivation budget.
struct Budget(u64);

impl Budget {
    fn charge(&mut self, work: u64) -> Result<()> {
        match self.0.checked_sub(work) {
            Some(left) => {
                self.0 = left;
                Ok(())
            }
            None => Err(Error::ExcessiveKdfCost(
                "the PKCS#12 file asks for more key derivation iterations than this service runs \
                 (10,000,000 in total for the MAC and every decryption); re-export it with default settings"
                    .into(),
            )),
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> Error {
    Error::MalformedKeyStore(format!("PKCS#12: {e}"))
}

/// Reads a PKCS#12 (PFX) file: its certificates and its private key, if any.
///
/// The MAC is verified when present. Certificates come back leaf first, then its issuers as far as they are
/// present (matched by name), then any other certificates in file order. The leaf is the certificate of the
/// private key, or, in a key-less file, the first certificate that issued none of the others. Encryption:
/// PBES2 (PBKDF2 or scrypt, with the ciphers the pkcs5 crate knows) and the legacy PKCS#12 schemes
/// pbeWithSHAAnd3-KeyTripleDES-CBC and pbeWithSHAAnd40BitRC2-CBC; MAC: HMAC with SHA-1 or SHA-2.
///
/// The password is not checked against [`crate::validate_password`] (files made elsewhere may use other
/// passwords).
///
/// Errors: [`Error::DecryptionFailed`] for a wrong password or corrupt encrypted data,
/// [`Error::ExcessiveKdfCost`] when the MAC and decryptions together would need more than
/// [`MAX_PKCS12_KDF_ITERATIONS`] (refused before that work is done), [`Error::MalformedKeyStore`],
/// [`Error::MalformedCertificate`], [`Error::MalformedKey`] / [`Error::UnsupportedKey`] for a key this crate
/// cannot load, [`Error::UnsupportedKey`] when the file holds more than one private key,
/// [`Error::KeyMismatch`] when no certificate belongs to the key.
pub fn pkcs12_read(der: &[u8], password: &str) -> Result<(Vec<Vec<u8>>, Option<PrivateKey>)> {
    read_with_budget(der, password, MAX_PKCS12_KDF_ITERATIONS)
}

/// [`pkcs12_read`] with another budget, so that tests can exhaust one cheaply.
pub(crate) fn read_with_budget(der: &[u8], password: &str, budget: u64) -> Result<(Vec<Vec<u8>>, Option<PrivateKey>)> {
    let pfx = Pfx::from_der(der).map_err(malformed)?;
    if pfx.version != pkcs12::pfx::Version::V3 {
        return Err(malformed("not version 3"));
    }
    if pfx.auth_safe.content_type != OID_DATA {
        return Err(malformed("public-key integrity mode is not supported"));
    }
    let auth_safe = OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(malformed)?).map_err(malformed)?;
    let mut budget = Budget(budget);
    if let Some(mac) = &pfx.mac_data {
        verify_mac(mac, password, auth_safe.as_bytes(), &mut budget)?;
    }
    let safes = AuthenticatedSafe::from_der(auth_safe.as_bytes()).map_err(malformed)?;
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for safe in &safes {
        let contents = open_safe(safe, password, &mut budget)?;
        let bags = Vec::<SafeBag>::from_der(&contents).map_err(malformed)?;
        for bag in bags {
            read_bag(&bag, password, &mut budget, &mut certs, &mut keys)?;
        }
    }
    if keys.len() > 1 {
        return Err(Error::UnsupportedKey(format!(
            "the PKCS#12 file holds {} private keys; only one is supported",
            keys.len()
        )));
    }
    let key = keys.pop();
    Ok((leaf_first(certs, key.as_ref())?, key))
}

/// The SafeContents DER of one part of the AuthenticatedSafe, decrypted when it is encrypted.
fn open_safe(safe: &ContentInfo, password: &str, budget: &mut Budget) -> Result<Vec<u8>> {
    let content = safe.content.to_der().map_err(malformed)?;
    match safe.content_type {
        OID_DATA => Ok(OctetString::from_der(&content)
            .map_err(malformed)?
            .into_bytes()
            .into_vec()),
        OID_ENCRYPTED_DATA => {
            let enc = EncryptedData::from_der(&content).map_err(malformed)?;
            let info = enc.enc_content_info;
            match &info.encrypted_content {
                Some(data) => Ok(decrypt(&info.content_enc_alg, data.as_bytes(), password, budget)?.to_vec()),
                None => Ok(Vec::new()),
            }
        }
        other => Err(malformed(format!("content type {other} is not supported"))),
    }
}

fn read_bag(
    bag: &SafeBag,
    password: &str,
    budget: &mut Budget,
    certs: &mut Vec<Vec<u8>>,
    keys: &mut Vec<PrivateKey>,
) -> Result<()> {
    match bag.bag_id {
        pkcs12::PKCS_12_CERT_BAG_OID => {
            let cs = ContextSpecific::<CertBag>::from_der(&bag.bag_value).map_err(malformed)?;
            if cs.value.cert_id != pkcs12::PKCS_12_X509_CERT_OID {
                return Err(malformed("a certificate bag holds no X.509 certificate"));
            }
            certs.push(cs.value.cert_value.into_bytes().into_vec());
        }
        pkcs12::PKCS_12_KEY_BAG_OID => {
            // The value is a PrivateKeyInfo under an explicit [0]; its DER is the PKCS#8 key.
            let cs = ContextSpecific::<pkcs12::safe_bag::PrivateKeyInfo>::from_der(&bag.bag_value)
                .map_err(|e| Error::MalformedKey(e.to_string()))?;
            let der = Zeroizing::new(cs.value.to_der().map_err(Error::encoding)?);
            keys.push(PrivateKey::from_pkcs8_der(&der)?);
        }
        pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
            let cs = ContextSpecific::<EncryptedPrivateKeyInfo>::from_der(&bag.bag_value).map_err(malformed)?;
            let der = decrypt(
                &cs.value.encryption_algorithm,
                cs.value.encrypted_data.as_bytes(),
                password,
                budget,
            )?;
            keys.push(PrivateKey::from_pkcs8_der(&der)?);
        }
        // CRL, secret and nested bags carry nothing a certificate download needs.
        _ => {}
    }
    Ok(())
}

/// Checks the HMAC over the AuthenticatedSafe (RFC 7292 appendix B key derivation).
fn verify_mac(mac: &MacData, password: &str, data: &[u8], budget: &mut Budget) -> Result<()> {
    use hmac::{Hmac, KeyInit, Mac};
    use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};

    let iterations = positive(mac.iterations)?;
    let salt = mac.mac_salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    macro_rules! check {
        ($d:ty) => {{
            budget.charge(iterations)?;
            let len = <$d as sha2::digest::OutputSizeUser>::output_size();
            let key = Zeroizing::new(
                derive_key_utf8::<$d>(password, salt, Pkcs12KeyType::Mac, mac.iterations, len).map_err(malformed)?,
            );
            let mut hmac = Hmac::<$d>::new_from_slice(&key).map_err(malformed)?;
            hmac.update(data);
            hmac.verify_slice(expected).map_err(|_| Error::DecryptionFailed)
        }};
    }
    match mac.mac.algorithm.oid {
        OID_SHA1 => check!(sha1::Sha1),
        OID_SHA224 => check!(sha2::Sha224),
        OID_SHA256 => check!(sha2::Sha256),
        OID_SHA384 => check!(sha2::Sha384),
        OID_SHA512 => check!(sha2::Sha512),
        other => Err(malformed(format!("MAC digest {other} is not supported"))),
    }
}

fn positive(iterations: i32) -> Result<u64> {
    u64::try_from(iterations)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| malformed("an iteration count is not positive"))
}

/// Decrypts one encrypted part or key, charging its derivation to `budget` first.
fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    data: &[u8],
    password: &str,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>> {
    let params = || {
        alg.parameters
            .as_ref()
            .ok_or_else(|| malformed("encryption parameters missing"))
    };
    match alg.oid {
        OID_PBES2 => {
            let scheme = EncryptionScheme::from_der(&alg.to_der().map_err(malformed)?).map_err(malformed)?;
            let EncryptionScheme::Pbes2(pbes2) = &scheme else {
                return Err(malformed("PBES2 parameters expected"));
            };
            budget.charge(match &pbes2.kdf {
                Kdf::Pbkdf2(p) => u64::from(p.iteration_count),
                Kdf::Scrypt(p) => p
                    .cost_parameter
                    .saturating_mul(u64::from(p.block_size))
                    .saturating_mul(u64::from(p.parallelization)),
                _ => u64::MAX,
            })?;
            // Within the iteration budget scrypt may still ask for too much memory.
            check_kdf_cost(&scheme)?;
            // PBES2 in PKCS#12 takes the password as UTF-8 bytes (OpenSSL, Java, p12-keystore).
            let plain = scheme
                .decrypt(password.as_bytes(), data)
                .map_err(|_| Error::DecryptionFailed)?;
            Ok(Zeroizing::new(plain))
        }
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC | pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => {
            let p = Pkcs12PbeParams::from_der(&params()?.to_der().map_err(malformed)?).map_err(malformed)?;
            let iterations = positive(p.iterations)?;
            // Two derivations (key and IV); a 3DES key needs two SHA-1 outputs, so three hash chains.
            budget.charge(iterations.saturating_mul(3))?;
            legacy_decrypt(alg.oid, p.salt.as_bytes(), p.iterations, data, password)
        }
        other => Err(malformed(format!("encryption {other} is not supported"))),
    }
}

/// The PKCS#12 password-based schemes of RFC 7292 appendix C that files still use.
fn legacy_decrypt(
    oid: ObjectIdentifier,
    salt: &[u8],
    iterations: i32,
    data: &[u8],
    password: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
    use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};

    let key_len = if oid == pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC {
        24
    } else {
        5
    };
    let key = Zeroizing::new(
        derive_key_utf8::<sha1::Sha1>(password, salt, Pkcs12KeyType::EncryptionKey, iterations, key_len)
            .map_err(malformed)?,
    );
    let iv = derive_key_utf8::<sha1::Sha1>(password, salt, Pkcs12KeyType::Iv, iterations, 8).map_err(malformed)?;
    let plain = if key_len == 24 {
        cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(malformed)?
            .decrypt_padded_vec::<Pkcs7>(data)
    } else {
        cbc::Decryptor::<rc2::Rc2>::new_from_slices(&key, &iv)
            .map_err(malformed)?
            .decrypt_padded_vec::<Pkcs7>(data)
    };
    plain.map(Zeroizing::new).map_err(|_| Error::DecryptionFailed)
}
