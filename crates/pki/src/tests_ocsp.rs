//! OCSP: CertIDs, request parsing (and every malformed-request refusal),
//! responses from the CA and from a delegated responder, error responses.

use der::asn1::{AnyRef, IntRef, OctetString};
use der::{Decode, Encode};
use sha1::{Digest, Sha1};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use x509_cert::{Certificate, Version};

use crate::ocsp_asn::{CertIdAsn, ID_PKIX_OCSP_NOCHECK, ID_PKIX_OCSP_NONCE, OcspRequestAsn, RequestAsn, TbsRequestAsn};
use crate::test_support::{Y2026, YEAR, ca_chain, keys, subject};
use crate::{
    CertId, CertValidity, Error, KeyAlgorithm, OcspCertStatus, OcspHashAlgorithm, OcspRequest, OcspResponseStatus,
    RevocationReason, SingleResponse, Sm2Id, build_ocsp_response, build_ocsp_signer_cert, ocsp_error_response, os_rng,
    parse_ocsp_response,
};

const SERIAL: [u8; 16] = [0x42; 16];
const NONCE: [u8; 18] = [0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

/// An OCSPRequest for `ids` (DER CertIDs), with optional version, nonce,
/// extra request extension and a dummy signature.
fn request(ids: &[&[u8]], version: Option<u8>, nonce: Option<&[u8]>, ext: Option<Extension>, signed: bool) -> Vec<u8> {
    let v = version.map(|v| [v]);
    let mut exts: Vec<Extension> = nonce
        .map(|n| Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(n).unwrap(),
        })
        .into_iter()
        .collect();
    exts.extend(ext);
    let sig = [0x30, 0x00];
    OcspRequestAsn {
        tbs: TbsRequestAsn {
            version: v.as_ref().map(|v| IntRef::new(v).unwrap()),
            requestor_name: None,
            request_list: ids
                .iter()
                .map(|d| RequestAsn {
                    req_cert: AnyRef::from_der(d).unwrap(),
                    extensions: None,
                })
                .collect(),
            extensions: (!exts.is_empty()).then_some(exts),
        },
        signature: signed.then(|| AnyRef::from_der(&sig).unwrap()),
    }
    .to_der()
    .unwrap()
}

#[test]
fn cert_ids() {
    let (root, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let sub_cert = Certificate::from_der(&sub).unwrap();
    let spki = sub_cert.tbs_certificate().subject_public_key_info();
    for h in [
        OcspHashAlgorithm::Sha1,
        OcspHashAlgorithm::Sha256,
        OcspHashAlgorithm::Sha384,
        OcspHashAlgorithm::Sha512,
    ] {
        let id = CertId::new(h, &sub, &[0, 0x80, 1]).unwrap();
        assert_eq!(id.hash_algorithm(), h);
        assert_eq!(id.serial(), [0x80, 1]);
        assert_eq!(id.serial_hex(), "8001");
        assert_eq!(id.issuer_key_hash(), h.digest(spki.subject_public_key.raw_bytes()));
        assert_eq!(
            id.issuer_name_hash(),
            h.digest(&sub_cert.tbs_certificate().subject().to_der().unwrap())
        );
        assert!(id.matches_issuer(&sub));
        assert!(!id.matches_issuer(&root));
        assert!(!id.matches_issuer(b"junk"));
        // INTEGER 0x0080 01 with the sign octet, and NULL hash parameters.
        let asn = CertIdAsn::from_der(id.as_der()).unwrap();
        assert_eq!(asn.serial_number.as_bytes(), [0, 0x80, 1]);
        assert_eq!(asn.hash_algorithm.parameters, Some(AnyRef::NULL));
    }
    assert_eq!(
        OcspHashAlgorithm::Sha1.digest(b"abc"),
        hex::decode("a9993e364706816aba3e25717850c26c9cd0d89d").unwrap()
    );
    assert!(matches!(
        CertId::new(OcspHashAlgorithm::Sha1, &sub, &[0]),
        Err(Error::InvalidSerial(_))
    ));
}

#[test]
fn request_parsing() {
    let (root, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let a = CertId::new(OcspHashAlgorithm::Sha1, &sub, &SERIAL).unwrap();
    let b = CertId::new(OcspHashAlgorithm::Sha256, &root, &[7]).unwrap();
    let der = request(&[a.as_der(), b.as_der()], None, Some(&NONCE), None, false);
    let req = OcspRequest::from_der(&der).unwrap();
    assert_eq!(req.cert_ids, [a.clone(), b.clone()]);
    assert_eq!(req.nonce.as_deref(), Some(&NONCE[..]));
    assert!(!req.signed);
    assert!(req.cert_ids[0].matches_issuer(&sub) && req.cert_ids[1].matches_issuer(&root));
    // v1 written explicitly, a signature (ignored), a non-critical unknown extension.
    let other = Extension {
        extn_id: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.4"),
        critical: false,
        extn_value: OctetString::new([0x30, 0x00]).unwrap(),
    };
    let der = request(&[a.as_der()], Some(0), None, Some(other), true);
    let req = OcspRequest::from_der(&der).unwrap();
    assert_eq!(req.cert_ids, std::slice::from_ref(&a));
    assert_eq!(req.nonce, None);
    assert!(req.signed);
}

#[test]
fn malformed_requests() {
    let (_, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let a = CertId::new(OcspHashAlgorithm::Sha1, &sub, &SERIAL).unwrap();
    let good = request(&[a.as_der()], None, Some(&NONCE), None, false);
    assert!(OcspRequest::from_der(&good).is_ok());

    let cert_id = |oid: &str, name_len: usize, serial: &[u8]| {
        CertIdAsn {
            hash_algorithm: spki::AlgorithmIdentifierRef {
                oid: const_oid::ObjectIdentifier::new_unwrap(oid),
                parameters: Some(AnyRef::NULL),
            },
            issuer_name_hash: OctetString::new(vec![1; name_len]).unwrap(),
            issuer_key_hash: OctetString::new(vec![2; 20]).unwrap(),
            serial_number: IntRef::new(serial).unwrap(),
        }
        .to_der()
        .unwrap()
    };
    let sha1 = "1.3.14.3.2.26";
    assert!(OcspRequest::from_der(&request(&[&cert_id(sha1, 20, &[1])], None, None, None, false)).is_ok());
    let critical = Extension {
        extn_id: const_oid::ObjectIdentifier::new_unwrap("1.2.3.4"),
        critical: true,
        extn_value: OctetString::new([0x05, 0x00]).unwrap(),
    };
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("junk", b"GET / HTTP/1.1".to_vec()),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("trailing data", trailing),
        ("version 2", request(&[a.as_der()], Some(1), None, None, false)),
        ("no certificates", request(&[], None, None, None, false)),
        (
            "MD5",
            request(&[&cert_id("1.2.840.113549.2.5", 16, &[1])], None, None, None, false),
        ),
        (
            "SM3",
            request(&[&cert_id("1.2.156.10197.1.401", 32, &[1])], None, None, None, false),
        ),
        (
            "hash length",
            request(&[&cert_id(sha1, 19, &[1])], None, None, None, false),
        ),
        (
            "negative serial",
            request(&[&cert_id(sha1, 20, &[0xff])], None, None, None, false),
        ),
        (
            "critical extension",
            request(&[a.as_der()], None, None, Some(critical), false),
        ),
        (
            "CertID not a SEQUENCE",
            request(&[&[0x04, 0x01, 0x00]], None, None, None, false),
        ),
    ];
    for (what, der) in cases {
        assert!(
            matches!(OcspRequest::from_der(&der), Err(Error::MalformedOcspRequest(_))),
            "{what}"
        );
    }
    let dup = request(&[a.as_der()], None, Some(&NONCE), Some(good_nonce_ext()), false);
    assert!(matches!(
        OcspRequest::from_der(&dup),
        Err(Error::MalformedOcspRequest(_))
    ));
}

fn good_nonce_ext() -> Extension {
    Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new([0x04, 0x01, 0x09]).unwrap(),
    }
}

fn responses(issuer: &[u8]) -> Vec<SingleResponse> {
    let id = |s: &[u8]| CertId::new(OcspHashAlgorithm::Sha1, issuer, s).unwrap();
    vec![
        SingleResponse {
            cert_id: id(&SERIAL),
            status: OcspCertStatus::Revoked {
                time: Y2026 + 100,
                reason: Some(RevocationReason::KeyCompromise),
            },
            this_update: Y2026 + 3600,
            next_update: Some(Y2026 + 7200),
        },
        SingleResponse {
            cert_id: CertId::new(OcspHashAlgorithm::Sha256, issuer, &[2]).unwrap(),
            status: OcspCertStatus::Good,
            this_update: Y2026 + 3600,
            next_update: None,
        },
        SingleResponse {
            cert_id: id(&[3]),
            status: OcspCertStatus::Unknown,
            this_update: Y2026 + 3600,
            next_update: Some(Y2026 + 3600),
        },
        SingleResponse {
            cert_id: id(&[4]),
            status: OcspCertStatus::Revoked {
                time: Y2026,
                reason: None,
            },
            this_update: Y2026 + 3600,
            next_update: None,
        },
    ]
}

#[test]
fn responses_signed_by_the_ca() {
    for (alg, id) in [
        (KeyAlgorithm::Rsa2048, Sm2Id::Standard),
        (KeyAlgorithm::EcP256, Sm2Id::Standard),
        (KeyAlgorithm::EcP384, Sm2Id::Standard),
        (KeyAlgorithm::EcP521, Sm2Id::Standard),
        (KeyAlgorithm::Sm2, Sm2Id::Empty),
        (KeyAlgorithm::Sm2, Sm2Id::Standard),
    ] {
        let (_, sub) = ca_chain(alg, id);
        let key = &keys(alg)[1];
        let rs = responses(&sub);
        let der = build_ocsp_response(&sub, key, &rs, Y2026 + 3601, Some(&NONCE), id).unwrap();
        let info = parse_ocsp_response(&der).unwrap();
        assert_eq!(info.error, None);
        let spki = SubjectPublicKeyInfoRef::from_der(key.public_key_spki_der()).unwrap();
        let hash = Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec();
        assert_eq!(info.responder_key_hash, Some(hash));
        assert_eq!(info.responder_dn, None);
        assert_eq!(info.produced_at, Y2026 + 3601);
        assert_eq!(info.responses, rs);
        assert_eq!(info.nonce.as_deref(), Some(&NONCE[..]));
        assert!(info.certs.is_empty(), "the CA itself answers: no certs");
        assert_eq!(info.signature_algorithm, alg.signature_algorithm().cas_name());
        info.verify_signature(key.public_key_spki_der(), id).unwrap();
        assert_eq!(
            info.verify_signature(keys(alg)[0].public_key_spki_der(), id),
            Err(Error::BadSignature)
        );
        // Without a nonce, no response extensions.
        let der = build_ocsp_response(&sub, key, &rs[..1], Y2026, None, id).unwrap();
        assert_eq!(parse_ocsp_response(&der).unwrap().nonce, None);
    }
}

/// The aws-lc back-ends sign OCSP answers without verifying them again (the self-check
/// is kept for the others): every such answer must still verify.
#[test]
fn answers_signed_without_a_self_check_verify() {
    let expected = [
        (KeyAlgorithm::Rsa1024, false),
        (KeyAlgorithm::Rsa2048, true),
        (KeyAlgorithm::EcP256, true),
        (KeyAlgorithm::EcP384, true),
        (KeyAlgorithm::Sm2, false),
    ];
    for (alg, unchecked) in expected {
        assert_eq!(keys(alg)[1].signature_right_by_construction(), unchecked, "{alg:?}");
    }
    let (_, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let key = &keys(KeyAlgorithm::EcP256)[1];
    let rs = responses(&sub);
    for i in 0..300 {
        let nonce = [0x04, 0x08, i as u8, (i >> 8) as u8, 1, 2, 3, 4, 5, 6];
        let der = build_ocsp_response(&sub, key, &rs, Y2026 + i, Some(&nonce), Sm2Id::Standard).unwrap();
        let info = parse_ocsp_response(&der).unwrap();
        info.verify_signature(key.public_key_spki_der(), Sm2Id::Standard)
            .unwrap_or_else(|e| panic!("answer {i}: {e}"));
    }
}

#[test]
fn unspecified_reason_is_omitted() {
    let (_, sub) = ca_chain(KeyAlgorithm::EcP256, Sm2Id::Standard);
    let mut rs = responses(&sub);
    rs.truncate(1);
    rs[0].status = OcspCertStatus::Revoked {
        time: Y2026,
        reason: Some(RevocationReason::Unspecified),
    };
    let der = build_ocsp_response(&sub, &keys(KeyAlgorithm::EcP256)[1], &rs, Y2026, None, Sm2Id::Standard).unwrap();
    let info = parse_ocsp_response(&der).unwrap();
    assert_eq!(
        info.responses[0].status,
        OcspCertStatus::Revoked {
            time: Y2026,
            reason: None
        }
    );
}

#[test]
fn delegated_responder() {
    let alg = KeyAlgorithm::EcP256;
    let (_, sub) = ca_chain(alg, Sm2Id::Standard);
    let sub_key = &keys(alg)[1];
    let responder_key = &keys(KeyAlgorithm::Rsa2048)[0];
    let validity = CertValidity {
        not_before: Y2026,
        not_after: Y2026 + YEAR,
    };
    let mut rng = os_rng();
    let signer = build_ocsp_signer_cert(
        &sub,
        sub_key,
        responder_key.public_key_spki_der(),
        &subject("OCSP Responder"),
        validity,
        None,
        Sm2Id::Standard,
        &mut rng,
    )
    .unwrap();
    let cert = Certificate::from_der(&signer).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.version(), Version::V3);
    let (crit, bc) = tbs.get_extension::<BasicConstraints>().unwrap().unwrap();
    assert!(crit && !bc.ca);
    let (_, ku) = tbs.get_extension::<KeyUsage>().unwrap().unwrap();
    assert!(ku.digital_signature() && !ku.key_cert_sign() && !ku.key_encipherment());
    let (_, eku) = tbs.get_extension::<ExtendedKeyUsage>().unwrap().unwrap();
    assert_eq!(eku.0, [const_oid::db::rfc5280::ID_KP_OCSP_SIGNING]);
    let nocheck = tbs
        .extensions()
        .unwrap()
        .iter()
        .find(|x| x.extn_id == ID_PKIX_OCSP_NOCHECK)
        .unwrap();
    assert!(!nocheck.critical);
    assert_eq!(nocheck.extn_value.as_bytes(), [0x05, 0x00]);
    crate::verify_certificate_signature(&signer, sub_key.public_key_spki_der(), Sm2Id::Standard).unwrap();

    let rs = responses(&sub);
    let der = build_ocsp_response(&signer, responder_key, &rs, Y2026, None, Sm2Id::Standard).unwrap();
    let info = parse_ocsp_response(&der).unwrap();
    assert_eq!(info.certs, std::slice::from_ref(&signer));
    assert_eq!(info.signature_algorithm, "SHA256WITHRSA");
    info.verify_signature(responder_key.public_key_spki_der(), Sm2Id::Standard)
        .unwrap();
    // Refusals: the key must be the responder certificate's.
    assert_eq!(
        build_ocsp_response(&signer, sub_key, &rs, Y2026, None, Sm2Id::Standard),
        Err(Error::KeyMismatch)
    );
}

#[test]
fn response_refusals() {
    let alg = KeyAlgorithm::EcP256;
    let (_, sub) = ca_chain(alg, Sm2Id::Standard);
    let key = &keys(alg)[1];
    let build = |rs: &[SingleResponse], at| build_ocsp_response(&sub, key, rs, at, None, Sm2Id::Standard);
    assert!(matches!(build(&[], Y2026), Err(Error::InvalidRevocation(_))));
    let mut rs = responses(&sub);
    rs[0].next_update = Some(rs[0].this_update - 1);
    assert!(matches!(build(&rs, Y2026), Err(Error::InvalidValidity(_))));
    let mut rs = responses(&sub);
    rs[0].status = OcspCertStatus::Revoked {
        time: Y2026,
        reason: Some(RevocationReason::RemoveFromCrl),
    };
    assert!(matches!(build(&rs, Y2026), Err(Error::InvalidRevocation(_))));
    assert!(matches!(build(&responses(&sub), -1), Err(Error::InvalidValidity(_))));
    assert!(matches!(
        build_ocsp_response(b"junk", key, &responses(&sub), Y2026, None, Sm2Id::Standard),
        Err(Error::MalformedCertificate(_))
    ));
}

#[test]
fn error_responses() {
    for (s, code) in [
        (OcspResponseStatus::MalformedRequest, 1),
        (OcspResponseStatus::InternalError, 2),
        (OcspResponseStatus::TryLater, 3),
        (OcspResponseStatus::SigRequired, 5),
        (OcspResponseStatus::Unauthorized, 6),
    ] {
        assert_eq!(s.code(), code);
        let der = ocsp_error_response(s);
        assert_eq!(der, [0x30, 0x03, 0x0a, 0x01, code]);
        let info = parse_ocsp_response(&der).unwrap();
        assert_eq!(info.error, Some(s));
        assert!(info.responses.is_empty() && info.responder_key_hash.is_none());
    }
    // successful without responseBytes, unknown status, junk
    for bad in [
        &[0x30, 0x03, 0x0a, 0x01, 0x00][..],
        &[0x30, 0x03, 0x0a, 0x01, 0x04],
        b"junk",
    ] {
        assert!(matches!(parse_ocsp_response(bad), Err(Error::MalformedOcspResponse(_))));
    }
}
