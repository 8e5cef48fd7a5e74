//! Shared fixtures for the unit tests: keys are expensive (RSA-4096), so each
//! algorithm's keys are generated once per test binary.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::{KeyAlgorithm, PrivateKey, os_rng};

/// Two keys per algorithm, generated on first use.
pub(crate) fn keys(alg: KeyAlgorithm) -> &'static [PrivateKey; 2] {
    static KEYS: OnceLock<HashMap<KeyAlgorithm, OnceLock<[PrivateKey; 2]>>> = OnceLock::new();
    let map = KEYS.get_or_init(|| KeyAlgorithm::ALL.iter().map(|a| (*a, OnceLock::new())).collect());
    map[&alg].get_or_init(|| {
        let mut rng = os_rng();
        [
            PrivateKey::generate(alg, &mut rng).unwrap(),
            PrivateKey::generate(alg, &mut rng).unwrap(),
        ]
    })
}

/// 2026-01-01T00:00:00Z.
pub(crate) const Y2026: i64 = 1_767_225_600;
/// 365 days in seconds.
pub(crate) const YEAR: i64 = 365 * 86_400;

/// A full CAS subject with common name `cn`.
pub(crate) fn subject(cn: &str) -> crate::SubjectFields {
    crate::SubjectFields {
        common_name: cn.into(),
        organization: Some("opencas".into()),
        organizational_unit: Some("PKI".into()),
        locality: Some("Hangzhou".into()),
        state: Some("Zhejiang".into()),
        country_code: Some("CN".into()),
    }
}

/// A root → sub CA chain for `alg` (root DER, sub DER), both signed with
/// `sm2_id`, valid from [`Y2026`] for ten years; keys are [`keys`]`(alg)`.
pub(crate) fn ca_chain(alg: KeyAlgorithm, sm2_id: crate::Sm2Id) -> (Vec<u8>, Vec<u8>) {
    let [root_key, sub_key] = keys(alg);
    let mut rng = os_rng();
    let profile = crate::CaProfile {
        sm2_id,
        allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
        ..Default::default()
    };
    let validity = crate::CertValidity {
        not_before: Y2026,
        not_after: Y2026 + 10 * YEAR,
    };
    let root = crate::build_root_ca(root_key, &subject("Root"), validity, &profile, &mut rng).unwrap();
    let sub = crate::build_sub_ca(
        &root,
        root_key,
        sub_key.public_key_spki_der(),
        &subject("Sub"),
        validity,
        &profile,
        &mut rng,
    )
    .unwrap();
    (root, sub)
}

/// A leaf for `alg` under [`ca_chain`]: (leaf DER, sub DER, root DER, leaf key), the leaf
/// named `cn` and valid for the year from `not_before`.
pub(crate) fn leaf_chain(alg: KeyAlgorithm, cn: &str, not_before: i64) -> (Vec<u8>, Vec<u8>, Vec<u8>, PrivateKey) {
    let (root, sub) = ca_chain(alg, crate::Sm2Id::Standard);
    let mut rng = os_rng();
    let key = PrivateKey::generate(alg, &mut rng).unwrap();
    let validity = crate::CertValidity {
        not_before,
        not_after: Y2026 + YEAR,
    };
    let profile = crate::LeafProfile {
        allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
        ..Default::default()
    };
    let leaf = crate::build_leaf(
        &sub,
        &keys(alg)[1],
        key.public_key_spki_der(),
        &subject(cn),
        &[],
        validity,
        &profile,
        &mut rng,
    )
    .unwrap();
    (leaf, sub, root, key)
}
