//! The public PKI endpoints, unauthenticated as relying parties expect: CRLs at the
//! address in the certificates' CRL distribution point, and an OCSP responder (RFC 6960,
//! GET with the base64 request in the path, or POST with the DER body).

use crate::error::WireError;
use crate::render::{self, Format};
use crate::server::{AppState, host_id, new_request_id};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;

/// OCSP requests are small; anything larger is not one.
const MAX_OCSP_REQUEST: usize = 64 * 1024;

pub async fn crl(State(state): State<Arc<AppState>>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let identifier = file.strip_suffix(".crl").unwrap_or(&file);
    match state.service.public_crl(identifier).await {
        Ok(der) => (
            [(header::CONTENT_TYPE, "application/pkix-crl")],
            Bytes::from_owner(Shared(der)),
        )
            .into_response(),
        Err(e) => render::error(&WireError::from(e), Format::Json, &new_request_id(), &host_id(&headers)),
    }
}

/// A cached CRL handed to the response body without copying it (a million entries are
/// some 40 MB).
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn ocsp_response(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response")], der).into_response()
}

pub async fn ocsp_get(State(state): State<Arc<AppState>>, Path(encoded): Path<String>) -> Response {
    // RFC 6960 appendix A.1: the base64 DER request, URL-encoded, as the path.
    let decoded = percent_encoding::percent_decode_str(&encoded)
        .decode_utf8_lossy()
        .into_owned();
    let request = base64::engine::general_purpose::STANDARD
        .decode(decoded.trim())
        .unwrap_or_default();
    ocsp_response(state.service.ocsp(&request).await)
}

pub async fn ocsp_post(State(state): State<Arc<AppState>>, body: Body) -> Response {
    match axum::body::to_bytes(body, MAX_OCSP_REQUEST).await {
        Ok(bytes) => ocsp_bytes(&state, bytes).await,
        Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, "OCSP request too large").into_response(),
    }
}

async fn ocsp_bytes(state: &AppState, bytes: Bytes) -> Response {
    ocsp_response(state.service.ocsp(&bytes).await)
}
