//! CRL build timing for 10 000 / 100 000 / 1 000 000 entries with P-256 and
//! RSA-2048 issuers. Ignored by default; run in release mode:
//!
//! ```text
//! cargo test -p opencas-pki --release --test crl_timing -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use opencas_pki::{
    CaProfile, CertValidity, KeyAlgorithm, PrivateKey, RevocationReason, RevokedEntry, Sm2Id, SubjectFields, build_crl,
    build_crl_from_encoded, build_root_ca, os_rng, parse_crl, verify_certificate_signature,
};

const T0: i64 = 1_767_225_600; // 2026-01-01

fn entries(n: usize) -> Vec<RevokedEntry> {
    let reasons = [
        None,
        Some(RevocationReason::KeyCompromise),
        Some(RevocationReason::Superseded),
        Some(RevocationReason::CessationOfOperation),
    ];
    (0..n)
        .map(|i| {
            // 16-octet serials like `Serial::random`, spread over the whole range.
            let x = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            let mut serial = x.to_be_bytes();
            serial[0] = (serial[0] & 0x7f) | 1;
            RevokedEntry {
                serial: serial.to_vec(),
                revocation_time: T0 + i as i64,
                reason: reasons[i % reasons.len()],
            }
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "timing; run in release mode with --ignored --nocapture"]
fn crl_build_timing() {
    let mut rng = os_rng();
    let subject = SubjectFields {
        common_name: "Timing CA".into(),
        ..Default::default()
    };
    let validity = CertValidity {
        not_before: T0,
        not_after: T0 + 10 * 365 * 86_400,
    };
    for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        let key = PrivateKey::generate(alg, &mut rng).unwrap();
        let ca = build_root_ca(&key, &subject, validity, &CaProfile::default(), &mut rng).unwrap();
        for n in [10_000, 100_000, 1_000_000] {
            let list = entries(n);

            let t = Instant::now();
            let crl = build_crl(&ca, &key, &list, 1, T0, T0 + 86_400, Sm2Id::Standard).unwrap();
            let build = t.elapsed();

            let t = Instant::now();
            let mut encoded = Vec::with_capacity(n * 53);
            for e in &list {
                e.encode_into(&mut encoded).unwrap();
            }
            let encode = t.elapsed();
            let t = Instant::now();
            let crl2 = build_crl_from_encoded(&ca, &key, &encoded, 1, T0, T0 + 86_400, Sm2Id::Standard).unwrap();
            let from_encoded = t.elapsed();
            verify_certificate_signature(&crl2, key.public_key_spki_der(), Sm2Id::Standard).unwrap();

            let t = Instant::now();
            let info = parse_crl(&crl).unwrap();
            let parse = t.elapsed();
            assert_eq!(info.entries.len(), n);
            verify_certificate_signature(&crl, key.public_key_spki_der(), Sm2Id::Standard).unwrap();

            eprintln!(
                "{:>8} {n:>9} entries, {:6.1} MB: build_crl {} | encode {} + build_crl_from_encoded {} | parse_crl {}",
                alg.as_api(),
                crl.len() as f64 / 1e6,
                ms(build),
                ms(encode),
                ms(from_encoded),
                ms(parse),
            );
            if n == 1_000_000 && !cfg!(debug_assertions) {
                assert!(build < Duration::from_secs(3), "1M entries took {build:?}");
            }
        }
    }
}
