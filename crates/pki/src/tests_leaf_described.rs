//! A leaf described from the certificate as built, and the issuers `check_issuer` remembers.

use crate::test_support::{keys, subject};
use crate::tests_leaf::{leaf_validity, root_validity, sans, sub_ca};
use crate::{
    CertInfo, CertValidity, Error, KeyAlgorithm, LeafKind, LeafProfile, PrivateKey, Sm2Id, build_leaf,
    build_leaf_described, os_rng,
};

fn described(issuer: &[u8], key: &PrivateKey, spki: &[u8], kind: LeafKind) -> crate::Result<(Vec<u8>, CertInfo)> {
    let profile = LeafProfile {
        crl_distribution_point: Some("http://127.0.0.1/crl/x.crl".into()),
        ocsp_uri: Some("http://127.0.0.1/ocsp".into()),
        ca_issuers_uri: Some("http://127.0.0.1/ca/x.crt".into()),
        ..LeafProfile::new(kind)
    };
    let subject = subject("Described");
    build_leaf_described(
        issuer,
        key,
        spki,
        &subject,
        &sans(),
        leaf_validity(),
        &profile,
        &mut os_rng(),
    )
}

#[test]
fn the_description_of_a_built_leaf_is_that_of_its_der() {
    for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048, KeyAlgorithm::Sm2] {
        let (sub, sub_key) = sub_ca(alg, Sm2Id::Standard);
        let spki = keys(alg)[0].public_key_spki_der();
        for kind in [LeafKind::Server, LeafKind::Client] {
            let (der, info) = described(&sub, sub_key, spki, kind.clone()).unwrap();
            assert_eq!(info, CertInfo::parse(&der).unwrap(), "{alg:?} {kind:?}");
            assert_eq!(info.ocsp_urls, ["http://127.0.0.1/ocsp"]);
            assert!(!info.sans.is_empty() && !info.crl_urls.is_empty());
        }
    }
}

#[test]
fn a_remembered_issuer_is_still_checked() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    let other = &keys(KeyAlgorithm::EcP256)[0];
    let p = LeafProfile::default();
    let build =
        |key: &PrivateKey, v: CertValidity| build_leaf(&sub, key, spki, &subject("L"), &[], v, &p, &mut os_rng());
    // the wrong key before the issuer was ever remembered, then after
    assert_eq!(build(other, leaf_validity()), Err(Error::IssuerKeyMismatch));
    assert!(build(sub_key, leaf_validity()).is_ok());
    assert_eq!(build(other, leaf_validity()), Err(Error::IssuerKeyMismatch));
    // the validity is checked on every issuance, not remembered
    let rv = root_validity();
    let outside = CertValidity {
        not_before: rv.not_before,
        not_after: rv.not_after + 1,
    };
    assert_eq!(build(sub_key, outside), Err(Error::ValidityOutsideIssuer));
    assert!(build(sub_key, rv).is_ok());
}

#[test]
fn issuers_beyond_what_is_remembered_still_issue() {
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    let p = LeafProfile::default();
    let subs: Vec<_> = (0..70).map(|_| sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard)).collect();
    for _ in 0..2 {
        for (sub, key) in &subs {
            build_leaf(sub, key, spki, &subject("L"), &[], leaf_validity(), &p, &mut os_rng()).unwrap();
        }
    }
}
