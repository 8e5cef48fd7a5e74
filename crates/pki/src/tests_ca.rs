//! Root and sub CA building, checked with x509-cert decoding and signature
//! verification done directly through aws-lc-rs / sm2 (not through `verify`).

use std::collections::HashSet;

use aws_lc_rs::signature::{self as lc, UnparsedPublicKey, VerificationAlgorithm};
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::issue::{FixedProfile, ext};
use crate::test_support::keys;
use crate::{
    CaProfile, CertInfo, CertValidity, DerSignature, Error, ExtKeyUsage, KeyAlgorithm, KeySigner, PrivateKey, Serial,
    Sm2Id, SubjectFields, build_root_ca, build_sub_ca, os_rng,
};

const Y2026: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const YEAR: i64 = 365 * 86_400;

fn subject(cn: &str) -> SubjectFields {
    SubjectFields {
        common_name: cn.into(),
        organization: Some("opencas".into()),
        organizational_unit: Some("PKI".into()),
        locality: Some("Hangzhou".into()),
        state: Some("Zhejiang".into()),
        country_code: Some("CN".into()),
    }
}

fn root_validity() -> CertValidity {
    CertValidity {
        not_before: Y2026,
        not_after: Y2026 + 10 * YEAR,
    }
}

fn sub_validity() -> CertValidity {
    CertValidity {
        not_before: Y2026 + 86_400,
        not_after: Y2026 + 5 * YEAR,
    }
}

/// Independent signature check of `cert` with `issuer`'s public key.
fn check_signature(cert_der: &[u8], issuer: &PrivateKey, sm2_id: Sm2Id) {
    let cert = Certificate::from_der(cert_der).unwrap();
    let tbs = cert.tbs_certificate().to_der().unwrap();
    let sig = cert.signature().raw_bytes();
    let spki = SubjectPublicKeyInfoRef::from_der(issuer.public_key_spki_der()).unwrap();
    let pk = spki.subject_public_key.raw_bytes();
    let alg: &'static dyn VerificationAlgorithm = match issuer.algorithm() {
        KeyAlgorithm::Rsa1024 => &lc::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => &lc::RSA_PKCS1_2048_8192_SHA256,
        KeyAlgorithm::EcP256 => &lc::ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcP384 => &lc::ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::EcP521 => &lc::ECDSA_P521_SHA512_ASN1,
        KeyAlgorithm::Sm2 => {
            use signature::Verifier;
            let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(sm2_id.as_str(), pk).unwrap();
            let s = sm2::dsa::Signature::from_der(sig).expect("DER SM2 signature (T1)");
            vk.verify(&tbs, &s).expect("SM2 signature verifies");
            return;
        }
    };
    UnparsedPublicKey::new(alg, pk)
        .verify(&tbs, sig)
        .expect("signature verifies");
}

fn check_ca_profile(der: &[u8], issuer_key: &PrivateKey, subject_key: &PrivateKey, path_len: Option<u8>) {
    let cert = Certificate::from_der(der).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.version(), x509_cert::Version::V3);
    assert_eq!(
        cert.signature_algorithm(),
        &issuer_key.algorithm().signature_algorithm().algorithm_identifier()
    );
    let (crit, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(crit && bc.ca);
    assert_eq!(bc.path_len_constraint, path_len);
    let (crit, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(crit && ku.key_cert_sign() && ku.crl_sign() && ku.digital_signature());
    assert!(!ku.key_encipherment());
    assert_eq!(
        tbs.subject_public_key_info().to_der().unwrap(),
        subject_key.public_key_spki_der()
    );
    let serial = tbs.serial_number().as_bytes();
    assert_eq!(serial.len(), 16, "128-bit serial encodes in 16 octets");
    assert!(serial[0] != 0 && serial[0] & 0x80 == 0, "positive, no padding");
}

#[test]
fn root_and_sub_ca_for_every_algorithm() {
    let mut rng = os_rng();
    for alg in KeyAlgorithm::ALL {
        let [root_key, sub_key] = keys(alg);
        for sm2_id in [Sm2Id::Standard, Sm2Id::Empty] {
            if alg != KeyAlgorithm::Sm2 && sm2_id == Sm2Id::Empty {
                continue;
            }
            let profile = CaProfile {
                sm2_id,
                allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
                ..Default::default()
            };
            let root = build_root_ca(root_key, &subject("Root"), root_validity(), &profile, &mut rng)
                .unwrap_or_else(|e| panic!("{alg:?} root: {e}"));
            check_ca_profile(&root, root_key, root_key, None);
            check_signature(&root, root_key, sm2_id);

            let sub_profile = CaProfile {
                path_len: Some(0),
                sm2_id,
                allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
                ..Default::default()
            };
            let sub = build_sub_ca(
                &root,
                root_key,
                sub_key.public_key_spki_der(),
                &subject("Sub"),
                sub_validity(),
                &sub_profile,
                &mut rng,
            )
            .unwrap_or_else(|e| panic!("{alg:?} sub: {e}"));
            check_ca_profile(&sub, root_key, sub_key, Some(0));
            check_signature(&sub, root_key, sm2_id);

            let ri = CertInfo::parse(&root).unwrap();
            let si = CertInfo::parse(&sub).unwrap();
            assert_eq!(ri.subject_dn, "C=CN,ST=Zhejiang,L=Hangzhou,O=opencas,OU=PKI,CN=Root");
            assert_eq!(si.issuer_dn, ri.subject_dn);
            assert!(ri.self_issued && !si.self_issued);
            assert_eq!(ri.aki_hex, ri.ski_hex);
            assert_eq!(si.aki_hex, ri.ski_hex);
            assert_ne!(si.ski_hex, ri.ski_hex);
            assert_eq!(si.key_algorithm, Some(alg));
            assert_eq!(si.key_family, Some(alg.family()));
            assert_eq!(si.key_size_bits, alg.key_size_bits());
            assert_eq!(si.signature_algorithm, alg.signature_algorithm().cas_name());
            assert!(si.is_ca && si.path_len == Some(0) && ri.path_len.is_none());
            assert_eq!(si.not_before_ms, sub_validity().not_before * 1000);
            assert_eq!(si.not_after_ms, sub_validity().not_after * 1000);
            assert_eq!(si.serial_hex.len(), 32);
            assert_eq!(si.subject.common_name, "Sub");
        }
    }
}

#[test]
fn mixed_family_chain_and_optional_extensions() {
    let mut rng = os_rng();
    let root_key = &keys(KeyAlgorithm::Rsa2048)[0];
    let sub_key = &keys(KeyAlgorithm::EcP384)[0];
    let root = build_root_ca(
        root_key,
        &subject("Root"),
        root_validity(),
        &CaProfile::default(),
        &mut rng,
    )
    .unwrap();
    let serial = Serial::random(&mut rng);
    let profile = CaProfile {
        serial: Some(serial),
        path_len: None,
        key_usage_digital_signature: false,
        extended_key_usages: vec![
            ExtKeyUsage::ServerAuth,
            ExtKeyUsage::ClientAuth,
            ExtKeyUsage::from_name("ocspsigning").unwrap(),
            ExtKeyUsage::ServerAuth,
        ],
        crl_distribution_point: Some("http://crl.example.com/sub.crl".into()),
        ca_issuers_uri: Some("http://ca.example.com/root.cer".into()),
        ocsp_uri: Some("http://ocsp.example.com".into()),
        sm2_id: Sm2Id::Standard,
        allow_rsa_1024: false,
        certificate_policies: vec!["2.23.140.1.2.1".into()],
    };
    let sub = build_sub_ca(
        &root,
        root_key,
        sub_key.public_key_spki_der(),
        &subject("Sub"),
        sub_validity(),
        &profile,
        &mut rng,
    )
    .unwrap();
    check_signature(&sub, root_key, Sm2Id::Standard);
    let info = CertInfo::parse(&sub).unwrap();
    assert_eq!(info.serial_hex, serial.to_hex());
    assert_eq!(info.extended_key_usages, ["serverAuth", "clientAuth", "OCSPSigning"]);
    assert_eq!(info.crl_urls, ["http://crl.example.com/sub.crl"]);
    assert_eq!(info.ocsp_urls, ["http://ocsp.example.com"]);
    assert_eq!(info.ca_issuers_urls, ["http://ca.example.com/root.cer"]);
    assert_eq!(info.signature_algorithm, "SHA256WITHRSA");
    assert_eq!(info.key_algorithm, Some(KeyAlgorithm::EcP384));
    let cert = Certificate::from_der(&sub).unwrap();
    let (_, ku) = cert.tbs_certificate().get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(!ku.digital_signature() && ku.key_cert_sign());
    assert_eq!(info.fingerprints.sha256_hex().len(), 64);
    assert_eq!(info.fingerprints.md5_hex(), info.fingerprints.md5_hex().to_uppercase());

    let bad = CaProfile {
        ocsp_uri: Some("not a uri".into()),
        ..Default::default()
    };
    assert!(matches!(
        build_root_ca(root_key, &subject("R"), root_validity(), &bad, &mut rng),
        Err(Error::InvalidExtension(_))
    ));
    assert!(ExtKeyUsage::from_name("anyThing").is_err());
}

#[test]
fn sub_ca_refusals() {
    let mut rng = os_rng();
    let [root_key, sub_key] = keys(KeyAlgorithm::EcP256);
    let profile = CaProfile::default();
    let root = build_root_ca(root_key, &subject("Root"), root_validity(), &profile, &mut rng).unwrap();
    let spki = sub_key.public_key_spki_der();
    let sub = |issuer: &[u8], key: &PrivateKey, v: CertValidity, p: &CaProfile| {
        build_sub_ca(issuer, key, spki, &subject("Sub"), v, p, &mut os_rng())
    };
    let rv = root_validity();
    for v in [
        CertValidity {
            not_before: rv.not_before - 1,
            not_after: rv.not_after,
        },
        CertValidity {
            not_before: rv.not_before,
            not_after: rv.not_after + 1,
        },
        CertValidity {
            not_before: rv.not_before - YEAR,
            not_after: rv.not_after + YEAR,
        },
    ] {
        assert_eq!(sub(&root, root_key, v, &profile), Err(Error::ValidityOutsideIssuer));
    }
    // exactly the issuer's validity is fine
    assert!(sub(&root, root_key, rv, &profile).is_ok());
    let reversed = CertValidity {
        not_before: rv.not_after,
        not_after: rv.not_before,
    };
    assert!(matches!(
        sub(&root, root_key, reversed, &profile),
        Err(Error::InvalidValidity(_))
    ));
    assert_eq!(
        sub(&root, sub_key, sub_validity(), &profile),
        Err(Error::IssuerKeyMismatch)
    );

    // pathLen 0 under the root: no CA may be issued below that sub CA
    let p0 = CaProfile {
        path_len: Some(0),
        ..Default::default()
    };
    let sub0 = sub(&root, root_key, sub_validity(), &p0).unwrap();
    assert_eq!(
        sub(&sub0, sub_key, sub_validity(), &profile),
        Err(Error::PathLenExceeded)
    );
    let root1 = build_root_ca(
        root_key,
        &subject("Root1"),
        rv,
        &CaProfile {
            path_len: Some(1),
            ..Default::default()
        },
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        sub(
            &root1,
            root_key,
            sub_validity(),
            &CaProfile {
                path_len: Some(1),
                ..Default::default()
            }
        ),
        Err(Error::PathLenExceeded)
    );
    assert!(sub(&root1, root_key, sub_validity(), &p0).is_ok());

    // a non-CA issuer
    let leaf = {
        let prof = FixedProfile {
            subject: subject("Leaf").to_name().unwrap(),
            issuer: subject("Leaf").to_name().unwrap(),
            extensions: vec![
                ext(
                    true,
                    &BasicConstraints {
                        ca: false,
                        path_len_constraint: None,
                    },
                )
                .unwrap(),
            ],
            lint: None,
        };
        let validity = x509_cert::time::Validity::new(
            Time::from(der::DateTime::from_unix_duration(std::time::Duration::from_secs(Y2026 as u64)).unwrap()),
            Time::from(
                der::DateTime::from_unix_duration(std::time::Duration::from_secs((Y2026 + 9 * YEAR) as u64)).unwrap(),
            ),
        );
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(root_key.public_key_spki_der()).unwrap();
        let b = CertificateBuilder::new(prof, SerialNumber::from(7u32), validity, spki).unwrap();
        let signer = KeySigner::new(root_key, Sm2Id::Standard).unwrap();
        b.build::<_, DerSignature>(&signer).unwrap().to_der().unwrap()
    };
    assert_eq!(sub(&leaf, root_key, sub_validity(), &profile), Err(Error::IssuerNotCa));
    assert!(matches!(
        sub(b"junk", root_key, sub_validity(), &profile),
        Err(Error::MalformedCertificate(_))
    ));
    // unsupported subject key
    let ed25519_spki =
        hex::decode("302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
    assert!(matches!(
        build_sub_ca(
            &root,
            root_key,
            &ed25519_spki,
            &subject("Sub"),
            sub_validity(),
            &profile,
            &mut rng
        ),
        Err(Error::UnsupportedKey(_))
    ));
}

#[test]
fn serials_are_positive_and_random() {
    let mut rng = os_rng();
    let mut seen = HashSet::new();
    let mut or_bits = [0u8; 16];
    for _ in 0..2000 {
        let s = Serial::random(&mut rng);
        let b = s.as_bytes();
        assert!(b[0] != 0 && b[0] < 0x80);
        assert_eq!(s.to_hex().len(), 32);
        assert!(seen.insert(*b));
        for (o, x) in or_bits.iter_mut().zip(b) {
            *o |= x;
        }
    }
    // every bit after the 48-bit time is used: 80 bits of entropy
    assert!(or_bits[6..].iter().all(|b| *b == 0xff));
    // the time comes first: a later serial sorts after an earlier one
    let early = Serial::random(&mut rng);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let late = Serial::random(&mut rng);
    assert!(late.to_hex() > early.to_hex());
    let now = u64::from_be_bytes([[0, 0].as_slice(), &late.as_bytes()[..6]].concat().try_into().unwrap());
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(now <= clock.as_millis() as u64 && now + 5_000 > clock.as_millis() as u64);
    assert!(Serial::from_bytes([0x80; 16]).is_err());
    assert!(Serial::from_bytes([0; 16]).is_err());
    assert!(Serial::from_bytes([1; 16]).is_ok());
}

#[test]
fn utc_and_generalized_time() {
    let mut rng = os_rng();
    let key = &keys(KeyAlgorithm::EcP256)[0];
    let end_2049 = 2_524_607_999; // 2049-12-31T23:59:59Z
    let start_2050 = 2_524_608_000; // 2050-01-01T00:00:00Z
    for (not_after, utc) in [(end_2049, true), (start_2050, false)] {
        let v = CertValidity {
            not_before: Y2026,
            not_after,
        };
        let der = build_root_ca(key, &subject("T"), v, &CaProfile::default(), &mut rng).unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        let va = cert.tbs_certificate().validity();
        assert!(matches!(va.not_before, Time::UtcTime(_)));
        assert_eq!(matches!(va.not_after, Time::UtcTime(_)), utc);
        assert_eq!(CertInfo::parse(&der).unwrap().not_after_ms, not_after * 1000);
    }
    let neg = CertValidity {
        not_before: -5,
        not_after: Y2026,
    };
    assert!(matches!(
        build_root_ca(key, &subject("T"), neg, &CaProfile::default(), &mut rng),
        Err(Error::InvalidValidity(_))
    ));
}

#[test]
fn verify_module_and_sm2_id_detection() {
    let mut rng = os_rng();
    let [a, b] = keys(KeyAlgorithm::Sm2);
    for id in [Sm2Id::Standard, Sm2Id::Empty] {
        let p = CaProfile {
            sm2_id: id,
            ..Default::default()
        };
        let root = build_root_ca(a, &subject("R"), root_validity(), &p, &mut rng).unwrap();
        crate::verify_certificate_signature(&root, a.public_key_spki_der(), id).unwrap();
        assert_eq!(
            crate::verify_certificate_signature_any_sm2_id(&root, a.public_key_spki_der()),
            Ok(id)
        );
        assert_eq!(
            crate::verify_certificate_signature_any_sm2_id(&root, b.public_key_spki_der()),
            Err(Error::BadSignature)
        );
    }
    let [r, _] = keys(KeyAlgorithm::Rsa3072);
    let root = build_root_ca(r, &subject("R"), root_validity(), &CaProfile::default(), &mut rng).unwrap();
    let mut tampered = root.clone();
    let n = tampered.len();
    tampered[n - 1] ^= 1;
    assert_eq!(
        crate::verify_certificate_signature(&tampered, r.public_key_spki_der(), Sm2Id::Standard),
        Err(Error::BadSignature)
    );
    let pem = crate::pem::cert_der_to_pem(&root);
    assert_eq!(CertInfo::parse_pem(&pem).unwrap(), CertInfo::parse(&root).unwrap());
}
