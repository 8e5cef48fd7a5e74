//! Key store formats for certificate download: PKCS#12 (PFX) and Java KeyStore (JKS).
//!
//! * PKCS#12 is written by `p12-keystore` with its defaults: PBES2 (PBKDF2-HMAC-SHA256, 10 000 rounds,
//!   AES-256-CBC) for keys and certificates, HMAC-SHA256 integrity. OpenSSL 3 reads it without `-legacy`,
//!   Java 8u301+ / 11+ keytool reads it. RSA, ECDSA and SM2 keys are supported.
//! * JKS is written here (the format is small): magic `FEEDFEED`, version 2, entries, and a SHA-1 digest over
//!   password (UTF-16BE) ‖ `"Mighty Aphrodite"` ‖ data. Private keys are protected with Sun's proprietary
//!   SHA-1/XOR scheme (OID 1.3.6.1.4.1.42.2.17.1.1), the only one `JKS` knows. RSA and ECDSA keys only:
//!   Java has no SM2.
//!
//! Both writers draw salts from the operating system RNG.

use der::asn1::{AnyRef, OctetString};
use der::{Decode, Encode, Sequence};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use x509_cert::certificate::{CertificateInner, Raw};

use crate::alg::KeyFamily;
use crate::error::{Error, Result};
use crate::issue::time_to_unix;
use crate::keys::PrivateKey;

/// Longest accepted key store password, in characters.
pub const MAX_PASSWORD_LEN: usize = 64;
/// Longest accepted PKCS#12 friendly name / JKS alias, in characters.
pub const MAX_ALIAS_LEN: usize = 128;

/// Checks a key store password: non-empty, at most [`MAX_PASSWORD_LEN`] characters, printable ASCII only
/// (`0x20`–`0x7E`, space included). Both formats encode the password as UTF-16BE / BMPString, and keeping it
/// ASCII avoids the tools' differing treatment of non-ASCII passwords.
pub fn validate_password(password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::InvalidPassword("the password is empty".into()));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidPassword(format!(
            "the password is longer than {MAX_PASSWORD_LEN} characters"
        )));
    }
    if !password.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(Error::InvalidPassword(
            "the password may contain printable ASCII characters only".into(),
        ));
    }
    Ok(())
}

/// Checks a friendly name / alias: non-empty, at most [`MAX_ALIAS_LEN`] characters, no control characters,
/// no characters outside the Basic Multilingual Plane (PKCS#12 stores it as a BMPString).
fn validate_alias(alias: &str) -> Result<()> {
    if alias.trim().is_empty() {
        return Err(Error::InvalidAlias("the alias is empty".into()));
    }
    if alias.chars().count() > MAX_ALIAS_LEN {
        return Err(Error::InvalidAlias(format!(
            "the alias is longer than {MAX_ALIAS_LEN} characters"
        )));
    }
    if let Some(c) = alias.chars().find(|c| c.is_control() || u32::from(*c) > 0xffff) {
        return Err(Error::InvalidAlias(format!("the alias contains {c:?}")));
    }
    Ok(())
}

/// A parsed (leniently: `Raw` profile) certificate.
fn parse_cert(der: &[u8]) -> Result<CertificateInner<Raw>> {
    CertificateInner::<Raw>::from_der(der).map_err(Error::malformed_cert)
}

/// The subjectPublicKey BIT STRING contents of a DER SPKI.
fn public_key_bits(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(Error::malformed_key)?;
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

/// Whether `key` is the private key of `cert` (compares the public key bits, so an SM2 certificate
/// whose SPKI names `id-sm2` rather than `id-ecPublicKey` still matches).
fn key_matches(cert: &CertificateInner<Raw>, key: &PrivateKey) -> Result<bool> {
    let cert_bits = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    Ok(cert_bits == public_key_bits(key.public_key_spki_der())?.as_slice())
}

/// Parses the leaf and the chain and, when a key is given, checks that it belongs to the leaf.
fn check_inputs(cert_der: &[u8], chain_der: &[Vec<u8>], key: Option<&PrivateKey>) -> Result<CertificateInner<Raw>> {
    let leaf = parse_cert(cert_der)?;
    for c in chain_der {
        parse_cert(c)?;
    }
    if let Some(key) = key
        && !key_matches(&leaf, key)?
    {
        return Err(Error::KeyMismatch);
    }
    Ok(leaf)
}

/// Alias of the `i`-th chain certificate (1-based) in a key-less store.
fn chain_alias(alias: &str, i: usize) -> String {
    format!("{alias}-ca{i}")
}

fn p12_error(e: p12_keystore::error::Error) -> Error {
    use p12_keystore::error::Error as E;
    match e {
        E::MacError(_) | E::UnpadError | E::Pkcs5Error(_) => Error::DecryptionFailed,
        E::InvalidPrivateKey => Error::MalformedKey("PKCS#12 private key".into()),
        E::X509Error(e) => Error::MalformedCertificate(e.to_string()),
        other => Error::MalformedKeyStore(other.to_string()),
    }
}

/// Builds a PKCS#12 (PFX) file.
///
/// With `key`: one key bag (friendly name `friendly_name`, localKeyId = SHA-1 of `cert_der`) and the
/// certificate bags `cert_der`, then `chain_der` (issuer first, root last). Without `key`: a trust store
/// whose certificates carry the friendly names `friendly_name`, `friendly_name-ca1`, `friendly_name-ca2`, ….
///
/// Encryption: PBES2 (PBKDF2-HMAC-SHA256, 10 000 rounds, AES-256-CBC), MAC HMAC-SHA256 (10 000 rounds).
/// Works for every key algorithm, SM2 included (OpenSSL 3 reads SM2 PFX files).
///
/// Errors: [`Error::InvalidPassword`] (see [`validate_password`]), [`Error::InvalidAlias`] for an empty,
/// over-long or non-BMP friendly name, [`Error::MalformedCertificate`], [`Error::KeyMismatch`] when `key`
/// is not the key of `cert_der`.
pub fn to_pkcs12(
    cert_der: &[u8],
    chain_der: &[Vec<u8>],
    key: Option<&PrivateKey>,
    friendly_name: &str,
    password: &str,
) -> Result<Vec<u8>> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};

    validate_password(password)?;
    validate_alias(friendly_name)?;
    check_inputs(cert_der, chain_der, key)?;
    let p12_cert = |der: &[u8]| Certificate::from_der(der).map_err(|e| Error::MalformedCertificate(e.to_string()));

    let mut store = KeyStore::new();
    match key {
        Some(key) => {
            let p12_key = p12_keystore::PrivateKey::from_der(&key.to_pkcs8_der()).map_err(p12_error)?;
            let mut certs = vec![p12_cert(cert_der)?];
            for c in chain_der {
                certs.push(p12_cert(c)?);
            }
            let local_key_id = Sha1::digest(cert_der).to_vec();
            let chain = PrivateKeyChain::new(local_key_id, p12_key, certs);
            store.add_entry(friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
        }
        None => {
            store.add_entry(friendly_name, KeyStoreEntry::Certificate(p12_cert(cert_der)?));
            for (i, c) in chain_der.iter().enumerate() {
                store.add_entry(
                    &chain_alias(friendly_name, i + 1),
                    KeyStoreEntry::Certificate(p12_cert(c)?),
                );
            }
        }
    }
    store.writer(password).write().map_err(p12_error)
}

/// `ders` reordered leaf first, then its issuers: the leaf is the certificate of `key`, or without
/// a key the one no other certificate was issued by. A key that matches none is an error.
pub(crate) fn leaf_first(ders: Vec<Vec<u8>>, key: Option<&PrivateKey>) -> Result<Vec<Vec<u8>>> {
    let parsed = ders.iter().map(|d| parse_cert(d)).collect::<Result<Vec<_>>>()?;
    let leaf = match key {
        Some(key) => {
            let mut found = None;
            for (i, c) in parsed.iter().enumerate() {
                if key_matches(c, key)? {
                    found = Some(i);
                    break;
                }
            }
            match found {
                Some(i) => Some(i),
                None if parsed.is_empty() => None,
                None => return Err(Error::KeyMismatch),
            }
        }
        None => (0..parsed.len()).find(|&i| {
            !parsed
                .iter()
                .enumerate()
                .any(|(j, c)| j != i && c.tbs_certificate().issuer() == parsed[i].tbs_certificate().subject())
        }),
    };
    Ok(chain_order(&parsed, leaf)
        .into_iter()
        .map(|i| ders[i].clone())
        .collect())
}

/// Indices of `certs`: `leaf`, its issuers by name while found, then the rest in order.
fn chain_order(certs: &[CertificateInner<Raw>], leaf: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::with_capacity(certs.len());
    if let Some(mut cur) = leaf {
        order.push(cur);
        loop {
            let tbs = certs[cur].tbs_certificate();
            if tbs.issuer() == tbs.subject() {
                break;
            }
            let next =
                (0..certs.len()).find(|&j| !order.contains(&j) && certs[j].tbs_certificate().subject() == tbs.issuer());
            match next {
                Some(j) => {
                    order.push(j);
                    cur = j;
                }
                None => break,
            }
        }
    }
    let rest: Vec<usize> = (0..certs.len()).filter(|i| !order.contains(i)).collect();
    order.extend(rest);
    order
}

// ---------------------------------------------------------------------------------------------------------
// JKS
// ---------------------------------------------------------------------------------------------------------

pub(crate) const JKS_MAGIC: u32 = 0xFEED_FEED;
pub(crate) const JKS_VERSION: u32 = 2;
pub(crate) const JKS_TAG_PRIVATE_KEY: u32 = 1;
pub(crate) const JKS_TAG_TRUSTED_CERT: u32 = 2;
pub(crate) const JKS_DIGEST_WHITENER: &[u8] = b"Mighty Aphrodite";
/// Sun JDK `KeyProtector` (1.3.6.1.4.1.42.2.17.1.1).
pub(crate) const SUN_KEY_PROTECTOR: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.42.2.17.1.1");
const SALT_LEN: usize = 20;

/// `EncryptedPrivateKeyInfo` with the Sun key protector algorithm.
#[derive(Sequence)]
pub(crate) struct SunEncryptedKey<'a> {
    pub(crate) algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) encrypted_data: OctetString,
}

/// The password as Java's `char[]` → big-endian bytes (the password is ASCII, see [`validate_password`]).
pub(crate) fn utf16be(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// The SHA-1 keystream of Sun's `KeyProtector`: D₁ = SHA-1(pw ‖ salt), Dᵢ₊₁ = SHA-1(pw ‖ Dᵢ).
pub(crate) fn sun_xor(pw: &[u8], salt: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut digest = salt.to_vec();
    for chunk in data.chunks(20) {
        digest = Sha1::new().chain_update(pw).chain_update(&digest).finalize().to_vec();
        out.extend(chunk.iter().zip(&digest).map(|(a, b)| a ^ b));
    }
    out
}

/// Sun `KeyProtector.protect`: salt ‖ (PKCS#8 ⊕ keystream) ‖ SHA-1(pw ‖ PKCS#8), wrapped in
/// `EncryptedPrivateKeyInfo`.
fn sun_protect(pkcs8: &[u8], password: &str) -> Result<Vec<u8>> {
    let pw = zeroize::Zeroizing::new(utf16be(password));
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|_| Error::Rng)?;
    let mut data = Vec::with_capacity(SALT_LEN + pkcs8.len() + 20);
    data.extend_from_slice(&salt);
    data.extend_from_slice(&sun_xor(&pw, &salt, pkcs8));
    data.extend_from_slice(&Sha1::new().chain_update(&*pw).chain_update(pkcs8).finalize());
    let info = SunEncryptedKey {
        algorithm: AlgorithmIdentifierRef {
            oid: SUN_KEY_PROTECTOR,
            parameters: Some(AnyRef::NULL),
        },
        encrypted_data: OctetString::new(data)?,
    };
    Ok(info.to_der()?)
}

/// Java `DataOutputStream.writeUTF`: u16 length + modified UTF-8.
fn write_utf(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let mut enc = Vec::with_capacity(s.len());
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007f => enc.push(unit as u8),
            0x0000 | 0x0080..=0x07ff => {
                enc.push(0xc0 | (unit >> 6) as u8);
                enc.push(0x80 | (unit & 0x3f) as u8);
            }
            _ => {
                enc.push(0xe0 | (unit >> 12) as u8);
                enc.push(0x80 | ((unit >> 6) & 0x3f) as u8);
                enc.push(0x80 | (unit & 0x3f) as u8);
            }
        }
    }
    let len = u16::try_from(enc.len()).map_err(|_| Error::InvalidAlias("the alias is too long".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&enc);
    Ok(())
}

fn write_cert(out: &mut Vec<u8>, der: &[u8]) -> Result<()> {
    write_utf(out, "X.509")?;
    let len = u32::try_from(der.len()).map_err(|_| Error::MalformedCertificate("too large".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(der);
    Ok(())
}

/// Builds a Java KeyStore (JKS, version 2).
///
/// With `key`: one `PrivateKeyEntry` under `alias` holding the key and the chain `cert_der`, `chain_der…`
/// (issuer first, root last). Without `key`: `trustedCertEntry`s `alias` (`cert_der`), `alias-ca1`,
/// `alias-ca2`, … (`chain_der`). Aliases are stored lower-cased, as Java's JKS does. The entries' creation
/// date is the leaf certificate's notBefore (this crate reads no clock).
///
/// Errors: [`Error::InvalidPassword`], [`Error::InvalidAlias`], [`Error::MalformedCertificate`],
/// [`Error::KeyMismatch`], and [`Error::UnsupportedKey`] for SM2 keys (Java's keytool and JCA have no SM2;
/// use PKCS#12 for them).
pub fn to_jks(
    cert_der: &[u8],
    chain_der: &[Vec<u8>],
    key: Option<&PrivateKey>,
    alias: &str,
    password: &str,
) -> Result<Vec<u8>> {
    validate_password(password)?;
    validate_alias(alias)?;
    if let Some(key) = key
        && key.family() == KeyFamily::Sm2
    {
        return Err(Error::UnsupportedKey(
            "JKS cannot hold SM2 keys (Java has no SM2); use PKCS#12".into(),
        ));
    }
    let leaf = check_inputs(cert_der, chain_der, key)?;
    let alias = alias.to_lowercase();
    let created_ms = time_to_unix(&leaf.tbs_certificate().validity().not_before).saturating_mul(1000);

    let mut out = Vec::new();
    out.extend_from_slice(&JKS_MAGIC.to_be_bytes());
    out.extend_from_slice(&JKS_VERSION.to_be_bytes());
    match key {
        Some(key) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(&JKS_TAG_PRIVATE_KEY.to_be_bytes());
            write_utf(&mut out, &alias)?;
            out.extend_from_slice(&created_ms.to_be_bytes());
            let protected = sun_protect(&key.to_pkcs8_der(), password)?;
            out.extend_from_slice(&(protected.len() as u32).to_be_bytes());
            out.extend_from_slice(&protected);
            let count = u32::try_from(chain_der.len() + 1).map_err(|_| Error::Encoding("chain too long".into()))?;
            out.extend_from_slice(&count.to_be_bytes());
            write_cert(&mut out, cert_der)?;
            for c in chain_der {
                write_cert(&mut out, c)?;
            }
        }
        None => {
            let count = u32::try_from(chain_der.len() + 1).map_err(|_| Error::Encoding("chain too long".into()))?;
            out.extend_from_slice(&count.to_be_bytes());
            let names = core::iter::once(alias.clone()).chain((1..=chain_der.len()).map(|i| chain_alias(&alias, i)));
            for (name, der) in names.zip(core::iter::once(cert_der).chain(chain_der.iter().map(Vec::as_slice))) {
                out.extend_from_slice(&JKS_TAG_TRUSTED_CERT.to_be_bytes());
                write_utf(&mut out, &name)?;
                out.extend_from_slice(&created_ms.to_be_bytes());
                write_cert(&mut out, der)?;
            }
        }
    }
    let digest = jks_digest(password, &out);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// Reads a Java KeyStore (JKS version 2, as `keytool` writes it): its certificates, leaf first
/// then its issuers, and the private key of its one `PrivateKeyEntry`, if any. The key must be
/// protected with the store password (keytool's default).
///
/// Errors: [`Error::DecryptionFailed`] for a wrong password (the store digest or the key's check
/// value does not match), [`Error::MalformedKeyStore`] for anything that is not such a file,
/// [`Error::UnsupportedKey`] for more than one private key, [`Error::KeyMismatch`].
pub fn jks_read(data: &[u8], password: &str) -> Result<(Vec<Vec<u8>>, Option<PrivateKey>)> {
    let bad = |why: &str| Error::MalformedKeyStore(format!("JKS: {why}"));
    let Some(body_len) = data.len().checked_sub(20) else {
        return Err(bad("too short"));
    };
    let (body, digest) = data.split_at(body_len);
    let mut r = JksReader { data: body, pos: 0 };
    if r.u32()? != JKS_MAGIC {
        return Err(bad("not a Java KeyStore"));
    }
    if r.u32()? != JKS_VERSION {
        return Err(bad("only version 2 is read"));
    }
    if jks_digest(password, body) != digest {
        return Err(Error::DecryptionFailed);
    }
    let mut certs = Vec::new();
    let mut protected_keys = Vec::new();
    for _ in 0..r.u32()? {
        let tag = r.u32()?;
        r.utf_skip()?; // alias
        r.take(8)?; // creation date
        match tag {
            JKS_TAG_PRIVATE_KEY => {
                let len = r.u32()? as usize;
                protected_keys.push(r.take(len)?.to_vec());
                for _ in 0..r.u32()? {
                    certs.push(r.cert()?);
                }
            }
            JKS_TAG_TRUSTED_CERT => certs.push(r.cert()?),
            _ => return Err(bad("unknown entry type")),
        }
    }
    if r.pos != body.len() {
        return Err(bad("trailing data"));
    }
    if protected_keys.len() > 1 {
        return Err(Error::UnsupportedKey(format!(
            "the JKS file holds {} private keys; only one is supported",
            protected_keys.len()
        )));
    }
    // A certificate may sit both in a key entry's chain and as a trusted entry: keep it once.
    let mut seen = std::collections::HashSet::new();
    certs.retain(|c| seen.insert(c.clone()));
    let key = protected_keys.first().map(|p| sun_unprotect(p, password)).transpose()?;
    Ok((leaf_first(certs, key.as_ref())?, key))
}

/// Sun `KeyProtector.recover`: the inverse of [`sun_protect`], checking its SHA-1 check value.
fn sun_unprotect(protected: &[u8], password: &str) -> Result<PrivateKey> {
    let info = SunEncryptedKey::from_der(protected).map_err(Error::malformed_key)?;
    if info.algorithm.oid != SUN_KEY_PROTECTOR {
        return Err(Error::UnsupportedKey(format!(
            "JKS key protected with {}; only Sun's KeyProtector is read",
            info.algorithm.oid
        )));
    }
    let data = info.encrypted_data.as_bytes();
    if data.len() < SALT_LEN + 20 {
        return Err(Error::MalformedKeyStore("JKS: protected key too short".into()));
    }
    let (salt, rest) = data.split_at(SALT_LEN);
    let (encrypted, check) = rest.split_at(rest.len() - 20);
    let pw = zeroize::Zeroizing::new(utf16be(password));
    let pkcs8 = zeroize::Zeroizing::new(sun_xor(&pw, salt, encrypted));
    if Sha1::new()
        .chain_update(&*pw)
        .chain_update(&*pkcs8)
        .finalize()
        .as_slice()
        != check
    {
        return Err(Error::DecryptionFailed);
    }
    PrivateKey::from_pkcs8_der(&pkcs8)
}

/// Bounds-checked reads of Java's `DataInputStream` encoding.
struct JksReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl JksReader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| Error::MalformedKeyStore("JKS: truncated".into()))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn utf_skip(&mut self) -> Result<()> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes"));
        self.take(len as usize).map(drop)
    }

    fn cert(&mut self) -> Result<Vec<u8>> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes"));
        if self.take(len as usize)? != b"X.509" {
            return Err(Error::MalformedKeyStore("JKS: a certificate that is not X.509".into()));
        }
        let len = self.u32()? as usize;
        let der = self.take(len)?.to_vec();
        parse_cert(&der)?;
        Ok(der)
    }
}

/// The JKS integrity digest: SHA-1(password UTF-16BE ‖ "Mighty Aphrodite" ‖ data).
pub(crate) fn jks_digest(password: &str, data: &[u8]) -> [u8; 20] {
    Sha1::new()
        .chain_update(utf16be(password))
        .chain_update(JKS_DIGEST_WHITENER)
        .chain_update(data)
        .finalize()
        .into()
}
