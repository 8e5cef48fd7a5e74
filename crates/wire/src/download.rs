//! `GET /download/<Identifier>?format=pem|der|pkcs8|pfx|jks&password=…`: a certificate as
//! a file, authenticated like any API call (signature v1/v3 or bearer).

use crate::error::WireError;
use crate::render::{self, Format};
use crate::server::{AppState, authenticate, decode_request, host_id, new_request_id};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use opencas_service::issuance::{Download, DownloadFormat};
use std::sync::Arc;
use std::time::Instant;

/// The rate-limit and metrics name of downloads.
const ACTION: &str = "DownloadCertificate";

pub async fn download(
    State(state): State<Arc<AppState>>,
    Path(identifier): Path<String>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let ctx = crate::audit::AuditCtx {
        request_id: request_id.clone(),
        source: peer.map(|p| p.0.0.to_string()).unwrap_or_else(|| "unknown".into()),
    };
    let outcome = fetch(&state, &ctx, &identifier, &method, &uri, &headers, body).await;
    let (response, code) = match outcome {
        Ok(file) => {
            let disposition = format!("attachment; filename=\"{}\"", file.file_name);
            let mut r = ([(header::CONTENT_TYPE, file.content_type)], file.body).into_response();
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                r.headers_mut().insert("x-acs-request-id", v);
            }
            (r, "OK".to_owned())
        }
        Err(e) => (
            render::error(&e, Format::Json, &request_id, &host_id(&headers)),
            e.code.to_string(),
        ),
    };
    state.metrics.observe(ACTION, &code, started.elapsed().as_secs_f64());
    response
}

async fn fetch(
    state: &AppState,
    ctx: &crate::audit::AuditCtx,
    identifier: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Download, WireError> {
    let decoded = decode_request(state, uri, headers, body).await?;
    let caller = authenticate(state, ctx, ("", ACTION), method, uri, headers, &decoded).await?;
    // a download can carry the private key: recorded like DescribeCertificatePrivateKey
    let mut params = decoded.params.clone();
    params.insert("Identifier", identifier);
    let call = crate::audit::CallFacts {
        ctx,
        action: ("", ACTION),
        caller,
        credential: crate::auth::presented_credential(&crate::server::signed_parts(method, uri, headers, &decoded)),
        params: &params,
    };
    if let Err(refusal) = state.limiter.check(caller.account_id, ACTION) {
        return Err(crate::audit::record_throttled(state, call, refusal).await);
    }
    let mut pending = None;
    crate::audit::record_call(state, call, &mut pending).await?;
    let outcome = download_of(state, caller, identifier, &decoded.params).await;
    crate::audit::record_result(state, &mut pending, outcome.as_ref().map(|_| None)).await?;
    outcome
}

async fn download_of(
    state: &AppState,
    caller: opencas_service::Caller,
    identifier: &str,
    p: &crate::params::Params,
) -> Result<Download, WireError> {
    let format = match p.opt_str("format") {
        None => DownloadFormat::Pem,
        Some(f) => DownloadFormat::from_api(&f).ok_or_else(|| {
            WireError::invalid(
                "format",
                format!("format must be one of {}.", DownloadFormat::API_VALUES.join(", ")),
            )
        })?,
    };
    Ok(state
        .service
        .download_certificate(caller, identifier, format, p.opt_str("password"))
        .await?)
}
