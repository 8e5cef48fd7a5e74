//! Interop with the `openssl` command line (skipped when it is absent):
//! root → sub CA chains for every key algorithm pass `openssl verify`, and
//! keys travel both ways between this crate and OpenSSL.

use std::path::Path;

use opencas_pki::{
    CaProfile, CertValidity, ExtKeyUsage, KeyAlgorithm, PrivateKey, Sm2Id, SubjectFields, build_root_ca, build_sub_ca,
    os_rng, pem,
};

mod support;
use support::{have_openssl, now, openssl};

#[path = "openssl_interop/csr_leaf.rs"]
mod csr_leaf;

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

/// Writes root.pem and sub.pem for `alg` into `dir`.
fn write_chain(dir: &Path, alg: KeyAlgorithm, sm2_id: Sm2Id) {
    let mut rng = os_rng();
    let root_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let sub_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let t = now() - 60;
    let root_profile = CaProfile {
        sm2_id,
        path_len: Some(1),
        allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
        ..Default::default()
    };
    let root = build_root_ca(
        &root_key,
        &subject(&format!("{} Root", alg.as_api())),
        CertValidity {
            not_before: t,
            not_after: t + 20 * 365 * 86_400,
        },
        &root_profile,
        &mut rng,
    )
    .unwrap();
    let sub_profile = CaProfile {
        sm2_id,
        path_len: Some(0),
        extended_key_usages: vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth],
        crl_distribution_point: Some("http://crl.example.com/root.crl".into()),
        ca_issuers_uri: Some("http://ca.example.com/root.cer".into()),
        ocsp_uri: Some("http://ocsp.example.com".into()),
        allow_rsa_1024: alg == KeyAlgorithm::Rsa1024,
        ..Default::default()
    };
    let sub = build_sub_ca(
        &root,
        &root_key,
        sub_key.public_key_spki_der(),
        &subject(&format!("{} Sub", alg.as_api())),
        CertValidity {
            not_before: t,
            not_after: t + 10 * 365 * 86_400,
        },
        &sub_profile,
        &mut rng,
    )
    .unwrap();
    std::fs::write(dir.join("root.pem"), pem::cert_der_to_pem(&root)).unwrap();
    std::fs::write(dir.join("sub.pem"), pem::cert_der_to_pem(&sub)).unwrap();
    std::fs::write(dir.join("chain.pem"), pem::pem_chain([&sub, &root])).unwrap();
    std::fs::write(dir.join("sub.key"), sub_key.to_pkcs8_pem().as_bytes()).unwrap();
}

/// (TBS bytes, signature bytes) of a DER certificate.
fn tbs_and_signature(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use opencas_pki::x509_cert::{
        Certificate,
        der::{Decode, Encode},
    };
    let cert = Certificate::from_der(der).unwrap();
    let tbs = cert.tbs_certificate().to_der().unwrap();
    (tbs, cert.signature().raw_bytes().to_vec())
}

fn expected_sig_name(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::EcP256 => "ecdsa-with-SHA256",
        KeyAlgorithm::EcP384 => "ecdsa-with-SHA384",
        KeyAlgorithm::EcP521 => "ecdsa-with-SHA512",
        KeyAlgorithm::Sm2 => "SM2-with-SM3",
        _ => "sha256WithRSAEncryption",
    }
}

fn check_text(dir: &Path, alg: KeyAlgorithm) {
    let (ok, text) = openssl(dir, &["x509", "-text", "-noout", "-nameopt", "utf8", "-in", "sub.pem"]);
    assert!(ok, "{text}");
    for needle in [
        "Version: 3 (0x2)",
        expected_sig_name(alg),
        "X509v3 Basic Constraints: critical",
        "CA:TRUE, pathlen:0",
        "X509v3 Key Usage: critical",
        "Digital Signature, Certificate Sign, CRL Sign",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "URI:http://crl.example.com/root.crl",
        "OCSP - URI:http://ocsp.example.com",
        "CA Issuers - URI:http://ca.example.com/root.cer",
        "Subject: C=CN, ST=Zhejiang, L=Hangzhou, O=opencas 测试, OU=PKI, CN=",
    ] {
        assert!(text.contains(needle), "{alg:?}: missing {needle:?} in\n{text}");
    }
}

#[test]
fn chains_verify_with_openssl() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for alg in KeyAlgorithm::ALL.into_iter().filter(|a| *a != KeyAlgorithm::Sm2) {
        let dir = tmp.path().join(alg.as_api());
        std::fs::create_dir_all(&dir).unwrap();
        write_chain(&dir, alg, Sm2Id::Standard);
        let (ok, out) = openssl(
            &dir,
            &[
                "verify",
                "-x509_strict",
                "-check_ss_sig",
                "-CAfile",
                "root.pem",
                "sub.pem",
            ],
        );
        assert!(ok && out.contains("sub.pem: OK"), "{alg:?}: {out}");
        check_text(&dir, alg);
        // the sub CA key matches its certificate
        let (ok, out) = openssl(&dir, &["x509", "-noout", "-pubkey", "-in", "sub.pem"]);
        let (ok2, out2) = openssl(&dir, &["pkey", "-pubout", "-in", "sub.key"]);
        assert!(ok && ok2 && out == out2, "{alg:?}: key mismatch");
        eprintln!("{}: openssl verify OK", alg.as_api());
    }
}

#[test]
fn sm2_chains_with_openssl() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();

    // Empty ID: what stock OpenSSL 3 uses; the whole chain verifies plainly.
    let dir = tmp.path().join("sm2-empty");
    std::fs::create_dir_all(&dir).unwrap();
    write_chain(&dir, KeyAlgorithm::Sm2, Sm2Id::Empty);
    let (ok, out) = openssl(
        &dir,
        &[
            "verify",
            "-x509_strict",
            "-check_ss_sig",
            "-CAfile",
            "root.pem",
            "sub.pem",
        ],
    );
    assert!(ok && out.contains("sub.pem: OK"), "SM2 empty ID: {out}");
    check_text(&dir, KeyAlgorithm::Sm2);
    eprintln!("SM2 (empty ID): plain openssl verify -check_ss_sig OK");

    // Standard ID: OpenSSL needs -vfyopt distid, which applies to the target only.
    let dir = tmp.path().join("sm2-standard");
    std::fs::create_dir_all(&dir).unwrap();
    write_chain(&dir, KeyAlgorithm::Sm2, Sm2Id::Standard);
    let distid = "distid:1234567812345678";
    // The sub CA's signature, checked by OpenSSL with the distid.
    let (ok, out) = openssl(&dir, &["verify", "-vfyopt", distid, "-CAfile", "root.pem", "sub.pem"]);
    assert!(ok && out.contains("sub.pem: OK"), "SM2 standard ID, sub: {out}");
    // `verify -vfyopt … root.pem root.pem` passes, but it does not look at the
    // self-signature; with -check_ss_sig OpenSSL uses the empty ID even when
    // -vfyopt is given, so the root's own signature is checked with
    // `openssl dgst -sm3 -sigopt distid:…` over the TBS bytes instead.
    let (ok, out) = openssl(&dir, &["verify", "-vfyopt", distid, "-CAfile", "root.pem", "root.pem"]);
    assert!(ok && out.contains("root.pem: OK"), "SM2 standard ID, root: {out}");
    let (ok, out) = openssl(
        &dir,
        &[
            "verify",
            "-vfyopt",
            distid,
            "-check_ss_sig",
            "-CAfile",
            "root.pem",
            "root.pem",
        ],
    );
    eprintln!(
        "note: verify -vfyopt {distid} -check_ss_sig root.pem -> success={ok} ({})",
        out.lines().last().unwrap_or("")
    );
    let root_pem = std::fs::read_to_string(dir.join("root.pem")).unwrap();
    let (tbs, sig) = tbs_and_signature(&pem::cert_pem_to_der(&root_pem).unwrap());
    std::fs::write(dir.join("tbs.bin"), &tbs).unwrap();
    std::fs::write(dir.join("sig.bin"), &sig).unwrap();
    let (ok, out) = openssl(
        &dir,
        &["x509", "-pubkey", "-noout", "-in", "root.pem", "-out", "root.pub"],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        &dir,
        &[
            "dgst",
            "-sm3",
            "-verify",
            "root.pub",
            "-sigopt",
            distid,
            "-signature",
            "sig.bin",
            "tbs.bin",
        ],
    );
    assert!(
        ok && out.contains("Verified OK"),
        "SM2 standard ID, root self-signature: {out}"
    );
    let (ok, out) = openssl(&dir, &["verify", "-check_ss_sig", "-CAfile", "root.pem", "root.pem"]);
    assert!(!ok, "the empty ID must not verify a standard-ID signature: {out}");
    eprintln!(
        "SM2 (standard ID): sub OK with verify -vfyopt {distid}; root self-signature OK with dgst -sigopt {distid}; empty-ID check fails as expected"
    );
}

#[test]
fn keys_travel_between_openssl_and_rust() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = os_rng();

    // Rust → OpenSSL: plain and encrypted PKCS#8 for every algorithm but RSA-4096.
    for alg in KeyAlgorithm::ALL.into_iter().filter(|a| *a != KeyAlgorithm::Rsa4096) {
        let key = PrivateKey::generate(alg, &mut rng).unwrap();
        std::fs::write(dir.join("k.pem"), key.to_pkcs8_pem().as_bytes()).unwrap();
        let enc = key.to_encrypted_pkcs8_pem("pa55 word", &mut rng).unwrap();
        std::fs::write(dir.join("k.enc.pem"), enc.as_bytes()).unwrap();
        let (ok, out) = openssl(dir, &["pkey", "-pubout", "-in", "k.pem"]);
        assert!(ok && out == key.public_key_pem(), "{alg:?}: {out}");
        let (ok, out) = openssl(
            dir,
            &[
                "pkcs8",
                "-in",
                "k.enc.pem",
                "-passin",
                "pass:pa55 word",
                "-out",
                "k.dec.pem",
            ],
        );
        assert!(ok, "{alg:?} encrypted PKCS#8: {out}");
        let (ok, out) = openssl(dir, &["pkey", "-pubout", "-in", "k.dec.pem"]);
        assert!(ok && out == key.public_key_pem(), "{alg:?}: {out}");
        let (ok, _) = openssl(
            dir,
            &["pkcs8", "-in", "k.enc.pem", "-passin", "pass:wrong", "-out", "x.pem"],
        );
        assert!(!ok, "{alg:?}: wrong password accepted");
    }

    // OpenSSL → Rust: the formats openssl produces by default and on request.
    let cases: &[(&str, &[&str], KeyAlgorithm)] = &[
        (
            "rsa1024.pem",
            &["genrsa", "-traditional", "-out", "rsa1024.pem", "1024"],
            KeyAlgorithm::Rsa1024,
        ),
        (
            "rsa2048.pem",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "rsa2048.pem",
            ],
            KeyAlgorithm::Rsa2048,
        ),
        (
            "rsa3072.pem",
            &["genrsa", "-traditional", "-out", "rsa3072.pem", "3072"],
            KeyAlgorithm::Rsa3072,
        ),
        (
            "p256.pem",
            &["ecparam", "-name", "prime256v1", "-genkey", "-out", "p256.pem"],
            KeyAlgorithm::EcP256,
        ),
        (
            "p384.pem",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp384r1",
                "-out",
                "p384.pem",
            ],
            KeyAlgorithm::EcP384,
        ),
        (
            "p521.pem",
            &["ecparam", "-name", "secp521r1", "-genkey", "-noout", "-out", "p521.pem"],
            KeyAlgorithm::EcP521,
        ),
        (
            "sm2.pem",
            &["genpkey", "-algorithm", "SM2", "-out", "sm2.pem"],
            KeyAlgorithm::Sm2,
        ),
        (
            "sm2sec1.pem",
            &["ecparam", "-name", "SM2", "-genkey", "-out", "sm2sec1.pem"],
            KeyAlgorithm::Sm2,
        ),
    ];
    for (file, args, alg) in cases {
        let (ok, out) = openssl(dir, args);
        assert!(ok, "{file}: {out}");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let key = PrivateKey::from_pem(&text).unwrap_or_else(|e| panic!("{file}: {e}\n{text}"));
        assert_eq!(key.algorithm(), *alg, "{file}");
        let (ok, out) = openssl(dir, &["pkey", "-pubout", "-in", file]);
        assert!(ok && out == key.public_key_pem(), "{file}: public keys differ");
        // and an OpenSSL-encrypted PKCS#8 copy
        let enc = format!("{file}.enc");
        let (ok, out) = openssl(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:pw",
                "-in",
                file,
                "-out",
                &enc,
            ],
        );
        assert!(ok, "{file}: {out}");
        let text = std::fs::read_to_string(dir.join(&enc)).unwrap();
        let key2 = PrivateKey::from_pem_with_password(&text, "pw").unwrap_or_else(|e| panic!("{enc}: {e}"));
        assert_eq!(key2.public_key_spki_der(), key.public_key_spki_der());
    }
}

#[test]
fn inspects_openssl_made_certificates() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ok, out) = openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "30",
            "-sha384",
            "-set_serial",
            "0x00ff01",
            "-subj",
            "/C=US/ST=California/L=San Jose/O=Example, Inc./OU=Ops/CN=www.example.com",
            "-addext",
            "subjectAltName=DNS:www.example.com,IP:10.0.0.1,IP:2001:db8::1,email:a@example.com,URI:https://example.com/x",
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:2",
            "-addext",
            "extendedKeyUsage=serverAuth,1.2.3.4",
        ],
    );
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(dir.join("c.pem")).unwrap();
    let info = opencas_pki::CertInfo::parse_pem(&text).unwrap();
    let field = |args: &[&str]| {
        let mut a = vec!["x509", "-noout", "-in", "c.pem"];
        a.extend_from_slice(args);
        let (ok, out) = openssl(dir, &a);
        assert!(ok, "{out}");
        out.trim().split_once('=').unwrap().1.to_string()
    };
    assert_eq!(info.serial_hex, field(&["-serial"]).to_lowercase());
    assert_eq!(info.serial_hex, "ff01");
    for (alg, got) in [
        ("-sha256", info.fingerprints.sha256_hex()),
        ("-sha1", info.fingerprints.sha1_hex()),
        ("-md5", info.fingerprints.md5_hex()),
    ] {
        assert_eq!(got, field(&["-fingerprint", alg]).replace(':', ""), "{alg}");
    }
    assert_eq!(
        info.subject_dn,
        "C=US,ST=California,L=San Jose,O=Example\\, Inc.,OU=Ops,CN=www.example.com"
    );
    assert_eq!(info.subject.organization.as_deref(), Some("Example, Inc."));
    assert_eq!(info.subject.country_code.as_deref(), Some("US"));
    assert!(info.self_issued && info.is_ca && info.path_len == Some(2));
    assert_eq!(info.signature_algorithm, "SHA384WITHECDSA");
    assert_eq!(info.key_algorithm, Some(KeyAlgorithm::EcP384));
    assert_eq!(info.key_size_bits, 384);
    assert_eq!(info.extended_key_usages, ["serverAuth", "1.2.3.4"]);
    let sans: Vec<(u8, String)> = info.sans.iter().map(|s| (s.cas_type(), s.value())).collect();
    assert_eq!(
        sans,
        [
            (2, "www.example.com".to_string()),
            (7, "10.0.0.1".to_string()),
            (7, "2001:db8::1".to_string()),
            (1, "a@example.com".to_string()),
            (6, "https://example.com/x".to_string()),
        ]
    );
    assert_eq!(info.ski_hex.as_deref().map(str::len), Some(40));
    assert_eq!(info.not_after_ms - info.not_before_ms, 30 * 86_400_000);
    // the key openssl wrote signs for this certificate
    let key = PrivateKey::from_pem(&std::fs::read_to_string(dir.join("k.pem")).unwrap()).unwrap();
    assert_eq!(key.public_key_spki_der(), info.public_key_spki_der);
    let der = pem::cert_pem_to_der(&text).unwrap();
    opencas_pki::verify_certificate_signature(&der, &info.public_key_spki_der, Sm2Id::Standard).unwrap();
}
