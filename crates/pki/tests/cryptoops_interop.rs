//! Crypto operations against the `openssl` command line (skipped when it is absent): what
//! opencas encrypts openssl decrypts and the other way round; every signature scheme
//! verified by openssl (`dgst -verify`, `cms -verify`) and openssl's signatures verified here.

use std::path::Path;

use opencas_pki::cryptoops::{
    CmsSigner, EncryptionAlgorithm as E, SignInput, SigningScheme as S, decrypt, encrypt, max_plaintext_len, sign,
    verify,
};
use opencas_pki::{
    CaProfile, CertValidity, Error, KeyAlgorithm, LeafProfile, PrivateKey, San, SubjectFields, build_leaf,
    build_root_ca, os_rng, pem,
};

mod support;
use support::{have_openssl, now, openssl};

fn key(alg: KeyAlgorithm) -> PrivateKey {
    PrivateKey::generate(alg, &mut os_rng()).unwrap()
}

fn write_key(dir: &Path, name: &str, k: &PrivateKey) {
    std::fs::write(dir.join(format!("{name}.key")), k.to_pkcs8_pem().as_bytes()).unwrap();
    std::fs::write(dir.join(format!("{name}.pub")), k.public_key_pem()).unwrap();
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

const OAEP: [(E, &str, usize); 2] = [(E::RsaesOaepSha1, "sha1", 214), (E::RsaesOaepSha256, "sha256", 190)];

#[test]
fn rsa_oaep_both_ways() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let k = key(KeyAlgorithm::Rsa2048);
    write_key(dir.path(), "rsa", &k);
    for (alg, md, max) in OAEP {
        let (oaep_md, mgf1_md) = (format!("rsa_oaep_md:{md}"), format!("rsa_mgf1_md:{md}"));
        let opts = [
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &oaep_md,
            "-pkeyopt",
            &mgf1_md,
        ];
        assert_eq!(max_plaintext_len(k.public_key_spki_der(), alg).unwrap(), max);
        // ours → openssl
        let secret = b"opencas secret \x00\xff bytes";
        std::fs::write(
            dir.path().join("ct"),
            encrypt(k.public_key_spki_der(), alg, secret).unwrap(),
        )
        .unwrap();
        let mut args = vec!["pkeyutl", "-decrypt", "-inkey", "rsa.key", "-in", "ct", "-out", "pt"];
        args.extend(opts);
        let (ok, out) = openssl(dir.path(), &args);
        assert!(ok, "{alg:?}: {out}");
        assert_eq!(std::fs::read(dir.path().join("pt")).unwrap(), secret);
        // openssl → ours, at the length limit
        std::fs::write(dir.path().join("msg"), vec![0x5a; max]).unwrap();
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", "rsa.pub", "-in", "msg", "-out", "ct2",
        ];
        args.extend(opts);
        let (ok, out) = openssl(dir.path(), &args);
        assert!(ok, "{alg:?}: {out}");
        let ct = std::fs::read(dir.path().join("ct2")).unwrap();
        assert_eq!(decrypt(&k, alg, &ct).unwrap(), vec![0x5a; max]);
        // one byte over the limit, a corrupted ciphertext, the other OAEP hash
        assert!(matches!(
            encrypt(k.public_key_spki_der(), alg, &vec![0; max + 1]),
            Err(Error::PlaintextTooLong { max: m }) if m == max
        ));
        let mut bad = ct.clone();
        bad[10] ^= 1;
        assert!(matches!(decrypt(&k, alg, &bad), Err(Error::CiphertextInvalid)));
        let other = if alg == E::RsaesOaepSha1 {
            E::RsaesOaepSha256
        } else {
            E::RsaesOaepSha1
        };
        assert!(matches!(decrypt(&k, other, &ct), Err(Error::CiphertextInvalid)));
    }
}

#[test]
fn algorithms_must_fit_the_key() {
    let ec = key(KeyAlgorithm::EcP256);
    let rsa = key(KeyAlgorithm::Rsa2048);
    let sm2 = key(KeyAlgorithm::Sm2);
    let p384 = key(KeyAlgorithm::EcP384);
    let rsa1024 = key(KeyAlgorithm::Rsa1024);
    let mismatch = |r: Result<Vec<u8>, Error>| assert!(matches!(r, Err(Error::AlgorithmMismatch(_))), "{r:?}");
    mismatch(encrypt(ec.public_key_spki_der(), E::RsaesOaepSha256, b"x"));
    mismatch(encrypt(rsa.public_key_spki_der(), E::Sm2Pke, b"x"));
    mismatch(decrypt(&sm2, E::RsaesOaepSha1, b"x"));
    let m = SignInput::Message(b"m");
    mismatch(sign(&ec, S::Sha256WithRsa, m, None));
    mismatch(sign(&rsa, S::Sha256WithEcdsa, m, None));
    mismatch(sign(&p384, S::Sha256WithEcdsa, m, None));
    mismatch(sign(&rsa, S::Sm3WithSm2, m, None));
    mismatch(sign(&sm2, S::Sha256WithRsaPss, m, None));
    mismatch(sign(&rsa1024, S::Sha256WithRsa, m, None));
    assert!(matches!(
        encrypt(rsa1024.public_key_spki_der(), E::RsaesOaepSha1, b"x"),
        Err(Error::UnsupportedKey(_))
    ));
    // a digest must be a digest
    assert!(matches!(
        sign(&ec, S::Sha256WithEcdsa, SignInput::Digest(&[1; 31]), None),
        Err(Error::InvalidDigest(_))
    ));
    assert!(matches!(
        sign(&sm2, S::Sm3WithSm2, SignInput::Digest(&[1; 33]), None),
        Err(Error::InvalidDigest(_))
    ));
}

#[test]
fn sm2_encryption_round_trips_in_both_point_encodings() {
    let k = key(KeyAlgorithm::Sm2);
    let msg = vec![7u8; opencas_pki::cryptoops::SM2PKE_MAX_PLAINTEXT];
    let ct = encrypt(k.public_key_spki_der(), E::Sm2Pke, &msg).unwrap();
    // C1 (65) ‖ C3 (32) ‖ C2 (as long as the message)
    assert_eq!(ct.len(), 65 + 32 + msg.len());
    assert_eq!(ct[0], 0x04);
    assert_eq!(decrypt(&k, E::Sm2Pke, &ct).unwrap(), msg);
    // gmssl leaves the point's 04 out
    assert_eq!(decrypt(&k, E::Sm2Pke, &ct[1..]).unwrap(), msg);
    // C3 is checked: a flipped bit in C2 is refused
    let mut bad = ct.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(decrypt(&k, E::Sm2Pke, &bad), Err(Error::CiphertextInvalid)));
    assert!(matches!(
        encrypt(k.public_key_spki_der(), E::Sm2Pke, &[0; 6048]),
        Err(Error::PlaintextTooLong { max: 6047 })
    ));
}

/// Without its `04`, a C1 whose x starts with `04` (one ciphertext in 256) looks prefixed; it
/// must still decrypt. Encrypts until such a ciphertext comes up.
#[test]
fn sm2_ciphertext_without_prefix_whose_x_starts_with_04_decrypts() {
    let k = key(KeyAlgorithm::Sm2);
    let msg = b"ambiguous prefix".to_vec();
    let ct = (0..20_000)
        .map(|_| encrypt(k.public_key_spki_der(), E::Sm2Pke, &msg).unwrap())
        .find(|ct| ct[1] == 0x04)
        .expect("one ciphertext in 256 has an x starting with 04");
    assert_eq!(decrypt(&k, E::Sm2Pke, &ct).unwrap(), msg);
    assert_eq!(decrypt(&k, E::Sm2Pke, &ct[1..]).unwrap(), msg);
    // too short to hold C1 and C3 either way
    assert!(matches!(
        decrypt(&k, E::Sm2Pke, &ct[1..90]),
        Err(Error::CiphertextInvalid)
    ));
}

#[test]
fn signatures_verify_with_openssl_and_back() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let msg = b"opencas signs this message";
    std::fs::write(dir.path().join("msg"), msg).unwrap();
    let cases: [(S, KeyAlgorithm, &[&str]); 4] = [
        (S::Sha256WithRsa, KeyAlgorithm::Rsa2048, &["-sha256"]),
        (
            S::Sha256WithRsaPss,
            KeyAlgorithm::Rsa3072,
            &[
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:-1",
            ],
        ),
        (S::Sha256WithEcdsa, KeyAlgorithm::EcP256, &["-sha256"]),
        (
            S::Sm3WithSm2,
            KeyAlgorithm::Sm2,
            &["-sm3", "-sigopt", "distid:1234567812345678"],
        ),
    ];
    for (scheme, alg, dgst) in cases {
        let k = key(alg);
        write_key(dir.path(), "k", &k);
        let digest = match scheme {
            S::Sm3WithSm2 => None,
            _ => Some(sha256(msg)),
        };
        let inputs: Vec<SignInput<'_>> = std::iter::once(SignInput::Message(msg))
            .chain(digest.as_deref().map(SignInput::Digest))
            .collect();
        for input in inputs {
            let sig = sign(&k, scheme, input, None).unwrap();
            assert!(verify(k.public_key_spki_der(), scheme, input, &sig).unwrap());
            std::fs::write(dir.path().join("sig"), &sig).unwrap();
            let mut args = vec!["dgst"];
            args.extend(dgst);
            args.extend(["-verify", "k.pub", "-signature", "sig", "msg"]);
            let (ok, out) = openssl(dir.path(), &args);
            assert!(ok && out.contains("Verified OK"), "{scheme:?} {input:?}: {out}");
        }
        // openssl's signature verifies here; a tampered one does not
        let mut args = vec!["dgst"];
        args.extend(dgst);
        args.extend(["-sign", "k.key", "-out", "osig", "msg"]);
        let (ok, out) = openssl(dir.path(), &args);
        assert!(ok, "{scheme:?}: {out}");
        let mut osig = std::fs::read(dir.path().join("osig")).unwrap();
        assert!(verify(k.public_key_spki_der(), scheme, SignInput::Message(msg), &osig).unwrap());
        let last = osig.len() - 3;
        osig[last] ^= 0x10;
        assert!(!verify(k.public_key_spki_der(), scheme, SignInput::Message(msg), &osig).unwrap());
        assert!(!verify(k.public_key_spki_der(), scheme, SignInput::Message(b"other"), &osig[..]).unwrap());
    }
}

#[test]
fn cms_detached_signature_verifies_with_openssl_cms() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_key = key(KeyAlgorithm::Rsa2048);
    let leaf_key = key(KeyAlgorithm::Rsa2048);
    let validity = CertValidity {
        not_before: now() - 60,
        not_after: now() + 86_400,
    };
    let subject = |cn: &str| SubjectFields {
        common_name: cn.into(),
        organization: Some("opencas".into()),
        country_code: Some("CN".into()),
        ..Default::default()
    };
    let root = build_root_ca(
        &ca_key,
        &subject("P7 Root"),
        validity,
        &CaProfile::default(),
        &mut os_rng(),
    )
    .unwrap();
    let profile = LeafProfile::new(opencas_pki::LeafKind::Client);
    let leaf = build_leaf(
        &root,
        &ca_key,
        leaf_key.public_key_spki_der(),
        &subject("P7 Signer"),
        &[San::Email("signer@example.com".into())],
        validity,
        &profile,
        &mut os_rng(),
    )
    .unwrap();
    std::fs::write(dir.path().join("root.pem"), pem::cert_der_to_pem(&root)).unwrap();
    let msg = b"a document signed as PKCS#7";
    std::fs::write(dir.path().join("msg"), msg).unwrap();
    let cms = CmsSigner {
        cert_der: &leaf,
        chain_der: &[],
        signing_time: now(),
    };
    let digest = sha256(msg);
    for input in [SignInput::Message(msg), SignInput::Digest(&digest)] {
        let p7 = sign(&leaf_key, S::Sha256WithRsaP7, input, Some(cms)).unwrap();
        std::fs::write(dir.path().join("sig.p7s"), &p7).unwrap();
        let (ok, out) = openssl(
            dir.path(),
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "sig.p7s",
                "-content",
                "msg",
                "-CAfile",
                "root.pem",
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ],
        );
        assert!(ok && out.contains("Verification successful"), "{input:?}: {out}");
        // the same signature over other content fails
        std::fs::write(dir.path().join("other"), b"another document").unwrap();
        let (ok, _) = openssl(
            dir.path(),
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "sig.p7s",
                "-content",
                "other",
                "-CAfile",
                "root.pem",
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ],
        );
        assert!(!ok, "a detached signature verified over other content");
    }
    assert!(sign(&leaf_key, S::Sha256WithRsaP7, SignInput::Message(msg), None).is_err());
}
