//! When the wire layer writes to the audit log, and what it writes.
//!
//! A state-changing call is recorded twice: a `call` record before the action runs and a
//! `result` record before the answer is sent. The first makes the log fail closed: if it
//! cannot be stored the action never runs and the caller gets `ServiceUnavailable`, so no
//! effect exists that the log does not know of. (Recording only after the action would
//! leave its effect committed when the record then failed; the service's transactions are
//! its own and cannot be rolled back from here.) If the `result` record fails, the effect
//! is already committed: the caller gets `ServiceUnavailable` — like a lost connection, it
//! must look before retrying — and the log still holds the `call` record. A `call` without
//! a `result` thus means "cut off": a crash, or a result that could not be written.
//!
//! Refused authentications are recorded with the credential presented (kind `auth`), and
//! state-changing calls refused by the rate limit with their caller (kind `throttled`), before
//! the refusal is sent; if that record fails, the refusal becomes `ServiceUnavailable` too.
//! A call cut off by the request timeout after its `call` record gets a `result` record with
//! the timeout's status (408 `RequestTimeout`) before the timeout is answered; its effect may
//! or may not have been committed, as for any answer the caller never received.
//!
//! A call whose only effect is one issuance hands both records to it instead (where the store
//! can: `Service::records_effects`): they are written in the effect's own transaction, so they
//! exist exactly when it does, and the request waits on one commit instead of three. If the
//! effect is not written (a refusal, an idempotent replay, a call cut off before its write),
//! the call and its outcome are recorded here after the action, as nothing has changed.
//!
//! A call that only uses a key (`Sign`, `Verify`, `Encrypt`, `Decrypt`, and
//! `DescribeCertificatePrivateKey`, which hands one out) stores nothing, so its only effect is
//! its answer. It is recorded once, as kind `use` with its outcome, before the answer: that is
//! already fail-closed (no answer without the record), and a `call` record before it would
//! guard no effect while doubling the log's work on the busiest path.

use crate::auth::SignedParts;
use crate::error::WireError;
use crate::params::Params;
use crate::registry::Body;
use crate::server::AppState;
use axum::http::StatusCode;
use opencas_service::Caller;
use opencas_service::audit::{AuditEntry, EffectAudit};
use opencas_service::audit::{masked_params, names_resource, outcome_entry, resource_ids};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Action names that only read. Everything else the registry holds changes state or uses
/// a key, and is recorded.
const READ_PREFIXES: [&str; 3] = ["Describe", "List", "Get"];
/// Action names that change state.
const WRITE_PREFIXES: [&str; 16] = [
    "Create", "Upload", "Update", "Delete", "Revoke", "Cancel", "Apply", "Submit", "Refund", "Share", "Tag", "Untag",
    "Move", "Renew", "Assign", "Download",
];
/// Actions that use a stored key and change nothing stored (one of them a read that hands the
/// key out): recorded once, with their outcome.
const KEY_USES: [&str; 5] = ["Encrypt", "Decrypt", "Sign", "Verify", "DescribeCertificatePrivateKey"];

/// How an action is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// A pure read: not recorded.
    Not,
    /// A `call` record before the action, a `result` record before the answer.
    CallAndResult,
    /// One `use` record, with the outcome, before the answer.
    Use,
}

/// How `action` is recorded; `None` when the naming rules do not say (a test keeps every
/// registered action out of this case; at run time it is recorded with both records, to be
/// safe).
pub fn classify(action: &str) -> Option<Recording> {
    let starts = |prefixes: &[&str]| {
        prefixes.iter().any(|p| {
            action
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()) || rest.is_empty())
        })
    };
    if KEY_USES.contains(&action) {
        Some(Recording::Use)
    } else if starts(&WRITE_PREFIXES) {
        Some(Recording::CallAndResult)
    } else if starts(&READ_PREFIXES) {
        Some(Recording::Not)
    } else {
        None
    }
}

pub(crate) fn recording(action: &str) -> Recording {
    classify(action).unwrap_or(Recording::CallAndResult)
}

/// The request facts every record carries.
pub(crate) struct AuditCtx {
    pub request_id: String,
    /// The peer address of the connection.
    pub source: String,
}

/// Who made a call and what it asked, as every record of it tells.
pub(crate) struct CallFacts<'a> {
    pub ctx: &'a AuditCtx,
    /// `(version, name)`.
    pub action: (&'a str, &'a str),
    pub caller: Caller,
    /// The credential presented.
    pub credential: Option<String>,
    pub params: &'a Params,
}

/// A call waiting for its outcome record: after its `call` record, or (a key use) before any.
pub(crate) struct Pending {
    entry: AuditEntry,
    named: Vec<(String, String)>,
    /// The `kind` of the outcome record: `result` after a `call` record, `use` otherwise.
    outcome_kind: &'static str,
    /// Set when the `call` record was handed to the effect (`hand_to_effect`): whether it has
    /// been written with it.
    with_effect: Option<Arc<AtomicBool>>,
}

fn unavailable() -> WireError {
    WireError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "The audit log cannot record this request, so it was not processed. Retry later.",
    )
}

fn now_ms() -> i64 {
    opencas_service::store::now_millis()
}

async fn append(state: &AppState, entry: AuditEntry) -> Result<(), WireError> {
    match state.service.audit_append(entry).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "audit record not written; refusing the request");
            Err(match e {
                storage @ opencas_service::ServiceError::Unavailable { .. } => storage.into(),
                _ => unavailable(),
            })
        }
    }
}

fn pairs(params: &Params) -> impl Iterator<Item = (&str, &str)> {
    params.iter()
}

/// Records a state-changing call before it runs; the call must not run on an error. The call
/// is left in `slot` from before its record is appended, so that whoever cuts the request off
/// (the request timeout drops the whole future, the append included) can still record its
/// result.
pub(crate) async fn record_call(
    state: &AppState,
    call: CallFacts<'_>,
    slot: &mut Option<Pending>,
) -> Result<(), WireError> {
    let pending = Pending::new(("call", "result"), call);
    let entry = pending.entry.clone();
    *slot = Some(pending);
    if let Err(e) = append(state, entry).await {
        *slot = None;
        return Err(e);
    }
    Ok(())
}

/// Hands a state-changing call's records to its effect (see the module comment) instead of
/// recording the call now; `record_result` records it afterwards if the effect did not.
pub(crate) fn hand_to_effect(call: CallFacts<'_>, slot: &mut Option<Pending>) -> EffectAudit {
    let written = Arc::new(AtomicBool::new(false));
    let mut pending = Pending::new(("call", "result"), call);
    pending.with_effect = Some(Arc::clone(&written));
    let audit = EffectAudit::new(pending.entry.clone(), pending.named.clone(), written);
    *slot = Some(pending);
    audit
}

/// Prepares the single record of a key use in `slot`, where `record_result` completes and
/// appends it; nothing is written yet. Left in the slot before the action runs, so that a
/// request cut off by the timeout is recorded too.
pub(crate) fn prepare_use(call: CallFacts<'_>, slot: &mut Option<Pending>) {
    *slot = Some(Pending::new(("use", "use"), call));
}

impl Pending {
    /// A call's first record (`kinds.0`) and the kind its outcome record will have.
    fn new(kinds: (&str, &'static str), call: CallFacts<'_>) -> Self {
        let named: Vec<(String, String)> = named_resources(call.params);
        // a key use has no first record: its resources are set with the outcome
        let resources = if kinds.0 == kinds.1 {
            String::new()
        } else {
            resources_named(&named)
        };
        Self {
            entry: caller_entry(kinds.0, call, resources),
            named,
            outcome_kind: kinds.1,
            with_effect: None,
        }
    }
}

/// A record of an authenticated caller's call, without an outcome.
fn caller_entry(kind: &str, call: CallFacts<'_>, resources: String) -> AuditEntry {
    AuditEntry {
        at_ms: now_ms(),
        kind: kind.into(),
        account_id: Some(call.caller.account_id),
        access_key_id: call.credential,
        action: call.action.1.into(),
        version: call.action.0.into(),
        request_id: call.ctx.request_id.clone(),
        source: call.ctx.source.clone(),
        params: masked_params(pairs(call.params)),
        resources,
        status: None,
        code: None,
    }
}

fn resources_named(named: &[(String, String)]) -> String {
    resource_ids(named.iter().map(|(k, v)| (k.as_str(), v.as_str())), None)
}

fn named_resources(params: &Params) -> Vec<(String, String)> {
    pairs(params)
        .filter(|(k, v)| names_resource(k) && !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Records the outcome of the call `record_call` or `prepare_use` left in `slot` (nothing
/// when it holds none), before it is answered; the slot is empty afterwards.
pub(crate) async fn record_result(
    state: &AppState,
    slot: &mut Option<Pending>,
    outcome: Result<Option<&Body>, &WireError>,
) -> Result<(), WireError> {
    let Some(pending) = slot.as_ref() else {
        return Ok(());
    };
    if let Some(written) = &pending.with_effect {
        // Acquire: pairs with the writer's Release after the commit
        let with_effect = written.load(Ordering::Acquire);
        if with_effect && outcome.is_ok() {
            *slot = None;
            return Ok(());
        }
        if !with_effect {
            append(state, pending.entry.clone()).await?;
        }
        // else the effect's records say it succeeded, and this one what the caller heard
    }
    let (status, code) = match outcome {
        Ok(_) => (200, "OK".to_owned()),
        Err(e) => (i64::from(e.status.as_u16()), e.code.to_string()),
    };
    let created = outcome.ok().flatten().map(|b| b.fields_named(names_resource));
    let entry = outcome_entry(
        &pending.entry,
        pending.outcome_kind,
        &pending.named,
        created.as_ref(),
        (status, code),
    );
    append(state, entry).await?;
    *slot = None;
    Ok(())
}

/// Records a state-changing call refused by the account's rate limit (kind `throttled`: the
/// caller is known, unlike a refused authentication); answers the refusal to send (or
/// `ServiceUnavailable` when it could not be recorded).
pub(crate) async fn record_throttled(state: &AppState, call: CallFacts<'_>, refusal: WireError) -> WireError {
    let resources = resources_named(&named_resources(call.params));
    let entry = AuditEntry {
        status: Some(i64::from(refusal.status.as_u16())),
        code: Some(refusal.code.to_string()),
        ..caller_entry("throttled", call, resources)
    };
    match append(state, entry).await {
        Ok(()) => refusal,
        Err(e) => e,
    }
}

/// Records a refused authentication; answers the refusal to send (or `ServiceUnavailable`
/// when it could not be recorded).
pub(crate) async fn record_refused_auth(
    state: &AppState,
    ctx: &AuditCtx,
    action: (&str, &str),
    parts: &SignedParts<'_>,
    refusal: WireError,
) -> WireError {
    let entry = AuditEntry {
        at_ms: now_ms(),
        kind: "auth".into(),
        account_id: None,
        access_key_id: crate::auth::presented_credential(parts),
        action: action.1.into(),
        version: action.0.into(),
        request_id: ctx.request_id.clone(),
        source: ctx.source.clone(),
        params: masked_params(pairs(parts.params)),
        resources: "{}".into(),
        status: Some(i64::from(refusal.status.as_u16())),
        code: Some(refusal.code.to_string()),
    };
    match append(state, entry).await {
        Ok(()) => refusal,
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_action_is_classified() {
        let registry = crate::actions::registry();
        let mut unclassified = Vec::new();
        let mut reads = 0;
        let mut uses = Vec::new();
        for action in registry.actions() {
            match classify(action.name) {
                None => unclassified.push(action.name),
                Some(Recording::Not) => reads += 1,
                Some(Recording::Use) => uses.push(action.name),
                Some(Recording::CallAndResult) => {}
            }
        }
        assert!(unclassified.is_empty(), "unclassified actions: {unclassified:?}");
        assert!(reads > 0 && reads < registry.len());
        uses.sort_unstable();
        uses.dedup();
        let mut expected = KEY_USES.to_vec();
        expected.sort_unstable();
        assert_eq!(uses, expected, "every key use is a registered action");
    }

    #[test]
    fn classification_rules() {
        for write in [
            "CreateServerCertificate",
            "UploadUserCertificate",
            "RevokeCertificate",
            "UpdateCsr",
            "DeleteCsr",
            "TagResources",
            "UntagResources",
            "MoveResourceGroup",
            "RenewCertificateOrderForPackageRequest",
        ] {
            assert_eq!(classify(write), Some(Recording::CallAndResult), "{write}");
        }
        for key_use in ["Encrypt", "Decrypt", "Sign", "Verify", "DescribeCertificatePrivateKey"] {
            assert_eq!(classify(key_use), Some(Recording::Use), "{key_use}");
        }
        for read in ["DescribeCACertificate", "ListCert", "GetCsrDetail", "ListTagResources"] {
            assert_eq!(classify(read), Some(Recording::Not), "{read}");
        }
        // key uses are whole names, and a prefix must end at a word boundary
        assert_eq!(classify("SignalSomething"), None);
        assert_eq!(classify("SignCert"), None);
        assert_eq!(classify("Frobnicate"), None);
        assert_eq!(
            recording("Frobnicate"),
            Recording::CallAndResult,
            "unknown names are recorded, to be safe"
        );
    }
}
