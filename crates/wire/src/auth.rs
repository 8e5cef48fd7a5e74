//! Authentication of a decoded request: signature v3, signature v1, or a bearer API key.
//! Signatures are compared in constant time, request times must be within 15 minutes,
//! and a nonce is accepted once per access key within that window.

use crate::error::WireError;
use crate::params::Params;
use crate::sign::{self, V3Algorithm, V3Request};
use axum::http::{HeaderMap, StatusCode};
use opencas_service::{Caller, Service};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Allowed clock skew, and so the replay window.
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// How long a looked-up credential is trusted before it is read again, so that a key
/// disabled or rotated through the CLI stops working within this time.
const CREDENTIAL_TTL: Duration = Duration::from_secs(1);

/// The parts of a request that authentication looks at.
pub struct SignedParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub query: &'a [(String, String)],
    pub form: &'a [(String, String)],
    pub body: &'a [u8],
    /// Merged parameters (query, form and JSON body).
    pub params: &'a Params,
}

#[derive(Clone)]
struct CachedKey {
    account_id: i64,
    secret: String,
    key_active: bool,
    account_active: bool,
    fetched: Instant,
}

pub struct Authenticator {
    service: Service,
    keys: Mutex<HashMap<String, CachedKey>>,
    bearer: Mutex<HashMap<String, (i64, bool, Instant)>>,
    nonces: NonceWindow,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn forbidden_inactive(message: &str) -> WireError {
    WireError::new(StatusCode::FORBIDDEN, "InvalidAccessKeyId.Inactive", message)
}

impl Authenticator {
    pub fn new(service: Service) -> Self {
        Self {
            service,
            keys: Mutex::new(HashMap::new()),
            bearer: Mutex::new(HashMap::new()),
            nonces: NonceWindow::default(),
        }
    }

    pub async fn authenticate(&self, r: &SignedParts<'_>, now_unix: i64) -> Result<Caller, WireError> {
        let authorization = header(r.headers, "authorization").unwrap_or("");
        if authorization.starts_with("ACS3-") {
            return self.verify_v3(r, authorization, now_unix).await;
        }
        let bearer = authorization
            .strip_prefix("Bearer ")
            .or_else(|| header(r.headers, "x-acs-bearer-token"))
            .or_else(|| r.params.raw("BearerToken"));
        if let Some(token) = bearer {
            return self.verify_bearer(r, token.trim(), now_unix).await;
        }
        if r.params.raw("Signature").is_some() || r.params.raw("AccessKeyId").is_some() {
            return self.verify_v1(r, now_unix).await;
        }
        Err(WireError::incomplete_signature(
            "The request carries no credentials: sign it (v1 or ACS3-HMAC-SHA256) or send a bearer token.",
        ))
    }

    async fn verify_v3(&self, r: &SignedParts<'_>, authorization: &str, now: i64) -> Result<Caller, WireError> {
        let auth = parse_v3_authorization(authorization)?;
        for required in ["host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"] {
            if !auth.signed_headers.iter().any(|h| h == required) {
                return Err(WireError::incomplete_signature(format!(
                    "SignedHeaders must include {required}."
                )));
            }
        }
        let date = header(r.headers, "x-acs-date").unwrap_or("");
        check_timestamp(date, now)?;
        let content_sha256 = header(r.headers, "x-acs-content-sha256").unwrap_or("");
        let body_hash = auth.algorithm.hash_hex(r.body);
        if !ct_eq(&body_hash, &content_sha256.to_ascii_lowercase()) {
            return Err(WireError::new(
                StatusCode::BAD_REQUEST,
                "SignatureDoesNotMatch",
                format!("x-acs-content-sha256 does not match the request body: server computed:{body_hash}"),
            ));
        }
        let signed_headers: Vec<(String, Vec<String>)> = auth
            .signed_headers
            .iter()
            .map(|name| {
                let values = r
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                (name.clone(), values)
            })
            .collect();
        let canonical = sign::v3_canonical_request(&V3Request {
            method: r.method,
            path: r.path,
            query: r.query,
            signed_headers: &signed_headers,
            content_sha256,
        });
        let string_to_sign = sign::v3_string_to_sign(auth.algorithm, &canonical);
        let key = self.access_key(&auth.access_key_id).await?;
        let expected = auth.algorithm.mac_hex(key.secret.as_bytes(), string_to_sign.as_bytes());
        if !ct_eq(&expected, &auth.signature.to_ascii_lowercase()) {
            return Err(WireError::signature_mismatch(&string_to_sign));
        }
        let caller = key.usable()?;
        let nonce = header(r.headers, "x-acs-signature-nonce").unwrap_or("");
        self.check_nonce(&auth.access_key_id, nonce, date_to_unix(date).unwrap_or(now))
            .await?;
        Ok(caller)
    }

    async fn verify_v1(&self, r: &SignedParts<'_>, now: i64) -> Result<Caller, WireError> {
        let p = |name| r.params.raw(name);
        let access_key_id =
            p("AccessKeyId").ok_or_else(|| WireError::incomplete_signature("AccessKeyId is missing."))?;
        let signature = p("Signature").ok_or_else(|| WireError::incomplete_signature("Signature is missing."))?;
        match p("SignatureMethod") {
            Some("HMAC-SHA1") => {}
            None => return Err(WireError::missing("SignatureMethod")),
            Some(other) => {
                return Err(WireError::invalid(
                    "SignatureMethod",
                    format!("Unsupported SignatureMethod {other}."),
                ));
            }
        }
        match p("SignatureVersion") {
            Some("1.0") => {}
            None => return Err(WireError::missing("SignatureVersion")),
            Some(other) => {
                return Err(WireError::invalid(
                    "SignatureVersion",
                    format!("Unsupported SignatureVersion {other}."),
                ));
            }
        }
        let timestamp = p("Timestamp").ok_or_else(|| WireError::missing("Timestamp"))?;
        let nonce = p("SignatureNonce")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| WireError::missing("SignatureNonce"))?;
        check_timestamp(timestamp, now)?;
        // The SDKs sign the merged parameter map: a key sent in both the query and the
        // body (the 2018-07-13 SDK repeats its parameters) counts once, the body winning.
        let mut signed: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in r.query.iter().chain(r.form.iter()) {
            signed.insert(k, v);
        }
        signed.remove("Signature");
        let string_to_sign = sign::v1_string_to_sign(r.method, signed.into_iter());
        let key = self.access_key(access_key_id).await?;
        let expected = sign::v1_signature(&key.secret, &string_to_sign);
        if !ct_eq(&expected, signature) {
            return Err(WireError::signature_mismatch(&string_to_sign));
        }
        let caller = key.usable()?;
        self.check_nonce(access_key_id, nonce, date_to_unix(timestamp).unwrap_or(now))
            .await?;
        Ok(caller)
    }

    async fn verify_bearer(&self, r: &SignedParts<'_>, token: &str, now: i64) -> Result<Caller, WireError> {
        let unknown = || {
            WireError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidBearerToken.NotFound",
                "The bearer token is not valid.",
            )
        };
        if token.is_empty() || token.len() > 256 {
            return Err(unknown());
        }
        // The tea SDK still sends a date and a nonce with a bearer token: honour them.
        let date = header(r.headers, "x-acs-date").or_else(|| r.params.raw("Timestamp"));
        if let Some(date) = date {
            check_timestamp(date, now)?;
        }
        let hash = opencas_service::accounts::api_key_hash(token);
        let cached = self.bearer.lock().unwrap().get(&hash).copied();
        let (account_id, active) = match cached {
            Some((id, active, at)) if at.elapsed() < CREDENTIAL_TTL => (id, active),
            _ => {
                let found = self.service.account_for_api_key(token).await.map_err(WireError::from)?;
                let (id, active) = found.ok_or_else(unknown)?;
                self.bearer
                    .lock()
                    .unwrap()
                    .insert(hash.clone(), (id, active, Instant::now()));
                (id, active)
            }
        };
        if !active {
            return Err(forbidden_inactive("The account is disabled."));
        }
        let nonce = header(r.headers, "x-acs-signature-nonce").or_else(|| r.params.raw("SignatureNonce"));
        if let Some(nonce) = nonce {
            let at = date.and_then(date_to_unix).unwrap_or(now);
            self.check_nonce(&hash, nonce, at).await?;
        }
        Ok(Caller { account_id })
    }

    /// Accepts a nonce once per credential. This process's window refuses a local replay
    /// without a round trip; with replicas sharing the database the claim there decides.
    async fn check_nonce(&self, credential: &str, nonce: &str, request_time: i64) -> Result<(), WireError> {
        self.nonces.check_and_record(credential, nonce, request_time)?;
        if self.service.nonces_shared() {
            // the request stays acceptable until MAX_SKEW_SECS after its own time; a minute
            // more covers clock differences between replicas
            let expires_at = request_time + MAX_SKEW_SECS + 60;
            let fresh = self
                .service
                .claim_nonce(credential, nonce, expires_at)
                .await
                .map_err(WireError::from)?;
            if !fresh {
                return Err(nonce_used());
            }
        }
        Ok(())
    }

    async fn access_key(&self, access_key_id: &str) -> Result<CachedKey, WireError> {
        if let Some(k) = self.keys.lock().unwrap().get(access_key_id)
            && k.fetched.elapsed() < CREDENTIAL_TTL
        {
            return Ok(k.clone());
        }
        let record = self.service.access_key(access_key_id).await.map_err(WireError::from)?;
        let Some(record) = record else {
            return Err(WireError::new(
                StatusCode::NOT_FOUND,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        };
        let key = CachedKey {
            account_id: record.account_id,
            secret: record.secret,
            key_active: record.key_active,
            account_active: record.account_active,
            fetched: Instant::now(),
        };
        let mut keys = self.keys.lock().unwrap();
        if keys.len() > 100_000 {
            keys.retain(|_, k| k.fetched.elapsed() < CREDENTIAL_TTL);
        }
        keys.insert(access_key_id.to_owned(), key.clone());
        Ok(key)
    }
}

impl CachedKey {
    fn usable(&self) -> Result<Caller, WireError> {
        if !self.key_active {
            return Err(forbidden_inactive("Specified access key is disabled."));
        }
        if !self.account_active {
            return Err(forbidden_inactive("The account is disabled."));
        }
        Ok(Caller {
            account_id: self.account_id,
        })
    }
}

/// The credential a request presents, whether or not it verifies: the access key id (v1
/// parameter or v3 `Credential`), or `bearer:` and the first 12 hex digits of the token's
/// hash (never the token). For the audit log.
pub fn presented_credential(r: &SignedParts<'_>) -> Option<String> {
    let authorization = header(r.headers, "authorization").unwrap_or("");
    if authorization.starts_with("ACS3-") {
        return parse_v3_authorization(authorization)
            .ok()
            .map(|a| a.access_key_id.chars().take(128).collect());
    }
    let bearer = authorization
        .strip_prefix("Bearer ")
        .or_else(|| header(r.headers, "x-acs-bearer-token"))
        .or_else(|| r.params.raw("BearerToken"));
    if let Some(token) = bearer {
        let hash = opencas_service::accounts::api_key_hash(token.trim());
        return Some(format!("bearer:{}", &hash[..hash.len().min(12)]));
    }
    r.params.raw("AccessKeyId").map(|id| id.chars().take(128).collect())
}

pub(crate) struct V3Authorization {
    pub(crate) algorithm: V3Algorithm,
    pub(crate) access_key_id: String,
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
}

pub(crate) fn parse_v3_authorization(value: &str) -> Result<V3Authorization, WireError> {
    let bad = |what: &str| WireError::incomplete_signature(format!("The Authorization header is malformed: {what}."));
    let (alg, rest) = value.split_once(' ').ok_or_else(|| bad("no credential part"))?;
    let algorithm = V3Algorithm::from_name(alg).ok_or_else(|| bad("unsupported algorithm"))?;
    let (mut credential, mut headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| bad("expected key=value"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(bad("unknown field")),
        }
    }
    let access_key_id = credential
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("no Credential"))?;
    let signature = signature.filter(|s| !s.is_empty()).ok_or_else(|| bad("no Signature"))?;
    let signed_headers: Vec<String> = headers
        .ok_or_else(|| bad("no SignedHeaders"))?
        .split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if signed_headers.len() > 64 {
        return Err(bad("too many signed headers"));
    }
    Ok(V3Authorization {
        algorithm,
        access_key_id: access_key_id.to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (fractional seconds allowed) into unix seconds.
pub fn date_to_unix(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    (t.offset() == time::UtcOffset::UTC).then(|| t.unix_timestamp())
}

pub(crate) fn check_timestamp(text: &str, now: i64) -> Result<(), WireError> {
    let at = date_to_unix(text).ok_or_else(|| {
        WireError::new(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            "Specified time stamp does not match the format YYYY-MM-DDTHH:MM:SSZ (UTC).",
        )
    })?;
    if (at - now).abs() > MAX_SKEW_SECS {
        return Err(WireError::new(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            format!(
                "Specified time stamp or date value is expired or more than 15 minutes from the server time: {text}."
            ),
        ));
    }
    Ok(())
}

fn nonce_used() -> WireError {
    WireError::new(
        StatusCode::BAD_REQUEST,
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
}

/// Nonces seen in the last `2 × MAX_SKEW_SECS`, in one-minute buckets so that expiry is
/// dropping whole buckets. Entries are 64-bit keyed hashes of `(credential, nonce)`.
#[derive(Default)]
struct NonceWindow {
    hasher: RandomState,
    buckets: Mutex<VecDeque<(i64, HashSet<u64>)>>,
}

impl NonceWindow {
    fn check_and_record(&self, credential: &str, nonce: &str, request_time: i64) -> Result<(), WireError> {
        if nonce.is_empty() || nonce.len() > 128 {
            return Err(WireError::invalid(
                "SignatureNonce",
                "SignatureNonce must be 1-128 characters.",
            ));
        }
        let h = self.hasher.hash_one((credential, nonce));
        let minute = request_time.div_euclid(60);
        let mut buckets = self.buckets.lock().unwrap();
        // A request is accepted for MAX_SKEW_SECS around its own time, so its nonce must
        // be remembered until then; older buckets can go.
        let oldest_kept = minute - 2 * MAX_SKEW_SECS / 60 - 1;
        while buckets.front().is_some_and(|(m, _)| *m < oldest_kept) {
            buckets.pop_front();
        }
        if buckets.iter().any(|(_, set)| set.contains(&h)) {
            return Err(nonce_used());
        }
        match buckets.iter_mut().find(|(m, _)| *m == minute) {
            Some((_, set)) => {
                set.insert(h);
            }
            None => {
                let at = buckets.partition_point(|(m, _)| *m < minute);
                buckets.insert(at, (minute, HashSet::from([h])));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let now = date_to_unix("2026-11-23T10:00:00Z").unwrap();
        assert!(check_timestamp("2026-11-23T10:14:59Z", now).is_ok());
        assert!(check_timestamp("2026-11-23T09:45:00Z", now).is_ok());
        assert_eq!(
            check_timestamp("2026-11-23T09:44:59Z", now).unwrap_err().code,
            "InvalidTimeStamp.Expired"
        );
        assert_eq!(
            check_timestamp("2026-11-23 10:00:00", now).unwrap_err().code,
            "InvalidTimeStamp.Format"
        );
        assert_eq!(
            check_timestamp("2026-11-23T10:00:00+08:00", now).unwrap_err().code,
            "InvalidTimeStamp.Format"
        );
    }

    #[test]
    fn nonces_are_single_use_per_credential() {
        let w = NonceWindow::default();
        assert!(w.check_and_record("ak1", "n1", 1000).is_ok());
        assert_eq!(
            w.check_and_record("ak1", "n1", 1000).unwrap_err().code,
            "SignatureNonceUsed"
        );
        assert!(w.check_and_record("ak2", "n1", 1000).is_ok());
        // still refused near the end of the window
        assert!(w.check_and_record("ak1", "n1", 1000 + MAX_SKEW_SECS).is_err());
        assert!(w.check_and_record("ak1", "", 1000).is_err());
    }

    /// The window holds what arrived in the last 2 × MAX_SKEW_SECS and no more: memory is
    /// bounded by the request rate over that time, never by the requests ever served.
    #[test]
    fn nonces_older_than_the_window_are_forgotten() {
        let w = NonceWindow::default();
        let held = |w: &NonceWindow| w.buckets.lock().unwrap().iter().map(|(_, s)| s.len()).sum::<usize>();
        for minute in 0..40 {
            for i in 0..100 {
                w.check_and_record("ak", &format!("{minute}-{i}"), 10_000 + minute * 60)
                    .unwrap();
            }
            let minutes_kept = (2 * MAX_SKEW_SECS / 60 + 2) as usize;
            assert!(
                held(&w) <= 100 * minutes_kept,
                "minute {minute}: {} nonces held",
                held(&w)
            );
        }
        // the last minute's nonces are still refused
        assert!(w.check_and_record("ak", "39-0", 10_000 + 39 * 60).is_err());
    }

    #[test]
    fn authorization_header_parsing() {
        let a = parse_v3_authorization("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;X-Acs-Date,Signature=ab")
            .unwrap();
        assert_eq!(a.access_key_id, "ak");
        assert_eq!(a.signed_headers, ["host", "x-acs-date"]);
        for bad in [
            "ACS3-HMAC-MD5 Credential=ak,SignedHeaders=host,Signature=ab",
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=x",
        ] {
            assert_eq!(
                parse_v3_authorization(bad).err().unwrap().code,
                "IncompleteSignature",
                "{bad}"
            );
        }
    }
}
