//! The validator against real sockets on loopback: a small authoritative DNS responder
//! and HTTP servers that misbehave in each way a tenant's host might.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use opencas_va::{FailureKind, VaConfig, Validator};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Answers TXT queries from `txt` (name → records, each a list of strings), A queries for
/// names in `a` and NXDOMAIN for everything else.
async fn dns_server(
    txt: HashMap<&'static str, Vec<Vec<&'static str>>>,
    a: HashMap<&'static str, [u8; 4]>,
) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let query = Message::from_vec(&buf[..n]).unwrap();
            let mut answer = Message::new();
            answer
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_recursion_available(true);
            answer.add_queries(query.queries().to_vec());
            let q = &query.queries()[0];
            let name = q.name().to_ascii().trim_end_matches('.').to_lowercase();
            let mut found = false;
            if let Some(records) = txt.get(name.as_str()) {
                found = true;
                if q.query_type() == RecordType::TXT {
                    for parts in records {
                        let rdata = RData::TXT(TXT::new(parts.iter().map(|s| s.to_string()).collect()));
                        answer.add_answer(Record::from_rdata(q.name().clone(), 0, rdata));
                    }
                }
            }
            if let Some(ip) = a.get(name.as_str()) {
                found = true;
                if q.query_type() == RecordType::A {
                    answer.add_answer(Record::from_rdata(
                        q.name().clone(),
                        0,
                        RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
                    ));
                }
            }
            if !found {
                answer.set_response_code(ResponseCode::NXDomain);
            }
            socket.send_to(&answer.to_vec().unwrap(), peer).await.unwrap();
        }
    });
    addr
}

/// An HTTP server that answers every request with `response` (raw bytes) after `delay`.
async fn http_server(response: String, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn validator(resolver: Option<SocketAddr>, overrides: &[(&str, SocketAddr)]) -> Validator {
    Validator::new(VaConfig {
        resolver,
        host_overrides: overrides.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        dns_timeout: Duration::from_millis(500),
        http_timeout: Duration::from_secs(2),
        max_body_bytes: 1024,
        ..VaConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn dns_txt_record_is_found_matched_or_missed() {
    let txt = HashMap::from([
        ("_dnsauth.a.test", vec![vec!["other"], vec!["tok", "en-1"]]),
        ("_dnsauth.b.test", vec![vec!["wrong"]]),
    ]);
    let va = validator(Some(dns_server(txt, HashMap::new()).await), &[]);
    // A TXT record split into several strings is one value.
    va.check_dns_txt("_dnsauth.A.test.", "token-1").await.unwrap();
    assert_eq!(
        va.check_dns_txt("_dnsauth.b.test", "token-1").await.unwrap_err().kind,
        FailureKind::Mismatch
    );
    let missing = va.check_dns_txt("_dnsauth.c.test", "token-1").await.unwrap_err();
    assert_eq!(missing.kind, FailureKind::NoRecord, "{missing}");
    assert!(missing.is_retryable());
    let invalid = va.check_dns_txt("bad name.test", "x").await.unwrap_err();
    assert_eq!(invalid.kind, FailureKind::Invalid);
    assert!(!invalid.is_retryable());
}

#[tokio::test]
async fn dns_server_that_never_answers_is_a_retryable_failure() {
    // Bound but never read: queries go unanswered.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let va = validator(Some(silent.local_addr().unwrap()), &[]);
    let failure = va.check_dns_txt("_dnsauth.a.test", "x").await.unwrap_err();
    assert!(
        matches!(failure.kind, FailureKind::Timeout | FailureKind::Unreachable),
        "{failure:?}"
    );
    assert!(failure.is_retryable());
}

#[tokio::test]
async fn http_file_is_fetched_from_the_overridden_host() {
    let server = http_server(ok("  token-2\n"), Duration::ZERO).await;
    let va = validator(None, &[("Site.test", server)]);
    va.check_http_file("site.test", "/.well-known/pki-validation/fileauth.txt", "token-2")
        .await
        .unwrap();
    let wrong = va.check_http_file("site.test", "/x", "token-3").await.unwrap_err();
    assert_eq!(wrong.kind, FailureKind::Mismatch);
}

#[tokio::test]
async fn http_failures_are_told_apart() {
    let not_found = http_server(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
        Duration::ZERO,
    )
    .await;
    let error = http_server("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".into(), Duration::ZERO).await;
    let huge = http_server(ok(&"x".repeat(5000)), Duration::ZERO).await;
    let chunked_huge = http_server(
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            3000,
            "y".repeat(3000)
        ),
        Duration::ZERO,
    )
    .await;
    let slow = http_server(ok("late"), Duration::from_secs(5)).await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap(); // dropped: refused
    let off_domain = http_server(
        "HTTP/1.1 302 Found\r\nLocation: http://evil.test/x\r\nContent-Length: 0\r\n\r\n".into(),
        Duration::ZERO,
    )
    .await;
    let va = validator(
        None,
        &[
            ("nf.test", not_found),
            ("err.test", error),
            ("huge.test", huge),
            ("chunked.test", chunked_huge),
            ("slow.test", slow),
            ("closed.test", closed),
            ("off.test", off_domain),
        ],
    );
    let kind = |d: &'static str| {
        let va = &va;
        async move { va.check_http_file(d, "/f", "x").await.unwrap_err().kind }
    };
    assert_eq!(kind("nf.test").await, FailureKind::NoRecord);
    assert_eq!(kind("err.test").await, FailureKind::BadResponse);
    assert_eq!(kind("huge.test").await, FailureKind::BadResponse);
    assert_eq!(kind("chunked.test").await, FailureKind::BadResponse);
    assert_eq!(kind("slow.test").await, FailureKind::Timeout);
    assert_eq!(kind("closed.test").await, FailureKind::Unreachable);
    assert_eq!(kind("off.test").await, FailureKind::BadResponse);
    assert_eq!(
        va.check_http_file("nf.test", "no-slash", "x").await.unwrap_err().kind,
        FailureKind::Invalid
    );
}

#[tokio::test]
async fn redirects_within_the_domain_are_followed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(request.to_lowercase().contains("host: r.test"), "{request}");
            let response = if request.starts_with("GET /start ") {
                "HTTP/1.1 301 Moved\r\nLocation: http://r.test/final\r\nContent-Length: 0\r\n\r\n".to_owned()
            } else {
                ok("token-r")
            };
            stream.write_all(response.as_bytes()).await.unwrap();
        }
    });
    let va = validator(None, &[("r.test", addr)]);
    va.check_http_file("r.test", "/start", "token-r").await.unwrap();
}

#[tokio::test]
async fn names_resolving_to_private_addresses_are_not_fetched() {
    let dns = dns_server(HashMap::new(), HashMap::from([("internal.test", [127, 0, 0, 1])])).await;
    let va = validator(Some(dns), &[]);
    let failure = va.check_http_file("internal.test", "/f", "x").await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Invalid, "{failure}");
}
