//! The CSR decisions against a real (temporary) store.

use super::*;
use crate::{Caller, Service, ServiceConfig};
use opencas_pki::{CsrPolicy, KeyAlgorithm, ParsedCsr, SubjectFields, build_csr, os_rng};
use opencas_store::sealing::MasterKey;
use opencas_store::{NewAccessKey, Store};

async fn service(dir: &tempfile::TempDir) -> (Service, Caller, Caller) {
    let master = MasterKey::from_hex(&"66".repeat(32)).unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite"), &master)
        .await
        .unwrap();
    for (id, name) in [(1, "a"), (2, "b")] {
        let key = NewAccessKey {
            access_key_id: name,
            secret: "s",
        };
        store.insert_account(id, name, name, key, 0).await.unwrap();
    }
    (
        Service::new(store, ServiceConfig::default()),
        Caller { account_id: 1 },
        Caller { account_id: 2 },
    )
}

fn create_req(algorithm: &str, key_size: i64, cn: &str) -> CreateCsrRequest {
    CreateCsrRequest {
        algorithm: algorithm.into(),
        key_size,
        common_name: cn.into(),
        sans: Some("alt.example.com,192.0.2.7".into()),
        country_code: "CN".into(),
        province: "Zhejiang".into(),
        locality: "Hangzhou".into(),
        corp_name: Some("Example Corp".into()),
        department: None,
        name: None,
    }
}

fn code(e: crate::ServiceError) -> String {
    match e {
        crate::ServiceError::InvalidParameter { name, .. } => format!("InvalidParameter.{name}"),
        crate::ServiceError::MissingParameter(name) => format!("MissingParameter.{name}"),
        crate::ServiceError::NotFound { code, .. }
        | crate::ServiceError::Conflict { code, .. }
        | crate::ServiceError::Forbidden { code, .. }
        | crate::ServiceError::Unavailable { code, .. } => code.into(),
        crate::ServiceError::Internal(m) => panic!("internal: {m}"),
    }
}

/// A request and its key made outside the service.
fn foreign(alg: KeyAlgorithm, cn: &str) -> (String, String) {
    let key = PrivateKey::generate(alg, &mut os_rng()).unwrap();
    let subject = SubjectFields {
        common_name: cn.into(),
        ..Default::default()
    };
    let der = build_csr(&key, &subject, &[], opencas_pki::Sm2Id::Empty).unwrap();
    (pem::encode("CERTIFICATE REQUEST", &der), key.to_pkcs8_pem().to_string())
}

#[tokio::test]
async fn created_requests_verify_and_keep_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, a, b) = service(&dir).await;
    for (alg, size, want) in [
        ("RSA", 2048, KeyAlgorithm::Rsa2048),
        ("ECC", 256, KeyAlgorithm::EcP256),
        ("SM2", 256, KeyAlgorithm::Sm2),
    ] {
        let made = svc
            .create_csr(a, create_req(alg, size, "www.example.com"))
            .await
            .unwrap();
        let parsed = ParsedCsr::from_pem(&made.csr, CsrPolicy::default()).unwrap();
        assert_eq!(parsed.key_algorithm, want);
        if want == KeyAlgorithm::Sm2 {
            assert_eq!(parsed.sm2_id, Some(opencas_pki::Sm2Id::Standard));
        }
        assert_eq!(parsed.subject.common_name, "www.example.com");
        assert_eq!(parsed.subject.organization.as_deref(), Some("Example Corp"));
        let names: Vec<String> = parsed.sans.iter().map(San::value).collect();
        assert_eq!(names, ["www.example.com", "alt.example.com", "192.0.2.7"]);

        let detail = svc.get_csr_detail(a, made.csr_id).await.unwrap();
        assert_eq!(detail.csr, made.csr);
        let key = PrivateKey::from_pem(&detail.private_key.unwrap()).unwrap();
        assert!(opencas_pki::key_matches_spki(&key, &parsed.public_key_spki_der).unwrap());
        assert_eq!(
            code(svc.get_csr_detail(b, made.csr_id).await.unwrap_err()),
            "NotFound.Csr"
        );
    }
    let list = svc.list_csr(a, ListCsrRequest::default()).await.unwrap();
    assert_eq!(list.total_count, 3);
    let first = &list.csr_list[0];
    assert_eq!((first.algorithm.as_str(), first.key_size), ("SM2", 256));
    assert_eq!(first.sans, "alt.example.com,192.0.2.7");
    assert_eq!(first.name, "www.example.com");
    assert!(first.has_private_key);
    assert_eq!(svc.list_csr(b, ListCsrRequest::default()).await.unwrap().total_count, 0);
}

#[tokio::test]
async fn uploads_keys_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, a, b) = service(&dir).await;
    let (csr, key) = foreign(KeyAlgorithm::EcP256, "up.example.com");
    let (_, other_key) = foreign(KeyAlgorithm::EcP256, "other.example.com");

    let upload = |csr: &str, key: Option<&str>, name: Option<&str>| UploadCsrRequest {
        csr: csr.into(),
        key: key.map(Into::into),
        name: name.map(Into::into),
    };
    let mismatch = svc.upload_csr(a, upload(&csr, Some(&other_key), None)).await;
    assert_eq!(code(mismatch.unwrap_err()), "NotMatch.CsrAndPrivateKey");
    let bad_name = svc.upload_csr(a, upload(&csr, None, Some("a.b"))).await;
    assert_eq!(code(bad_name.unwrap_err()), "InvalidParameter.Name");
    let garbage = svc.upload_csr(a, upload("garbage", None, None)).await;
    assert_eq!(code(garbage.unwrap_err()), "InvalidParameter.Csr");
    assert_eq!(svc.list_csr(a, ListCsrRequest::default()).await.unwrap().total_count, 0);

    let bare = svc
        .upload_csr(a, upload(&csr, None, Some("bare_1")))
        .await
        .unwrap()
        .csr_id;
    let detail = svc.get_csr_detail(a, bare).await.unwrap();
    assert!(detail.private_key.is_none());
    assert_eq!(
        ParsedCsr::from_pem(&detail.csr, CsrPolicy::default()).unwrap().der,
        ParsedCsr::from_pem(&csr, CsrPolicy::default()).unwrap().der
    );

    assert_eq!(
        code(svc.update_csr(a, bare, &other_key).await.unwrap_err()),
        "NotMatch.CsrAndPrivateKey"
    );
    assert_eq!(code(svc.update_csr(b, bare, &key).await.unwrap_err()), "NotFound.Csr");
    assert_eq!(
        code(svc.update_csr(a, bare, "nope").await.unwrap_err()),
        "InvalidParameter.Key"
    );
    assert!(svc.get_csr_detail(a, bare).await.unwrap().private_key.is_none());
    svc.update_csr(a, bare, &key).await.unwrap();
    let held = svc.get_csr_detail(a, bare).await.unwrap().private_key.unwrap();
    assert_eq!(
        PrivateKey::from_pem(&held).unwrap().public_key_spki_der(),
        PrivateKey::from_pem(&key).unwrap().public_key_spki_der()
    );

    let with_key = svc.upload_csr(a, upload(&csr, Some(&key), None)).await.unwrap().csr_id;
    let list = svc.list_csr(a, ListCsrRequest::default()).await.unwrap();
    assert_eq!(list.total_count, 2);
    assert_eq!(list.csr_list[0].csr_id, with_key);
    assert_eq!(list.csr_list[0].name, "up.example.com");
    assert_eq!(list.csr_list[0].key_sha2, list.csr_list[1].key_sha2);
    assert_eq!(list.csr_list[0].key_sha2.len(), 64);

    assert_eq!(code(svc.delete_csr(b, with_key).await.unwrap_err()), "NotFound.Csr");
    svc.delete_csr(a, with_key).await.unwrap();
    assert_eq!(code(svc.delete_csr(a, with_key).await.unwrap_err()), "NotFound.Csr");
    assert_eq!(code(svc.get_csr_detail(a, with_key).await.unwrap_err()), "NotFound.Csr");
    assert_eq!(svc.list_csr(a, ListCsrRequest::default()).await.unwrap().total_count, 1);
}
