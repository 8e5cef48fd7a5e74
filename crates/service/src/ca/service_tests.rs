//! The CA decisions against a real (temporary) store.

use super::*;
use crate::{Caller, Service, ServiceConfig};
use opencas_pki::KeyAlgorithm;
use opencas_store::sealing::MasterKey;
use opencas_store::{NewAccessKey, Store};

async fn service(dir: &tempfile::TempDir, config: ServiceConfig) -> (Service, Caller, Caller) {
    let master = MasterKey::from_hex(&"55".repeat(32)).unwrap();
    let store = Store::open_sqlite(&dir.path().join("db.sqlite"), &master)
        .await
        .unwrap();
    for (id, name) in [(1, "a"), (2, "b")] {
        store
            .insert_account(
                id,
                name,
                name,
                NewAccessKey {
                    access_key_id: name,
                    secret: "s",
                },
                0,
            )
            .await
            .unwrap();
    }
    (
        Service::new(store, config),
        Caller { account_id: 1 },
        Caller { account_id: 2 },
    )
}

fn subject(cn: &str) -> SubjectInput {
    SubjectInput {
        common_name: cn.into(),
        organization: "Org".into(),
        organization_unit: "Unit".into(),
        locality: "Hangzhou".into(),
        state: "Zhejiang".into(),
        country_code: Some("CN".into()),
    }
}

fn root_req(years: i64, token: Option<&str>) -> CreateRootRequest {
    CreateRootRequest {
        subject: subject("Root"),
        algorithm: KeyAlgorithm::EcP256,
        years,
        client_token: token.map(Into::into),
        resource_group_id: None,
        tags: vec![("env".into(), "test".into())],
    }
}

fn sub_req(parent: &str, algorithm: KeyAlgorithm, years: i64) -> CreateSubRequest {
    CreateSubRequest {
        parent_identifier: Some(parent.into()),
        subject: subject("Sub"),
        algorithm,
        years,
        path_len: 0,
        extended_key_usages: vec![],
        cert_max_time_days: None,
        certificate_policies: Vec::new(),
        enable_crl: true,
        crl_day: 7,
        client_token: None,
        resource_group_id: None,
        tags: vec![],
    }
}

fn code(e: crate::ServiceError) -> String {
    match e {
        crate::ServiceError::InvalidParameter { name, .. } => format!("InvalidParameter.{name}"),
        crate::ServiceError::NotFound { code, .. } | crate::ServiceError::Conflict { code, .. } => code.into(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn hierarchy_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (s, alice, bob) = service(&dir, ServiceConfig::default()).await;
    let root = s.create_root_ca(alice, root_req(5, Some("t1"))).await.unwrap();
    // same token: the same CA, not a second one
    let again = s.create_root_ca(alice, root_req(5, Some("t1"))).await.unwrap();
    assert_eq!(again.identifier, root.identifier);
    assert_eq!(s.describe_ca_certificate_count(alice).await.unwrap().total_count, 1);

    // family must match; validity must stay inside the root's
    let wrong = s
        .create_sub_ca(alice, sub_req(&root.identifier, KeyAlgorithm::Rsa2048, 5))
        .await;
    assert_eq!(code(wrong.unwrap_err()), "InvalidParameter.Algorithm");
    let long = s
        .create_sub_ca(alice, sub_req(&root.identifier, KeyAlgorithm::EcP256, 6))
        .await;
    assert_eq!(code(long.unwrap_err()), "InvalidParameter.Years");
    // the root's own Years, a second later, still fits: the sub CA ends with its root
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let sub = s
        .create_sub_ca(alice, sub_req(&root.identifier, KeyAlgorithm::EcP384, 5))
        .await
        .unwrap();
    assert_eq!(sub.certificate_chain, root.certificate);

    // only a root issues sub CAs; another account sees nothing
    let nested = s
        .create_sub_ca(alice, sub_req(&sub.identifier, KeyAlgorithm::EcP256, 5))
        .await;
    assert_eq!(code(nested.unwrap_err()), "InvalidParameter.ParentIdentifier");
    let foreign = s
        .create_sub_ca(bob, sub_req(&root.identifier, KeyAlgorithm::EcP256, 5))
        .await;
    assert_eq!(code(foreign.unwrap_err()), "NotFound.CACertificate");
    assert_eq!(s.describe_ca_certificate_count(bob).await.unwrap().total_count, 0);

    let detail = s
        .describe_ca_certificate(alice, &sub.identifier)
        .await
        .unwrap()
        .certificate;
    assert_eq!(
        (detail.summary.key_size, detail.summary.sign_algorithm.as_str()),
        (384, "SHA256WITHECDSA")
    );
    assert_eq!(detail.summary.parent_identifier, root.identifier);
    let root_detail = s
        .describe_ca_certificate(alice, &root.identifier)
        .await
        .unwrap()
        .certificate;
    assert_eq!(detail.summary.after_date, root_detail.summary.after_date);
    assert_eq!(root_detail.tags.len(), 1);
    assert_eq!(root_detail.cert_issued_count, 1);
}

#[tokio::test]
async fn status_and_quota() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        root_certificate_quota: 100,
        sub_ca_initial_quota: 30,
        ..Default::default()
    };
    let (s, alice, _) = service(&dir, config).await;
    let root = s.create_root_ca(alice, root_req(10, None)).await.unwrap();
    let a = s
        .create_sub_ca(alice, sub_req(&root.identifier, KeyAlgorithm::EcP256, 5))
        .await
        .unwrap();
    let b = s
        .create_sub_ca(alice, sub_req(&root.identifier, KeyAlgorithm::EcP256, 5))
        .await
        .unwrap();
    let root_view = s
        .describe_ca_certificate(alice, &root.identifier)
        .await
        .unwrap()
        .certificate;
    assert_eq!(root_view.cert_remaining_count, 40);
    assert_eq!(
        s.assign_certificate_count(alice, &a.identifier, 70)
            .await
            .unwrap()
            .cert_count,
        70
    );
    let over = s.assign_certificate_count(alice, &b.identifier, 31).await;
    assert_eq!(code(over.unwrap_err()), "QuotaExceeded.CertificateCount");
    let on_root = s.assign_certificate_count(alice, &root.identifier, 1).await;
    assert_eq!(code(on_root.unwrap_err()), "InvalidParameter.CaIdentifier");

    s.update_ca_status(alice, &root.identifier, CaStatusChange::Disable)
        .await
        .unwrap();
    let refused = s
        .create_sub_ca(alice, sub_req(&root.identifier, KeyAlgorithm::EcP256, 5))
        .await;
    assert_eq!(code(refused.unwrap_err()), "InvalidStatus.CACertificate");
    s.update_ca_status(alice, &root.identifier, CaStatusChange::Enable)
        .await
        .unwrap();
    s.update_ca_status(alice, &a.identifier, CaStatusChange::Revoke)
        .await
        .unwrap();
    s.update_ca_status(alice, &a.identifier, CaStatusChange::Revoke)
        .await
        .unwrap();
    let back = s.update_ca_status(alice, &a.identifier, CaStatusChange::Enable).await;
    assert_eq!(code(back.unwrap_err()), "InvalidStatus.CACertificate");
    let logs = s
        .list_ca_certificate_log(alice, &root.identifier)
        .await
        .unwrap()
        .log_list;
    let ops: Vec<&str> = logs.iter().map(|l| l.op_type.as_str()).collect();
    assert_eq!(ops, ["ADD", "UPDATE", "UPDATE", "UPDATE", "UPDATE", "UPDATE"]);
}
