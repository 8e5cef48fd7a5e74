//! CSR building and strict parsing: round trips for every algorithm, the
//! signature-algorithm variants other tools produce (P-521 with SHA-256,
//! RSA-PSS, SM2 with either ID), and every refusal.

use der::asn1::{Any, BitString, Ia5String, OctetString};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::alg::oid;
use crate::test_support::{keys, subject};
use crate::verify::{ID_MGF1, ID_SHA256, PssParams};
use crate::{
    CsrPolicy, Error, KeyAlgorithm, ParsedCsr, PrivateKey, San, SignatureAlgorithm, Sm2Id, build_csr, os_rng, pem,
};

/// secp256k1 request made by `openssl req -new -key k1.key -subj /CN=k1`.
const SECP256K1_CSR: &str = "3081c4306c020100300d310b300906035504030c026b313056301006072a8648ce3d020106052b8104000a03420004480d852e84d40296473b33fa149b9129e0bfb1cf8a57a8a6129a260849e8fa2343479e1cadbdce6f8c7b0b3b1d1599794856353ec5b1e0fc241c76379b7c4b70a000300a06082a8648ce3d0403020348003045022100c34b60edf130b45b467e45869522495a27e5bbd87e01c6dcbff8f659a0f77f9e0220268475f7594a9a3bedf6745785466a2469b6f2986258b964cc09d22d3b759596";

fn sans() -> Vec<San> {
    vec![
        San::parse_dns("www.example.com").unwrap(),
        San::parse_dns("*.example.com").unwrap(),
        San::parse_ip("10.0.0.1").unwrap(),
        San::parse_ip("2001:db8::1").unwrap(),
        San::parse_email("ops@example.com").unwrap(),
        San::parse_uri("spiffe://example.com/web").unwrap(),
    ]
}

const ALLOW_1024: CsrPolicy = CsrPolicy { allow_rsa_1024: true };

fn info_for(spki_der: &[u8], attributes: Attributes) -> CertReqInfo {
    CertReqInfo {
        version: Version::V1,
        subject: subject("Req").to_name().unwrap(),
        public_key: SubjectPublicKeyInfoOwned::from_der(spki_der).unwrap(),
        attributes,
    }
}

/// Signs `info` with `sign` and assembles the request with `algorithm`.
fn assemble(info: CertReqInfo, algorithm: AlgorithmIdentifierOwned, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let sig = sign(&info.to_der().unwrap());
    CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&sig).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A request signed by `key` (its own algorithm), with the given attributes.
fn signed_by(key: &PrivateKey, attributes: Attributes) -> Vec<u8> {
    let info = info_for(key.public_key_spki_der(), attributes);
    let alg = key.algorithm().signature_algorithm().algorithm_identifier();
    assemble(info, alg, |m| key.sign(m, Sm2Id::Standard).unwrap())
}

fn ext_req(exts: Vec<Extension>) -> Attribute {
    Attribute::try_from(ExtensionReq(exts)).unwrap()
}

fn san_ext(der: Vec<u8>) -> Extension {
    Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
        critical: false,
        extn_value: OctetString::new(der).unwrap(),
    }
}

fn rsa_crate_key(key: &PrivateKey) -> rsa::RsaPrivateKey {
    use pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap()
}

fn malformed(r: crate::Result<ParsedCsr>) {
    assert!(matches!(r, Err(Error::MalformedCsr(_))), "{r:?}");
}

#[test]
fn build_and_parse_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let key = &keys(alg)[0];
        let ids: &[Sm2Id] = if alg == KeyAlgorithm::Sm2 {
            &[Sm2Id::Standard, Sm2Id::Empty]
        } else {
            &[Sm2Id::Standard]
        };
        for &id in ids {
            let der = build_csr(key, &subject("Req"), &sans(), id).unwrap();
            let csr = ParsedCsr::from_der(&der, ALLOW_1024).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(csr.key_algorithm, alg);
            assert_eq!(csr.public_key_spki_der, key.public_key_spki_der());
            assert_eq!(csr.subject, subject("Req"));
            assert_eq!(csr.subject_dn, "C=CN,ST=Zhejiang,L=Hangzhou,O=opencas,OU=PKI,CN=Req");
            assert_eq!(csr.sans, sans());
            assert_eq!(csr.requested_extensions.len(), 1);
            assert!(!csr.requested_extensions[0].critical);
            assert_eq!(csr.signature_algorithm, alg.signature_algorithm().cas_name());
            assert_eq!(csr.sm2_id, (alg == KeyAlgorithm::Sm2).then_some(id));
            assert_eq!(csr.der, der);
            let again = ParsedCsr::from_pem(&csr.to_pem(), ALLOW_1024).unwrap();
            assert_eq!(again, csr);
        }
    }
}

#[test]
fn csr_without_sans_has_no_attributes() {
    let key = &keys(KeyAlgorithm::EcP256)[0];
    let der = build_csr(key, &subject("Plain"), &[], Sm2Id::Standard).unwrap();
    let req = CertReq::from_der(&der).unwrap();
    assert!(req.info.attributes.is_empty());
    let csr = ParsedCsr::from_der(&der, CsrPolicy::default()).unwrap();
    assert!(csr.sans.is_empty() && csr.requested_extensions.is_empty());
    // duplicates are dropped
    let dup = [sans()[0].clone(), sans()[0].clone()];
    let der = build_csr(key, &subject("Dup"), &dup, Sm2Id::Standard).unwrap();
    assert_eq!(ParsedCsr::from_der(&der, CsrPolicy::default()).unwrap().sans.len(), 1);
}

#[test]
fn build_refusals() {
    let key = &keys(KeyAlgorithm::EcP256)[0];
    for bad in [
        San::Dns("bad..example".into()),
        San::Email("no-at-sign".into()),
        San::Uri("not a uri".into()),
        San::Other("RID:1.2.3".into()),
    ] {
        match build_csr(key, &subject("X"), std::slice::from_ref(&bad), Sm2Id::Standard) {
            Err(Error::InvalidSan(m)) => assert!(m.contains(&bad.value()), "{m}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        build_csr(key, &subject(""), &[], Sm2Id::Standard),
        Err(Error::InvalidSubject(_))
    ));
}

#[test]
fn rsa_1024_needs_permission() {
    let key = &keys(KeyAlgorithm::Rsa1024)[0];
    let der = build_csr(key, &subject("Old"), &[], Sm2Id::Standard).unwrap();
    assert!(matches!(
        ParsedCsr::from_der(&der, CsrPolicy::default()),
        Err(Error::UnsupportedKey(_))
    ));
    assert_eq!(
        ParsedCsr::from_der(&der, ALLOW_1024).unwrap().key_algorithm,
        KeyAlgorithm::Rsa1024
    );
}

#[test]
fn tampered_requests_are_refused() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP384, KeyAlgorithm::Sm2] {
        let key = &keys(alg)[0];
        let der = build_csr(key, &subject("Req"), &sans(), Sm2Id::Standard).unwrap();
        // last signature byte
        let mut sig = der.clone();
        let n = sig.len();
        sig[n - 1] ^= 1;
        // a byte of the common name inside the signed part
        let mut tbs = der.clone();
        let at = der.windows(3).position(|w| w == b"Req").unwrap();
        tbs[at] = b'X';
        for t in [sig, tbs] {
            assert_eq!(ParsedCsr::from_der(&t, ALLOW_1024), Err(Error::BadSignature), "{alg:?}");
        }
        // signed by another key
        let other = &keys(alg)[1];
        let info = info_for(key.public_key_spki_der(), Attributes::new());
        let forged = assemble(info, alg.signature_algorithm().algorithm_identifier(), |m| {
            other.sign(m, Sm2Id::Standard).unwrap()
        });
        assert_eq!(ParsedCsr::from_der(&forged, ALLOW_1024), Err(Error::BadSignature));
    }
}

#[test]
fn malformed_requests() {
    let key = &keys(KeyAlgorithm::EcP256)[0];
    let der = build_csr(key, &subject("Req"), &sans(), Sm2Id::Standard).unwrap();
    malformed(ParsedCsr::from_der(b"junk", CsrPolicy::default()));
    malformed(ParsedCsr::from_der(&der[..der.len() - 1], CsrPolicy::default()));
    let mut trailing = der.clone();
    trailing.push(0);
    malformed(ParsedCsr::from_der(&trailing, CsrPolicy::default()));
    malformed(ParsedCsr::from_pem("no pem here", CsrPolicy::default()));
    let cert_pem = pem::encode("CERTIFICATE", &der);
    malformed(ParsedCsr::from_pem(&cert_pem, CsrPolicy::default()));
    let new_label = pem::encode("NEW CERTIFICATE REQUEST", &der);
    assert!(ParsedCsr::from_pem(&new_label, CsrPolicy::default()).is_ok());

    // a duplicated extension, two extensionRequest attributes, an undecodable SAN
    let good = san_ext(
        SubjectAltName(vec![GeneralName::DnsName(Ia5String::new("a.example").unwrap())])
            .to_der()
            .unwrap(),
    );
    let mut twice = Attributes::new();
    twice.insert(ext_req(vec![good.clone(), good.clone()])).unwrap();
    malformed(ParsedCsr::from_der(&signed_by(key, twice), CsrPolicy::default()));
    let other = san_ext(
        SubjectAltName(vec![GeneralName::DnsName(Ia5String::new("b.example").unwrap())])
            .to_der()
            .unwrap(),
    );
    let mut two_attrs = Attributes::new();
    two_attrs.insert(ext_req(vec![good.clone()])).unwrap();
    two_attrs.insert(ext_req(vec![other.clone()])).unwrap();
    assert_eq!(two_attrs.len(), 2);
    malformed(ParsedCsr::from_der(&signed_by(key, two_attrs), CsrPolicy::default()));
    let mut two_values = ext_req(vec![good.clone()]);
    two_values
        .values
        .insert(Any::encode_from(&vec![other]).unwrap())
        .unwrap();
    let mut attrs = Attributes::new();
    attrs.insert(two_values).unwrap();
    malformed(ParsedCsr::from_der(&signed_by(key, attrs), CsrPolicy::default()));
    let mut bad_san = Attributes::new();
    bad_san.insert(ext_req(vec![san_ext(vec![0x04, 0x00])])).unwrap();
    malformed(ParsedCsr::from_der(&signed_by(key, bad_san), CsrPolicy::default()));

    // signature algorithm of another family; ECDSA with NULL parameters
    let info = info_for(key.public_key_spki_der(), Attributes::new());
    let rsa_alg = SignatureAlgorithm::RsaSha256.algorithm_identifier();
    malformed(ParsedCsr::from_der(
        &assemble(info.clone(), rsa_alg, |m| key.sign(m, Sm2Id::Standard).unwrap()),
        CsrPolicy::default(),
    ));
    let mut ec_null = SignatureAlgorithm::EcdsaSha256.algorithm_identifier();
    ec_null.parameters = Some(Any::null());
    malformed(ParsedCsr::from_der(
        &assemble(info, ec_null, |m| key.sign(m, Sm2Id::Standard).unwrap()),
        CsrPolicy::default(),
    ));
}

#[test]
fn unsupported_keys_and_algorithms() {
    let k1 = hex::decode(SECP256K1_CSR).unwrap();
    assert!(matches!(
        ParsedCsr::from_der(&k1, ALLOW_1024),
        Err(Error::UnsupportedKey(m)) if m.contains("EC")
    ));

    // RSA-1536: well-formed and correctly signed, but not a supported size
    let k = rsa::RsaPrivateKey::new(&mut os_rng(), 1536).unwrap();
    let spki = {
        use spki::EncodePublicKey;
        k.to_public_key().to_public_key_der().unwrap().into_vec()
    };
    let der = assemble(
        info_for(&spki, Attributes::new()),
        SignatureAlgorithm::RsaSha256.algorithm_identifier(),
        |m| {
            use sha2::Digest;
            k.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &sha2::Sha256::digest(m))
                .unwrap()
        },
    );
    assert!(matches!(
        ParsedCsr::from_der(&der, ALLOW_1024),
        Err(Error::UnsupportedKey(m)) if m.contains("1536")
    ));

    // SHA-1 is refused before the signature is looked at
    let key = &keys(KeyAlgorithm::Rsa2048)[0];
    let info = info_for(key.public_key_spki_der(), Attributes::new());
    let sha1 = AlgorithmIdentifierOwned {
        oid: oid::SHA1_WITH_RSA,
        parameters: Some(Any::null()),
    };
    assert!(matches!(
        ParsedCsr::from_der(&assemble(info, sha1, |_| vec![0; 256]), CsrPolicy::default()),
        Err(Error::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn p521_signed_with_sha256() {
    use aws_lc_rs::signature::{ECDSA_P521_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let key = &keys(KeyAlgorithm::EcP521)[0];
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P521_SHA256_ASN1_SIGNING, &key.to_pkcs8_der()).unwrap();
    let der = assemble(
        info_for(key.public_key_spki_der(), Attributes::new()),
        SignatureAlgorithm::EcdsaSha256.algorithm_identifier(),
        |m| {
            kp.sign(&aws_lc_rs::rand::SystemRandom::new(), m)
                .unwrap()
                .as_ref()
                .to_vec()
        },
    );
    let csr = ParsedCsr::from_der(&der, CsrPolicy::default()).unwrap();
    assert_eq!(csr.key_algorithm, KeyAlgorithm::EcP521);
    assert_eq!(csr.signature_algorithm, "SHA256WITHECDSA");
    // the same signature under the name ecdsa-with-SHA512 does not verify
    let mut renamed = der.clone();
    let sha256 = SignatureAlgorithm::EcdsaSha256.oid().to_der().unwrap();
    let sha512 = SignatureAlgorithm::EcdsaSha512.oid().to_der().unwrap();
    let at = renamed
        .windows(sha256.len())
        .rposition(|w| w == sha256.as_slice())
        .unwrap();
    renamed[at..at + sha512.len()].copy_from_slice(&sha512);
    assert_eq!(
        ParsedCsr::from_der(&renamed, CsrPolicy::default()),
        Err(Error::BadSignature)
    );
}

fn pss_alg(salt_len: Option<u32>) -> AlgorithmIdentifierOwned {
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: Some(Any::null()),
    };
    let params = PssParams {
        hash: Some(sha256.clone()),
        mask_gen: Some(AlgorithmIdentifierOwned {
            oid: ID_MGF1,
            parameters: Some(Any::encode_from(&sha256).unwrap()),
        }),
        salt_len,
        trailer_field: None,
    };
    AlgorithmIdentifierOwned {
        oid: oid::RSASSA_PSS,
        parameters: Some(Any::encode_from(&params).unwrap()),
    }
}

#[test]
fn rsa_pss_requests() {
    use sha2::Digest;
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072] {
        let key = &keys(alg)[0];
        let rk = rsa_crate_key(key);
        // digest-length salt, and OpenSSL's default "max" salt (> 255 for 3072)
        let max = alg.key_size_bits() as usize / 8 - 32 - 2;
        for salt in [32usize, max] {
            let der = assemble(
                info_for(key.public_key_spki_der(), Attributes::new()),
                pss_alg(Some(salt as u32)),
                |m| {
                    rk.sign(rsa::Pss::<sha2::Sha256>::new_with_salt(salt), &sha2::Sha256::digest(m))
                        .unwrap()
                },
            );
            let csr = ParsedCsr::from_der(&der, CsrPolicy::default()).unwrap_or_else(|e| panic!("{salt}: {e}"));
            assert_eq!(csr.signature_algorithm, "SHA256WITHRSA/PSS");
            crate::verify_certificate_signature(&der, key.public_key_spki_der(), Sm2Id::Standard).unwrap();
            // the declared salt length must be the one used
            let wrong = assemble(
                info_for(key.public_key_spki_der(), Attributes::new()),
                pss_alg(Some(salt as u32 - 1)),
                |m| {
                    rk.sign(rsa::Pss::<sha2::Sha256>::new_with_salt(salt), &sha2::Sha256::digest(m))
                        .unwrap()
                },
            );
            assert_eq!(
                ParsedCsr::from_der(&wrong, CsrPolicy::default()),
                Err(Error::BadSignature)
            );
        }
    }
    // PSS with the SHA-1 defaults (empty parameters) is refused
    let key = &keys(KeyAlgorithm::Rsa2048)[0];
    let sha1_defaults = AlgorithmIdentifierOwned {
        oid: oid::RSASSA_PSS,
        parameters: Some(Any::from_der(&[0x30, 0x00]).unwrap()),
    };
    let der = assemble(
        info_for(key.public_key_spki_der(), Attributes::new()),
        sha1_defaults,
        |_| vec![0; 256],
    );
    assert!(matches!(
        ParsedCsr::from_der(&der, CsrPolicy::default()),
        Err(Error::UnsupportedAlgorithm(_))
    ));
    // PSS with an EC key
    let ec = &keys(KeyAlgorithm::EcP256)[0];
    let der = assemble(
        info_for(ec.public_key_spki_der(), Attributes::new()),
        pss_alg(Some(32)),
        |_| vec![0; 64],
    );
    malformed(ParsedCsr::from_der(&der, CsrPolicy::default()));
}

#[test]
fn sm2_empty_id_is_detected() {
    let key = &keys(KeyAlgorithm::Sm2)[0];
    let der = build_csr(key, &subject("Sm2"), &[], Sm2Id::Empty).unwrap();
    let csr = ParsedCsr::from_der(&der, CsrPolicy::default()).unwrap();
    assert_eq!(csr.sm2_id, Some(Sm2Id::Empty));
    // signed with some other ID: neither the standard nor the empty ID verifies
    use pkcs8::DecodePrivateKey;
    let sk = sm2::SecretKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
    let signer = sm2::dsa::SigningKey::new("alice@example.com", &sk).unwrap();
    let der = assemble(
        info_for(key.public_key_spki_der(), Attributes::new()),
        SignatureAlgorithm::Sm3WithSm2.algorithm_identifier(),
        |m| crate::keys::sign_sm2(&signer, m).unwrap(),
    );
    assert_eq!(
        ParsedCsr::from_der(&der, CsrPolicy::default()),
        Err(Error::BadSignature)
    );
}
