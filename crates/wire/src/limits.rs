//! Limits on the request head, checked before anything is decoded, so an oversized head
//! gets the error envelope. hyper's own limits (set by the binary a step above these) stay
//! as the backstop for heads too large to parse at all; those get a bare status.

use crate::error::WireError;
use crate::render::{self, Format};
use crate::server::{Limits, host_id, new_request_id};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

pub(crate) async fn check_head(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    match refusal(&limits, &request) {
        None => next.run(request).await,
        Some(err) => {
            tracing::debug!(code = %err.code, "request head refused");
            render::error(&err, Format::Json, &new_request_id(), &host_id(request.headers()))
        }
    }
}

fn refusal(limits: &Limits, request: &Request) -> Option<WireError> {
    let uri_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > limits.max_uri_bytes {
        return Some(WireError::new(
            StatusCode::URI_TOO_LONG,
            "RequestURITooLong",
            format!(
                "The request URI exceeds the limit of {} bytes; send the parameters in the body.",
                limits.max_uri_bytes
            ),
        ));
    }
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return Some(too_large_head(format!(
            "The request has more than {} header fields.",
            limits.max_headers
        )));
    }
    // as HTTP/1.1 carries them: "name: value\r\n"
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if bytes > limits.max_header_bytes {
        return Some(too_large_head(format!(
            "The request header fields exceed the limit of {} bytes.",
            limits.max_header_bytes
        )));
    }
    None
}

fn too_large_head(message: String) -> WireError {
    WireError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "RequestHeaderFieldsTooLarge",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(uri: &str, headers: &[(&str, String)]) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        b.body(Body::empty()).unwrap()
    }

    fn limits() -> Limits {
        Limits {
            max_uri_bytes: 100,
            max_headers: 3,
            max_header_bytes: 64,
            ..Limits::default()
        }
    }

    #[test]
    fn inside_the_limits_passes() {
        let r = request("/?a=b", &[("host", "x".into()), ("x-a", "1".into())]);
        assert!(refusal(&limits(), &r).is_none());
    }

    #[test]
    fn each_limit_refuses_with_its_code() {
        let long = format!("/?a={}", "b".repeat(100));
        let e = refusal(&limits(), &request(&long, &[])).unwrap();
        assert_eq!((e.status.as_u16(), e.code.as_ref()), (414, "RequestURITooLong"));

        let many: Vec<_> = (0..4).map(|i| ("x-n", i.to_string())).collect();
        let e = refusal(&limits(), &request("/", &many)).unwrap();
        assert_eq!(
            (e.status.as_u16(), e.code.as_ref()),
            (431, "RequestHeaderFieldsTooLarge")
        );

        let e = refusal(&limits(), &request("/", &[("x-big", "v".repeat(60))])).unwrap();
        assert_eq!(
            (e.status.as_u16(), e.code.as_ref()),
            (431, "RequestHeaderFieldsTooLarge")
        );
        // one byte under the limit: 5 + 55 + 4 = 64
        assert!(refusal(&limits(), &request("/", &[("x-big", "v".repeat(55))])).is_none());
    }
}
