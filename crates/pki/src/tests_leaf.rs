//! End-entity certificate building: server / client / custom profiles for
//! every key algorithm, the optional extensions, and every refusal.

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::serial_number::SerialNumber;

use crate::issue::{FixedProfile, ext};
use crate::test_support::{Y2026, YEAR, keys, subject};
use crate::{
    CaProfile, CertInfo, CertValidity, DerSignature, Error, ExtKeyUsage, KeyAlgorithm, KeyFamily, KeySigner,
    KeyUsageFlags, LeafKind, LeafProfile, PrivateKey, San, Serial, Sm2Id, build_leaf, build_root_ca, build_sub_ca,
    key_identifier, os_rng, verify_certificate_signature,
};

fn root_validity() -> CertValidity {
    CertValidity {
        not_before: Y2026,
        not_after: Y2026 + 10 * YEAR,
    }
}

fn leaf_validity() -> CertValidity {
    CertValidity {
        not_before: Y2026 + 86_400,
        not_after: Y2026 + YEAR,
    }
}

fn sans() -> Vec<San> {
    vec![
        San::parse_dns("www.example.com").unwrap(),
        San::parse_dns("*.api.example.com").unwrap(),
        San::parse_ip("192.0.2.7").unwrap(),
        San::parse_ip("2001:db8::7").unwrap(),
        San::parse_email("ops@example.com").unwrap(),
        San::parse_uri("https://example.com/svc").unwrap(),
    ]
}

/// Root → sub chain for `alg` (sub certificate DER, sub key).
fn sub_ca(alg: KeyAlgorithm, sm2_id: Sm2Id) -> (Vec<u8>, &'static PrivateKey) {
    let [root_key, sub_key] = keys(alg);
    let mut rng = os_rng();
    let p = CaProfile {
        sm2_id,
        ..Default::default()
    };
    let root = build_root_ca(root_key, &subject("Root"), root_validity(), &p, &mut rng).unwrap();
    let sub = build_sub_ca(
        &root,
        root_key,
        sub_key.public_key_spki_der(),
        &subject("Sub"),
        root_validity(),
        &p,
        &mut rng,
    )
    .unwrap();
    (sub, sub_key)
}

fn leaf(
    issuer: &[u8],
    issuer_key: &PrivateKey,
    spki: &[u8],
    sans: &[San],
    profile: &LeafProfile,
) -> crate::Result<Vec<u8>> {
    build_leaf(
        issuer,
        issuer_key,
        spki,
        &subject("Leaf"),
        sans,
        leaf_validity(),
        profile,
        &mut os_rng(),
    )
}

struct Seen {
    ku: KeyUsage,
    ekus: Vec<const_oid::ObjectIdentifier>,
    san_critical: Option<bool>,
}

/// Checks the fixed parts of the profile and returns the variable ones.
fn check_leaf(der: &[u8], issuer: &[u8], issuer_key: &PrivateKey, spki: &[u8], sm2_id: Sm2Id) -> Seen {
    verify_certificate_signature(der, issuer_key.public_key_spki_der(), sm2_id).unwrap();
    let cert = Certificate::from_der(der).unwrap();
    let issuer_cert = Certificate::from_der(issuer).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.version(), x509_cert::Version::V3);
    assert_eq!(tbs.issuer(), issuer_cert.tbs_certificate().subject());
    assert_eq!(tbs.subject_public_key_info().to_der().unwrap(), spki);
    let serial = tbs.serial_number().as_bytes();
    assert!(serial.len() == 16 && serial[0] != 0 && serial[0] < 0x80);
    let (crit, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(crit && !bc.ca && bc.path_len_constraint.is_none());
    let (crit, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(crit);
    let (_, ski) = tbs.get_extension::<SubjectKeyIdentifier>().unwrap().unwrap();
    assert_eq!(ski.0.as_bytes(), key_identifier(spki).unwrap());
    let (_, aki) = tbs.get_extension::<AuthorityKeyIdentifier>().unwrap().unwrap();
    let (_, issuer_ski) = issuer_cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(aki.key_identifier.unwrap().as_bytes(), issuer_ski.0.as_bytes());
    let ekus = tbs
        .get_extension::<ExtendedKeyUsage>()
        .unwrap()
        .map(|(crit, e)| {
            assert!(!crit);
            e.0
        })
        .unwrap_or_default();
    let san_critical = tbs.get_extension::<SubjectAltName>().unwrap().map(|(c, _)| c);
    Seen { ku, ekus, san_critical }
}

#[test]
fn server_and_client_leaves_for_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let ids: &[Sm2Id] = if alg == KeyAlgorithm::Sm2 {
            &[Sm2Id::Standard, Sm2Id::Empty]
        } else {
            &[Sm2Id::Standard]
        };
        for &id in ids {
            let (sub, sub_key) = sub_ca(alg, id);
            // the subject key: same algorithm, a key other than the CA's
            let subject_key = &keys(alg)[0];
            let spki = subject_key.public_key_spki_der();
            for (kind, eku) in [
                (LeafKind::Server, ExtKeyUsage::ServerAuth),
                (LeafKind::Client, ExtKeyUsage::ClientAuth),
            ] {
                let profile = LeafProfile {
                    sm2_id: id,
                    ..LeafProfile::new(kind.clone())
                };
                let der = leaf(&sub, sub_key, spki, &sans(), &profile).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
                let seen = check_leaf(&der, &sub, sub_key, spki, id);
                assert!(seen.ku.digital_signature());
                assert_eq!(seen.ku.key_encipherment(), alg.family() == KeyFamily::Rsa, "{alg:?}");
                assert!(!seen.ku.key_cert_sign() && !seen.ku.crl_sign() && !seen.ku.non_repudiation());
                assert_eq!(seen.ekus, [eku.oid()]);
                assert_eq!(seen.san_critical, Some(false));
                let info = CertInfo::parse(&der).unwrap();
                assert_eq!(info.sans, sans());
                assert!(!info.is_ca && info.path_len.is_none());
                assert_eq!(info.extended_key_usages, [eku.name()]);
                assert_eq!(info.key_algorithm, Some(alg));
                assert_eq!(info.subject_dn, "C=CN,ST=Zhejiang,L=Hangzhou,O=opencas,OU=PKI,CN=Leaf");
                assert_eq!(info.issuer_dn, "C=CN,ST=Zhejiang,L=Hangzhou,O=opencas,OU=PKI,CN=Sub");
                assert_eq!(info.not_before_ms, leaf_validity().not_before * 1000);
                assert_eq!(info.not_after_ms, leaf_validity().not_after * 1000);
                assert!(info.crl_urls.is_empty() && info.ocsp_urls.is_empty() && info.ca_issuers_urls.is_empty());
            }
        }
    }
}

#[test]
fn mixed_families_custom_usage_and_locations() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP384, Sm2Id::Standard);
    let rsa_key = &keys(KeyAlgorithm::Rsa2048)[0];
    let serial = Serial::random(&mut os_rng());
    let profile = LeafProfile {
        serial: Some(serial),
        kind: LeafKind::Custom {
            key_usage: KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::NON_REPUDIATION,
            extended_key_usages: vec![
                ExtKeyUsage::EmailProtection,
                ExtKeyUsage::CodeSigning,
                ExtKeyUsage::EmailProtection,
            ],
        },
        crl_distribution_point: Some("http://crl.example.com/sub.crl".into()),
        ca_issuers_uri: Some("http://ca.example.com/sub.cer".into()),
        ocsp_uri: Some("http://ocsp.example.com".into()),
        sm2_id: Sm2Id::Standard,
    };
    let spki = rsa_key.public_key_spki_der();
    let dup = [sans(), sans()].concat();
    let der = leaf(&sub, sub_key, spki, &dup, &profile).unwrap();
    let seen = check_leaf(&der, &sub, sub_key, spki, Sm2Id::Standard);
    assert!(seen.ku.digital_signature() && seen.ku.non_repudiation() && !seen.ku.key_encipherment());
    assert_eq!(
        seen.ekus,
        [ExtKeyUsage::EmailProtection.oid(), ExtKeyUsage::CodeSigning.oid()]
    );
    let info = CertInfo::parse(&der).unwrap();
    assert_eq!(info.sans, sans(), "duplicates dropped");
    assert_eq!(info.serial_hex, serial.to_hex());
    assert_eq!(info.signature_algorithm, "SHA384WITHECDSA");
    assert_eq!(info.crl_urls, ["http://crl.example.com/sub.crl"]);
    assert_eq!(info.ocsp_urls, ["http://ocsp.example.com"]);
    assert_eq!(info.ca_issuers_urls, ["http://ca.example.com/sub.cer"]);

    // custom usage without EKUs, and no SANs at all: neither extension
    let profile = LeafProfile::new(LeafKind::Custom {
        key_usage: KeyUsageFlags::KEY_AGREEMENT | KeyUsageFlags::ENCIPHER_ONLY,
        extended_key_usages: vec![],
    });
    let ec = &keys(KeyAlgorithm::EcP256)[0];
    let der = leaf(&sub, sub_key, ec.public_key_spki_der(), &[], &profile).unwrap();
    let seen = check_leaf(&der, &sub, sub_key, ec.public_key_spki_der(), Sm2Id::Standard);
    assert!(seen.ku.key_agreement() && seen.ku.encipher_only());
    assert!(seen.ekus.is_empty() && seen.san_critical.is_none());

    // a leaf directly under a root
    let root_key = &keys(KeyAlgorithm::Sm2)[0];
    let root = build_root_ca(
        root_key,
        &subject("R"),
        root_validity(),
        &CaProfile::default(),
        &mut os_rng(),
    )
    .unwrap();
    let der = leaf(
        &root,
        root_key,
        ec.public_key_spki_der(),
        &sans(),
        &LeafProfile::default(),
    )
    .unwrap();
    check_leaf(&der, &root, root_key, ec.public_key_spki_der(), Sm2Id::Standard);
}

#[test]
fn invalid_sans_are_named() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    for bad in [
        San::Dns("under_score.example".into()),
        San::Dns("*.com".into()),
        San::Dns("bücher.example".into()),
        San::Dns("trailing.dot.".into()),
        San::Dns(format!("{}.example", "a".repeat(64))),
        San::Email("user@@example.com".into()),
        San::Email("user@-bad.example".into()),
        San::Uri("example.com/path".into()),
        San::Uri("https://exa mple.com".into()),
        San::Other("DirName:CN=x".into()),
    ] {
        let mut list = sans();
        list.push(bad.clone());
        match leaf(&sub, sub_key, spki, &list, &LeafProfile::default()) {
            Err(Error::InvalidSan(m)) => assert!(m.contains(&bad.value()), "{m:?} should name {bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    for (parse, v) in [
        (San::parse_ip as fn(&str) -> crate::Result<San>, "300.1.1.1"),
        (San::parse_dns, "a..b"),
        (San::parse_email, "nobody"),
        (San::parse_uri, "not a uri"),
    ] {
        assert!(matches!(parse(v), Err(Error::InvalidSan(m)) if m.contains(v)));
    }
}

#[test]
fn profile_refusals() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    let custom = |ku: KeyUsageFlags| {
        LeafProfile::new(LeafKind::Custom {
            key_usage: ku,
            extended_key_usages: vec![ExtKeyUsage::ServerAuth],
        })
    };
    for ku in [
        KeyUsageFlags::empty(),
        KeyUsageFlags::KEY_CERT_SIGN | KeyUsageFlags::DIGITAL_SIGNATURE,
        KeyUsageFlags::DECIPHER_ONLY,
    ] {
        assert!(
            matches!(
                leaf(&sub, sub_key, spki, &[], &custom(ku)),
                Err(Error::InvalidExtension(_))
            ),
            "{ku:?}"
        );
    }
    let bad_uri = LeafProfile {
        ocsp_uri: Some("not a uri".into()),
        ..LeafProfile::default()
    };
    assert!(matches!(
        leaf(&sub, sub_key, spki, &[], &bad_uri),
        Err(Error::InvalidExtension(_))
    ));
    let mut bad_subject = subject("Leaf");
    bad_subject.country_code = Some("XX".into());
    assert!(matches!(
        build_leaf(
            &sub,
            sub_key,
            spki,
            &bad_subject,
            &[],
            leaf_validity(),
            &LeafProfile::default(),
            &mut os_rng()
        ),
        Err(Error::InvalidCountryCode(_))
    ));
}

#[test]
fn issuer_and_validity_refusals() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    let p = LeafProfile::default();
    let with_validity = |v: CertValidity| build_leaf(&sub, sub_key, spki, &subject("L"), &sans(), v, &p, &mut os_rng());
    let rv = root_validity();
    for v in [
        CertValidity {
            not_before: rv.not_before - 1,
            not_after: rv.not_before + YEAR,
        },
        CertValidity {
            not_before: rv.not_before,
            not_after: rv.not_after + 1,
        },
    ] {
        assert_eq!(with_validity(v), Err(Error::ValidityOutsideIssuer));
    }
    assert!(with_validity(rv).is_ok(), "exactly the issuer's validity");
    assert!(matches!(
        with_validity(CertValidity {
            not_before: rv.not_after,
            not_after: rv.not_before,
        }),
        Err(Error::InvalidValidity(_))
    ));
    // the wrong issuer key
    let other = &keys(KeyAlgorithm::EcP256)[0];
    assert_eq!(leaf(&sub, other, spki, &[], &p), Err(Error::IssuerKeyMismatch));
    // a leaf as issuer
    let ee = leaf(&sub, sub_key, other.public_key_spki_der(), &[], &p).unwrap();
    assert_eq!(leaf(&ee, other, spki, &[], &p), Err(Error::IssuerNotCa));
    // a CA:TRUE certificate whose KeyUsage lacks keyCertSign
    let name = subject("NoCertSign").to_name().unwrap();
    let no_cert_sign = {
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
                ext(true, &KeyUsageFlags::CRL_SIGN.to_x509().unwrap()).unwrap(),
            ],
        };
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(other.public_key_spki_der()).unwrap();
        let b = CertificateBuilder::new(prof, SerialNumber::from(9u32), rv.to_x509().unwrap(), spki).unwrap();
        let signer = KeySigner::new(other, Sm2Id::Standard).unwrap();
        b.build::<_, DerSignature>(&signer).unwrap().to_der().unwrap()
    };
    assert_eq!(leaf(&no_cert_sign, other, spki, &[], &p), Err(Error::IssuerNotCa));
    assert!(matches!(
        leaf(b"junk", sub_key, spki, &[], &p),
        Err(Error::MalformedCertificate(_))
    ));
    // unsupported subject keys
    let ed25519 =
        hex::decode("302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
    assert!(matches!(
        leaf(&sub, sub_key, &ed25519, &[], &p),
        Err(Error::UnsupportedKey(_))
    ));
    assert!(matches!(
        leaf(&sub, sub_key, b"junk", &[], &p),
        Err(Error::MalformedKey(_))
    ));
}
