//! CSRs and end-entity certificates against the `openssl` command line:
//! requests made by `openssl req -new` parse and verify here (refusals
//! included), requests made here pass `openssl req -verify`, leaves issued
//! from OpenSSL's requests pass `openssl verify -x509_strict -purpose …`, and
//! an ECDSA leaf serves a real TLS handshake between `s_server` and `s_client`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opencas_pki::{
    CaProfile, CertValidity, Criticals, CsrPolicy, Error, ExtKeyUsage, KeyAlgorithm, KeyUsageFlags, LeafKind,
    LeafProfile, ParsedCsr, PrivateKey, San, Sm2Id, build_csr, build_leaf, build_root_ca, build_sub_ca, os_rng, pem,
};

use super::{have_openssl, now, openssl, subject};

const DISTID: &str = "distid:1234567812345678";
const SAN_EXT: &str = "subjectAltName=DNS:www.example.com,DNS:*.example.com,IP:10.0.0.1,IP:2001:db8::1,email:ops@example.com,URI:https://example.com/x";

fn expected_sans() -> Vec<San> {
    vec![
        San::parse_dns("www.example.com").unwrap(),
        San::parse_dns("*.example.com").unwrap(),
        San::parse_ip("10.0.0.1").unwrap(),
        San::parse_ip("2001:db8::1").unwrap(),
        San::parse_email("ops@example.com").unwrap(),
        San::parse_uri("https://example.com/x").unwrap(),
    ]
}

/// A root → sub chain (root DER, sub DER, sub key).
struct Chain {
    root: Vec<u8>,
    sub: Vec<u8>,
    sub_key: PrivateKey,
    sm2_id: Sm2Id,
}

fn chain(alg: KeyAlgorithm, sm2_id: Sm2Id) -> Chain {
    let mut rng = os_rng();
    let root_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let sub_key = PrivateKey::generate(alg, &mut rng).unwrap();
    let t = now() - 3600;
    let profile = CaProfile {
        sm2_id,
        ..Default::default()
    };
    let root = build_root_ca(
        &root_key,
        &subject(&format!("{} Root", alg.as_api())),
        CertValidity {
            not_before: t,
            not_after: t + 20 * 365 * 86_400,
        },
        &profile,
        &mut rng,
    )
    .unwrap();
    let sub = build_sub_ca(
        &root,
        &root_key,
        sub_key.public_key_spki_der(),
        &subject(&format!("{} Sub", alg.as_api())),
        CertValidity {
            not_before: t,
            not_after: t + 10 * 365 * 86_400,
        },
        &CaProfile {
            path_len: Some(0),
            ..profile
        },
        &mut rng,
    )
    .unwrap();
    Chain {
        root,
        sub,
        sub_key,
        sm2_id,
    }
}

impl Chain {
    fn write(&self, dir: &Path) {
        std::fs::write(dir.join("root.pem"), pem::cert_der_to_pem(&self.root)).unwrap();
        std::fs::write(dir.join("sub.pem"), pem::cert_der_to_pem(&self.sub)).unwrap();
    }

    fn issue(&self, csr: &ParsedCsr, kind: LeafKind) -> Vec<u8> {
        let t = now() - 60;
        let profile = LeafProfile {
            sm2_id: self.sm2_id,
            crl_distribution_point: Some("http://crl.example.com/sub.crl".into()),
            ocsp_uri: Some("http://ocsp.example.com".into()),
            ca_issuers_uri: Some("http://ca.example.com/sub.cer".into()),
            // the CSR itself was accepted under the RSA-1024 policy or not at all
            allow_rsa_1024: csr.key_algorithm == KeyAlgorithm::Rsa1024,
            ..LeafProfile::new(kind)
        };
        build_leaf(
            &self.sub,
            &self.sub_key,
            &csr.public_key_spki_der,
            &csr.subject,
            &csr.sans,
            CertValidity {
                not_before: t,
                not_after: t + 90 * 86_400,
            },
            &profile,
            &mut os_rng(),
        )
        .unwrap()
    }
}

/// One `openssl req -new` case: key generation, extra `req` options, what
/// the parser must report.
struct ReqCase {
    name: &'static str,
    genkey: Vec<&'static str>,
    req_opts: Vec<&'static str>,
    alg: KeyAlgorithm,
    sig: &'static str,
    sm2_id: Option<Sm2Id>,
}

fn req_cases() -> Vec<ReqCase> {
    use KeyAlgorithm as K;
    let rsa = |bits| {
        let b = match bits {
            2048 => "rsa_keygen_bits:2048",
            3072 => "rsa_keygen_bits:3072",
            _ => "rsa_keygen_bits:4096",
        };
        vec!["genpkey", "-algorithm", "RSA", "-pkeyopt", b]
    };
    let ec = |curve| vec!["genpkey", "-algorithm", "EC", "-pkeyopt", curve];
    let sm2 = || vec!["genpkey", "-algorithm", "SM2"];
    let c = |name, genkey, req_opts, alg, sig, sm2_id| ReqCase {
        name,
        genkey,
        req_opts,
        alg,
        sig,
        sm2_id,
    };
    vec![
        c("rsa2048", rsa(2048), vec![], K::Rsa2048, "SHA256WITHRSA", None),
        c("rsa3072", rsa(3072), vec!["-sha384"], K::Rsa3072, "SHA384WITHRSA", None),
        c("rsa4096", rsa(4096), vec!["-sha512"], K::Rsa4096, "SHA512WITHRSA", None),
        c(
            "rsa1024",
            vec!["genrsa", "-out", "KEY", "1024"],
            vec![],
            K::Rsa1024,
            "SHA256WITHRSA",
            None,
        ),
        c(
            "rsa2048-pss",
            rsa(2048),
            vec!["-sigopt", "rsa_padding_mode:pss"],
            K::Rsa2048,
            "SHA256WITHRSA/PSS",
            None,
        ),
        // OpenSSL 3.0's default PSS salt is the maximum: 350 bytes here.
        c(
            "rsa3072-pss-max",
            rsa(3072),
            vec!["-sigopt", "rsa_padding_mode:pss"],
            K::Rsa3072,
            "SHA256WITHRSA/PSS",
            None,
        ),
        c(
            "rsa3072-pss-digest",
            rsa(3072),
            vec![
                "-sha384",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
            K::Rsa3072,
            "SHA384WITHRSA/PSS",
            None,
        ),
        c(
            "p256",
            vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "KEY"],
            vec![],
            K::EcP256,
            "SHA256WITHECDSA",
            None,
        ),
        c(
            "p384",
            ec("ec_paramgen_curve:P-384"),
            vec!["-sha384"],
            K::EcP384,
            "SHA384WITHECDSA",
            None,
        ),
        // T8: OpenSSL's default digest for P-521 requests is SHA-256.
        c(
            "p521",
            ec("ec_paramgen_curve:P-521"),
            vec![],
            K::EcP521,
            "SHA256WITHECDSA",
            None,
        ),
        c(
            "sm2-standard",
            sm2(),
            vec!["-sm3", "-sigopt", DISTID],
            K::Sm2,
            "SM3WITHSM2",
            Some(Sm2Id::Standard),
        ),
        c(
            "sm2-empty",
            sm2(),
            vec!["-sm3"],
            K::Sm2,
            "SM3WITHSM2",
            Some(Sm2Id::Empty),
        ),
    ]
}

/// Generates the key and the request of `case` in `dir`; returns the PEM.
fn openssl_req(dir: &Path, case: &ReqCase) -> String {
    let key = format!("{}.key", case.name);
    let mut gen_args: Vec<&str> = case
        .genkey
        .iter()
        .map(|a| if *a == "KEY" { key.as_str() } else { a })
        .collect();
    if !gen_args.contains(&key.as_str()) {
        gen_args.extend(["-out", &key]);
    }
    let (ok, out) = openssl(dir, &gen_args);
    assert!(ok, "{}: {out}", case.name);
    let csr = format!("{}.csr", case.name);
    let subj = format!("/C=CN/O=opencas/CN={}", case.name);
    let mut args = vec![
        "req", "-new", "-key", &key, "-subj", &subj, "-addext", SAN_EXT, "-out", &csr,
    ];
    args.extend(case.req_opts.iter().copied());
    let (ok, out) = openssl(dir, &args);
    assert!(ok, "{}: {out}", case.name);
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

fn verify_leaf(dir: &Path, chain: &Chain, leaf: &[u8], purpose: &str) -> String {
    std::fs::write(dir.join("leaf.pem"), pem::cert_der_to_pem(leaf)).unwrap();
    let args: Vec<&str> = if chain.sm2_id == Sm2Id::Standard && leaf_is_sm2(leaf) {
        // -vfyopt applies to the target only; check the leaf against the sub.
        vec![
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-vfyopt",
            DISTID,
            "-partial_chain",
            "-CAfile",
            "sub.pem",
            "leaf.pem",
        ]
    } else {
        vec![
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "sub.pem",
            "leaf.pem",
        ]
    };
    let (ok, out) = openssl(dir, &args);
    assert!(ok && out.contains("leaf.pem: OK"), "{purpose}: {out}");
    args.join(" ")
}

fn leaf_is_sm2(der: &[u8]) -> bool {
    opencas_pki::CertInfo::parse(der).unwrap().signature_algorithm == "SM3WITHSM2"
}

#[test]
fn openssl_requests_parse_and_their_leaves_verify() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rsa_chain = chain(KeyAlgorithm::Rsa2048, Sm2Id::Standard);
    let ec_chain = chain(KeyAlgorithm::EcP384, Sm2Id::Standard);
    let sm2_std = chain(KeyAlgorithm::Sm2, Sm2Id::Standard);
    let sm2_empty = chain(KeyAlgorithm::Sm2, Sm2Id::Empty);
    for case in req_cases() {
        let dir = tmp.path().join(case.name);
        std::fs::create_dir_all(&dir).unwrap();
        let text = openssl_req(&dir, &case);
        let policy = CsrPolicy {
            allow_rsa_1024: case.alg == KeyAlgorithm::Rsa1024,
        };
        if case.alg == KeyAlgorithm::Rsa1024 {
            assert!(
                matches!(
                    ParsedCsr::from_pem(&text, CsrPolicy::default()),
                    Err(Error::UnsupportedKey(_))
                ),
                "RSA-1024 must need the flag"
            );
        }
        let csr = ParsedCsr::from_pem(&text, policy).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(csr.key_algorithm, case.alg, "{}", case.name);
        assert_eq!(csr.signature_algorithm, case.sig, "{}", case.name);
        assert_eq!(csr.sm2_id, case.sm2_id, "{}", case.name);
        assert_eq!(csr.sans, expected_sans(), "{}", case.name);
        assert_eq!(csr.subject.common_name, case.name);
        assert_eq!(csr.subject_dn, format!("C=CN,O=opencas,CN={}", case.name));
        // the key file's public key is the request's
        let (ok, pubkey) = openssl(&dir, &["pkey", "-pubout", "-in", &format!("{}.key", case.name)]);
        assert!(ok && pubkey == pem::encode("PUBLIC KEY", &csr.public_key_spki_der));
        // a tampered request is refused
        let mut bad = csr.der.clone();
        let n = bad.len();
        bad[n - 2] ^= 0x01;
        assert_eq!(
            ParsedCsr::from_der(&bad, policy),
            Err(Error::BadSignature),
            "{}",
            case.name
        );

        let chain = match (case.alg.family(), case.sm2_id) {
            (opencas_pki::KeyFamily::Rsa, _) => &rsa_chain,
            (opencas_pki::KeyFamily::Ecc, _) => &ec_chain,
            (_, Some(Sm2Id::Empty)) => &sm2_empty,
            _ => &sm2_std,
        };
        chain.write(&dir);
        let server = chain.issue(&csr, LeafKind::Server);
        let cmd = verify_leaf(&dir, chain, &server, "sslserver");
        let client = chain.issue(&csr, LeafKind::Client);
        verify_leaf(&dir, chain, &client, "sslclient");
        // a server certificate is not a client certificate
        if !cmd.contains("-partial_chain") {
            let (ok, out) = openssl(
                &dir,
                &[
                    "verify",
                    "-purpose",
                    "sslclient",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "sub.pem",
                    "leaf.pem",
                ],
            );
            assert!(ok, "client leaf as client: {out}");
            std::fs::write(dir.join("leaf.pem"), pem::cert_der_to_pem(&server)).unwrap();
            let (ok, out) = openssl(
                &dir,
                &[
                    "verify",
                    "-purpose",
                    "sslclient",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "sub.pem",
                    "leaf.pem",
                ],
            );
            assert!(!ok, "server leaf accepted as client: {out}");
        }
        eprintln!("{}: parsed ({}), leaves OK: {cmd}", case.name, csr.signature_algorithm);
    }
}

#[test]
fn unsupported_openssl_requests_are_refused() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (name, genkey) in [
        (
            "secp256k1",
            &["ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", "k.pem"][..],
        ),
        (
            "brainpool",
            &[
                "ecparam",
                "-name",
                "brainpoolP256r1",
                "-genkey",
                "-noout",
                "-out",
                "k.pem",
            ][..],
        ),
        ("rsa1536", &["genrsa", "-out", "k.pem", "1536"][..]),
        ("ed25519", &["genpkey", "-algorithm", "ED25519", "-out", "k.pem"][..]),
    ] {
        let (ok, out) = openssl(dir, genkey);
        assert!(ok, "{name}: {out}");
        let (ok, out) = openssl(
            dir,
            &["req", "-new", "-key", "k.pem", "-subj", "/CN=x", "-out", "r.csr"],
        );
        assert!(ok, "{name}: {out}");
        let text = std::fs::read_to_string(dir.join("r.csr")).unwrap();
        let r = ParsedCsr::from_pem(&text, CsrPolicy { allow_rsa_1024: true });
        assert!(matches!(r, Err(Error::UnsupportedKey(_))), "{name}: {r:?}");
        eprintln!("{name}: refused ({})", r.unwrap_err());
    }
}

#[test]
fn our_requests_pass_openssl_req_verify() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = os_rng();
    let mut cases: Vec<(KeyAlgorithm, Sm2Id)> = KeyAlgorithm::ALL.into_iter().map(|a| (a, Sm2Id::Standard)).collect();
    cases.push((KeyAlgorithm::Sm2, Sm2Id::Empty));
    for (alg, id) in cases {
        let key = PrivateKey::generate(alg, &mut rng).unwrap();
        let der = build_csr(&key, &subject("Req"), &expected_sans(), id).unwrap();
        std::fs::write(dir.join("r.csr"), pem::encode("CERTIFICATE REQUEST", &der)).unwrap();
        let mut args = vec!["req", "-verify", "-noout", "-in", "r.csr"];
        if alg == KeyAlgorithm::Sm2 && id == Sm2Id::Standard {
            args.extend(["-vfyopt", DISTID]);
        }
        // T7: `openssl req -verify` exits 0 on a bad signature; read its output.
        let (_, out) = openssl(dir, &args);
        assert!(out.contains("verify OK"), "{alg:?}/{id:?}: {out}");
        let (ok, text) = openssl(dir, &["req", "-noout", "-text", "-nameopt", "utf8", "-in", "r.csr"]);
        assert!(ok);
        for needle in [
            "DNS:www.example.com",
            "DNS:*.example.com",
            "IP Address:10.0.0.1",
            "IP Address:2001:DB8:0:0:0:0:0:1",
            "email:ops@example.com",
            "URI:https://example.com/x",
            "O=opencas 测试",
        ] {
            assert!(text.contains(needle), "{alg:?}: missing {needle:?} in\n{text}");
        }
        // tampered: OpenSSL reports the failure (still exit code 0)
        let mut bad = der.clone();
        let n = bad.len();
        bad[n - 2] ^= 1;
        std::fs::write(dir.join("r.csr"), pem::encode("CERTIFICATE REQUEST", &bad)).unwrap();
        let (_, out) = openssl(dir, &args);
        assert!(!out.contains("verify OK"), "{alg:?}: tampered request verified: {out}");
        if alg == KeyAlgorithm::Sm2 && id == Sm2Id::Standard {
            // without the distid OpenSSL uses the empty ID and fails
            std::fs::write(dir.join("r.csr"), pem::encode("CERTIFICATE REQUEST", &der)).unwrap();
            let (_, out) = openssl(dir, &["req", "-verify", "-noout", "-in", "r.csr"]);
            assert!(
                !out.contains("verify OK"),
                "SM2 standard ID verified with the empty ID: {out}"
            );
        }
        eprintln!("{}/{id:?}: openssl req -verify OK", alg.as_api());
    }
}

#[test]
fn custom_leaf_passes_openssl_verify() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let chain = chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    chain.write(dir);
    let key = PrivateKey::generate(KeyAlgorithm::EcP256, &mut os_rng()).unwrap();
    let profile = LeafProfile {
        extra_subject_attributes: vec![
            ("2.5.4.5".into(), "SN-0001".into()),
            ("0.9.2342.19200300.100.1.1".into(), "uid-7".into()),
            ("1.3.6.1.4.1.99999.1".into(), "private value".into()),
        ],
        custom_serial: Some(12345),
        criticals: Criticals::from_names(&["extendedKeyUsage".into(), "subjectAlternativeName".into()]).unwrap(),
        ..LeafProfile::new(LeafKind::Custom {
            key_usage: KeyUsageFlags::DIGITAL_SIGNATURE | KeyUsageFlags::CONTENT_COMMITMENT,
            extended_key_usages: vec![ExtKeyUsage::ClientAuth, ExtKeyUsage::EmailProtection],
        })
    };
    let t = now() - 60;
    let leaf = build_leaf(
        &chain.sub,
        &chain.sub_key,
        key.public_key_spki_der(),
        &subject("custom"),
        &expected_sans(),
        CertValidity {
            not_before: t,
            not_after: t + 90 * 86_400,
        },
        &profile,
        &mut os_rng(),
    )
    .unwrap();
    std::fs::write(dir.join("leaf.pem"), pem::cert_der_to_pem(&leaf)).unwrap();
    let args = [
        "verify",
        "-x509_strict",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "sub.pem",
        "leaf.pem",
    ];
    let (ok, out) = openssl(dir, &args);
    assert!(ok && out.contains("leaf.pem: OK"), "{out}");
    let (ok, out) = openssl(dir, &[&args[..2], &["-purpose", "sslclient"], &args[2..]].concat());
    assert!(ok && out.contains("leaf.pem: OK"), "sslclient: {out}");
    let (ok, text) = openssl(dir, &["x509", "-noout", "-text", "-nameopt", "utf8", "-in", "leaf.pem"]);
    assert!(ok, "{text}");
    for needle in [
        "Serial Number: 12345 (0x3039)",
        "serialNumber=SN-0001",
        "UID=uid-7",
        "1.3.6.1.4.1.99999.1=private value",
        "CN=custom, serialNumber=SN-0001",
        "X509v3 Extended Key Usage: critical",
        "TLS Web Client Authentication, E-mail Protection",
        "X509v3 Subject Alternative Name: critical",
        "X509v3 Key Usage: critical",
        "Digital Signature, Non Repudiation",
        "X509v3 Basic Constraints: critical",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    eprintln!(
        "custom leaf: {} → OK; serial 12345 (0x3039), EKU/SAN critical",
        args.join(" ")
    );
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> (bool, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            child.stderr.take().unwrap().read_to_string(&mut out).unwrap();
            return (status.success(), out);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (false, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the `s_server` this test started when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tls_handshake_with_an_ecdsa_leaf() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let chain = chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    chain.write(dir);
    let key = PrivateKey::generate(KeyAlgorithm::EcP256, &mut os_rng()).unwrap();
    let der = build_csr(&key, &subject("tls"), &expected_sans(), Sm2Id::Standard).unwrap();
    let csr = ParsedCsr::from_der(&der, CsrPolicy::default()).unwrap();
    let leaf = chain.issue(&csr, LeafKind::Server);
    std::fs::write(dir.join("leaf.pem"), pem::cert_der_to_pem(&leaf)).unwrap();
    std::fs::write(dir.join("key.pem"), key.to_pkcs8_pem().as_bytes()).unwrap();

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let accept = format!("127.0.0.1:{port}");
    let server = Server(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &accept,
                "-cert",
                "leaf.pem",
                "-key",
                "key.pem",
                "-cert_chain",
                "sub.pem",
                "-www",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&accept).is_err() {
        assert!(Instant::now() < deadline, "s_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let client = |host: &str| {
        let child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &accept,
                "-CAfile",
                "root.pem",
                "-verify_return_error",
                "-servername",
                host,
                "-verify_hostname",
                host,
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_with_timeout(child, Duration::from_secs(20))
    };
    let (ok, out) = client("www.example.com");
    assert!(ok && out.contains("Verify return code: 0 (ok)"), "{out}");
    let (ok, out) = client("api.example.com");
    assert!(ok && out.contains("Verify return code: 0 (ok)"), "wildcard SAN: {out}");
    let (ok, out) = client("www.example.org");
    assert!(
        !ok && !out.contains("Verify return code: 0 (ok)"),
        "wrong host accepted: {out}"
    );
    drop(server);
    eprintln!("TLS: s_client -verify_return_error -verify_hostname www.example.com → Verify return code: 0 (ok)");
}
