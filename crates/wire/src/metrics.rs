//! Prometheus metrics: requests by action and result code, and latency by action.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("opencas_requests_total", "API requests by action and result code"),
            &["action", "code"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("opencas_request_duration_seconds", "API request latency by action").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["action"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("unique metric");
        registry.register(Box::new(latency.clone())).expect("unique metric");
        Self {
            registry,
            requests,
            latency,
        }
    }
}

impl Metrics {
    /// `action` must come from the registry (or be a fixed placeholder), never from the
    /// request, so that label cardinality stays bounded.
    pub fn observe(&self, action: &str, code: &str, seconds: f64) {
        self.requests.with_label_values(&[action, code]).inc();
        self.latency.with_label_values(&[action]).observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
