//! Key generation, import/export and raw signing.

use der::{Decode, Encode};

use crate::test_support::keys;
use crate::{
    Error, KeyAlgorithm, KeyFamily, PrivateKey, SignatureAlgorithm, Sm2Id, describe_spki, os_rng, pem, verify_signature,
};

#[test]
fn generate_export_import_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let key = &keys(alg)[0];
        assert_eq!(key.algorithm(), alg);
        let d = describe_spki(key.public_key_spki_der()).unwrap();
        assert_eq!(d.algorithm, Some(alg), "{alg:?}");
        assert_eq!(d.bits, alg.key_size_bits());

        let p8 = key.to_pkcs8_der();
        let back = PrivateKey::from_pkcs8_der(&p8).unwrap();
        assert_eq!(back.algorithm(), alg);
        assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());

        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());
        let back = PrivateKey::from_der(&p8).unwrap();
        assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());
        assert!(key.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(!format!("{key:?}").contains(&hex::encode(&p8[..])));
    }
}

#[test]
fn encrypted_pkcs8() {
    let key = &keys(KeyAlgorithm::EcP256)[0];
    let enc = key.to_encrypted_pkcs8_pem("s3cret", &mut os_rng()).unwrap();
    assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(PrivateKey::from_pem(&enc).unwrap_err(), Error::PasswordRequired);
    assert_eq!(
        PrivateKey::from_pem_with_password(&enc, "wrong").unwrap_err(),
        Error::DecryptionFailed
    );
    let back = PrivateKey::from_pem_with_password(&enc, "s3cret").unwrap();
    assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());
    // a plain key loads with or without a password
    let plain = key.to_pkcs8_pem();
    assert!(PrivateKey::from_pem_with_password(&plain, "x").is_ok());
}

#[test]
fn pkcs1_import() {
    for alg in [KeyAlgorithm::Rsa1024, KeyAlgorithm::Rsa2048] {
        let key = &keys(alg)[0];
        let p8 = key.to_pkcs8_der();
        let info = pkcs8::PrivateKeyInfoRef::from_der(&p8).unwrap();
        let pkcs1 = info.private_key.as_bytes();
        let back = PrivateKey::from_pkcs1_der(pkcs1).unwrap();
        assert_eq!(back.algorithm(), alg);
        assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());
        let text = pem::encode("RSA PRIVATE KEY", pkcs1);
        let back = PrivateKey::from_pem(&text).unwrap();
        assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());
        assert_eq!(PrivateKey::from_der(pkcs1).unwrap().algorithm(), alg);
    }
}

#[test]
fn sec1_import_with_ec_parameters_block() {
    for (alg, curve) in [
        (KeyAlgorithm::EcP256, "1.2.840.10045.3.1.7"),
        (KeyAlgorithm::EcP384, "1.3.132.0.34"),
        (KeyAlgorithm::EcP521, "1.3.132.0.35"),
        (KeyAlgorithm::Sm2, "1.2.156.10197.1.301"),
    ] {
        let key = &keys(alg)[0];
        let p8 = key.to_pkcs8_der();
        let info = pkcs8::PrivateKeyInfoRef::from_der(&p8).unwrap();
        let mut ec = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).unwrap();
        let oid = const_oid::ObjectIdentifier::new_unwrap(curve);
        ec.parameters = Some(sec1::EcParameters::NamedCurve(oid));
        let sec1_der = ec.to_der().unwrap();
        let text = format!(
            "{}{}",
            pem::encode("EC PARAMETERS", &oid.to_der().unwrap()),
            pem::encode("EC PRIVATE KEY", &sec1_der)
        );
        let back = PrivateKey::from_pem(&text).unwrap();
        assert_eq!(back.algorithm(), alg, "{alg:?}");
        assert_eq!(back.public_key_spki_der(), key.public_key_spki_der());
        // without parameters the curve is unknown
        ec.parameters = None;
        assert!(matches!(
            PrivateKey::from_sec1_der(&ec.to_der().unwrap()),
            Err(Error::MalformedKey(_))
        ));
    }
}

#[test]
fn import_errors() {
    assert!(matches!(
        PrivateKey::from_der(b"\x30\x03\x02\x01\x00"),
        Err(Error::MalformedKey(_))
    ));
    assert!(matches!(PrivateKey::from_pem("hello"), Err(Error::Pem(_))));
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(PrivateKey::from_pem(legacy), Err(Error::UnsupportedKey(_))));
}

#[test]
fn sign_and_verify_every_algorithm() {
    let msg = b"opencas signs this";
    for alg in KeyAlgorithm::ALL {
        let key = &keys(alg)[0];
        let spki = key.public_key_spki_der();
        let sa = alg.signature_algorithm();
        for id in [Sm2Id::Standard, Sm2Id::Empty] {
            let sig = key.sign(msg, id).unwrap();
            verify_signature(spki, sa, msg, &sig, id).unwrap();
            assert_eq!(
                verify_signature(spki, sa, b"other message", &sig, id),
                Err(Error::BadSignature)
            );
            let other = keys(alg)[1].public_key_spki_der();
            assert_eq!(verify_signature(other, sa, msg, &sig, id), Err(Error::BadSignature));
            if alg.family() == KeyFamily::Sm2 {
                let wrong = if id == Sm2Id::Standard {
                    Sm2Id::Empty
                } else {
                    Sm2Id::Standard
                };
                assert_eq!(verify_signature(spki, sa, msg, &sig, wrong), Err(Error::BadSignature));
                // T1: the signature is DER, not raw r||s
                assert_eq!(sig[0], 0x30);
            }
        }
    }
    // algorithm / key mismatch is refused, not mis-verified
    let ec = &keys(KeyAlgorithm::EcP256)[0];
    let sig = ec.sign(msg, Sm2Id::Standard).unwrap();
    assert!(matches!(
        verify_signature(
            ec.public_key_spki_der(),
            SignatureAlgorithm::RsaSha256,
            msg,
            &sig,
            Sm2Id::Standard
        ),
        Err(Error::UnsupportedAlgorithm(_))
    ));
}

/// An encrypted key whose key-derivation parameters are set by `change`, with the
/// ciphertext of a real key (it is never decrypted when the cost is refused).
fn encrypted_with(change: impl FnOnce(&mut pkcs8::pkcs5::pbes2::Kdf)) -> String {
    use der::{Decode, Encode};
    use pkcs8::pkcs5::EncryptionScheme;
    let key = &keys(KeyAlgorithm::EcP256)[0];
    let pem = key.to_encrypted_pkcs8_pem("s3cret", &mut os_rng()).unwrap();
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    let mut enc = pkcs8::EncryptedPrivateKeyInfoOwned::from_der(&der).unwrap();
    let EncryptionScheme::Pbes2(params) = &mut enc.encryption_algorithm else {
        panic!("PBES2 expected")
    };
    change(&mut params.kdf);
    der::pem::encode_string(
        "ENCRYPTED PRIVATE KEY",
        der::pem::LineEnding::LF,
        &enc.to_der().unwrap(),
    )
    .unwrap()
}

#[test]
fn encrypted_keys_with_hostile_kdf_costs_are_refused_before_deriving() {
    use pkcs8::pkcs5::pbes2::{Kdf, ScryptParams};
    let unsupported = |pem: &str| {
        matches!(
            PrivateKey::from_pem_with_password(pem, "s3cret"),
            Err(Error::UnsupportedKey(m)) if m.contains("key derivation cost")
        )
    };
    // u32::MAX PBKDF2 iterations would take hours; refused at once
    let pbkdf2 = encrypted_with(|kdf| match kdf {
        Kdf::Pbkdf2(p) => p.iteration_count = u32::MAX,
        _ => panic!("PBKDF2 expected"),
    });
    assert!(unsupported(&pbkdf2));
    // scrypt with N = 2^30, r = 8 would allocate 128 GiB
    let scrypt = encrypted_with(|kdf| {
        let Kdf::Pbkdf2(p) = kdf else { panic!("PBKDF2 expected") };
        *kdf = Kdf::Scrypt(ScryptParams {
            salt: p.salt,
            cost_parameter: 1 << 30,
            block_size: 8,
            parallelization: 1,
            key_length: None,
        });
    });
    assert!(unsupported(&scrypt));
    // the iteration count honest tools write still works
    let honest = encrypted_with(|kdf| match kdf {
        Kdf::Pbkdf2(p) => assert!(p.iteration_count <= 600_000, "{}", p.iteration_count),
        _ => panic!("PBKDF2 expected"),
    });
    assert!(PrivateKey::from_pem_with_password(&honest, "s3cret").is_ok());
}
