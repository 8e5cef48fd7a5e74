//! Per-account, per-action rate limits: a token bucket per pair, refilled continuously
//! at the action's QPS with a burst of one second's worth.

use crate::error::WireError;
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Calls per second per account for any action not listed in `actions`.
    pub default_qps: f64,
    /// Per-action overrides, by action name.
    pub actions: HashMap<String, f64>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // The product documents: 10 QPS for most actions, 100 for GetUserCertificateDetail.
        Self {
            enabled: true,
            default_qps: 10.0,
            actions: HashMap::from([("GetUserCertificateDetail".to_owned(), 100.0)]),
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<(i64, &'static str), Bucket>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, account_id: i64, action: &'static str) -> Result<(), WireError> {
        if !self.config.enabled {
            return Ok(());
        }
        let qps = self
            .config
            .actions
            .get(action)
            .copied()
            .unwrap_or(self.config.default_qps);
        if qps <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = buckets
            .entry((account_id, action))
            .or_insert(Bucket { tokens: qps, last: now });
        let refill = now.duration_since(bucket.last).as_secs_f64() * qps;
        bucket.tokens = (bucket.tokens + refill).min(qps);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(WireError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttling.User",
                format!(
                    "Request was denied due to user flow control: {action} allows {qps} calls per second per account."
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_per_account_and_action() {
        let limiter = RateLimiter::new(RateLimitConfig {
            default_qps: 3.0,
            ..Default::default()
        });
        for _ in 0..3 {
            assert!(limiter.check(1, "ListCert").is_ok());
        }
        let err = limiter.check(1, "ListCert").unwrap_err();
        assert_eq!(
            (err.status, err.code.as_ref()),
            (StatusCode::TOO_MANY_REQUESTS, "Throttling.User")
        );
        assert!(limiter.check(2, "ListCert").is_ok());
        assert!(limiter.check(1, "ListCsr").is_ok());
        // the 100 QPS override gives a larger burst
        for _ in 0..100 {
            assert!(limiter.check(1, "GetUserCertificateDetail").is_ok());
        }
    }

    #[test]
    fn disabled_never_limits() {
        let limiter = RateLimiter::new(RateLimitConfig {
            enabled: false,
            ..Default::default()
        });
        for _ in 0..1000 {
            assert!(limiter.check(1, "ListCert").is_ok());
        }
    }
}
