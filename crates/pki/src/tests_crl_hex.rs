//! `RevokedEntry::encode_hex_into` (the CRL's fast path from the store's hex serials)
//! against the general path, `from_hex` then `encode_into`: the same octets or the same
//! refusal for every input, and entries that x509-cert reads back as written.

use der::Decode;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::pkix::crl::CrlReason;

use crate::test_support::{Y2026, YEAR, ca_chain, keys};
use crate::{Error, KeyAlgorithm, RevocationReason, RevokedEntry, Sm2Id, build_crl_from_encoded, parse_crl};

/// xorshift64*: a fixed sequence, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A serial in hex as a store might hold one: mostly valid, sometimes with leading zero
/// octets, upper case, too long, odd length or not hex at all.
fn serial_hex(rng: &mut Rng) -> String {
    let len = rng.below(24) as usize;
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if rng.below(8) == 0 && !bytes.is_empty() {
        bytes[0] = 0;
    }
    if rng.below(8) == 0 {
        bytes[..len.min(2)].iter_mut().for_each(|b| *b = 0);
    }
    let mut s = hex::encode(&bytes);
    match rng.below(40) {
        0 => s = s.to_uppercase(),
        1 => s.push('f'),
        2 if !s.is_empty() => s.replace_range(0..1, "g"),
        3 => s.insert(0, ' '),
        _ => {}
    }
    s
}

fn reason(rng: &mut Rng) -> Option<RevocationReason> {
    match rng.below(12) as usize {
        i @ 0..=9 => Some(RevocationReason::ALL[i]),
        _ => None,
    }
}

fn time(rng: &mut Rng) -> i64 {
    match rng.below(20) {
        0 => -(rng.below(1000) as i64) - 1,
        // through year 9999 and a little beyond
        1 => 253_402_300_799 + rng.below(3) as i64 - 1,
        _ => rng.below(4_000_000_000) as i64,
    }
}

#[test]
fn hex_entries_are_byte_identical_to_the_general_path() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut refused) = (0, 0);
    for case in 0..200_000 {
        let (hex, t, r) = (serial_hex(&mut rng), time(&mut rng), reason(&mut rng));
        let general = RevokedEntry::from_hex(&hex, t, r).and_then(|e| e.to_der());
        let mut fast = vec![0xee]; // appended, never overwriting
        let got = RevokedEntry::encode_hex_into(&hex, t, r, &mut fast);
        match (&general, got) {
            (Ok(want), Ok(())) => {
                assert_eq!(fast[0], 0xee);
                assert_eq!(&fast[1..], &want[..], "case {case}: {hex:?} {t} {r:?}");
                ok += 1;
            }
            (Err(a), Err(b)) => {
                assert_eq!(
                    std::mem::discriminant(a),
                    std::mem::discriminant(&b),
                    "case {case}: {hex:?}"
                );
                assert_eq!(fast, [0xee], "case {case}: nothing appended on a refusal");
                refused += 1;
            }
            (a, b) => panic!("case {case}: {hex:?} {t} {r:?}: general {a:?}, hex {b:?}"),
        }
    }
    // Both kinds of outcome were exercised in earnest.
    assert!(ok > 100_000 && refused > 10_000, "{ok} encoded, {refused} refused");
}

#[test]
fn hex_entries_parse_back_with_x509_cert() {
    let mut rng = Rng(42);
    let mut checked = 0;
    while checked < 2_000 {
        let (hex, t, r) = (serial_hex(&mut rng), time(&mut rng), reason(&mut rng));
        let mut der = Vec::new();
        if RevokedEntry::encode_hex_into(&hex, t, r, &mut der).is_err() {
            continue;
        }
        let rc = RevokedCert::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
        let want = hex::decode(&hex).unwrap();
        let first = want.iter().position(|b| *b != 0).unwrap();
        let got = rc.serial_number.as_bytes();
        let got = if got[0] == 0 { &got[1..] } else { got };
        assert_eq!(got, &want[first..], "{hex}");
        assert_eq!(rc.revocation_date.to_unix_duration().as_secs() as i64, t);
        let written = rc
            .crl_entry_extensions
            .iter()
            .flatten()
            .map(|x| CrlReason::from_der(x.extn_value.as_bytes()).unwrap() as u8)
            .collect::<Vec<_>>();
        let expected = r.filter(|r| *r != RevocationReason::Unspecified).map(|r| r.code());
        assert_eq!(written, expected.into_iter().collect::<Vec<_>>());
        checked += 1;
    }
}

#[test]
fn a_crl_of_hex_entries_lists_them() {
    let (_, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let key = &keys(KeyAlgorithm::EcP256)[1];
    let rows = [
        (
            "0123456789abcdef0123456789abcdef",
            Y2026,
            Some(RevocationReason::KeyCompromise),
        ),
        ("00ff", Y2026 + 1, None),
        ("7F", Y2026 + 2, Some(RevocationReason::Superseded)),
    ];
    let mut encoded = Vec::new();
    for (h, t, r) in rows {
        RevokedEntry::encode_hex_into(h, t, r, &mut encoded).unwrap();
    }
    let crl = build_crl_from_encoded(&sub, key, &encoded, 7, Y2026, Y2026 + YEAR, Sm2Id::Standard).unwrap();
    let info = parse_crl(&crl).unwrap();
    let listed: Vec<_> = info
        .entries
        .iter()
        .map(|e| (e.serial_hex.as_str(), e.revocation_time, e.reason))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "0123456789abcdef0123456789abcdef",
                Y2026,
                Some(RevocationReason::KeyCompromise)
            ),
            ("ff", Y2026 + 1, None),
            ("7f", Y2026 + 2, Some(RevocationReason::Superseded)),
        ]
    );
    assert!(matches!(
        RevokedEntry::encode_hex_into("0g", Y2026, None, &mut Vec::new()),
        Err(Error::InvalidSerial(_))
    ));
}
