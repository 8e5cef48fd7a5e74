//! CRL building and parsing: entry encoding, the CRL profile for every key
//! algorithm, pre-encoded entries, and every refusal.

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::pkix::crl::{CrlNumber, CrlReason};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::issue::{FixedProfile, ext};
use crate::test_support::{Y2026, YEAR, ca_chain, keys, subject};
use crate::{
    CertValidity, DerSignature, Error, KeyAlgorithm, KeySigner, KeyUsageFlags, LeafProfile, RevocationReason,
    RevokedEntry, Sm2Id, build_crl, build_crl_from_encoded, build_leaf, crl_encoded_entries, os_rng, parse_crl,
    verify_certificate_signature,
};

/// 2050-01-01T00:00:00Z, the first GeneralizedTime second.
const Y2050: i64 = 2_524_608_000;

fn entry(serial: &[u8], t: i64, reason: Option<RevocationReason>) -> RevokedEntry {
    RevokedEntry {
        serial: serial.to_vec(),
        revocation_time: t,
        reason,
    }
}

fn ski(cert_der: &[u8]) -> Vec<u8> {
    let c = Certificate::from_der(cert_der).unwrap();
    let (_, s) = c
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    s.0.as_bytes().to_vec()
}

#[test]
fn reason_names_and_codes() {
    let codes: Vec<u8> = RevocationReason::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);
    for r in RevocationReason::ALL {
        assert_eq!(RevocationReason::from_name(r.name()).unwrap(), r);
        assert_eq!(RevocationReason::from_code(r.code()), Some(r));
        assert_eq!(RevocationReason::from_x509(r.to_x509()), r);
        assert_eq!(r.to_x509() as u8, r.code());
    }
    assert_eq!(RevocationReason::CaCompromise.name(), "cACompromise");
    assert_eq!(RevocationReason::AaCompromise.name(), "aACompromise");
    assert_eq!(RevocationReason::RemoveFromCrl.name(), "removeFromCRL");
    assert_eq!(
        RevocationReason::from_name("KEYCOMPROMISE").unwrap(),
        RevocationReason::KeyCompromise
    );
    assert_eq!(RevocationReason::from_code(7), None);
    assert!(matches!(
        RevocationReason::from_name("stolen"),
        Err(Error::InvalidRevocation(_))
    ));
}

#[test]
fn entry_encoding() {
    // Leading zeros stripped; reasonCode as an entry extension.
    let e = entry(&[0, 0, 0x12, 0x34], Y2026, Some(RevocationReason::KeyCompromise));
    let der = e.to_der().unwrap();
    let rc = RevokedCert::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
    assert_eq!(rc.serial_number.as_bytes(), [0x12, 0x34]);
    assert!(matches!(rc.revocation_date, Time::UtcTime(_)));
    assert_eq!(rc.revocation_date.to_unix_duration().as_secs() as i64, Y2026);
    let exts = rc.crl_entry_extensions.unwrap();
    assert_eq!(exts.len(), 1);
    assert!(!exts[0].critical);
    assert_eq!(
        CrlReason::from_der(exts[0].extn_value.as_bytes()).unwrap(),
        CrlReason::KeyCompromise
    );
    // Top bit set: a 0x00 sign octet; unspecified / absent reasons: no extensions.
    for reason in [None, Some(RevocationReason::Unspecified)] {
        let der = entry(&[0x80, 1], Y2050, reason).to_der().unwrap();
        let rc = RevokedCert::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
        assert_eq!(rc.serial_number.as_bytes(), [0, 0x80, 1]);
        assert!(matches!(rc.revocation_date, Time::GeneralTime(_)));
        assert_eq!(rc.revocation_date.to_unix_duration().as_secs() as i64, Y2050);
        assert!(rc.crl_entry_extensions.is_none());
    }
    assert_eq!(Y2050 - 1, {
        let der = entry(&[1], Y2050 - 1, None).to_der().unwrap();
        let rc = RevokedCert::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
        assert!(matches!(rc.revocation_date, Time::UtcTime(_)));
        rc.revocation_date.to_unix_duration().as_secs() as i64
    });
    // 20 octets is the limit, including the sign octet.
    assert!(entry(&[0x7f; 20], Y2026, None).to_der().is_ok());
    let refused = [
        entry(&[0x80; 20], Y2026, None),
        entry(&[1; 21], Y2026, None),
        entry(&[0, 0], Y2026, None),
        entry(&[], Y2026, None),
    ];
    for e in refused {
        assert!(matches!(e.to_der(), Err(Error::InvalidSerial(_))), "{e:?}");
    }
    assert!(matches!(entry(&[1], -1, None).to_der(), Err(Error::InvalidValidity(_))));
    assert!(matches!(
        entry(&[1], Y2026, Some(RevocationReason::RemoveFromCrl)).to_der(),
        Err(Error::InvalidRevocation(_))
    ));
    let h = RevokedEntry::from_hex("0a0b", 5, None).unwrap();
    assert_eq!(h.serial, [10, 11]);
    assert!(matches!(
        RevokedEntry::from_hex("xyz", 5, None),
        Err(Error::InvalidSerial(_))
    ));
}

fn sample_entries() -> Vec<RevokedEntry> {
    vec![
        entry(&[0x11; 16], Y2026 + 10, Some(RevocationReason::KeyCompromise)),
        entry(&[0x7f, 1], Y2026 + 20, None),
        entry(&[0xff, 2], Y2026 + 30, Some(RevocationReason::Unspecified)),
        entry(&[3], Y2026 + 40, Some(RevocationReason::CessationOfOperation)),
        entry(&[4], Y2050 + 50, Some(RevocationReason::AaCompromise)),
    ]
}

#[test]
fn crl_profile_every_algorithm() {
    let cases = [
        (KeyAlgorithm::Rsa1024, Sm2Id::Standard, "SHA256WITHRSA"),
        (KeyAlgorithm::Rsa2048, Sm2Id::Standard, "SHA256WITHRSA"),
        (KeyAlgorithm::EcP256, Sm2Id::Standard, "SHA256WITHECDSA"),
        (KeyAlgorithm::EcP384, Sm2Id::Standard, "SHA384WITHECDSA"),
        (KeyAlgorithm::EcP521, Sm2Id::Standard, "SHA512WITHECDSA"),
        (KeyAlgorithm::Sm2, Sm2Id::Standard, "SM3WITHSM2"),
        (KeyAlgorithm::Sm2, Sm2Id::Empty, "SM3WITHSM2"),
    ];
    for (alg, id, sig_name) in cases {
        let (root, sub) = ca_chain(alg, id);
        let sub_key = &keys(alg)[1];
        let entries = sample_entries();
        let crl = build_crl(&sub, sub_key, &entries, 42, Y2026, Y2026 + 7 * 86_400, id).unwrap();
        verify_certificate_signature(&crl, sub_key.public_key_spki_der(), id).unwrap();
        if alg == KeyAlgorithm::Sm2 {
            let other = if id == Sm2Id::Empty {
                Sm2Id::Standard
            } else {
                Sm2Id::Empty
            };
            assert_eq!(
                verify_certificate_signature(&crl, sub_key.public_key_spki_der(), other),
                Err(Error::BadSignature)
            );
        }

        let info = parse_crl(&crl).unwrap();
        assert_eq!(info.issuer_dn, crate::CertInfo::parse(&sub).unwrap().subject_dn);
        assert_eq!(info.this_update, Y2026);
        assert_eq!(info.next_update, Some(Y2026 + 7 * 86_400));
        assert_eq!(info.crl_number(), Some(42));
        assert_eq!(info.crl_number_hex.as_deref(), Some("2a"));
        // AKI names the sub CA's own key, not the root's (trap T3).
        assert_eq!(info.aki_hex, Some(hex::encode(ski(&sub))));
        assert_ne!(ski(&sub), ski(&root));
        assert_eq!(info.signature_algorithm, sig_name);
        let serials: Vec<&str> = info.entries.iter().map(|e| e.serial_hex.as_str()).collect();
        assert_eq!(
            serials,
            ["11111111111111111111111111111111", "7f01", "ff02", "03", "04"]
        );
        let reasons: Vec<_> = info.entries.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                Some(RevocationReason::KeyCompromise),
                None,
                None,
                Some(RevocationReason::CessationOfOperation),
                Some(RevocationReason::AaCompromise)
            ]
        );
        let times: Vec<i64> = info.entries.iter().map(|e| e.revocation_time).collect();
        assert_eq!(times, entries.iter().map(|e| e.revocation_time).collect::<Vec<_>>());

        // Structure: v2, matching algorithms, non-critical extensions.
        let cl: CertificateList = CertificateList::from_der(&crl).unwrap();
        let tbs = &cl.tbs_cert_list;
        assert_eq!(tbs.version, x509_cert::Version::V2);
        assert_eq!(tbs.signature, cl.signature_algorithm);
        assert_eq!(cl.signature_algorithm, alg.signature_algorithm().algorithm_identifier());
        assert!(matches!(tbs.this_update, Time::UtcTime(_)));
        let exts = tbs.crl_extensions.as_ref().unwrap();
        assert_eq!(exts.len(), 2);
        assert!(exts.iter().all(|x| !x.critical));
        let num = exts
            .iter()
            .find(|x| x.extn_id == const_oid::db::rfc5280::ID_CE_CRL_NUMBER)
            .unwrap();
        assert_eq!(
            CrlNumber::from_der(num.extn_value.as_bytes()).unwrap().0.as_bytes(),
            [42]
        );
        let aki = exts
            .iter()
            .find(|x| x.extn_id == const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .unwrap();
        let aki = AuthorityKeyIdentifier::from_der(aki.extn_value.as_bytes()).unwrap();
        assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());
        // Round trip through x509-cert re-encodes to the same bytes (valid DER).
        assert_eq!(cl.to_der().unwrap(), crl);
    }
}

#[test]
fn root_crl_empty_and_generalized_times() {
    let alg = KeyAlgorithm::EcP256;
    let (root, _) = ca_chain(alg, Sm2Id::Standard);
    let root_key = &keys(alg)[0];
    let crl = build_crl(&root, root_key, &[], u64::MAX, Y2050, Y2050 + 86_400, Sm2Id::Standard).unwrap();
    verify_certificate_signature(&crl, root_key.public_key_spki_der(), Sm2Id::Standard).unwrap();
    let cl: CertificateList = CertificateList::from_der(&crl).unwrap();
    assert!(cl.tbs_cert_list.revoked_certificates.is_none());
    assert!(matches!(cl.tbs_cert_list.this_update, Time::GeneralTime(_)));
    let info = parse_crl(&crl).unwrap();
    assert!(info.entries.is_empty());
    assert_eq!(info.this_update, Y2050);
    assert_eq!(info.crl_number(), Some(u64::MAX));
    assert_eq!(info.crl_number_hex.as_deref(), Some("ffffffffffffffff"));
    assert_eq!(info.aki_hex, Some(hex::encode(ski(&root))));
    // CRL number 0 is valid.
    let crl = build_crl(&root, root_key, &[], 0, Y2026, Y2026 + 1, Sm2Id::Standard).unwrap();
    assert_eq!(parse_crl(&crl).unwrap().crl_number(), Some(0));
}

#[test]
fn many_entries_and_pre_encoded() {
    // 20 000 entries: long-form lengths at every level.
    let alg = KeyAlgorithm::Rsa2048;
    let (_, sub) = ca_chain(alg, Sm2Id::Standard);
    let key = &keys(alg)[1];
    let entries: Vec<RevokedEntry> = (0u32..20_000)
        .map(|i| {
            let mut s = [0x5a; 16];
            s[12..].copy_from_slice(&i.to_be_bytes());
            let reason = RevocationReason::from_code((i % 11) as u8).filter(|r| *r != RevocationReason::RemoveFromCrl);
            entry(&s, Y2026 + i64::from(i), reason)
        })
        .collect();
    let crl = build_crl(&sub, key, &entries, 7, Y2026, Y2026 + 86_400, Sm2Id::Standard).unwrap();
    let info = parse_crl(&crl).unwrap();
    assert_eq!(info.entries.len(), 20_000);
    assert_eq!(info.entries[12_345].serial_hex, hex::encode(&entries[12_345].serial));
    assert_eq!(info.entries[12_345].revocation_time, Y2026 + 12_345);

    // The same entries pre-encoded give the same CRL (RSA PKCS#1 v1.5 is deterministic).
    let mut encoded = Vec::new();
    for e in &entries {
        encoded.extend_from_slice(&e.to_der().unwrap());
    }
    let crl2 = build_crl_from_encoded(&sub, key, &encoded, 7, Y2026, Y2026 + 86_400, Sm2Id::Standard).unwrap();
    assert_eq!(crl, crl2);
    let empty = build_crl_from_encoded(&sub, key, &[], 8, Y2026, Y2026 + 86_400, Sm2Id::Standard).unwrap();
    assert!(parse_crl(&empty).unwrap().entries.is_empty());

    // Re-signing from a CRL's own entries reproduces them byte for byte.
    assert_eq!(crl_encoded_entries(&crl).unwrap(), &encoded[..]);
    assert!(crl_encoded_entries(&empty).unwrap().is_empty());
    let resigned = crl_encoded_entries(&crl).unwrap();
    let crl3 = build_crl_from_encoded(&sub, key, resigned, 9, Y2050, Y2050 + 60, Sm2Id::Standard).unwrap();
    assert_eq!(parse_crl(&crl3).unwrap().entries, info.entries);
    assert!(crl_encoded_entries(&crl[..crl.len() / 2]).is_err());
    assert!(crl_encoded_entries(b"\x02\x01\x01").is_err());
}

#[test]
fn pre_encoded_entries_are_checked() {
    let alg = KeyAlgorithm::EcP256;
    let (_, sub) = ca_chain(alg, Sm2Id::Standard);
    let key = &keys(alg)[1];
    let good = entry(&[1, 2], Y2026, Some(RevocationReason::Superseded))
        .to_der()
        .unwrap();
    let build = |b: &[u8]| build_crl_from_encoded(&sub, key, b, 1, Y2026, Y2026 + 60, Sm2Id::Standard);
    assert!(build(&[good.clone(), good.clone()].concat()).is_ok());
    let mut wrong_tag = good.clone();
    wrong_tag[0] = 0x31;
    let mut negative = good.clone();
    negative[4] = 0x81;
    let mut bad_time = good.clone();
    bad_time[6] = 0x04;
    let long_form_short_len = [&[0x30, 0x81, 0x05][..], &good[2..7]].concat();
    let bad: Vec<Vec<u8>> = vec![
        good[..good.len() - 1].to_vec(),
        [good.clone(), vec![0]].concat(),
        wrong_tag,
        negative,
        bad_time,
        long_form_short_len,
        vec![0x30, 0x80, 0x00, 0x00],
        entry(&[1], Y2026, None).to_der().unwrap()[..5].to_vec(),
    ];
    for b in bad {
        assert!(
            matches!(build(&b), Err(Error::InvalidRevocation(_))),
            "{}",
            hex::encode(&b)
        );
    }
}

#[test]
fn refusals() {
    let alg = KeyAlgorithm::EcP256;
    let (root, sub) = ca_chain(alg, Sm2Id::Standard);
    let [root_key, sub_key] = keys(alg);
    let mut rng = os_rng();
    let t = (Y2026, Y2026 + 86_400);
    let crl = |cert: &[u8], key| build_crl(cert, key, &[], 1, t.0, t.1, Sm2Id::Standard);
    // An end-entity certificate is not a CRL issuer.
    let leaf_validity = CertValidity {
        not_before: Y2026,
        not_after: Y2026 + YEAR,
    };
    let ee = build_leaf(
        &sub,
        sub_key,
        keys(KeyAlgorithm::EcP384)[0].public_key_spki_der(),
        &subject("Leaf"),
        &[],
        leaf_validity,
        &LeafProfile::default(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(crl(&ee, &keys(KeyAlgorithm::EcP384)[0]), Err(Error::IssuerNotCa));
    // A CA whose KeyUsage lacks cRLSign.
    let other = &keys(KeyAlgorithm::EcP384)[1];
    let name = subject("NoCrlSign").to_name().unwrap();
    let prof = FixedProfile {
        subject: name.clone(),
        issuer: name,
        extensions: vec![
            ext(
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            )
            .unwrap(),
            ext(true, &KeyUsageFlags::KEY_CERT_SIGN.to_x509().unwrap()).unwrap(),
        ],
        lint: None,
    };
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(other.public_key_spki_der()).unwrap();
    let b = CertificateBuilder::new(prof, SerialNumber::from(9u32), leaf_validity.to_x509().unwrap(), spki).unwrap();
    let no_crl_sign = b
        .build::<_, DerSignature>(&KeySigner::new(other, Sm2Id::Standard).unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    assert_eq!(crl(&no_crl_sign, other), Err(Error::IssuerNotCa));
    // Wrong key, junk certificate, bad times.
    assert_eq!(crl(&sub, root_key), Err(Error::IssuerKeyMismatch));
    assert!(crl(&root, root_key).is_ok());
    assert!(matches!(crl(b"junk", root_key), Err(Error::MalformedCertificate(_))));
    for (a, b) in [(t.1, t.0), (t.0, t.0), (-5, t.0), (t.0, 253_402_300_800)] {
        assert!(matches!(
            build_crl(&sub, sub_key, &[], 1, a, b, Sm2Id::Standard),
            Err(Error::InvalidValidity(_))
        ));
    }
    let removed = [entry(&[1], Y2026, Some(RevocationReason::RemoveFromCrl))];
    assert!(matches!(
        build_crl(&sub, sub_key, &removed, 1, t.0, t.1, Sm2Id::Standard),
        Err(Error::InvalidRevocation(_))
    ));
    assert!(matches!(parse_crl(b"\x30\x00"), Err(Error::MalformedCrl(_))));
    assert!(matches!(parse_crl(&sub), Err(Error::MalformedCrl(_))));
}
