//! The check of a freshly signed certificate: aws-lc signers are compared with what they
//! signed instead of verified again; every certificate must still verify, and a certificate
//! that does not carry what was signed is refused.

use crate::issue::check_fresh_signature;
use crate::test_support::{Y2026, YEAR, ca_chain, keys, subject};
use crate::verify::split_signed;
use crate::{CertValidity, KeyAlgorithm, LeafKind, LeafProfile, San, Sm2Id, build_leaf, os_rng};
use crate::{Error, verify_certificate_signature};

fn leaf(alg: KeyAlgorithm, sm2_id: Sm2Id, n: i64) -> Vec<u8> {
    let (_, sub) = ca_chain(alg, sm2_id);
    let [_, sub_key] = keys(alg);
    let subject_key = &keys(alg)[0];
    build_leaf(
        &sub,
        sub_key,
        subject_key.public_key_spki_der(),
        &subject(&format!("leaf{n}.example.com")),
        &[San::parse_dns(&format!("leaf{n}.example.com")).unwrap()],
        CertValidity {
            not_before: Y2026 + n,
            not_after: Y2026 + YEAR,
        },
        &LeafProfile {
            sm2_id,
            allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
            ..LeafProfile::new(LeafKind::Server)
        },
        &mut os_rng(),
    )
    .unwrap()
}

#[test]
fn certificates_signed_without_a_verification_verify() {
    let [_, p256] = keys(KeyAlgorithm::EcP256);
    assert!(p256.signature_right_by_construction());
    for n in 0..300 {
        let der = leaf(KeyAlgorithm::EcP256, Sm2Id::Standard, n);
        verify_certificate_signature(&der, p256.public_key_spki_der(), Sm2Id::Standard)
            .unwrap_or_else(|e| panic!("certificate {n}: {e}"));
    }
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP384, KeyAlgorithm::EcP521] {
        let key = &keys(alg)[1];
        for n in 0..5 {
            let der = leaf(alg, Sm2Id::Standard, n);
            verify_certificate_signature(&der, key.public_key_spki_der(), Sm2Id::Standard)
                .unwrap_or_else(|e| panic!("{alg:?} certificate {n}: {e}"));
        }
    }
}

#[test]
fn a_certificate_not_carrying_what_was_signed_is_refused() {
    let key = &keys(KeyAlgorithm::EcP256)[1];
    let der = leaf(KeyAlgorithm::EcP256, Sm2Id::Standard, 1);
    let (tbs, _, sig) = split_signed(&der).unwrap();
    let (tbs, sig) = (tbs.to_vec(), sig.to_vec());
    check_fresh_signature(&der, key, Sm2Id::Standard, Some((tbs.clone(), sig.clone()))).unwrap();

    let mut other_tbs = tbs.clone();
    *other_tbs.last_mut().unwrap() ^= 1;
    let mut other_sig = sig.clone();
    *other_sig.last_mut().unwrap() ^= 1;
    for signed in [Some((other_tbs, sig.clone())), Some((tbs, other_sig)), None] {
        let refused = check_fresh_signature(&der, key, Sm2Id::Standard, signed);
        assert!(matches!(refused, Err(Error::Signing(_))), "{refused:?}");
    }
}

#[test]
fn signers_without_the_guarantee_are_verified_in_full() {
    for alg in [KeyAlgorithm::Sm2, KeyAlgorithm::Rsa1024] {
        let key = &keys(alg)[1];
        assert!(!key.signature_right_by_construction(), "{alg:?}");
        let der = leaf(alg, Sm2Id::Standard, 2);
        let (tbs, _, sig) = split_signed(&der).unwrap();
        let recorded = Some((tbs.to_vec(), sig.to_vec()));
        check_fresh_signature(&der, key, Sm2Id::Standard, recorded.clone()).unwrap();
        // a broken signature that matches the (equally broken) record is still caught
        let mut broken = der.clone();
        let at = broken.len() - 3;
        broken[at] ^= 0x55;
        let (tbs, _, sig) = split_signed(&broken).unwrap();
        let refused = check_fresh_signature(&broken, key, Sm2Id::Standard, Some((tbs.to_vec(), sig.to_vec())));
        assert!(matches!(refused, Err(Error::Signing(_))), "{alg:?}: {refused:?}");
    }
}
