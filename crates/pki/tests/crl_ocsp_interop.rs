//! CRLs and OCSP against the `openssl` command line (skipped when it is
//! absent): root → sub → leaf chains built here, CRLs signed by the sub CA and
//! the root checked with `openssl crl -verify` and `openssl verify
//! -crl_check[_all]`, OCSP requests made by `openssl ocsp` answered here and
//! checked by `openssl ocsp -respin`.

use std::path::{Path, PathBuf};

use opencas_pki::{
    CaProfile, CertInfo, CertValidity, KeyAlgorithm, LeafProfile, PrivateKey, RevocationReason, RevokedEntry, Sm2Id,
    SubjectFields, build_crl, build_leaf, build_root_ca, build_sub_ca, os_rng, parse_crl, pem,
};

mod support;
use support::{have_openssl, now, openssl};

#[path = "crl_ocsp_interop/ocsp.rs"]
mod ocsp;

fn subject(cn: &str) -> SubjectFields {
    SubjectFields {
        common_name: cn.into(),
        organization: Some("opencas".into()),
        country_code: Some("CN".into()),
        ..Default::default()
    }
}

/// A root → sub → two leaves hierarchy written to `dir` as root.pem, sub.pem,
/// chain.pem (sub + root), revoked.pem and good.pem.
struct Pki {
    dir: PathBuf,
    alg: KeyAlgorithm,
    sm2_id: Sm2Id,
    root: Vec<u8>,
    root_key: PrivateKey,
    sub: Vec<u8>,
    sub_key: PrivateKey,
    revoked: Vec<u8>,
    good: Vec<u8>,
}

impl Pki {
    fn new(base: &Path, alg: KeyAlgorithm, sm2_id: Sm2Id) -> Self {
        let dir = base.join(format!("{}-{sm2_id:?}", alg.as_api()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut rng = os_rng();
        let root_key = PrivateKey::generate(alg, &mut rng).unwrap();
        let sub_key = PrivateKey::generate(alg, &mut rng).unwrap();
        let t = now() - 3600;
        let validity = |years: i64| CertValidity {
            not_before: t,
            not_after: t + years * 365 * 86_400,
        };
        let profile = CaProfile {
            sm2_id,
            ..Default::default()
        };
        let root = build_root_ca(&root_key, &subject("Root"), validity(20), &profile, &mut rng).unwrap();
        let sub = build_sub_ca(
            &root,
            &root_key,
            sub_key.public_key_spki_der(),
            &subject("Sub"),
            validity(10),
            &profile,
            &mut rng,
        )
        .unwrap();
        let leaf_profile = LeafProfile {
            sm2_id,
            ..LeafProfile::default()
        };
        let leaf = |cn: &str, rng: &mut _| {
            let k = PrivateKey::generate(KeyAlgorithm::EcP256, rng).unwrap();
            build_leaf(
                &sub,
                &sub_key,
                k.public_key_spki_der(),
                &subject(cn),
                &[],
                validity(1),
                &leaf_profile,
                rng,
            )
            .unwrap()
        };
        let revoked = leaf("revoked.example.com", &mut rng);
        let good = leaf("good.example.com", &mut rng);
        let w = |name: &str, data: String| std::fs::write(dir.join(name), data).unwrap();
        w("root.pem", pem::cert_der_to_pem(&root));
        w("sub.pem", pem::cert_der_to_pem(&sub));
        w("chain.pem", pem::pem_chain([&sub, &root]));
        w("revoked.pem", pem::cert_der_to_pem(&revoked));
        w("good.pem", pem::cert_der_to_pem(&good));
        Pki {
            dir,
            alg,
            sm2_id,
            root,
            root_key,
            sub,
            sub_key,
            revoked,
            good,
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        openssl(&self.dir, args)
    }

    /// Writes `name`.der and `name`.pem.
    fn write_crl(&self, name: &str, der: &[u8]) {
        std::fs::write(self.dir.join(format!("{name}.der")), der).unwrap();
        std::fs::write(self.dir.join(format!("{name}.pem")), pem::encode("X509 CRL", der)).unwrap();
    }
}

fn serial_of(cert: &[u8]) -> String {
    CertInfo::parse(cert).unwrap().serial_hex
}

/// The sub CA's CRL revoking the `revoked` leaf (keyCompromise) and one
/// unrelated serial without a reason.
fn sub_crl(p: &Pki) -> Vec<u8> {
    let t = now();
    let entries = [
        RevokedEntry::from_hex(&serial_of(&p.revoked), t - 60, Some(RevocationReason::KeyCompromise)).unwrap(),
        RevokedEntry {
            serial: vec![0x7e; 16],
            revocation_time: t - 120,
            reason: None,
        },
    ];
    build_crl(&p.sub, &p.sub_key, &entries, 3, t - 60, t + 86_400, p.sm2_id).unwrap()
}

fn check_crls(p: &Pki) {
    let alg = p.alg;
    let crl = sub_crl(p);
    p.write_crl("sub_crl", &crl);
    let info = parse_crl(&crl).unwrap();
    assert_eq!(info.entries.len(), 2);

    // The signature (T7: check the text, not the exit code).
    let (_, out) = p.run(&[
        "crl",
        "-in",
        "sub_crl.der",
        "-inform",
        "DER",
        "-CAfile",
        "chain.pem",
        "-noout",
        "-verify",
    ]);
    assert!(out.contains("verify OK"), "{alg:?}: {out}");

    // The text: v2, reason code, CRL number, AKI = the sub CA's SKI.
    let (ok, text) = p.run(&["crl", "-in", "sub_crl.der", "-inform", "DER", "-noout", "-text"]);
    assert!(ok, "{text}");
    let revoked_serial = serial_of(&p.revoked).to_uppercase();
    let sub_ski = CertInfo::parse(&p.sub).unwrap().ski_hex.unwrap();
    let ski_colons = sub_ski
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    for needle in [
        "Version 2 (0x1)",
        "X509v3 CRL Number:",
        "X509v3 Authority Key Identifier:",
        ski_colons.as_str(),
        "X509v3 CRL Reason Code:",
        "Key Compromise",
        revoked_serial.as_str(),
        "7E7E7E7E7E7E7E7E7E7E7E7E7E7E7E7E",
    ] {
        assert!(text.contains(needle), "{alg:?}: missing {needle:?} in\n{text}");
    }
    assert_eq!(text.matches("X509v3 CRL Reason Code").count(), 1, "{text}");

    // Revocation checking of the leaves.
    let verify = |crl_file: &str, flag: &str, leaf: &str| {
        p.run(&[
            "verify",
            flag,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "sub.pem",
            "-CRLfile",
            crl_file,
            leaf,
        ])
    };
    let (ok, out) = verify("sub_crl.pem", "-crl_check", "revoked.pem");
    assert!(!ok && out.contains("certificate revoked"), "{alg:?}: {out}");
    let (ok, out) = verify("sub_crl.pem", "-crl_check", "good.pem");
    assert!(ok && out.contains("good.pem: OK"), "{alg:?}: {out}");

    // -crl_check_all needs the root's CRL too: first an empty one, then one
    // revoking the sub CA.
    let t = now();
    let root_crl = build_crl(&p.root, &p.root_key, &[], 1, t - 60, t + 86_400, p.sm2_id).unwrap();
    p.write_crl("root_crl", &root_crl);
    let both = format!(
        "{}{}",
        pem::encode("X509 CRL", &root_crl),
        pem::encode("X509 CRL", &crl)
    );
    std::fs::write(p.dir.join("both.pem"), both).unwrap();
    let (ok, out) = verify("both.pem", "-crl_check_all", "good.pem");
    assert!(ok && out.contains("good.pem: OK"), "{alg:?}: {out}");
    let (ok, out) = verify("both.pem", "-crl_check_all", "revoked.pem");
    assert!(!ok && out.contains("certificate revoked"), "{alg:?}: {out}");
    let (ok, out) = verify("sub_crl.pem", "-crl_check_all", "good.pem");
    assert!(!ok && out.contains("unable to get certificate CRL"), "{alg:?}: {out}");

    let sub_revoked =
        [RevokedEntry::from_hex(&serial_of(&p.sub), t - 60, Some(RevocationReason::CaCompromise)).unwrap()];
    let root_crl = build_crl(&p.root, &p.root_key, &sub_revoked, 2, t - 60, t + 86_400, p.sm2_id).unwrap();
    let both = format!(
        "{}{}",
        pem::encode("X509 CRL", &root_crl),
        pem::encode("X509 CRL", &crl)
    );
    std::fs::write(p.dir.join("both.pem"), both).unwrap();
    let (ok, out) = verify("both.pem", "-crl_check_all", "good.pem");
    assert!(
        !ok && out.contains("certificate revoked") && out.contains("at 1 depth"),
        "{alg:?}: {out}"
    );
    eprintln!("{}: CRL checks OK", alg.as_api());
}

#[test]
fn crls_verify_with_openssl() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256, KeyAlgorithm::EcP384] {
        check_crls(&Pki::new(tmp.path(), alg, Sm2Id::Standard));
    }
}

#[test]
fn sm2_crls_with_openssl() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The empty ID throughout: OpenSSL verifies chains and CRLs plainly.
    let p = Pki::new(tmp.path(), KeyAlgorithm::Sm2, Sm2Id::Empty);
    check_crls(&p);

    // The standard ID: `openssl crl` has no distid option, so it cannot verify
    // such a CRL (research §5); shown here, not required.
    let p = Pki::new(tmp.path(), KeyAlgorithm::Sm2, Sm2Id::Standard);
    p.write_crl("sub_crl", &sub_crl(&p));
    let (_, out) = p.run(&[
        "crl",
        "-in",
        "sub_crl.der",
        "-inform",
        "DER",
        "-CAfile",
        "chain.pem",
        "-noout",
        "-verify",
    ]);
    eprintln!(
        "SM2 CRL signed with the standard ID, `openssl crl -verify`: {}",
        out.lines().next().unwrap_or_default()
    );
}
