//! Every action of the three API versions is routed, or named in an allow-list with its reason.

use std::collections::BTreeSet;

/// The committed list of the API's actions, one `version action` a line.
const API_ACTIONS: &str = include_str!("api_actions.txt");

/// Deployment of certificates to Alibaba Cloud products through cloud access keys and worker
/// resources: DESIGN.md leaves deployment for later, and a self-hosted CA has no such products.
const DEPLOYMENT: &str = "deployment to Alibaba Cloud products (DESIGN.md: later)";
/// The order-information book (companies, contacts) and expiry-notice switches of the commercial
/// service: DESIGN.md leaves notification for later.
const CONTACTS: &str = "company/contact book and notices (DESIGN.md: notify, later)";

/// Actions of the API deliberately not served, each with its reason. A test fails when one of
/// them becomes routed, so that the list only shrinks.
const NOT_ROUTED: [(&str, &str, &str); 32] = [
    ("2020-04-07", "AddCloudAccess", DEPLOYMENT),
    ("2020-04-07", "DeleteCloudAccess", DEPLOYMENT),
    ("2020-04-07", "ListCloudAccess", DEPLOYMENT),
    ("2020-04-07", "ListCloudResources", DEPLOYMENT),
    ("2020-04-07", "DescribeCloudResourceStatus", DEPLOYMENT),
    ("2020-04-07", "GetMatchedResources", DEPLOYMENT),
    ("2020-04-07", "CreateDeploymentJob", DEPLOYMENT),
    ("2020-04-07", "DeleteDeploymentJob", DEPLOYMENT),
    ("2020-04-07", "DescribeDeploymentJob", DEPLOYMENT),
    ("2020-04-07", "DescribeDeploymentJobStatus", DEPLOYMENT),
    ("2020-04-07", "ListDeploymentJob", DEPLOYMENT),
    ("2020-04-07", "ListDeploymentJobCert", DEPLOYMENT),
    ("2020-04-07", "ListDeploymentJobResource", DEPLOYMENT),
    ("2020-04-07", "UpdateDeploymentJob", DEPLOYMENT),
    ("2020-04-07", "UpdateDeploymentJobStatus", DEPLOYMENT),
    ("2020-04-07", "CreateRollbackTask", DEPLOYMENT),
    ("2020-04-07", "GetTaskAttribute", DEPLOYMENT),
    ("2020-04-07", "ListWorkerResource", DEPLOYMENT),
    ("2020-04-07", "DeleteWorkerResource", DEPLOYMENT),
    ("2020-04-07", "UpdateWorkerResourceStatus", DEPLOYMENT),
    ("2020-04-07", "CreateCompany", CONTACTS),
    ("2020-04-07", "DeleteCompany", CONTACTS),
    ("2020-04-07", "GetCompany", CONTACTS),
    ("2020-04-07", "ListCompanies", CONTACTS),
    ("2020-04-07", "UpdateCompany", CONTACTS),
    ("2020-04-07", "CreateContact", CONTACTS),
    ("2020-04-07", "DeleteContact", CONTACTS),
    ("2020-04-07", "GetContact", CONTACTS),
    ("2020-04-07", "ListContact", CONTACTS),
    ("2020-04-07", "UpdateContact", CONTACTS),
    ("2020-04-07", "BatchUpdateNoticeStatus", CONTACTS),
    (
        "2020-04-07",
        "ListTrusteeOrder",
        "certificates Alibaba Cloud hosts for a customer (trustee orders): a service of the commercial CA",
    ),
];

fn api_actions() -> BTreeSet<(String, String)> {
    API_ACTIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (v, a) = l.split_once(' ').expect("`version action`");
            (v.to_owned(), a.to_owned())
        })
        .collect()
}

#[test]
fn every_action_of_the_api_is_routed() {
    let registry = super::registry();
    let mut missing = Vec::new();
    for (version, action) in api_actions() {
        let allowed = NOT_ROUTED.iter().any(|(v, a, _)| *v == version && *a == action);
        if registry.find(Some(&version), &action).is_err() && !allowed {
            missing.push(format!("{version} {action}"));
        }
    }
    assert!(missing.is_empty(), "actions of the API not routed: {missing:?}");
    let stale: Vec<String> = NOT_ROUTED
        .iter()
        .filter(|(v, a, _)| registry.find(Some(v), a).is_ok() || !API_ACTIONS.contains(&format!("{v} {a}\n")))
        .map(|(v, a, _)| format!("{v} {a}"))
        .collect();
    assert!(
        stale.is_empty(),
        "routed now or not in the API; remove from NOT_ROUTED: {stale:?}"
    );
    // Nothing beyond the API is registered (admin operations live in the CLI only).
    let api = api_actions();
    let extra: Vec<String> = registry
        .actions()
        .filter(|a| !api.contains(&(a.version.to_owned(), a.name.to_owned())))
        .map(|a| format!("{} {}", a.version, a.name))
        .collect();
    assert!(extra.is_empty(), "registered but not in the API: {extra:?}");
    assert_eq!(registry.len(), api.len() - NOT_ROUTED.len());
}

/// The committed list is the spec's, when the spec files are at hand (`OPENCAS_SPEC_DIR`, or the
/// shared directory beside the work trees).
#[test]
fn the_committed_list_matches_the_spec_files() {
    let dir = std::env::var("OPENCAS_SPEC_DIR").unwrap_or_else(|_| "/work/shared/spec/api".to_owned());
    let mut from_spec = BTreeSet::new();
    for version in crate::registry::VERSIONS {
        let path = format!("{dir}/cas-{version}.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("{path} not found; the committed list is not compared");
            return;
        };
        let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
        for a in spec["actions"].as_array().expect("actions[]") {
            from_spec.insert((version.to_owned(), a["name"].as_str().expect("name").to_owned()));
        }
    }
    assert_eq!(api_actions(), from_spec, "regenerate api_actions.txt from {dir}");
}
