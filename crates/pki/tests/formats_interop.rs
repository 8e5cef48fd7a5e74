//! Key store interop: PKCS#12 files read by `openssl pkcs12` (and `keytool`), JKS files read by `keytool`
//! (and converted to PKCS#12 by `keytool -importkeystore`). Each tool's checks are skipped with a message when
//! the tool is absent.

use std::path::Path;
use std::process::Command;

use opencas_pki::{
    CaProfile, CertValidity, KeyAlgorithm, LeafProfile, PrivateKey, San, SubjectFields, build_leaf, build_root_ca,
    build_sub_ca, os_rng, pem, pkcs12_read, to_jks, to_pkcs12,
};

const PW: &str = "p12 Pass-word!";

/// Runs `program` in `dir`; returns (success, stdout + stderr).
fn run(program: &str, dir: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new(program).args(args).current_dir(dir).output().unwrap();
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

fn have(program: &str, version_arg: &str) -> bool {
    match Command::new(program).arg(version_arg).output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIPPED: `{program}` not found on PATH");
            false
        }
    }
}

fn subject(cn: &str) -> SubjectFields {
    SubjectFields {
        common_name: cn.into(),
        organization: Some("opencas 测试".into()),
        organizational_unit: Some("PKI".into()),
        locality: Some("Hangzhou".into()),
        state: Some("Zhejiang".into()),
        country_code: Some("CN".into()),
    }
}

/// Root → sub → leaf for `alg`: (leaf, [sub, root], leaf key).
fn chain(alg: KeyAlgorithm) -> (Vec<u8>, Vec<Vec<u8>>, PrivateKey) {
    let mut rng = os_rng();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 60;
    let validity = CertValidity {
        not_before: t,
        not_after: t + 5 * 365 * 86_400,
    };
    let root_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let sub_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let leaf_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let root_profile = CaProfile {
        path_len: Some(1),
        ..Default::default()
    };
    let root = build_root_ca(&root_key, &subject("Root"), validity, &root_profile, &mut rng).unwrap();
    let sub_profile = CaProfile {
        path_len: Some(0),
        ..Default::default()
    };
    let sub = build_sub_ca(
        &root,
        &root_key,
        sub_key.public_key_spki_der(),
        &subject("Sub"),
        validity,
        &sub_profile,
        &mut rng,
    )
    .unwrap();
    let leaf = build_leaf(
        &sub,
        &sub_key,
        leaf_key.public_key_spki_der(),
        &subject("www.example.com"),
        &[San::parse_dns("www.example.com").unwrap()],
        CertValidity {
            not_before: t,
            not_after: t + 365 * 86_400,
        },
        &LeafProfile::default(),
        &mut rng,
    )
    .unwrap();
    (leaf, vec![sub, root], leaf_key)
}

/// `openssl pkcs12` reads `file` (made for the leaf in `leaf.pem`): key + 3 certificates, AES-256 / PBKDF2,
/// the key matches the leaf; a wrong password fails.
fn check_p12_with_openssl(dir: &Path, file: &str, label: &str) {
    let pass = format!("pass:{PW}");
    let (ok, out) = run(
        "openssl",
        dir,
        &["pkcs12", "-in", file, "-passin", &pass, "-nodes", "-info"],
    );
    assert!(ok, "{label}: {out}");
    assert_eq!(out.matches("-----BEGIN CERTIFICATE-----").count(), 3, "{label}: {out}");
    assert_eq!(out.matches("-----BEGIN PRIVATE KEY-----").count(), 1, "{label}: {out}");
    assert!(out.contains("AES-256-CBC"), "{label}: {out}");
    assert!(out.contains("PBKDF2"), "{label}: {out}");
    assert!(!out.contains("legacy"), "{label}: {out}");

    let (ok, out) = run(
        "openssl",
        dir,
        &["pkcs12", "-in", file, "-passin", "pass:wrong", "-nodes", "-info"],
    );
    assert!(!ok, "{label}: wrong password accepted: {out}");
    assert!(out.contains("Mac verify error"), "{label}: {out}");

    // the extracted key is the leaf's
    let key_out = format!("{file}.key.pem");
    let (ok, out) = run(
        "openssl",
        dir,
        &[
            "pkcs12", "-in", file, "-passin", &pass, "-nodes", "-nocerts", "-out", &key_out,
        ],
    );
    assert!(ok, "{label}: {out}");
    let (ok, from_key) = run("openssl", dir, &["pkey", "-in", &key_out, "-pubout"]);
    assert!(ok, "{label}: {from_key}");
    let (ok, from_cert) = run("openssl", dir, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
    assert!(ok, "{label}: {from_cert}");
    assert_eq!(from_key, from_cert, "{label}: key does not match the leaf");
    // and this crate loads it back
    let text = std::fs::read_to_string(dir.join(&key_out)).unwrap();
    PrivateKey::from_pem(&text).unwrap_or_else(|e| panic!("{label}: {e}"));
}

#[test]
fn pkcs12_with_openssl() {
    if !have("openssl", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256, KeyAlgorithm::Sm2] {
        let dir = tmp.path().join(alg.as_api());
        std::fs::create_dir_all(&dir).unwrap();
        let (leaf, ca, key) = chain(alg);
        std::fs::write(dir.join("leaf.pem"), pem::cert_der_to_pem(&leaf)).unwrap();
        let pfx = to_pkcs12(&leaf, &ca, Some(&key), "www.example.com", PW).unwrap();
        std::fs::write(dir.join("f.p12"), &pfx).unwrap();
        check_p12_with_openssl(&dir, "f.p12", alg.as_api());
        let (ok, out) = run(
            "openssl",
            &dir,
            &[
                "pkcs12",
                "-in",
                "f.p12",
                "-passin",
                &format!("pass:{PW}"),
                "-nocerts",
                "-nodes",
            ],
        );
        assert!(ok && out.contains("friendlyName: www.example.com"), "{alg:?}: {out}");

        // OpenSSL-made PFX files (OpenSSL 3 defaults, and the old 3DES / SHA-1 MAC form) are read back by
        // pkcs12_read, chain in order
        std::fs::write(dir.join("ca.pem"), pem::pem_chain(&ca)).unwrap();
        std::fs::write(dir.join("leaf.key"), key.to_pkcs8_pem().as_bytes()).unwrap();
        let legacy = [
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ];
        for extra in [&[][..], &legacy[..]] {
            let mut args = vec![
                "pkcs12",
                "-export",
                "-in",
                "leaf.pem",
                "-inkey",
                "leaf.key",
                "-certfile",
                "ca.pem",
                "-passout",
                "pass:ossl pw",
                "-out",
                "ossl.p12",
            ];
            args.extend_from_slice(extra);
            let (ok, out) = run("openssl", &dir, &args);
            assert!(ok, "{alg:?} {extra:?}: {out}");
            let (certs, back) = pkcs12_read(&std::fs::read(dir.join("ossl.p12")).unwrap(), "ossl pw").unwrap();
            assert_eq!(
                certs,
                vec![leaf.clone(), ca[0].clone(), ca[1].clone()],
                "{alg:?} {extra:?}"
            );
            assert_eq!(*back.unwrap().to_pkcs8_der(), *key.to_pkcs8_der(), "{alg:?} {extra:?}");
        }
        eprintln!("{}: openssl pkcs12 OK", alg.as_api());
    }
}

#[test]
fn jks_and_pkcs12_with_keytool() {
    if !have("keytool", "-help") {
        return;
    }
    let have_openssl = have("openssl", "version");
    let tmp = tempfile::tempdir().unwrap();
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
        let label = alg.as_api();
        let dir = tmp.path().join(label);
        std::fs::create_dir_all(&dir).unwrap();
        let (leaf, ca, key) = chain(alg);
        std::fs::write(dir.join("leaf.pem"), pem::cert_der_to_pem(&leaf)).unwrap();
        std::fs::write(dir.join("f.jks"), to_jks(&leaf, &ca, Some(&key), "Server", PW).unwrap()).unwrap();

        let list = |file: &str, storetype: &str, pass: &str| {
            run(
                "keytool",
                &dir,
                &[
                    "-list",
                    "-v",
                    "-keystore",
                    file,
                    "-storepass",
                    pass,
                    "-storetype",
                    storetype,
                ],
            )
        };
        let (ok, out) = list("f.jks", "JKS", PW);
        assert!(ok, "{label}: {out}");
        assert!(out.contains("Your keystore contains 1 entry"), "{label}: {out}");
        assert!(out.contains("Alias name: server"), "{label}: {out}");
        assert!(out.contains("Entry type: PrivateKeyEntry"), "{label}: {out}");
        assert!(out.contains("Certificate chain length: 3"), "{label}: {out}");
        let (ok, out) = list("f.jks", "JKS", "wrong-password");
        assert!(!ok, "{label}: wrong password accepted: {out}");
        assert!(out.contains("password was incorrect"), "{label}: {out}");

        // keytool decrypts the key: JKS → PKCS12 conversion
        let (ok, out) = run(
            "keytool",
            &dir,
            &[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                "f.jks",
                "-srcstoretype",
                "JKS",
                "-srcstorepass",
                PW,
                "-destkeystore",
                "converted.p12",
                "-deststoretype",
                "PKCS12",
                "-deststorepass",
                PW,
            ],
        );
        assert!(ok && out.contains("1 entries successfully imported"), "{label}: {out}");
        let (ok, out) = list("converted.p12", "PKCS12", PW);
        assert!(ok && out.contains("Certificate chain length: 3"), "{label}: {out}");
        if have_openssl {
            check_p12_with_openssl(&dir, "converted.p12", &format!("{label} (keytool-converted)"));
        }
        let (_, back) = pkcs12_read(&std::fs::read(dir.join("converted.p12")).unwrap(), PW).unwrap();
        assert_eq!(
            back.unwrap().public_key_spki_der(),
            key.public_key_spki_der(),
            "{label}"
        );

        // a trust store
        std::fs::write(dir.join("trust.jks"), to_jks(&leaf, &ca, None, "Trust", PW).unwrap()).unwrap();
        let (ok, out) = list("trust.jks", "JKS", PW);
        assert!(ok, "{label}: {out}");
        assert_eq!(out.matches("Entry type: trustedCertEntry").count(), 3, "{label}: {out}");
        for alias in ["trust", "trust-ca1", "trust-ca2"] {
            assert!(out.contains(&format!("Alias name: {alias}\n")), "{label}: {out}");
        }

        // our PKCS#12 as read by Java
        std::fs::write(
            dir.join("f.p12"),
            to_pkcs12(&leaf, &ca, Some(&key), "Server", PW).unwrap(),
        )
        .unwrap();
        let (ok, out) = list("f.p12", "PKCS12", PW);
        assert!(ok, "{label}: {out}");
        assert!(
            out.contains("Entry type: PrivateKeyEntry") && out.contains("Certificate chain length: 3"),
            "{label}: {out}"
        );
        let (ok, out) = list("f.p12", "PKCS12", "wrong-password");
        assert!(!ok, "{label}: wrong password accepted: {out}");
        eprintln!("{label}: keytool JKS + PKCS12 OK");
    }
}
