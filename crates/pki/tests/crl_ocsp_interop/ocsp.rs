//! OCSP against `openssl ocsp`: requests made by OpenSSL (with and without a
//! nonce) are parsed here and answered by the sub CA itself or by a delegated
//! responder; `openssl ocsp -respin` verifies the answers, prints the
//! statuses and checks the nonce.

use opencas_pki::{
    CertInfo, CertValidity, KeyAlgorithm, OcspCertStatus, OcspRequest, OcspResponseStatus, PrivateKey,
    RevocationReason, SingleResponse, Sm2Id, build_ocsp_response, build_ocsp_signer_cert, ocsp_error_response, os_rng,
    parse_ocsp_response, pem,
};

use super::{Pki, have_openssl, now, serial_of, subject};

/// Makes a request with `openssl ocsp` for the two leaves and parses it.
fn openssl_request(p: &Pki, file: &str, nonce: bool) -> OcspRequest {
    let mut args = vec![
        "ocsp",
        "-issuer",
        "sub.pem",
        "-cert",
        "revoked.pem",
        "-cert",
        "good.pem",
        "-reqout",
        file,
    ];
    if !nonce {
        args.push("-no_nonce");
    }
    let (ok, out) = p.run(&args);
    assert!(ok, "{out}");
    let der = std::fs::read(p.dir.join(file)).unwrap();
    let req = OcspRequest::from_der(&der).unwrap();
    assert_eq!(req.cert_ids.len(), 2);
    assert_eq!(req.nonce.is_some(), nonce);
    assert!(!req.signed);
    for (id, leaf) in req.cert_ids.iter().zip([&p.revoked, &p.good]) {
        assert!(id.matches_issuer(&p.sub));
        assert!(!id.matches_issuer(&p.root));
        assert_eq!(id.serial_hex(), serial_of(leaf));
    }
    req
}

/// The answers to `req`: the `revoked` leaf revoked (keyCompromise), the other good.
fn answers(p: &Pki, req: &OcspRequest) -> Vec<SingleResponse> {
    let t = now();
    let revoked = serial_of(&p.revoked);
    req.cert_ids
        .iter()
        .map(|id| SingleResponse {
            cert_id: id.clone(),
            status: if id.serial_hex() == revoked {
                OcspCertStatus::Revoked {
                    time: t - 600,
                    reason: Some(RevocationReason::KeyCompromise),
                }
            } else {
                OcspCertStatus::Good
            },
            this_update: t - 60,
            next_update: Some(t + 3600),
        })
        .collect()
}

fn write(p: &Pki, name: &str, der: &[u8]) {
    std::fs::write(p.dir.join(name), der).unwrap();
}

/// Statuses and signature, as a client that knows the issuer checks them.
fn check_statuses(p: &Pki, resp: &str) {
    let (ok, out) = p.run(&[
        "ocsp",
        "-respin",
        resp,
        "-issuer",
        "sub.pem",
        "-CAfile",
        "root.pem",
        "-cert",
        "revoked.pem",
        "-cert",
        "good.pem",
        "-no_nonce",
    ]);
    let alg = p.alg;
    assert!(ok && out.contains("Response verify OK"), "{alg:?}: {out}");
    assert!(out.contains("revoked.pem: revoked"), "{alg:?}: {out}");
    assert!(out.contains("Reason: keyCompromise"), "{alg:?}: {out}");
    assert!(out.contains("good.pem: good"), "{alg:?}: {out}");
}

/// The nonce of `req` as OpenSSL checks it against the response.
fn check_nonce(p: &Pki, req: &str, resp: &str) -> String {
    let (ok, out) = p.run(&[
        "ocsp", "-reqin", req, "-respin", resp, "-issuer", "sub.pem", "-CAfile", "root.pem",
    ]);
    assert!(ok && out.contains("Response verify OK"), "{:?}: {out}", p.alg);
    out
}

fn check_ocsp(p: &Pki) {
    let alg = p.alg;
    let id = p.sm2_id;
    // With a nonce: echoed, and OpenSSL checks it.
    let req = openssl_request(p, "req.der", true);
    let resp = build_ocsp_response(&p.sub, &p.sub_key, &answers(p, &req), now(), req.nonce.as_deref(), id).unwrap();
    write(p, "resp.der", &resp);
    let info = parse_ocsp_response(&resp).unwrap();
    assert!(info.certs.is_empty());
    check_statuses(p, "resp.der");
    let out = check_nonce(p, "req.der", "resp.der");
    assert!(
        !out.contains("WARNING") && !out.to_lowercase().contains("nonce"),
        "{alg:?}: {out}"
    );
    let (ok, text) = p.run(&["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]);
    assert!(
        ok && text.contains("OCSP Nonce") && text.contains("Responder Id: "),
        "{text}"
    );

    // A response echoing another nonce is caught.
    let mut other = req.nonce.clone().unwrap();
    *other.last_mut().unwrap() ^= 1;
    let resp = build_ocsp_response(&p.sub, &p.sub_key, &answers(p, &req), now(), Some(&other), id).unwrap();
    write(p, "resp_bad_nonce.der", &resp);
    let (ok, out) = p.run(&[
        "ocsp",
        "-reqin",
        "req.der",
        "-respin",
        "resp_bad_nonce.der",
        "-issuer",
        "sub.pem",
        "-CAfile",
        "root.pem",
    ]);
    assert!(!ok && out.contains("Nonce Verify error"), "{alg:?}: {out}");

    // Without a nonce.
    let req = openssl_request(p, "req_nn.der", false);
    let resp = build_ocsp_response(&p.sub, &p.sub_key, &answers(p, &req), now(), None, id).unwrap();
    write(p, "resp_nn.der", &resp);
    check_statuses(p, "resp_nn.der");
    let out = check_nonce(p, "req_nn.der", "resp_nn.der");
    assert!(!out.contains("WARNING"), "{alg:?}: {out}");

    // A delegated responder (its own RSA key) carries its certificate.
    let mut rng = os_rng();
    let responder_key = PrivateKey::generate(KeyAlgorithm::Rsa2048, &mut rng).unwrap();
    let t = now() - 3600;
    let responder = build_ocsp_signer_cert(
        &p.sub,
        &p.sub_key,
        responder_key.public_key_spki_der(),
        &subject("OCSP Responder"),
        CertValidity {
            not_before: t,
            not_after: t + 30 * 86_400,
        },
        None,
        id,
        &mut rng,
    )
    .unwrap();
    std::fs::write(p.dir.join("responder.pem"), pem::cert_der_to_pem(&responder)).unwrap();
    let (ok, text) = p.run(&["x509", "-in", "responder.pem", "-noout", "-text"]);
    assert!(
        ok && text.contains("OCSP Signing") && text.contains("OCSP No Check"),
        "{text}"
    );
    let req = openssl_request(p, "req.der", true);
    let resp = build_ocsp_response(
        &responder,
        &responder_key,
        &answers(p, &req),
        now(),
        req.nonce.as_deref(),
        Sm2Id::Standard,
    )
    .unwrap();
    assert_eq!(
        parse_ocsp_response(&resp).unwrap().certs,
        std::slice::from_ref(&responder)
    );
    write(p, "resp_delegated.der", &resp);
    check_statuses(p, "resp_delegated.der");
    let out = check_nonce(p, "req.der", "resp_delegated.der");
    assert!(!out.contains("WARNING"), "{alg:?}: {out}");
    assert_eq!(
        CertInfo::parse(&responder).unwrap().extended_key_usages,
        ["OCSPSigning"]
    );
    eprintln!("{}: OCSP checks OK", alg.as_api());
}

#[test]
fn ocsp_with_openssl() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256, KeyAlgorithm::EcP384] {
        check_ocsp(&Pki::new(tmp.path(), alg, Sm2Id::Standard));
    }
    // SM2 with the empty ID (the only one `openssl ocsp` can verify).
    check_ocsp(&Pki::new(tmp.path(), KeyAlgorithm::Sm2, Sm2Id::Empty));
}

#[test]
fn ocsp_error_responses_with_openssl() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (s, name) in [
        (OcspResponseStatus::MalformedRequest, "malformedrequest (1)"),
        (OcspResponseStatus::InternalError, "internalerror (2)"),
        (OcspResponseStatus::TryLater, "trylater (3)"),
        (OcspResponseStatus::SigRequired, "sigrequired (5)"),
        (OcspResponseStatus::Unauthorized, "unauthorized (6)"),
    ] {
        std::fs::write(tmp.path().join("err.der"), ocsp_error_response(s)).unwrap();
        let (_, out) = super::openssl(tmp.path(), &["ocsp", "-respin", "err.der", "-resp_text"]);
        assert!(out.contains(name), "{s:?}: {out}");
    }
}
