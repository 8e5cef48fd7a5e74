//! One validation file fetched over plain HTTP on port 80, as DV file validation and
//! ACME http-01 define it. hyper's low-level client is used directly rather than a full
//! HTTP client crate because every step must be controlled: which address is dialled,
//! the Host header, redirects (only within the domain), and the byte cap.

use crate::dns::check_name;
use crate::{Failure, FailureKind, Validator};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpStream;

pub(crate) async fn fetch(va: &Validator, domain: &str, path: &str) -> Result<String, Failure> {
    let domain = check_name(domain)?;
    check_path(path)?;
    let url = format!("http://{domain}{path}");
    let timeout = va.config.http_timeout;
    match tokio::time::timeout(timeout, follow(va, &domain, path.to_owned())).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(
            FailureKind::Timeout,
            format!("{url} did not answer within {} s", timeout.as_secs_f32()),
        )),
    }
}

async fn follow(va: &Validator, domain: &str, mut path: String) -> Result<String, Failure> {
    for _ in 0..=va.config.max_redirects {
        let addr = target(va, domain).await?;
        match get(va, addr, domain, &path).await? {
            Answer::Body(body) => return Ok(body),
            Answer::Redirect(location) => path = same_domain_path(domain, &location)?,
        }
    }
    Err(Failure::new(
        FailureKind::BadResponse,
        format!("http://{domain}: more than {} redirects", va.config.max_redirects),
    ))
}

fn check_path(path: &str) -> Result<(), Failure> {
    let ok = path.starts_with('/')
        && path.len() <= 1024
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            FailureKind::Invalid,
            format!("{path:?} is not an absolute URL path"),
        ))
    }
}

/// The address to dial: an operator's override, else the first public address DNS gives.
async fn target(va: &Validator, domain: &str) -> Result<SocketAddr, Failure> {
    if let Some(addr) = va.config.host_overrides.get(domain) {
        return Ok(*addr);
    }
    let ips = va.resolver.ips(domain).await?;
    ips.iter()
        .find(|ip| va.config.allow_private_addresses || is_public(ip))
        .map(|ip| SocketAddr::new(*ip, 80))
        .ok_or_else(|| {
            Failure::new(
                FailureKind::Invalid,
                format!("{domain} resolves only to private or reserved addresses"),
            )
        })
}

pub(crate) fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
}

enum Answer {
    Body(String),
    Redirect(String),
}

async fn get(va: &Validator, addr: SocketAddr, domain: &str, path: &str) -> Result<Answer, Failure> {
    let url = format!("http://{domain}{path}");
    let unreachable = |e: &dyn std::fmt::Display| Failure::new(FailureKind::Unreachable, format!("{url}: {e}"));
    let stream = TcpStream::connect(addr).await.map_err(|e| unreachable(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    let driver = tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, domain)
        .header(header::USER_AGENT, "opencas-va/1")
        .header(header::ACCEPT, "*/*")
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Failure::new(FailureKind::Invalid, format!("{url}: {e}")))?;
    let response = sender.send_request(request).await.map_err(|e| unreachable(&e));
    let answer = match response {
        Ok(response) => read_answer(va, &url, response).await,
        Err(e) => Err(e),
    };
    driver.abort();
    answer
}

async fn read_answer(
    va: &Validator,
    url: &str,
    response: hyper::Response<hyper::body::Incoming>,
) -> Result<Answer, Failure> {
    let bad = |detail: String| Failure::new(FailureKind::BadResponse, detail);
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad(format!("{url}: redirect {status} without a Location")))?;
        return Ok(Answer::Redirect(location.to_owned()));
    }
    if status == StatusCode::NOT_FOUND {
        return Err(Failure::new(FailureKind::NoRecord, format!("{url}: 404 Not Found")));
    }
    if status != StatusCode::OK {
        return Err(bad(format!("{url}: HTTP status {}", status.as_u16())));
    }
    let max = va.config.max_body_bytes;
    let too_large = || bad(format!("{url}: the file is larger than {max} bytes"));
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let body = Limited::new(response.into_body(), max).collect().await.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            too_large()
        } else {
            Failure::new(FailureKind::Unreachable, format!("{url}: {e}"))
        }
    })?;
    String::from_utf8(body.to_bytes().to_vec())
        .map(Answer::Body)
        .map_err(|_| bad(format!("{url}: the file is not UTF-8 text")))
}

/// The path a redirect leads to, if it stays on the same domain over plain HTTP.
fn same_domain_path(domain: &str, location: &str) -> Result<String, Failure> {
    let off = || {
        Failure::new(
            FailureKind::BadResponse,
            format!("http://{domain}: redirect to {location:?} leaves the domain"),
        )
    };
    let path = if location.starts_with('/') && !location.starts_with("//") {
        location.to_owned()
    } else {
        let rest = location.strip_prefix("http://").ok_or_else(off)?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = authority.strip_suffix(":80").unwrap_or(authority);
        if !host.eq_ignore_ascii_case(domain) {
            return Err(off());
        }
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    };
    check_path(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_domain() {
        assert_eq!(same_domain_path("a.test", "/x").unwrap(), "/x");
        assert_eq!(same_domain_path("a.test", "http://A.test/y").unwrap(), "/y");
        assert_eq!(same_domain_path("a.test", "http://a.test:80/z").unwrap(), "/z");
        for off in [
            "http://b.test/x",
            "https://a.test/x",
            "//b.test/x",
            "http://a.test:8080/x",
            "ftp://a.test/",
        ] {
            assert_eq!(
                same_domain_path("a.test", off).unwrap_err().kind,
                FailureKind::BadResponse,
                "{off}"
            );
        }
    }

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(&private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(&public.parse().unwrap()), "{public}");
        }
    }
}
