//! The HTTP front end: one handler decodes, routes, authenticates, throttles, calls the
//! action and renders, for `/` (RPC style) and the path styles `/api/cas/<V>/<A>` and
//! `/api/v1/<A>`.

use crate::audit::{self, AuditCtx};
use crate::auth::{Authenticator, SignedParts};
use crate::decode::{self, Pairs};
use crate::error::WireError;
use crate::metrics::Metrics;
use crate::params::Params;
use crate::ratelimit::{RateLimitConfig, RateLimiter};
use crate::registry::Registry;
use crate::render::{self, Format};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use opencas_service::Service;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// The longest a request may take, reading its body included.
    pub request_timeout_secs: u64,
    /// The longest the request line and header fields may take to arrive; a connection that
    /// sends no complete head in this time (idle keep-alive ones too) is closed.
    pub header_read_timeout_secs: u64,
    /// The longest request URI (path and query; the 2020-04-07 SDK sends uploads there).
    pub max_uri_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// The largest total size of the header fields.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 20,
            max_uri_bytes: 256 * 1024,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct WireConfig {
    pub rate_limit: RateLimitConfig,
    pub limits: Limits,
}

pub struct AppState {
    pub(crate) service: Service,
    auth: Authenticator,
    pub(crate) limiter: RateLimiter,
    pub(crate) metrics: Metrics,
    registry: Registry,
    limits: Limits,
}

impl AppState {
    pub fn new(service: Service, config: WireConfig) -> Arc<Self> {
        Arc::new(Self {
            auth: Authenticator::new(service.clone()),
            service,
            limiter: RateLimiter::new(config.rate_limit),
            metrics: Metrics::default(),
            registry: crate::actions::registry(),
            limits: config.limits,
        })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let limits = state.limits.clone();
    Router::new()
        .route("/", any(rpc_root))
        .route("/api/cas/{version}/{action}", any(rpc_versioned_path))
        .route("/api/v1/{action}", any(rpc_action_path))
        .route("/ca/{file}", get(ca_certificate))
        .route("/download/{identifier}", get(crate::download::download))
        .route("/crl/{file}", get(crate::pki_endpoints::crl))
        .route("/ocsp", axum::routing::post(crate::pki_endpoints::ocsp_post))
        .route("/ocsp/{*request}", get(crate::pki_endpoints::ocsp_get))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(limits, crate::limits::check_head))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /ca/<Identifier>.crt`: a CA certificate in DER, the address in the AIA caIssuers
/// extension of the certificates it issued. Public, like the certificate itself.
async fn ca_certificate(State(state): State<Arc<AppState>>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let identifier = file.strip_suffix(".crt").unwrap_or(&file);
    match state.service.public_ca_certificate(identifier).await {
        Ok(der) => ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response(),
        Err(e) => render::error(&WireError::from(e), Format::Json, &new_request_id(), &host_id(&headers)),
    }
}

pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

pub(crate) fn host_id(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255)
        .unwrap_or("opencas")
        .to_owned()
}

async fn not_found(headers: HeaderMap) -> Response {
    let err = WireError::new(StatusCode::NOT_FOUND, "NotFound", "The requested path does not exist.");
    render::error(&err, Format::Json, &new_request_id(), &host_id(&headers))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    render::error(&WireError::internal(), Format::Json, &new_request_id(), "opencas")
}

/// Where the route put the version and action, if anywhere.
#[derive(Default)]
struct RouteHint {
    version: Option<String>,
    action: Option<String>,
    path_style: bool,
}

/// The peer address, when the server was started with connection info (not in unit tests).
type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

fn peer_text(peer: Peer) -> String {
    peer.map(|p| p.0.0.to_string()).unwrap_or_else(|| "unknown".into())
}

async fn rpc_root(
    State(s): State<Arc<AppState>>,
    peer: Peer,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dispatch(s, RouteHint::default(), peer_text(peer), method, uri, headers, body).await
}

async fn rpc_versioned_path(
    State(s): State<Arc<AppState>>,
    Path((version, action)): Path<(String, String)>,
    peer: Peer,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let hint = RouteHint {
        version: Some(version),
        action: Some(action),
        path_style: true,
    };
    dispatch(s, hint, peer_text(peer), method, uri, headers, body).await
}

async fn rpc_action_path(
    State(s): State<Arc<AppState>>,
    Path(action): Path<String>,
    peer: Peer,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let hint = RouteHint {
        version: None,
        action: Some(action),
        path_style: true,
    };
    dispatch(s, hint, peer_text(peer), method, uri, headers, body).await
}

/// What one request decoded into.
pub(crate) struct Decoded {
    query: Pairs,
    form: Pairs,
    body: axum::body::Bytes,
    pub(crate) params: Params,
}

async fn dispatch(
    state: Arc<AppState>,
    hint: RouteHint,
    source: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let ctx = AuditCtx {
        request_id: request_id.clone(),
        source,
    };
    let host = host_id(&headers);
    let timeout = Duration::from_secs(state.limits.request_timeout_secs);
    let mut format = Format::Json;
    let mut label = "unknown";
    let mut pending = None;
    let outcome = tokio::time::timeout(
        timeout,
        handle(
            &state,
            &ctx,
            hint,
            &method,
            &uri,
            &headers,
            body,
            (&mut format, &mut label),
            &mut pending,
        ),
    )
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(_) => {
            let err = WireError::new(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "The request took too long to arrive or to process.",
            );
            // The action was dropped mid-way; its `call` record, if any, still needs a result.
            match audit::record_result(&state, &mut pending, Err(&err)).await {
                Ok(()) => Err(err),
                Err(unrecorded) => Err(unrecorded),
            }
        }
    };
    let (response, code) = match outcome {
        Ok(body) => (render::success(label, body, format, &request_id), "OK".to_owned()),
        Err(err) => {
            if err.status.is_server_error() {
                tracing::error!(request_id, code = %err.code, "request failed");
            } else {
                tracing::debug!(request_id, code = %err.code, "request refused");
            }
            (render::error(&err, format, &request_id, &host), err.code.to_string())
        }
    };
    state.metrics.observe(label, &code, started.elapsed().as_secs_f64());
    response
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    state: &AppState,
    ctx: &AuditCtx,
    hint: RouteHint,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    (format, label): (&mut Format, &mut &'static str),
    pending: &mut Option<audit::Pending>,
) -> Result<crate::registry::Body, WireError> {
    if method != Method::GET && method != Method::POST {
        return Err(WireError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedHTTPMethod",
            format!("The HTTP method {method} is not supported; use GET or POST."),
        ));
    }
    let decoded = decode_request(state, uri, headers, body).await?;
    let params = &decoded.params;
    *format = Format::from_param(params.raw("Format"));

    let header_value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let action_name = hint
        .action
        .as_deref()
        .or_else(|| params.raw("Action").filter(|a| !a.is_empty()))
        .or_else(|| header_value("x-acs-action"))
        .ok_or_else(|| WireError::missing("Action"))?;
    let version = hint
        .version
        .as_deref()
        .or_else(|| params.raw("Version").filter(|v| !v.is_empty()))
        .or_else(|| header_value("x-acs-version"));
    if version.is_none() && !hint.path_style {
        return Err(WireError::missing("Version"));
    }
    let action = state.registry.find(version, action_name)?;
    *label = action.name;

    let caller = authenticate(
        state,
        ctx,
        (action.version, action.name),
        method,
        uri,
        headers,
        &decoded,
    )
    .await?;
    let name = (action.version, action.name);
    let throttled = state.limiter.check(caller.account_id, action.name);
    let recording = audit::recording(action.name);
    if recording == audit::Recording::Not {
        throttled?;
        return action.run(state.service.clone(), caller, decoded.params, None).await;
    }
    let call = audit::CallFacts {
        ctx,
        action: name,
        caller,
        credential: crate::auth::presented_credential(&signed_parts(method, uri, headers, &decoded)),
        params: &decoded.params,
    };
    if let Err(refusal) = throttled {
        return Err(audit::record_throttled(state, call, refusal).await);
    }
    let mut effect_audit = None;
    if recording == audit::Recording::Use {
        audit::prepare_use(call, pending);
    } else if action.records_its_effect() && state.service.records_effects() {
        effect_audit = Some(audit::hand_to_effect(call, pending));
    } else {
        audit::record_call(state, call, pending).await?;
    }
    let outcome = action
        .run(state.service.clone(), caller, decoded.params, effect_audit)
        .await;
    audit::record_result(state, pending, outcome.as_ref().map(Some)).await?;
    outcome
}

pub(crate) fn signed_parts<'a>(
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    decoded: &'a Decoded,
) -> SignedParts<'a> {
    SignedParts {
        method: method.as_str(),
        path: uri.path(),
        headers,
        query: &decoded.query,
        form: &decoded.form,
        body: &decoded.body,
        params: &decoded.params,
    }
}

/// Verifies the credentials of a decoded request; a refusal is recorded in the audit log
/// (`action` is `(version, name)`) before it is answered.
pub(crate) async fn authenticate(
    state: &AppState,
    ctx: &AuditCtx,
    action: (&str, &str),
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    decoded: &Decoded,
) -> Result<opencas_service::Caller, WireError> {
    let parts = signed_parts(method, uri, headers, decoded);
    match state.auth.authenticate(&parts, unix_now()).await {
        Ok(caller) => Ok(caller),
        Err(refusal) => Err(audit::record_refused_auth(state, ctx, action, &parts, refusal).await),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn too_large(limit: usize) -> WireError {
    WireError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("The request body exceeds the limit of {limit} bytes."),
    )
}

pub(crate) async fn decode_request(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Decoded, WireError> {
    let limit = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))?;

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let d = decode::decode_params(uri.query().unwrap_or("").as_bytes(), &content_type, &body)?;
    Ok(Decoded {
        query: d.query,
        form: d.form,
        body,
        params: d.params,
    })
}
