//! The client against a real ACME CA: Pebble (Let's Encrypt's test server) with
//! `pebble-challtestsrv` as the DNS and HTTP the CA checks. Skipped, with a message, when Pebble
//! is not installed (`apt-get install -y pebble`).

mod support;

use opencas_acme::{AcmeChallengeKind, AcmeClient, AcmeError, AcmeOrderState, DomainChallenge};
use support::{Pebble, csr_for, verify_chain, wait_for_chain, wait_for_state};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn publish(pebble: &Pebble, challenges: &[(String, DomainChallenge)]) {
    for (_, challenge) in challenges {
        match challenge {
            DomainChallenge::DnsTxt { record_name, value } => pebble.set_txt(record_name, value),
            DomainChallenge::HttpFile { path, content, .. } => {
                let token = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .expect("http-01 path under /.well-known/acme-challenge/");
                pebble.add_http01(token, content);
            }
        }
    }
}

/// ready → Ready → finalize → chain, each step repeated once to show it is idempotent.
async fn complete(pebble: &Pebble, client: &AcmeClient, order_url: &str, domains: &[String]) {
    client.ready(order_url).await.expect("ready");
    client.ready(order_url).await.expect("ready again");
    wait_for_state(client, order_url, &AcmeOrderState::Ready).await;
    client.ready(order_url).await.expect("ready once the order is ready");
    let (csr, key) = csr_for(domains);
    client.finalize(order_url, &csr).await.expect("finalize");
    client.finalize(order_url, &csr).await.expect("finalize again");
    let chain = wait_for_chain(client, order_url).await;
    assert_eq!(client.poll(order_url).await.unwrap(), AcmeOrderState::Valid);
    client.finalize(order_url, &csr).await.expect("finalize once valid");
    verify_chain(pebble, &chain, domains, &key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_order_for_two_names_issues_a_verifiable_chain() {
    let Some(pebble) = Pebble::start("dns01_order_for_two_names_issues_a_verifiable_chain") else {
        return;
    };
    let (client, _) = pebble.connect(None).await;
    let domains = names(&["www.dns01.test", "api.dns01.test"]);
    let order = client.new_order(&domains, AcmeChallengeKind::Dns01).await.unwrap();
    let listed: Vec<&str> = order.challenges.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(listed, ["www.dns01.test", "api.dns01.test"]);
    for (domain, challenge) in &order.challenges {
        let DomainChallenge::DnsTxt { record_name, value } = challenge else {
            panic!("dns-01 order asked for {challenge:?}");
        };
        assert_eq!(record_name, &format!("_acme-challenge.{domain}"));
        // base64url of a SHA-256 digest, no padding.
        assert_eq!(value.len(), 43, "{value}");
    }
    assert_eq!(client.poll(&order.order_url).await.unwrap(), AcmeOrderState::Pending);
    publish(&pebble, &order.challenges);
    complete(&pebble, &client, &order.order_url, &domains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_wildcard_and_its_base_share_one_record_name() {
    let Some(pebble) = Pebble::start("dns01_wildcard_and_its_base_share_one_record_name") else {
        return;
    };
    let (client, _) = pebble.connect(None).await;
    let domains = names(&["*.wild.test", "wild.test"]);
    let order = client.new_order(&domains, AcmeChallengeKind::Dns01).await.unwrap();
    let listed: Vec<&str> = order.challenges.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(listed, ["*.wild.test", "wild.test"]);
    let mut values = Vec::new();
    for (_, challenge) in &order.challenges {
        let DomainChallenge::DnsTxt { record_name, value } = challenge else {
            panic!("dns-01 order asked for {challenge:?}");
        };
        assert_eq!(record_name, "_acme-challenge.wild.test");
        values.push(value.clone());
    }
    assert_ne!(values[0], values[1], "two authorizations, two tokens");
    publish(&pebble, &order.challenges);
    complete(&pebble, &client, &order.order_url, &domains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_order_issues_a_verifiable_chain() {
    let Some(pebble) = Pebble::start("http01_order_issues_a_verifiable_chain") else {
        return;
    };
    let (client, _) = pebble.connect(None).await;
    let domains = names(&["http01.test", "www.http01.test"]);
    let order = client.new_order(&domains, AcmeChallengeKind::Http01).await.unwrap();
    assert_eq!(order.challenges.len(), 2);
    for (domain, challenge) in &order.challenges {
        let DomainChallenge::HttpFile {
            domain: file_domain,
            path,
            content,
        } = challenge
        else {
            panic!("http-01 order asked for {challenge:?}");
        };
        assert_eq!(file_domain, domain);
        let token = path.strip_prefix("/.well-known/acme-challenge/").unwrap();
        assert!(content.starts_with(&format!("{token}.")), "{content}");
    }
    publish(&pebble, &order.challenges);
    complete(&pebble, &client, &order.order_url, &domains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublished_challenge_makes_the_order_invalid_with_the_cas_reason() {
    let Some(pebble) = Pebble::start("unpublished_challenge_makes_the_order_invalid_with_the_cas_reason") else {
        return;
    };
    let (client, _) = pebble.connect(None).await;
    let domains = names(&["nothing-published.test"]);
    let order = client.new_order(&domains, AcmeChallengeKind::Dns01).await.unwrap();
    client.ready(&order.order_url).await.unwrap();
    let AcmeOrderState::Invalid(reason) =
        wait_for_state(&client, &order.order_url, &AcmeOrderState::Invalid(String::new())).await
    else {
        unreachable!()
    };
    assert!(reason.contains("nothing-published.test"), "{reason}");
    // Pebble's words for a missing record, and the problem type, kept as the CA gave them.
    assert!(reason.contains("No TXT records found"), "{reason}");
    assert!(reason.contains("[unauthorized]"), "{reason}");
    // Retrying an invalid order is harmless, and neither finalize nor download pretends it worked.
    client.ready(&order.order_url).await.unwrap();
    let (csr, _) = csr_for(&domains);
    let err = client.finalize(&order.order_url, &csr).await.unwrap_err();
    assert!(matches!(err, AcmeError::State(ref m) if m.contains(&reason)), "{err:?}");
    let err = client.certificate_chain(&order.order_url).await.unwrap_err();
    assert!(matches!(err, AcmeError::State(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_before_validation_is_refused_and_the_order_stays_usable() {
    let Some(pebble) = Pebble::start("finalize_before_validation_is_refused_and_the_order_stays_usable") else {
        return;
    };
    let (client, _) = pebble.connect(None).await;
    let domains = names(&["early.test"]);
    let order = client.new_order(&domains, AcmeChallengeKind::Http01).await.unwrap();
    let (csr, _) = csr_for(&domains);
    let err = client.finalize(&order.order_url, &csr).await.unwrap_err();
    assert!(matches!(err, AcmeError::State(_)), "{err:?}");
    let err = client.certificate_chain(&order.order_url).await.unwrap_err();
    assert!(matches!(err, AcmeError::State(_)), "{err:?}");
    publish(&pebble, &order.challenges);
    complete(&pebble, &client, &order.order_url, &domains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_resumes_the_order_from_its_url() {
    let Some(pebble) = Pebble::start("a_restarted_process_resumes_the_order_from_its_url") else {
        return;
    };
    let domains = names(&["resume.test"]);
    let (order_url, challenges, credentials, account) = {
        let (client, credentials) = pebble.connect(None).await;
        let order = client.new_order(&domains, AcmeChallengeKind::Http01).await.unwrap();
        (
            order.order_url,
            order.challenges,
            credentials,
            client.account_id().to_owned(),
        )
    };
    publish(&pebble, &challenges);
    // Only the credentials and the order URL survive the "restart".
    let (client, _) = pebble.connect(Some(credentials)).await;
    assert_eq!(client.account_id(), account);
    complete(&pebble, &client, &order_url, &domains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_credentials_reuse_the_account() {
    let Some(mut pebble) = Pebble::start("stored_credentials_reuse_the_account") else {
        return;
    };
    let (first, credentials) = pebble.connect(None).await;
    let (again, credentials_again) = pebble.connect(Some(credentials.clone())).await;
    assert_eq!(again.account_id(), first.account_id());
    let (third, _) = pebble.connect(Some(credentials_again)).await;
    assert_eq!(third.account_id(), first.account_id());
    assert!(
        !format!("{first:?}").contains("key_pkcs8"),
        "Debug shows the key: {first:?}"
    );

    // Credentials of another directory are not presented to this CA.
    let foreign = credentials.replace(&pebble.directory_url, "https://127.0.0.1:1/dir");
    assert_ne!(foreign, credentials);
    let (other, _) = pebble.connect(Some(foreign)).await;
    assert_ne!(other.account_id(), first.account_id());

    let err = AcmeClient::connect(
        &pebble.directory_url,
        Some("{not json".into()),
        Some(pebble.tls_root_pem.clone()),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AcmeError::Credentials(_)), "{err:?}");

    // A CA that forgot the account (Pebble keeps it in memory): a new one is created.
    pebble.restart_ca();
    let (fresh, fresh_credentials) = pebble.connect(Some(credentials)).await;
    let (reused, _) = pebble.connect(Some(fresh_credentials)).await;
    assert_eq!(reused.account_id(), fresh.account_id());
    let order = fresh
        .new_order(&names(&["after-restart.test"]), AcmeChallengeKind::Dns01)
        .await
        .unwrap();
    assert_eq!(order.challenges.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cas_tls_is_trusted_only_through_the_extra_root() {
    let Some(pebble) = Pebble::start("the_cas_tls_is_trusted_only_through_the_extra_root") else {
        return;
    };
    let err = AcmeClient::connect(&pebble.directory_url, None, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AcmeError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
    let err = AcmeClient::connect(
        &pebble.directory_url.replace("https://", "http://"),
        None,
        Some(pebble.tls_root_pem.clone()),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AcmeError::Invalid(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_with_http01_is_refused_before_asking_the_ca() {
    let Some(pebble) = Pebble::start("wildcard_with_http01_is_refused_before_asking_the_ca") else {
        return;
    };
    let (client, _) = pebble.connect(None).await;
    let err = client
        .new_order(&names(&["*.nowild.test"]), AcmeChallengeKind::Http01)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AcmeError::Invalid(ref m) if m.contains("only be validated with dns-01")),
        "{err:?}"
    );
}
