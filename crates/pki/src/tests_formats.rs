//! PKCS#12 and JKS: round trips, JKS structure and integrity digest, and every refusal.

use std::sync::OnceLock;

use der::{Decode, Encode};
use sha1::{Digest, Sha1};

use crate::formats::{
    JKS_MAGIC, JKS_TAG_PRIVATE_KEY, JKS_TAG_TRUSTED_CERT, JKS_VERSION, SUN_KEY_PROTECTOR, SunEncryptedKey, jks_digest,
    sun_xor, utf16be,
};
use crate::test_support::{Y2026, YEAR, keys, subject};
use crate::{
    CaProfile, CertValidity, Error, KeyAlgorithm, PrivateKey, build_root_ca, jks_read, os_rng, pkcs12_read, to_jks,
    to_pkcs12,
};

const PW: &str = "Secret pw 123!";

/// Root → sub → leaf for `alg`: (leaf DER, [sub DER, root DER], leaf key).
struct Chain {
    leaf: Vec<u8>,
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
}

fn build_chain(alg: KeyAlgorithm) -> Chain {
    let (leaf, sub, root, key) = crate::test_support::leaf_chain(alg, "Leaf", Y2026 + 86_400);
    Chain {
        leaf,
        chain: vec![sub, root],
        key,
    }
}

fn chain(alg: KeyAlgorithm) -> &'static Chain {
    static RSA: OnceLock<Chain> = OnceLock::new();
    static P256: OnceLock<Chain> = OnceLock::new();
    static SM2: OnceLock<Chain> = OnceLock::new();
    let cell = match alg {
        KeyAlgorithm::Rsa2048 => &RSA,
        KeyAlgorithm::EcP256 => &P256,
        KeyAlgorithm::Sm2 => &SM2,
        other => panic!("no fixture for {other:?}"),
    };
    cell.get_or_init(|| build_chain(alg))
}

#[test]
fn pkcs12_round_trip_with_key() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256, KeyAlgorithm::Sm2] {
        let c = chain(alg);
        let pfx = to_pkcs12(&c.leaf, &c.chain, Some(&c.key), "My Cert 证书", PW).unwrap();
        let (certs, key) = pkcs12_read(&pfx, PW).unwrap();
        assert_eq!(
            certs,
            vec![c.leaf.clone(), c.chain[0].clone(), c.chain[1].clone()],
            "{alg:?}"
        );
        let key = key.unwrap();
        assert_eq!(key.algorithm(), alg);
        assert_eq!(*key.to_pkcs8_der(), *c.key.to_pkcs8_der());

        // the key bag carries the friendly name and SHA-1(cert) as localKeyId
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&pfx, PW).unwrap();
        assert_eq!(archive.keys.len(), 1);
        assert_eq!(archive.keys[0].friendly_name.as_deref(), Some("My Cert 证书"));
        let lkid = Sha1::digest(&c.leaf).to_vec();
        assert_eq!(archive.keys[0].local_key_id.as_ref().unwrap().as_ref(), lkid.as_slice());

        assert_eq!(pkcs12_read(&pfx, "wrong").unwrap_err(), Error::DecryptionFailed);
    }
}

#[test]
fn pkcs12_round_trip_without_key_and_without_chain() {
    let c = chain(KeyAlgorithm::EcP256);
    let pfx = to_pkcs12(&c.leaf, &c.chain, None, "trust", PW).unwrap();
    let (certs, key) = pkcs12_read(&pfx, PW).unwrap();
    assert!(key.is_none());
    assert_eq!(certs, vec![c.leaf.clone(), c.chain[0].clone(), c.chain[1].clone()]);
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&pfx, PW).unwrap();
    let mut names: Vec<_> = archive.certs.iter().map(|b| b.friendly_name.clone().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["trust", "trust-ca1", "trust-ca2"]);

    let pfx = to_pkcs12(&c.leaf, &[], Some(&c.key), "solo", PW).unwrap();
    let (certs, key) = pkcs12_read(&pfx, PW).unwrap();
    assert_eq!(certs, vec![c.leaf.clone()]);
    assert!(key.is_some());
}

#[test]
fn pkcs12_read_orders_the_chain() {
    // a PFX made elsewhere with the certificates out of order: root, leaf, sub
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
    let c = chain(KeyAlgorithm::Rsa2048);
    let cert = |d: &[u8]| Certificate::from_der(d).unwrap();
    let key = p12_keystore::PrivateKey::from_der(&c.key.to_pkcs8_der()).unwrap();
    let mut ks = KeyStore::new();
    ks.add_entry(
        "x",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            b"id".to_vec(),
            key,
            [cert(&c.chain[1]), cert(&c.leaf), cert(&c.chain[0])],
        )),
    );
    let pfx = ks.writer(PW).write().unwrap();
    let (certs, _) = pkcs12_read(&pfx, PW).unwrap();
    assert_eq!(certs, vec![c.leaf.clone(), c.chain[0].clone(), c.chain[1].clone()]);

    // key-less: the leaf is the certificate that issued no other
    let mut ks = KeyStore::new();
    for (alias, d) in [("a", &c.chain[1]), ("b", &c.chain[0]), ("c", &c.leaf)] {
        ks.add_entry(alias, KeyStoreEntry::Certificate(cert(d)));
    }
    let pfx = ks.writer(PW).write().unwrap();
    let (certs, key) = pkcs12_read(&pfx, PW).unwrap();
    assert!(key.is_none());
    assert_eq!(certs, vec![c.leaf.clone(), c.chain[0].clone(), c.chain[1].clone()]);

    // two keys are refused
    let other = &chain(KeyAlgorithm::EcP256);
    let mut ks = KeyStore::new();
    for (alias, ch) in [("one", c), ("two", *other)] {
        let key = p12_keystore::PrivateKey::from_der(&ch.key.to_pkcs8_der()).unwrap();
        let entry = PrivateKeyChain::new(alias.as_bytes().to_vec(), key, [cert(&ch.leaf)]);
        ks.add_entry(alias, KeyStoreEntry::PrivateKeyChain(entry));
    }
    let pfx = ks.writer(PW).write().unwrap();
    assert!(matches!(pkcs12_read(&pfx, PW), Err(Error::UnsupportedKey(_))));

    // a key without its certificate
    let mut ks = KeyStore::new();
    let key = p12_keystore::PrivateKey::from_der(&other.key.to_pkcs8_der()).unwrap();
    ks.add_entry(
        "k",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"k".to_vec(), key, [cert(&c.leaf)])),
    );
    let pfx = ks.writer(PW).write().unwrap();
    assert_eq!(pkcs12_read(&pfx, PW).unwrap_err(), Error::KeyMismatch);

    assert!(matches!(
        pkcs12_read(b"\x30\x03\x02\x01\x03", PW),
        Err(Error::MalformedKeyStore(_))
    ));
    assert!(matches!(pkcs12_read(b"garbage", PW), Err(Error::MalformedKeyStore(_))));
}

#[test]
fn password_and_alias_rules() {
    let c = chain(KeyAlgorithm::EcP256);
    let max = "x".repeat(64);
    assert!(to_pkcs12(&c.leaf, &c.chain, Some(&c.key), "a", &max).is_ok());
    assert!(to_jks(&c.leaf, &c.chain, Some(&c.key), "a", &max).is_ok());
    assert!(to_pkcs12(&c.leaf, &c.chain, Some(&c.key), "a", " ~ !").is_ok());
    for bad in ["", &"x".repeat(65), "pässword", "tab\there", "nl\n", "\u{7f}"] {
        assert!(
            matches!(
                to_pkcs12(&c.leaf, &c.chain, Some(&c.key), "a", bad),
                Err(Error::InvalidPassword(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(
                to_jks(&c.leaf, &c.chain, Some(&c.key), "a", bad),
                Err(Error::InvalidPassword(_))
            ),
            "{bad:?}"
        );
    }
    for bad in ["", "  ", &"a".repeat(129), "a\nb", "emoji 😀"] {
        assert!(
            matches!(
                to_pkcs12(&c.leaf, &c.chain, Some(&c.key), bad, PW),
                Err(Error::InvalidAlias(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(
                to_jks(&c.leaf, &c.chain, Some(&c.key), bad, PW),
                Err(Error::InvalidAlias(_))
            ),
            "{bad:?}"
        );
    }
    assert!(to_jks(&c.leaf, &c.chain, Some(&c.key), &"a".repeat(128), PW).is_ok());
}

#[test]
fn refusals() {
    let c = chain(KeyAlgorithm::EcP256);
    let other = &chain(KeyAlgorithm::Rsa2048).key;
    assert_eq!(
        to_pkcs12(&c.leaf, &c.chain, Some(other), "a", PW).unwrap_err(),
        Error::KeyMismatch
    );
    assert_eq!(
        to_jks(&c.leaf, &c.chain, Some(other), "a", PW).unwrap_err(),
        Error::KeyMismatch
    );
    let junk = vec![vec![0x30, 0x00]];
    assert!(matches!(
        to_pkcs12(&c.leaf, &junk, Some(&c.key), "a", PW),
        Err(Error::MalformedCertificate(_))
    ));
    assert!(matches!(
        to_jks(b"nope", &c.chain, None, "a", PW),
        Err(Error::MalformedCertificate(_))
    ));
    let sm2 = chain(KeyAlgorithm::Sm2);
    assert!(matches!(
        to_jks(&sm2.leaf, &sm2.chain, Some(&sm2.key), "a", PW),
        Err(Error::UnsupportedKey(_))
    ));
    // an SM2 certificate as a trusted entry is fine
    assert!(to_jks(&sm2.leaf, &sm2.chain, None, "a", PW).is_ok());
}

// --- a minimal JKS reader (test only) ------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum JksEntry {
    Key {
        alias: String,
        created_ms: i64,
        pkcs8: Vec<u8>,
        chain: Vec<Vec<u8>>,
    },
    Trusted {
        alias: String,
        created_ms: i64,
        cert: Vec<u8>,
    },
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn utf(&mut self) -> String {
        let n = self.u16() as usize;
        // modified UTF-8 equals UTF-8 for BMP characters other than NUL
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    fn cert(&mut self) -> Vec<u8> {
        assert_eq!(self.utf(), "X.509");
        let n = self.u32() as usize;
        self.take(n).to_vec()
    }
}

/// Parses a JKS file, checks its digest with `password` and recovers the keys (Sun `KeyProtector.recover`).
fn read_jks(data: &[u8], password: &str) -> Result<Vec<JksEntry>, &'static str> {
    let (body, digest) = data.split_at(data.len() - 20);
    if jks_digest(password, body) != digest {
        return Err("integrity digest mismatch");
    }
    let mut r = Reader(body);
    assert_eq!(r.u32(), JKS_MAGIC);
    assert_eq!(r.u32(), JKS_VERSION);
    let n = r.u32();
    let mut entries = Vec::new();
    for _ in 0..n {
        let tag = r.u32();
        let alias = r.utf();
        let created_ms = r.i64();
        if tag == JKS_TAG_PRIVATE_KEY {
            let len = r.u32() as usize;
            let info = SunEncryptedKey::from_der(r.take(len)).unwrap();
            assert_eq!(info.algorithm.oid, SUN_KEY_PROTECTOR);
            let enc = info.encrypted_data.as_bytes();
            let (salt, rest) = enc.split_at(20);
            let (cipher, check) = rest.split_at(rest.len() - 20);
            let pw = utf16be(password);
            let pkcs8 = sun_xor(&pw, salt, cipher);
            if Sha1::new().chain_update(&pw).chain_update(&pkcs8).finalize().as_slice() != check {
                return Err("key check digest mismatch");
            }
            let count = r.u32();
            let chain = (0..count).map(|_| r.cert()).collect();
            entries.push(JksEntry::Key {
                alias,
                created_ms,
                pkcs8,
                chain,
            });
        } else {
            assert_eq!(tag, JKS_TAG_TRUSTED_CERT);
            entries.push(JksEntry::Trusted {
                alias,
                created_ms,
                cert: r.cert(),
            });
        }
    }
    assert!(r.0.is_empty());
    Ok(entries)
}

#[test]
fn jks_private_key_entry() {
    let created = (Y2026 + 86_400) * 1000;
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
        let c = chain(alg);
        let jks = to_jks(&c.leaf, &c.chain, Some(&c.key), "Server Key", PW).unwrap();
        let entries = read_jks(&jks, PW).unwrap();
        assert_eq!(
            entries,
            vec![JksEntry::Key {
                alias: "server key".into(),
                created_ms: created,
                pkcs8: c.key.to_pkcs8_der().to_vec(),
                chain: vec![c.leaf.clone(), c.chain[0].clone(), c.chain[1].clone()],
            }]
        );
        assert_eq!(read_jks(&jks, "wrong").unwrap_err(), "integrity digest mismatch");
        // fresh salt each time
        let again = to_jks(&c.leaf, &c.chain, Some(&c.key), "Server Key", PW).unwrap();
        assert_ne!(jks, again);
        // the encrypted key is an EncryptedPrivateKeyInfo with NULL parameters
        let info_start = 4 + 4 + 4 + 4 + 2 + "server key".len() + 8 + 4;
        let len = u32::from_be_bytes(jks[info_start - 4..info_start].try_into().unwrap()) as usize;
        let info = SunEncryptedKey::from_der(&jks[info_start..info_start + len]).unwrap();
        assert_eq!(info.algorithm.parameters.unwrap().to_der().unwrap(), [5, 0]);
    }
    // RSA-1024 works too (JKS is not picky)
    let k = &keys(KeyAlgorithm::Rsa1024)[0];
    let root = build_root_ca(
        k,
        &subject("R1024"),
        CertValidity {
            not_before: Y2026,
            not_after: Y2026 + YEAR,
        },
        &CaProfile {
            allow_rsa_1024: true,
            ..Default::default()
        },
        &mut os_rng(),
    )
    .unwrap();
    let jks = to_jks(&root, &[], Some(k), "r", PW).unwrap();
    assert!(matches!(&read_jks(&jks, PW).unwrap()[0], JksEntry::Key { chain, .. } if chain.len() == 1));
}

#[test]
fn jks_trusted_entries_and_unicode_alias() {
    let c = chain(KeyAlgorithm::EcP256);
    let jks = to_jks(&c.leaf, &c.chain, None, "CA 证书", PW).unwrap();
    let created = (Y2026 + 86_400) * 1000;
    let entries = read_jks(&jks, PW).unwrap();
    let expect = |alias: &str, cert: &Vec<u8>| JksEntry::Trusted {
        alias: alias.into(),
        created_ms: created,
        cert: cert.clone(),
    };
    assert_eq!(
        entries,
        vec![
            expect("ca 证书", &c.leaf),
            expect("ca 证书-ca1", &c.chain[0]),
            expect("ca 证书-ca2", &c.chain[1]),
        ]
    );
    assert!(read_jks(&jks, "x").is_err());
}

#[test]
fn jks_read_round_trips_and_refuses() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
        let c = chain(alg);
        let all = vec![c.leaf.clone(), c.chain[0].clone(), c.chain[1].clone()];
        let jks = to_jks(&c.leaf, &c.chain, Some(&c.key), "k", PW).unwrap();
        let (certs, key) = jks_read(&jks, PW).unwrap();
        assert_eq!(certs, all, "{alg:?}");
        assert_eq!(key.unwrap().to_pkcs8_der().to_vec(), c.key.to_pkcs8_der().to_vec());
        assert_eq!(jks_read(&jks, "wrong").unwrap_err(), Error::DecryptionFailed);
        // trusted entries only: leaf found as the certificate nothing else was issued by
        let trust = to_jks(&c.chain[1], &[c.leaf.clone(), c.chain[0].clone()], None, "t", PW).unwrap();
        let (certs, key) = jks_read(&trust, PW).unwrap();
        assert_eq!((certs, key.is_none()), (all, true));
        // every truncation is refused, never a panic
        for cut in 0..jks.len() {
            assert!(jks_read(&jks[..cut], PW).is_err(), "cut at {cut}");
        }
    }
    // a tampered key whose store digest is recomputed fails the key's own check value
    let c = chain(KeyAlgorithm::EcP256);
    let mut jks = to_jks(&c.leaf, &c.chain, Some(&c.key), "k", PW).unwrap();
    let body_len = jks.len() - 20;
    jks[4 + 4 + 4 + 4 + 2 + 1 + 8 + 4 + 40] ^= 1;
    let digest = jks_digest(PW, &jks[..body_len]);
    jks[body_len..].copy_from_slice(&digest);
    assert_eq!(jks_read(&jks, PW).unwrap_err(), Error::DecryptionFailed);
    assert!(matches!(
        jks_read(b"not a key store at all, really", PW),
        Err(Error::MalformedKeyStore(_))
    ));
}
