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
    CaProfile, CertInfo, CertValidity, Criticals, DerSignature, Error, ExtKeyUsage, KeyAlgorithm, KeyFamily, KeySigner,
    KeyUsageFlags, LeafKind, LeafProfile, PrivateKey, San, Serial, Sm2Id, build_leaf, build_root_ca, build_sub_ca,
    key_identifier, os_rng, verify_certificate_signature,
};

pub(crate) fn root_validity() -> CertValidity {
    CertValidity {
        not_before: Y2026,
        not_after: Y2026 + 10 * YEAR,
    }
}

pub(crate) fn leaf_validity() -> CertValidity {
    CertValidity {
        not_before: Y2026 + 86_400,
        not_after: Y2026 + YEAR,
    }
}

pub(crate) fn sans() -> Vec<San> {
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
pub(crate) fn sub_ca(alg: KeyAlgorithm, sm2_id: Sm2Id) -> (Vec<u8>, &'static PrivateKey) {
    let [root_key, sub_key] = keys(alg);
    let mut rng = os_rng();
    let p = CaProfile {
        sm2_id,
        allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
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
                    allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
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
        ..LeafProfile::default()
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
            lint: None,
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

/// (OID, critical) of every extension, in order.
fn ext_criticality(der: &[u8]) -> Vec<(const_oid::ObjectIdentifier, bool)> {
    let cert = Certificate::from_der(der).unwrap();
    let exts = cert.tbs_certificate().extensions().unwrap();
    exts.iter().map(|e| (e.extn_id, e.critical)).collect()
}

fn tbs_der(der: &[u8]) -> Vec<u8> {
    Certificate::from_der(der).unwrap().tbs_certificate().to_der().unwrap()
}

#[test]
fn custom_subject_serial_and_criticals() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    let profile = LeafProfile {
        extra_subject_attributes: vec![
            ("2.5.4.5".into(), "SN-0001".into()),
            ("0.9.2342.19200300.100.1.1".into(), "uid-7".into()),
            ("1.3.6.1.4.1.99999.1".into(), "private, 测试".into()),
        ],
        custom_serial: Some(12345),
        criticals: Criticals::from_names(&["ExtendedKeyUsage".into(), "subjectAlternativeNames".into()]).unwrap(),
        ..LeafProfile::new(LeafKind::Custom {
            key_usage: KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::CONTENT_COMMITMENT,
            extended_key_usages: vec![ExtKeyUsage::ClientAuth, ExtKeyUsage::EmailProtection],
        })
    };
    let der = leaf(&sub, sub_key, spki, &sans(), &profile).unwrap();
    verify_certificate_signature(&der, sub_key.public_key_spki_der(), Sm2Id::Standard).unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.serial_number().as_bytes(), [0x30, 0x39]);
    // the DER INTEGER itself: 02 02 30 39
    let serial_der = tbs.serial_number().to_der().unwrap();
    assert_eq!(serial_der, [0x02, 0x02, 0x30, 0x39]);
    let info = CertInfo::parse(&der).unwrap();
    assert_eq!(info.serial_hex, "3039");
    assert_eq!(
        info.subject_dn,
        "C=CN,ST=Zhejiang,L=Hangzhou,O=opencas,OU=PKI,CN=Leaf,serialNumber=SN-0001,UID=uid-7,\
         1.3.6.1.4.1.99999.1=private\\, 测试"
    );
    let tags: Vec<der::Tag> = tbs.subject().iter().map(|a| der::Tagged::tag(&a.value)).collect();
    assert_eq!(tbs.subject().iter_rdn().count(), 9);
    assert_eq!(
        tags[6..],
        [der::Tag::PrintableString, der::Tag::Utf8String, der::Tag::Utf8String]
    );
    let crit = ext_criticality(&der);
    let find = |oid| crit.iter().find(|(o, _)| *o == oid).map(|(_, c)| *c);
    assert_eq!(find(const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE), Some(true));
    assert_eq!(find(const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME), Some(true));
    assert_eq!(find(const_oid::db::rfc5280::ID_CE_KEY_USAGE), Some(true));
    assert_eq!(find(const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS), Some(true));
    assert_eq!(find(const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER), Some(false));
    let (_, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_encipherment());
    assert_eq!(info.sans, sans());

    // minimal positive encodings at the edges
    for (n, bytes) in [
        (1u64, vec![0x01]),
        (0x80, vec![0x00, 0x80]),
        (0xff_ff, vec![0x00, 0xff, 0xff]),
        (u64::MAX, [vec![0x00], vec![0xff; 8]].concat()),
    ] {
        let p = LeafProfile {
            custom_serial: Some(n),
            serial: Some(Serial::random(&mut os_rng())),
            ..LeafProfile::default()
        };
        let der = leaf(&sub, sub_key, spki, &[], &p).unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        let enc = cert.tbs_certificate().serial_number().to_der().unwrap();
        assert_eq!(enc[2..], bytes[..], "{n}");
        assert_eq!(usize::from(enc[1]), bytes.len());
    }

    // extra attributes may carry a standard attribute the fields leave unset
    let mut bare = subject("Leaf");
    bare.country_code = None;
    bare.organization = None;
    let p = LeafProfile {
        extra_subject_attributes: vec![
            ("2.5.4.6".into(), "de".into()),
            ("2.5.4.10".into(), "Extra Org".into()),
            ("1.2.840.113549.1.9.1".into(), "ops@example.com".into()),
            ("2.5.4.3.0".into(), "x".repeat(128)),
        ],
        ..LeafProfile::default()
    };
    let der = build_leaf(&sub, sub_key, spki, &bare, &[], leaf_validity(), &p, &mut os_rng()).unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    let name = cert.tbs_certificate().subject();
    let tags: Vec<der::Tag> = name.iter().map(|a| der::Tagged::tag(&a.value)).collect();
    assert_eq!(
        tags[4..],
        [
            der::Tag::PrintableString,
            der::Tag::Utf8String,
            der::Tag::Ia5String,
            der::Tag::Utf8String
        ]
    );
    let dn = crate::dn_string(name);
    assert!(
        dn.starts_with(
            "ST=Zhejiang,L=Hangzhou,OU=PKI,CN=Leaf,C=DE,O=Extra Org,emailAddress=ops@example.com,2.5.4.3.0="
        ),
        "{dn}"
    );
}

#[test]
fn default_criticality_is_unchanged() {
    // Server / client / custom profiles: KeyUsage and BasicConstraints
    // critical, everything else not (the profile before Criticals existed).
    let (sub, sub_key) = sub_ca(KeyAlgorithm::Rsa2048, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::Rsa2048)[0].public_key_spki_der();
    let serial = Serial::random(&mut os_rng());
    let custom = LeafKind::Custom {
        key_usage: KeyUsageFlags::DIGITAL_SIGNATURE,
        extended_key_usages: vec![ExtKeyUsage::CodeSigning],
    };
    for kind in [LeafKind::Server, LeafKind::Client, custom] {
        let base = LeafProfile {
            serial: Some(serial),
            crl_distribution_point: Some("http://crl.example.com/sub.crl".into()),
            ocsp_uri: Some("http://ocsp.example.com".into()),
            ..LeafProfile::new(kind)
        };
        let der = leaf(&sub, sub_key, spki, &sans(), &base).unwrap();
        use const_oid::db::rfc5280 as o;
        assert_eq!(
            ext_criticality(&der),
            [
                (o::ID_CE_BASIC_CONSTRAINTS, true),
                (o::ID_CE_KEY_USAGE, true),
                (o::ID_CE_EXT_KEY_USAGE, false),
                (o::ID_CE_SUBJECT_KEY_IDENTIFIER, false),
                (o::ID_CE_AUTHORITY_KEY_IDENTIFIER, false),
                (o::ID_CE_SUBJECT_ALT_NAME, false),
                (o::ID_CE_CRL_DISTRIBUTION_POINTS, false),
                (o::ID_PE_AUTHORITY_INFO_ACCESS, false),
            ]
        );
        assert_eq!(base.criticals, Criticals::default());
        // naming the always-critical ones changes nothing: same TBS bytes
        let named = LeafProfile {
            criticals: Criticals::from_names(&["keyUsage".into(), "BASICCONSTRAINTS".into()]).unwrap(),
            ..base.clone()
        };
        let again = leaf(&sub, sub_key, spki, &sans(), &named).unwrap();
        assert_eq!(tbs_der(&again), tbs_der(&der));
        // RSA PKCS#1 v1.5 signatures are deterministic: the whole certificate
        assert_eq!(again, der);
        // no EKU / no SAN: the flags have nothing to mark
        let none = LeafProfile {
            kind: LeafKind::Custom {
                key_usage: KeyUsageFlags::DIGITAL_SIGNATURE,
                extended_key_usages: vec![],
            },
            criticals: Criticals::from_names(&["extendedKeyUsage".into(), "subjectAlternativeName".into()]).unwrap(),
            ..base.clone()
        };
        let der = leaf(&sub, sub_key, spki, &[], &none).unwrap();
        assert!(
            ext_criticality(&der)
                .iter()
                .all(|(o, c)| *c == (*o == o::ID_CE_BASIC_CONSTRAINTS || *o == o::ID_CE_KEY_USAGE))
        );
    }
}

#[test]
fn criticals_from_names() {
    assert_eq!(Criticals::from_names(&[]).unwrap(), Criticals::default());
    let all: Vec<String> = [
        "keyusage",
        "extendedKeyUsage",
        "SubjectAlternativeName",
        "basicConstraints",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        Criticals::from_names(&all).unwrap(),
        Criticals {
            key_usage: true,
            extended_key_usage: true,
            subject_alt_name: true,
            basic_constraints: true,
        }
    );
    assert!(
        Criticals::from_names(&["subjectAlternativeNames".into()])
            .unwrap()
            .subject_alt_name
    );
    for bad in ["nameConstraints", "", "keyUsage ", "san"] {
        assert!(
            matches!(Criticals::from_names(&[bad.into()]), Err(Error::InvalidExtension(m)) if m.contains(bad)),
            "{bad:?}"
        );
    }
}

#[test]
fn custom_refusals() {
    let (sub, sub_key) = sub_ca(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let spki = keys(KeyAlgorithm::EcP256)[0].public_key_spki_der();
    let with_attr = |oid: &str, v: &str| {
        let p = LeafProfile {
            extra_subject_attributes: vec![("2.5.4.5".into(), "ok".into()), (oid.into(), v.into())],
            ..LeafProfile::default()
        };
        leaf(&sub, sub_key, spki, &[], &p)
    };
    assert!(with_attr("1.3.6.1.4.1.99999.1", &"v".repeat(128)).is_ok());
    for (oid, v, why) in [
        ("abc", "x", "dotted OID"),
        ("", "x", "dotted OID"),
        ("2.5.4.", "x", "dotted OID"),
        ("2.5..4", "x", "dotted OID"),
        ("1", "x", "dotted OID"),
        ("2.5.4.x", "x", "dotted OID"),
        (" 2.5.4.3", "x", "dotted OID"),
        ("2.5.4.3", "dup", "duplicates"),
        ("2.5.4.10", "dup", "duplicates"),
        ("2.5.4.11", "dup", "duplicates"),
        ("2.5.4.7", "dup", "duplicates"),
        ("2.5.4.8", "dup", "duplicates"),
        ("2.5.4.6", "DE", "duplicates"),
        ("1.3.6.1.4.1.99999.1", &"v".repeat(129), "128"),
        ("1.3.6.1.4.1.99999.1", "", "empty"),
        ("1.3.6.1.4.1.99999.1", "  ", "blank"),
        ("1.3.6.1.4.1.99999.1", "a\tb", "control"),
        ("1.3.6.1.4.1.99999.1", "a\u{7f}", "control"),
        ("2.5.4.5", "under_score", "PrintableString"),
        ("2.5.4.5", &"1".repeat(65), "64"),
        ("1.2.840.113549.1.9.1", "用户@example.com", "IA5String"),
    ] {
        match with_attr(oid, v) {
            Err(Error::InvalidSubject(m)) => assert!(m.contains(why), "{oid:?}={v:?}: {m}"),
            other => panic!("{oid:?}={v:?}: {other:?}"),
        }
    }
    let mut no_country = subject("Leaf");
    no_country.country_code = None;
    let p = LeafProfile {
        extra_subject_attributes: vec![("2.5.4.6".into(), "XX".into())],
        ..LeafProfile::default()
    };
    assert_eq!(
        build_leaf(
            &sub,
            sub_key,
            spki,
            &no_country,
            &[],
            leaf_validity(),
            &p,
            &mut os_rng()
        ),
        Err(Error::InvalidCountryCode("XX".into()))
    );
    let zero = LeafProfile {
        custom_serial: Some(0),
        ..LeafProfile::default()
    };
    assert!(matches!(
        leaf(&sub, sub_key, spki, &[], &zero),
        Err(Error::InvalidSerial(_))
    ));
    assert!(matches!(
        Criticals::from_names(&["keyUsage".into(), "crlNumber".into()]),
        Err(Error::InvalidExtension(_))
    ));
    assert!(matches!(
        San::from_type_name("otherName", "x"),
        Err(Error::InvalidSan(_))
    ));
}
