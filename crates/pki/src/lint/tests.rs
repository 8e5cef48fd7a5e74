//! One test per lint: a baseline TBS that passes, then one offending change
//! at a time, each refused with a message naming the lint. Last, every
//! profile the crate builds passes, and a lint failure through the public
//! builders refuses to sign.

use der::Decode;
use der::asn1::{Ia5String, OctetString};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::name::Name;

use super::{Expect, LintContext, TbsParts, lint_tbs};
use crate::issue::{eku_extension, ext, key_id_extensions, key_identifier, location_extensions};
use crate::san::{San, general_names};
use crate::test_support::{Y2026, YEAR, ca_chain, keys, subject};
use crate::usage::{ExtKeyUsage, KeyUsageFlags};
use crate::{
    CaProfile, CertValidity, Error, KeyAlgorithm, LeafKind, LeafProfile, Serial, Sm2Id, build_leaf,
    build_ocsp_signer_cert, build_root_ca, build_sub_ca, os_rng,
};

const ISSUER_KEY_ID: [u8; 20] = [7; 20];

/// A server certificate's parts for `alg`, as leaf.rs would build them.
struct Fixture {
    serial: Vec<u8>,
    not_before: i64,
    not_after: i64,
    subject: Name,
    spki_der: Vec<u8>,
    extensions: Vec<Extension>,
    ctx: LintContext,
}

fn bc(ca: bool, critical: bool) -> Extension {
    ext(
        critical,
        &BasicConstraints {
            ca,
            path_len_constraint: None,
        },
    )
    .unwrap()
}

fn ku(flags: KeyUsageFlags, critical: bool) -> Extension {
    ext(critical, &flags.to_x509().unwrap()).unwrap()
}

fn san(names: Vec<GeneralName>) -> Extension {
    ext(false, &SubjectAltName(names)).unwrap()
}

fn server(alg: KeyAlgorithm) -> Fixture {
    let spki_der = keys(alg)[0].public_key_spki_der().to_vec();
    let mut flags = KeyUsageFlags::DIGITAL_SIGNATURE;
    if alg.family() == crate::KeyFamily::Rsa {
        flags |= KeyUsageFlags::KEY_ENCIPHERMENT;
    }
    let mut extensions = vec![bc(false, true), ku(flags, true)];
    extensions.extend(eku_extension(&[ExtKeyUsage::ServerAuth]).unwrap());
    extensions.extend(key_id_extensions(key_identifier(&spki_der).unwrap(), ISSUER_KEY_ID.to_vec()).unwrap());
    extensions.push(san(general_names(&[
        San::parse_dns("www.example.com").unwrap(),
        San::parse_dns("*.example.com").unwrap(),
        San::parse_ip("192.0.2.1").unwrap(),
    ])
    .unwrap()));
    extensions.extend(
        location_extensions(
            Some("http://pki.example/crl"),
            Some("http://pki.example/ocsp"),
            Some("http://pki.example/ca.crt"),
        )
        .unwrap(),
    );
    Fixture {
        serial: Serial::random(&mut os_rng()).as_bytes().to_vec(),
        not_before: Y2026 + 10,
        not_after: Y2026 + YEAR,
        subject: subject("www.example.com").to_name().unwrap(),
        spki_der,
        extensions,
        ctx: LintContext {
            expect: Expect::Server,
            issuer_validity: Some((Y2026, Y2026 + 10 * YEAR)),
            issuer_key_id: ISSUER_KEY_ID.to_vec(),
            allow_rsa_1024: false,
            requested_serial: false,
        },
    }
}

impl Fixture {
    fn lint(&self) -> Result<(), String> {
        let parts = TbsParts {
            serial: &self.serial,
            not_before: self.not_before,
            not_after: self.not_after,
            subject: &self.subject,
            spki: SubjectPublicKeyInfoRef::from_der(&self.spki_der).unwrap(),
            extensions: &self.extensions,
        };
        lint_tbs(&parts, &self.ctx).map_err(|e| match e {
            Error::LintFailed(m) => m,
            other => panic!("not a lint failure: {other}"),
        })
    }

    /// Asserts the lints refuse with a message containing `needle`.
    fn refused(&self, needle: &str) {
        let m = self.lint().expect_err("the lints passed an offending certificate");
        assert!(m.contains(needle), "expected {needle:?} in {m:?}");
    }

    fn replace(&mut self, e: Extension) {
        let i = self.extensions.iter().position(|x| x.extn_id == e.extn_id).unwrap();
        self.extensions[i] = e;
    }

    fn remove(&mut self, oid: const_oid::ObjectIdentifier) {
        self.extensions.retain(|x| x.extn_id != oid);
    }
}

use const_oid::AssociatedOid;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};

#[test]
fn the_baseline_passes() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256, KeyAlgorithm::Sm2] {
        server(alg).lint().unwrap();
    }
}

#[test]
fn validity_reversed() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.not_before = f.not_after + 1;
    f.refused("notBefore is after notAfter");
}

#[test]
fn validity_outside_the_issuer() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.not_after = Y2026 + 11 * YEAR;
    f.refused("outside the issuer's validity");
    let mut f = server(KeyAlgorithm::EcP256);
    f.not_before = Y2026 - 1;
    f.refused("outside the issuer's validity");
}

#[test]
fn rsa_1024_only_when_asked_for() {
    let mut f = server(KeyAlgorithm::Rsa1024);
    f.refused("RSA-1024");
    f.ctx.allow_rsa_1024 = true;
    f.lint().unwrap();
}

#[test]
fn keys_outside_the_allowed_curves() {
    // secp256k1 (SEC1 compressed point of the generator)
    let k256 = hex::decode(
        "3036301006072a8648ce3d020106052b8104000a0322000279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    )
    .unwrap();
    let mut f = server(KeyAlgorithm::EcP256);
    f.spki_der = k256;
    f.refused("key:");
}

#[test]
fn san_syntax() {
    let dns = |s: &str| GeneralName::DnsName(Ia5String::new(s).unwrap());
    let bad = [
        (dns("a.*.example.com"), "dNSName"),
        (dns("*.com"), "wildcard"),
        (dns("-a.example.com"), "'-'"),
        (dns("a..example.com"), "empty"),
        (dns("under_score.example.com"), "characters"),
        (dns(&format!("{}.com", "a".repeat(64))), "63"),
        (dns("example.123"), "all-numeric"),
        (GeneralName::IpAddress(OctetString::new([1, 2, 3]).unwrap()), "3 octets"),
        (
            GeneralName::Rfc822Name(Ia5String::new("no-at-sign").unwrap()),
            "rfc822Name",
        ),
        (
            GeneralName::Rfc822Name(Ia5String::new("a@*.example.com").unwrap()),
            "wildcard",
        ),
        (
            GeneralName::UniformResourceIdentifier(Ia5String::new("no scheme").unwrap()),
            "URI",
        ),
        (
            GeneralName::UniformResourceIdentifier(Ia5String::new("1http://x").unwrap()),
            "scheme",
        ),
    ];
    for (g, needle) in bad {
        let mut f = server(KeyAlgorithm::EcP256);
        f.replace(san(vec![g]));
        f.refused(needle);
    }
}

#[test]
fn san_extension_empty() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.replace(san(Vec::new()));
    f.refused("subjectAltName: empty");
}

#[test]
fn san_with_an_empty_subject_must_be_critical() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.subject = Name::default();
    f.refused("not critical with an empty subject");
    f.remove(SubjectAltName::OID);
    f.refused("missing with an empty subject");
}

#[test]
fn duplicate_extensions() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.extensions.push(f.extensions[0].clone());
    f.refused("appears more than once");
}

#[test]
fn basic_constraints_critical_and_ca() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.replace(bc(false, false));
    f.refused("basicConstraints: not critical");
    f.replace(bc(true, true));
    f.refused("cA is true, the profile wants false");
    f.remove(BasicConstraints::OID);
    f.refused("basicConstraints: missing");
}

#[test]
fn key_usage_critical_and_present() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.replace(ku(KeyUsageFlags::DIGITAL_SIGNATURE, false));
    f.refused("keyUsage: not critical");
    f.remove(KeyUsage::OID);
    f.refused("keyUsage: missing");
}

#[test]
fn other_extensions_must_not_be_critical() {
    let mut f = server(KeyAlgorithm::EcP256);
    let i = f
        .extensions
        .iter()
        .position(|x| x.extn_id == SubjectKeyIdentifier::OID)
        .unwrap();
    f.extensions[i].critical = true;
    f.refused("must not be critical");
}

#[test]
fn serial_form() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.serial[0] = 0x80;
    f.refused("serial: negative");
    f.serial = vec![0x7f; 21];
    f.refused("more than 20");
    f.serial = vec![0];
    f.ctx.requested_serial = true;
    f.refused("serial: zero");
}

#[test]
fn serial_entropy() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.serial = vec![0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    f.refused("fewer than the 9");
    // a zero high half (as a 16-byte buffer whose RNG wrote only the tail)
    let mut s = vec![0x01, 0, 0, 0, 0, 0, 0, 0];
    s.extend_from_slice(&[0x5a, 0x11, 0x29, 0x33, 0x44, 0x55, 0x66, 0x77]);
    f.serial = s;
    f.refused("one repeated byte");
    let mut s = vec![0x4e, 0x21, 0x77, 0x90, 0x13, 0x05, 0x6c, 0x2f];
    s.extend_from_slice(&[0; 8]);
    f.serial = s;
    f.refused("one repeated byte");
    // an exact serial the requester chose carries no entropy by design
    f.serial = vec![0x05];
    f.ctx.requested_serial = true;
    f.lint().unwrap();
}

#[test]
fn aki_must_match_the_issuer() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.ctx.issuer_key_id = vec![8; 20];
    f.refused("authorityKeyIdentifier: does not match");
    f.remove(AuthorityKeyIdentifier::OID);
    f.refused("authorityKeyIdentifier: missing");
}

#[test]
fn ski_must_be_the_key_hash() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.spki_der = keys(KeyAlgorithm::EcP256)[1].public_key_spki_der().to_vec();
    f.refused("subjectKeyIdentifier: not the SHA-1");
}

#[test]
fn eku_and_ku_fit_the_profile() {
    let mut f = server(KeyAlgorithm::EcP256);
    f.replace(eku_extension(&[ExtKeyUsage::ClientAuth]).unwrap().unwrap());
    f.refused("extendedKeyUsage");
    f.remove(ExtendedKeyUsage::OID);
    f.refused("extendedKeyUsage");

    let mut f = server(KeyAlgorithm::EcP256);
    f.replace(ku(
        KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::KEY_ENCIPHERMENT,
        true,
    ));
    f.refused("encipherment with an EC key");

    let mut f = server(KeyAlgorithm::Rsa2048);
    f.replace(ku(
        KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::KEY_CERT_SIGN,
        true,
    ));
    f.refused("keyCertSign or cRLSign on an end-entity");

    let mut f = server(KeyAlgorithm::Rsa2048);
    f.ctx.expect = Expect::Client;
    f.refused("the profile wants [\"clientAuth\"]");

    let mut f = server(KeyAlgorithm::Rsa2048);
    f.ctx.expect = Expect::Custom {
        key_usage: KeyUsageFlags::DIGITAL_SIGNATURE,
        extended_key_usages: vec![ExtKeyUsage::ServerAuth],
    };
    f.refused("the profile asked for");

    let mut f = server(KeyAlgorithm::Rsa2048);
    f.ctx.expect = Expect::Ca;
    f.refused("a CA certificate without keyCertSign");
}

#[test]
fn every_profile_passes() {
    let mut rng = os_rng();
    for alg in KeyAlgorithm::ALL {
        let (root, sub) = ca_chain(alg, Sm2Id::Standard);
        let [root_key, sub_key] = keys(alg);
        let _ = root_key;
        let validity = CertValidity {
            not_before: Y2026 + 1,
            not_after: Y2026 + YEAR,
        };
        let leaf_key = keys(alg)[1].public_key_spki_der();
        let sans = [
            San::parse_dns("a.example.com").unwrap(),
            San::parse_email("a@example.com").unwrap(),
        ];
        let kinds = [
            LeafKind::Server,
            LeafKind::Client,
            LeafKind::Custom {
                key_usage: KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::NON_REPUDIATION,
                extended_key_usages: vec![ExtKeyUsage::CodeSigning, ExtKeyUsage::EmailProtection],
            },
        ];
        for kind in kinds {
            let profile = LeafProfile {
                allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
                ..LeafProfile::new(kind.clone())
            };
            build_leaf(
                &sub,
                sub_key,
                leaf_key,
                &subject("leaf"),
                &sans,
                validity,
                &profile,
                &mut rng,
            )
            .unwrap_or_else(|e| panic!("{alg:?} {kind:?}: {e}"));
        }
        let custom_serial = LeafProfile {
            custom_serial: Some(42),
            allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
            ..LeafProfile::new(LeafKind::Server)
        };
        build_leaf(
            &sub,
            sub_key,
            leaf_key,
            &subject("n"),
            &sans,
            validity,
            &custom_serial,
            &mut rng,
        )
        .unwrap();
        if alg != KeyAlgorithm::Rsa1024 {
            build_ocsp_signer_cert(
                &root,
                root_key,
                leaf_key,
                &subject("ocsp"),
                validity,
                None,
                Sm2Id::Standard,
                &mut rng,
            )
            .unwrap_or_else(|e| panic!("{alg:?} OCSP signer: {e}"));
        }
    }
}

#[test]
fn a_lint_failure_signs_nothing() {
    let mut rng = os_rng();
    let (_, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let sub_key = &keys(KeyAlgorithm::EcP256)[1];
    let validity = CertValidity {
        not_before: Y2026 + 1,
        not_after: Y2026 + YEAR,
    };
    let rsa1024 = keys(KeyAlgorithm::Rsa1024)[0].public_key_spki_der();
    let r = build_leaf(
        &sub,
        sub_key,
        rsa1024,
        &subject("x"),
        &[],
        validity,
        &LeafProfile::default(),
        &mut rng,
    );
    assert!(
        matches!(&r, Err(Error::LintFailed(m)) if m.contains("RSA-1024")),
        "{r:?}"
    );

    // A serial whose low half is zero, as from an RNG that filled only half the buffer.
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&[0x3c, 0x91, 0x07, 0xee, 0x52, 0x18, 0xa4, 0x6d]);
    let profile = CaProfile {
        serial: Some(Serial::from_bytes(b).unwrap()),
        ..Default::default()
    };
    let root_key = &keys(KeyAlgorithm::EcP256)[0];
    let v = CertValidity {
        not_before: Y2026,
        not_after: Y2026 + YEAR,
    };
    let r = build_root_ca(root_key, &subject("R"), v, &profile, &mut rng);
    assert!(matches!(&r, Err(Error::LintFailed(m)) if m.contains("serial")), "{r:?}");
    let r = build_sub_ca(
        &sub,
        sub_key,
        rsa1024,
        &subject("S"),
        validity,
        &CaProfile::default(),
        &mut rng,
    );
    assert!(
        matches!(&r, Err(Error::LintFailed(m)) if m.contains("RSA-1024")),
        "{r:?}"
    );
}
