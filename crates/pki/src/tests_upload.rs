//! Uploaded certificates and keys: chains in order, key matching, every refusal.

use crate::pem::{cert_der_to_pem, pem_chain};
use crate::test_support::{Y2026, YEAR, keys, subject};
use crate::{
    CaProfile, CertValidity, Error, KeyAlgorithm, LeafProfile, PrivateKey, build_leaf, build_root_ca, build_sub_ca,
    chain_entries, check_key_matches, os_rng, parse_uploaded_chain, parse_uploaded_key,
};

/// (leaf, sub, root, leaf key) for `alg`.
fn chain(alg: KeyAlgorithm) -> (Vec<u8>, Vec<u8>, Vec<u8>, PrivateKey) {
    let [root_key, sub_key] = keys(alg);
    let mut rng = os_rng();
    let validity = CertValidity {
        not_before: Y2026,
        not_after: Y2026 + 10 * YEAR,
    };
    let p = CaProfile::default();
    let root = build_root_ca(root_key, &subject("Root"), validity, &p, &mut rng).unwrap();
    let sub = build_sub_ca(
        &root,
        root_key,
        sub_key.public_key_spki_der(),
        &subject("Sub"),
        validity,
        &p,
        &mut rng,
    )
    .unwrap();
    let key = PrivateKey::generate(alg, &mut rng).unwrap();
    let leaf = build_leaf(
        &sub,
        sub_key,
        key.public_key_spki_der(),
        &subject("leaf.example.com"),
        &[],
        CertValidity {
            not_before: Y2026,
            not_after: Y2026 + YEAR,
        },
        &LeafProfile::default(),
        &mut rng,
    )
    .unwrap();
    (leaf, sub, root, key)
}

#[test]
fn chains_parse_in_order_for_every_family() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP384, KeyAlgorithm::Sm2] {
        let (leaf, sub, root, key) = chain(alg);
        let up = parse_uploaded_chain(&pem_chain([&leaf, &sub, &root])).unwrap();
        assert_eq!(up.cert_der, leaf);
        assert_eq!(up.chain_der, vec![sub.clone(), root.clone()]);
        assert_eq!(up.info.subject.common_name, "leaf.example.com");
        assert_eq!(up.issuer.common_name, "Sub");
        check_key_matches(&leaf, &key).unwrap();
        let pem = key.to_pkcs8_pem();
        check_key_matches(&leaf, &parse_uploaded_key(&pem).unwrap()).unwrap();
        let entries = chain_entries(&[leaf.clone(), sub.clone()]).unwrap();
        assert_eq!(entries[0].issuer_common_name, "Sub");
        assert_eq!(entries[1].common_name, "Sub");
        assert_eq!(entries[1].issuer_common_name, "Root");

        // a certificate alone, and out of order
        assert!(
            parse_uploaded_chain(&cert_der_to_pem(&leaf))
                .unwrap()
                .chain_der
                .is_empty()
        );
        assert!(matches!(
            parse_uploaded_chain(&pem_chain([&leaf, &root, &sub])),
            Err(Error::MalformedCertificate(_))
        ));
    }
}

#[test]
fn wrong_keys_and_garbage_are_refused() {
    let (leaf, _, _, _) = chain(KeyAlgorithm::EcP256);
    let other = PrivateKey::generate(KeyAlgorithm::EcP256, &mut os_rng()).unwrap();
    assert_eq!(check_key_matches(&leaf, &other), Err(Error::KeyMismatch));
    let rsa = &keys(KeyAlgorithm::Rsa2048)[0];
    assert_eq!(check_key_matches(&leaf, rsa), Err(Error::KeyMismatch));

    assert!(matches!(parse_uploaded_chain("hello"), Err(Error::Pem(_))));
    assert!(matches!(
        parse_uploaded_chain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        Err(Error::MalformedCertificate(_))
    ));
    let with_key = format!("{}{}", cert_der_to_pem(&leaf), other.to_pkcs8_pem().as_str());
    assert!(matches!(parse_uploaded_chain(&with_key), Err(Error::Pem(_))));
    let many = pem_chain(std::iter::repeat_n(&leaf, crate::MAX_CHAIN_LEN + 1));
    assert!(matches!(parse_uploaded_chain(&many), Err(Error::Pem(_))));

    let enc = other.to_encrypted_pkcs8_pem("pw", &mut os_rng()).unwrap();
    assert_eq!(parse_uploaded_key(&enc).unwrap_err(), Error::PasswordRequired);
    assert!(parse_uploaded_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
    assert!(parse_uploaded_key(&cert_der_to_pem(&leaf)).is_err());
}
