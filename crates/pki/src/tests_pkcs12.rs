//! The PKCS#12 reader: files of other tools, and the key-derivation budget.

use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use der::asn1::{Any, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use pkcs8::pkcs5::pbes2;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs12::{AuthenticatedSafe, CertBag, Pfx, SafeBag};
use spki::AlgorithmIdentifierOwned;

use crate::pkcs12_read::read_with_budget;
use crate::test_support::{Y2026, leaf_chain};
use crate::{Error, KeyAlgorithm, pkcs12_read, to_pkcs12};

const PW: &str = "changeit";
const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/pkcs12_jks_import");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "p12"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn reads_what_openssl_writes_as_p12_keystore_does() {
    let files = seeds();
    assert!(
        files.iter().any(|(n, _)| n.contains("legacy")),
        "the legacy (3DES/RC2) seeds are missing"
    );
    for (name, der) in files {
        if name.contains("maciter-max") {
            // make_seeds.sh: the MAC asks for 2^31-1 iterations.
            assert!(
                matches!(pkcs12_read(&der, PW), Err(Error::ExcessiveKdfCost(_))),
                "{name}"
            );
            continue;
        }
        let pw = if name.contains("otherpass") { "wrong" } else { PW };
        let (certs, key) = pkcs12_read(&der, pw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = p12_keystore::Pkcs12Archive::from_pkcs12(&der, pw).unwrap();
        let mut ours = certs.clone();
        let mut theirs: Vec<Vec<u8>> = reference.certs.iter().map(|c| c.cert.as_der().to_vec()).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{name}");
        assert!(!certs.is_empty(), "{name}");
        match (key, reference.keys.first()) {
            (Some(k), Some(r)) => assert_eq!(*k.to_pkcs8_der(), r.key.as_der(), "{name}"),
            (None, None) => {}
            (k, r) => panic!("{name}: key {} here, {} in p12-keystore", k.is_some(), r.is_some()),
        }
        let other = if pw == PW { "wrong" } else { PW };
        assert_eq!(pkcs12_read(&der, other).unwrap_err(), Error::DecryptionFailed, "{name}");
    }
}

fn p12(alg: KeyAlgorithm) -> Vec<u8> {
    let (leaf, sub, root, key) = leaf_chain(alg, "Leaf", Y2026 + 86_400);
    to_pkcs12(&leaf, &[sub, root], Some(&key), "leaf", PW).unwrap()
}

fn auth_safe(pfx: &Pfx) -> AuthenticatedSafe<'static> {
    let os = OctetString::from_der(&pfx.auth_safe.content.to_der().unwrap()).unwrap();
    AuthenticatedSafe::from_der(os.as_bytes()).unwrap()
}

fn with_auth_safe(safes: &[ContentInfo]) -> Vec<u8> {
    let content = OctetString::new(safes.to_vec().to_der().unwrap()).unwrap();
    Pfx {
        version: pkcs12::pfx::Version::V3,
        auth_safe: ContentInfo {
            content_type: OID_DATA,
            content: Any::encode_from(&content).unwrap(),
        },
        mac_data: None,
    }
    .to_der()
    .unwrap()
}

/// PBES2 (PBKDF2-SHA256, AES-256-CBC) at `iterations` (set after construction: the pkcs5 crate
/// builds no more than 100,000,000, but decodes any count).
fn pbes2_params(iterations: u32) -> pbes2::Parameters {
    let mut params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(1, b"saltsalt", [7u8; 16]).unwrap();
    let pbes2::Kdf::Pbkdf2(kdf) = &mut params.kdf else {
        unreachable!()
    };
    kdf.iteration_count = iterations;
    params
}

fn alg_id(params: &pbes2::Parameters) -> AlgorithmIdentifierOwned {
    let scheme = pkcs8::pkcs5::EncryptionScheme::Pbes2(params.clone());
    AlgorithmIdentifierOwned::from_der(&scheme.to_der().unwrap()).unwrap()
}

fn encrypted_safe(contents: &[SafeBag], iterations: u32) -> ContentInfo {
    let params = pbes2_params(iterations);
    let ciphertext = params.encrypt(PW, &contents.to_vec().to_der().unwrap()).unwrap();
    let data = EncryptedData {
        version: CmsVersion::V0,
        enc_content_info: EncryptedContentInfo {
            content_type: OID_DATA,
            content_enc_alg: alg_id(&params),
            encrypted_content: Some(OctetString::new(ciphertext).unwrap()),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: OID_ENCRYPTED_DATA,
        content: Any::encode_from(&data).unwrap(),
    }
}

/// A bag's value as `SafeBag` encodes it: the inner DER, which the encoder wraps in `[0]` (decoding
/// keeps the wrapper).
fn bag_value<T: Encode>(value: T) -> Vec<u8> {
    value.to_der().unwrap()
}

fn cert_bag(der: &[u8]) -> SafeBag {
    SafeBag {
        bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
        bag_value: bag_value(CertBag {
            cert_id: pkcs12::PKCS_12_X509_CERT_OID,
            cert_value: OctetString::new(der).unwrap(),
        }),
        bag_attributes: None,
    }
}

fn shrouded_key_bag(pkcs8_der: &[u8], iterations: u32) -> SafeBag {
    let params = pbes2_params(iterations);
    let ciphertext = params.encrypt(PW, pkcs8_der).unwrap();
    SafeBag {
        bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        bag_value: bag_value(EncryptedPrivateKeyInfo {
            encryption_algorithm: alg_id(&params),
            encrypted_data: OctetString::new(ciphertext).unwrap(),
        }),
        bag_attributes: None,
    }
}

/// One encrypted part (at 1,000 iterations) holding the leaf and `keys` shrouded copies of its key
/// (each at 1,000): the key bags are visible only once the part is decrypted.
fn hidden_key_bags(keys: usize) -> Vec<u8> {
    let (leaf, _, _, key) = leaf_chain(KeyAlgorithm::EcP256, "Leaf", Y2026 + 86_400);
    let mut bags = vec![cert_bag(&leaf)];
    for _ in 0..keys {
        bags.push(shrouded_key_bag(&key.to_pkcs8_der(), 1_000));
    }
    with_auth_safe(&[encrypted_safe(&bags, 1_000)])
}

#[test]
fn every_derivation_is_charged_hidden_key_bags_included() {
    let one = hidden_key_bags(1);
    let (certs, key) = read_with_budget(&one, PW, 2_000).unwrap();
    assert_eq!(certs.len(), 1);
    assert!(key.is_some());
    assert!(matches!(
        read_with_budget(&one, PW, 1_999),
        Err(Error::ExcessiveKdfCost(_))
    ));
    // Five bags would be refused as "more than one key" after all were decrypted; the budget
    // stops the reader at the third derivation instead.
    let five = hidden_key_bags(5);
    assert!(matches!(
        read_with_budget(&five, PW, 2_500),
        Err(Error::ExcessiveKdfCost(_))
    ));
    assert!(matches!(
        read_with_budget(&five, PW, 6_000),
        Err(Error::UnsupportedKey(_))
    ));
}

#[test]
fn many_parts_within_the_per_derivation_cap_are_refused_together() {
    let (leaf, _, _, _) = leaf_chain(KeyAlgorithm::EcP256, "Leaf", Y2026 + 86_400);
    let parts: Vec<ContentInfo> = (0..4).map(|_| encrypted_safe(&[cert_bag(&leaf)], 1_000)).collect();
    let file = with_auth_safe(&parts);
    assert_eq!(read_with_budget(&file, PW, 4_000).unwrap().0.len(), 4);
    assert!(matches!(
        read_with_budget(&file, PW, 3_999),
        Err(Error::ExcessiveKdfCost(_))
    ));
}

#[test]
fn a_huge_mac_iteration_count_is_refused_before_deriving() {
    let der = p12(KeyAlgorithm::EcP256);
    let mut pfx = Pfx::from_der(&der).unwrap();
    pfx.mac_data.as_mut().unwrap().iterations = i32::MAX;
    let err = pkcs12_read(&pfx.to_der().unwrap(), PW).unwrap_err();
    assert!(
        matches!(&err, Error::ExcessiveKdfCost(m) if m.contains("10,000,000")),
        "{err}"
    );
    pfx.mac_data.as_mut().unwrap().iterations = -5;
    assert!(matches!(
        pkcs12_read(&pfx.to_der().unwrap(), PW),
        Err(Error::MalformedKeyStore(_))
    ));
}

#[test]
fn a_huge_pbes2_iteration_count_is_refused_before_deriving() {
    let (leaf, _, _, _) = leaf_chain(KeyAlgorithm::EcP256, "Leaf", Y2026 + 86_400);
    // Encrypted at a small count, then relabelled: the refusal must come before any derivation,
    // or the test would spend hours (u32::MAX) instead of failing on the wrong ciphertext.
    let mut part = encrypted_safe(&[cert_bag(&leaf)], 1_000);
    let mut data = EncryptedData::from_der(&part.content.to_der().unwrap()).unwrap();
    data.enc_content_info.content_enc_alg = alg_id(&pbes2_params(u32::MAX));
    part.content = Any::encode_from(&data).unwrap();
    let err = pkcs12_read(&with_auth_safe(&[part.clone()]), PW).unwrap_err();
    assert!(matches!(err, Error::ExcessiveKdfCost(_)), "{err}");
    // Just over the budget in one derivation, and the budget shared with the MAC's count.
    data.enc_content_info.content_enc_alg = alg_id(&pbes2_params(10_000_001));
    part.content = Any::encode_from(&data).unwrap();
    let err = pkcs12_read(&with_auth_safe(&[part]), PW).unwrap_err();
    assert!(matches!(err, Error::ExcessiveKdfCost(_)), "{err}");
}

#[test]
fn a_huge_legacy_pbe_iteration_count_is_refused_before_deriving() {
    let (name, der) = seeds().into_iter().find(|(n, _)| n.contains("legacy")).unwrap();
    let pfx = Pfx::from_der(&der).unwrap();
    let mut safes = auth_safe(&pfx);
    let mut patched = 0;
    for safe in &mut safes {
        if safe.content_type != OID_ENCRYPTED_DATA {
            continue;
        }
        let mut data = EncryptedData::from_der(&safe.content.to_der().unwrap()).unwrap();
        let alg = &mut data.enc_content_info.content_enc_alg;
        let mut params =
            pkcs12::pbe_params::Pkcs12PbeParams::from_der(&alg.parameters.as_ref().unwrap().to_der().unwrap()).unwrap();
        params.iterations = i32::MAX;
        alg.parameters = Some(Any::encode_from(&params).unwrap());
        safe.content = Any::encode_from(&data).unwrap();
        patched += 1;
    }
    assert!(patched > 0, "{name} has no encrypted part");
    let err = pkcs12_read(&with_auth_safe(&safes), PW).unwrap_err();
    assert!(matches!(err, Error::ExcessiveKdfCost(_)), "{name}: {err}");
}

#[test]
fn the_writers_own_files_cost_far_below_the_budget() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256, KeyAlgorithm::Sm2] {
        // MAC + certificates part + key bag at 10,000 each.
        let (certs, key) = read_with_budget(&p12(alg), PW, 30_000).unwrap();
        assert_eq!(certs.len(), 3);
        assert!(key.is_some());
    }
}
