//! Uploaded certificates and keys: chains in order, key matching, every refusal.

use crate::pem::{cert_der_to_pem, pem_chain};
use crate::test_support::{Y2026, keys};
use crate::{
    Error, KeyAlgorithm, PrivateKey, chain_entries, check_key_matches, os_rng, parse_uploaded_chain, parse_uploaded_key,
};

/// (leaf, sub, root, leaf key) for `alg`.
fn chain(alg: KeyAlgorithm) -> (Vec<u8>, Vec<u8>, Vec<u8>, PrivateKey) {
    crate::test_support::leaf_chain(alg, "leaf.example.com", Y2026)
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
        // the short decode says what the full inspection says
        for d in [&leaf, &sub, &root] {
            let info = crate::CertInfo::parse(d).unwrap();
            let full = crate::ChainEntry {
                common_name: info.subject.common_name,
                issuer_common_name: crate::issuer_fields(d).unwrap().common_name,
                not_before_ms: info.not_before_ms,
                not_after_ms: info.not_after_ms,
            };
            assert_eq!(chain_entries(std::slice::from_ref(d)).unwrap(), [full]);
        }
        assert!(matches!(
            chain_entries(&[leaf.clone(), b"garbage".to_vec()]),
            Err(Error::MalformedCertificate(_))
        ));

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
