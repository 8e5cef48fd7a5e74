//! The audit trail's rules: what a record holds and which parameters are secrets. The
//! chain itself (append, list, verify) is the store's; the wire layer decides when to record.
//!
//! Masking errs on the side of hiding: a parameter whose name looks like a key, a secret, a
//! certificate or key body, a crypto operation's input or output, or a credential is written
//! as `***`, whatever its value. Tags are the exception: `Tags.N.Key` is a label.

use crate::{Result, Service, ServiceError};
pub use opencas_store::{AuditEntry, AuditFilter, AuditRecord, ChainCheck, EffectRecords};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What a masked value is written as.
pub const MASKED: &str = "***";
/// Longer values are cut: the log records what a call was, not its payload.
const MAX_VALUE_CHARS: usize = 2048;

/// Protocol parameters that say nothing about the call itself.
const PROTOCOL: [&str; 7] = [
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
];

/// Names (last dotted segment, lower case) that are secret whatever they contain.
const SECRET_NAMES: [&str; 20] = [
    "key",
    "privatekey",
    "encryptprivatekey",
    "signprivatekey",
    "cert",
    "encryptcert",
    "signcert",
    "encryptedcode",
    "message",
    "plaintext",
    "ciphertextblob",
    "signaturevalue",
    "signature",
    "secretid",
    "secretkey",
    "accessid",
    "idcard",
    "bearertoken",
    "securitytoken",
    "pin",
];
/// Fragments that make any name secret.
const SECRET_FRAGMENTS: [&str; 6] = ["secret", "password", "passwd", "passphrase", "privatekey", "credential"];
/// Names that carry "token" but are not credentials.
const NOT_SECRET_TOKENS: [&str; 2] = ["clienttoken", "nexttoken"];

/// Whether the parameter `name` (possibly dotted, e.g. `ApiPassthrough.Key`) holds a
/// secret that must not reach the log. Compared in place, without lower-cased copies: this
/// runs for every parameter of every recorded call.
pub fn is_secret_param(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let last_is = |names: &[&str]| names.iter().any(|n| last.eq_ignore_ascii_case(n));
    let is_tag = name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("tag"));
    if is_tag && last_is(&["key", "value"]) {
        return false;
    }
    if SECRET_FRAGMENTS.iter().any(|f| contains_ignore_case(name, f)) {
        return true;
    }
    if contains_ignore_case(last, "token") && !last_is(&NOT_SECRET_TOKENS) {
        return true;
    }
    last_is(&SECRET_NAMES)
}

/// `needle` is lower-case ASCII.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn cut(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        None => Cow::Borrowed(value),
        Some((at, _)) => Cow::Owned(format!("{}...({} chars)", &value[..at], value.chars().count())),
    }
}

/// The parameters as the log keeps them: protocol noise left out, secrets masked, long
/// values cut. A JSON object with sorted keys (a later duplicate name wins).
pub fn masked_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out: BTreeMap<&str, Cow<'_, str>> = BTreeMap::new();
    for (name, value) in params {
        if PROTOCOL.contains(&name) {
            continue;
        }
        let shown = if is_secret_param(name) {
            Cow::Borrowed(MASKED)
        } else {
            cut(value)
        };
        out.insert(name, shown);
    }
    serde_json::to_string(&out).expect("a map of strings serialises")
}

/// Whether a parameter or response field names a resource (`CertId`, `Identifier`,
/// `ParentIdentifier`, `OrderId`, `ResourceIds`, `SerialNumber`...).
pub fn names_resource(name: &str) -> bool {
    const NOT: [&str; 7] = [
        "AccessKeyId",
        "RequestId",
        "RegionId",
        "ResourceGroupId",
        "SecretId",
        "AccessId",
        "ClientToken",
    ];
    let last = name.rsplit('.').next().unwrap_or(name);
    if NOT.contains(&last) || is_secret_param(name) {
        return false;
    }
    ["Id", "Ids", "Identifier", "Identifiers", "Uuid"]
        .iter()
        .any(|s| last.ends_with(s))
        || last == "SerialNumber"
}

/// The resources a call named (its parameters) or created (top-level fields of its answer),
/// as a JSON object `{"request": {...}, "response": {...}}` without empty halves.
pub fn resource_ids<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    response: Option<&Map<String, Value>>,
) -> String {
    let named: Map<String, Value> = params
        .into_iter()
        .filter(|(k, v)| names_resource(k) && !v.is_empty())
        .map(|(k, v)| (k.to_owned(), Value::String(cut(v).into_owned())))
        .collect();
    let created: Map<String, Value> = response
        .into_iter()
        .flatten()
        .filter(|(k, v)| names_resource(k) && (v.is_string() || v.is_number()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out = Map::new();
    if !named.is_empty() {
        out.insert("request".into(), Value::Object(named));
    }
    if !created.is_empty() {
        out.insert("response".into(), Value::Object(created));
    }
    Value::Object(out).to_string()
}

/// The outcome record of the call recorded by `call`: the resources it named (`named`) and
/// those its answer names (`created`, the answer's top-level fields), with the status and
/// code the caller hears.
pub fn outcome_entry(
    call: &AuditEntry,
    kind: &str,
    named: &[(String, String)],
    created: Option<&Map<String, Value>>,
    (status, code): (i64, String),
) -> AuditEntry {
    AuditEntry {
        at_ms: crate::store::now_millis(),
        kind: kind.into(),
        resources: resource_ids(named.iter().map(|(k, v)| (k.as_str(), v.as_str())), created),
        status: Some(status),
        code: Some(code),
        ..call.clone()
    }
}

/// A call's `call` record handed to its effect (an issuance) rather than written before it:
/// the service writes it, and the `result` record of its success, in the effect's own
/// transaction (see `EffectRecords`). If the effect is not written (a refusal, an idempotent
/// replay), `written` stays false and the wire layer records the call as usual.
#[derive(Debug, Clone)]
pub struct EffectAudit {
    call: AuditEntry,
    /// The resources the request named, for the `result` record.
    named: Vec<(String, String)>,
    written: Arc<AtomicBool>,
}

impl EffectAudit {
    pub fn new(call: AuditEntry, named: Vec<(String, String)>, written: Arc<AtomicBool>) -> Self {
        Self { call, named, written }
    }

    /// The records of the call succeeding with an answer whose resource-named top-level
    /// fields are `created` (as the wire layer would take them from the rendered answer).
    pub(crate) fn records_for(&self, created: &Map<String, Value>) -> EffectRecords {
        EffectRecords {
            result: outcome_entry(&self.call, "result", &self.named, Some(created), (200, "OK".into())),
            call: self.call.clone(),
            written: Arc::clone(&self.written),
        }
    }
}

impl Service {
    /// Whether a call may hand its records to its effect (`EffectAudit`): only where the store
    /// writes them in the effect's transaction.
    pub fn records_effects(&self) -> bool {
        self.store.records_effects()
    }

    /// Appends one record and answers once it is durable. An error means it is not stored,
    /// and the caller must not act as if it were.
    pub async fn audit_append(&self, entry: AuditEntry) -> Result<i64> {
        self.store
            .audit_append(entry)
            .await
            .map_err(|e| match e.storage_fault() {
                // a full or read-only disk says so, as any other write would
                Some(_) => ServiceError::from(e),
                None => ServiceError::Internal(format!("audit log: {e}")),
            })
    }

    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit_list(filter).await?)
    }

    pub async fn audit_verify(&self) -> Result<ChainCheck> {
        Ok(self.store.audit_verify().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        for name in [
            "AccessKeySecret",
            "Password",
            "EncryptedCode",
            "PrivateKey",
            "Key",
            "Cert",
            "EncryptCert",
            "EncryptPrivateKey",
            "SignCert",
            "SignPrivateKey",
            "Signature",
            "SignatureValue",
            "Message",
            "Plaintext",
            "CiphertextBlob",
            "SecretId",
            "SecretKey",
            "BearerToken",
            "SecurityToken",
            "Idcard",
            "ApiPassthrough.PrivateKey",
            "keystorePassword",
        ] {
            assert!(is_secret_param(name), "{name} must be masked");
        }
        for name in [
            "CommonName",
            "Identifier",
            "ParentIdentifier",
            "KeyIdentifier",
            "Algorithm",
            "KeyAlgorithm",
            "MessageType",
            "SigningAlgorithm",
            "Tags.1.Key",
            "Tag.2.Value",
            "ClientToken",
            "NextToken",
            "Csr",
            "AccessKeyId",
            "Days",
        ] {
            assert!(!is_secret_param(name), "{name} is not a secret");
        }
    }

    #[test]
    fn masked_params_hide_values_and_drop_protocol_noise() {
        let json = masked_params([
            ("Action", "UploadUserCertificate"),
            ("Timestamp", "2026-11-23T10:00:00Z"),
            ("Signature", "c2lnbmF0dXJl"),
            ("Key", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"),
            ("Cert", "-----BEGIN CERTIFICATE-----"),
            ("Name", "web"),
            ("Tags.1.Key", "env"),
        ]);
        let v: Map<String, Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(v["Key"], MASKED);
        assert_eq!(v["Cert"], MASKED);
        assert_eq!(v["Signature"], MASKED);
        assert_eq!(v["Name"], "web");
        assert_eq!(v["Tags.1.Key"], "env");
        assert!(!v.contains_key("Action") && !v.contains_key("Timestamp"));
        assert!(!json.contains("PRIVATE KEY") && !json.contains("c2lnbmF0dXJl"));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "a".repeat(10_000);
        let json = masked_params([("Csr", long.as_str())]);
        assert!(json.len() < 2_200, "{}", json.len());
        assert!(json.contains("(10000 chars)"));
    }

    #[test]
    fn resources_come_from_the_request_and_the_answer() {
        let mut answer = Map::new();
        answer.insert("Identifier".into(), Value::String("ab12".into()));
        answer.insert("CertId".into(), Value::from(42));
        answer.insert("Certificate".into(), Value::String("PEM".into()));
        answer.insert("RequestId".into(), Value::String("R".into()));
        let json = resource_ids(
            [
                ("ParentIdentifier", "p1"),
                ("CommonName", "x"),
                ("AccessKeyId", "AK"),
                ("SecretId", "s"),
            ],
            Some(&answer),
        );
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["request"], serde_json::json!({"ParentIdentifier": "p1"}));
        assert_eq!(v["response"], serde_json::json!({"Identifier": "ab12", "CertId": 42}));
        assert_eq!(resource_ids([("Days", "1")], None), "{}");
    }
}
