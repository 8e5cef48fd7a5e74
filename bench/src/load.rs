//! The load loop: N persistent HTTP/1.1 connections, each sending one request at a time
//! (closed loop, like wrk), for a warm-up and then a measured window.
//!
//! Two clients drive a connection. `Hyper` is hyper's client connection (a task of its own
//! per connection, requests handed over a channel). `Raw` writes the request's bytes and
//! reads the response on the worker's own task, as wrk does: the load generator shares the
//! two cores with the server, and at ~13,000 requests/s hyper's client took ~0.45 of them
//! (cross-task wake-ups, header maps), CPU the server under test did not get.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub type Req = Request<Full<Bytes>>;
/// Builds the next request (fresh nonce, date and signature for opencas).
pub type MakeReq = Arc<dyn Fn() -> Req + Send + Sync>;
/// Writes the next request's bytes into the second buffer (the first is scratch space): for
/// points where building a `Req` would cost the load generator more than it must.
pub type MakeBytes = Arc<dyn Fn(&mut Vec<u8>, &mut Vec<u8>) + Send + Sync>;

/// How a point makes its requests.
#[derive(Clone)]
pub enum Maker {
    Request(MakeReq),
    /// Only with the raw client (`raw_client()`).
    Bytes(MakeBytes),
}

impl From<MakeReq> for Maker {
    fn from(make: MakeReq) -> Self {
        Maker::Request(make)
    }
}

/// Accepts a response as one issued certificate, or says why not.
pub type Check = fn(StatusCode, &[u8]) -> Result<(), String>;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Which client `run_point` uses (set once from the command line, before any point).
static RAW_CLIENT: AtomicBool = AtomicBool::new(true);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    Raw,
    Hyper,
}

pub fn use_client(client: Client) {
    RAW_CLIENT.store(client == Client::Raw, Ordering::Relaxed);
}

pub fn raw_client() -> bool {
    RAW_CLIENT.load(Ordering::Relaxed)
}

/// A keep-alive HTTP/1.1 connection driven in place: the request written, the response
/// (`content-length` framed, as the servers under test send) read, on the caller's task.
pub struct RawConn {
    stream: TcpStream,
    out: Vec<u8>,
    input: Vec<u8>,
    host: String,
    closed: bool,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        Ok(Self {
            stream,
            out: Vec::with_capacity(2048),
            input: Vec::with_capacity(8192),
            host: addr.to_string(),
            closed: false,
        })
    }

    /// False once the server said `connection: close`.
    pub fn reusable(&self) -> bool {
        !self.closed
    }

    pub async fn send(&mut self, req: Req) -> Result<(StatusCode, Bytes), String> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
        let mut out = std::mem::take(&mut self.out);
        encode_request(&parts, &body, &self.host, &mut out);
        let res = self.send_bytes(&out).await;
        self.out = out;
        res
    }

    /// Sends a request already written out.
    pub async fn send_bytes(&mut self, request: &[u8]) -> Result<(StatusCode, Bytes), String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| format!("no response within {REQUEST_TIMEOUT:?}"))?
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<(StatusCode, Bytes), String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let head = loop {
            if let Some(head) = parse_response_head(&self.input)? {
                break head;
            }
            self.read_more().await?;
        };
        self.closed |= head.close;
        let (body, end) = match head.framing {
            Framing::Length(n) => {
                let end = head.len + n;
                while self.input.len() < end {
                    self.read_more().await?;
                }
                (Bytes::copy_from_slice(&self.input[head.len..end]), end)
            }
            Framing::Chunked => self.read_chunked(head.len).await?,
        };
        self.input.drain(..end);
        Ok((head.status, body))
    }

    /// A chunked body starting at `pos` of the input (trailers are not expected): the body
    /// and where the response ends.
    async fn read_chunked(&mut self, mut pos: usize) -> Result<(Bytes, usize), String> {
        let mut body = Vec::new();
        loop {
            match httparse::parse_chunk_size(&self.input[pos..]) {
                Ok(httparse::Status::Complete((used, size))) => {
                    pos += used;
                    let size = usize::try_from(size).map_err(|_| "a chunk too large")?;
                    while self.input.len() < pos + size + 2 {
                        self.read_more().await?;
                    }
                    if &self.input[pos + size..pos + size + 2] != b"\r\n" {
                        return Err("a chunk not followed by CRLF (or trailers)".into());
                    }
                    body.extend_from_slice(&self.input[pos..pos + size]);
                    pos += size + 2;
                    if size == 0 {
                        return Ok((Bytes::from(body), pos));
                    }
                }
                Ok(httparse::Status::Partial) => self.read_more().await?,
                Err(_) => return Err("a malformed chunk size".into()),
            }
        }
    }

    async fn read_more(&mut self) -> Result<(), String> {
        self.input.reserve(8192);
        let n = self
            .stream
            .read_buf(&mut self.input)
            .await
            .map_err(|e| format!("response: {e}"))?;
        if n == 0 {
            return Err("connection closed before the response was complete".into());
        }
        Ok(())
    }
}

/// `METHOD target HTTP/1.1`, the request's headers, `host` and `content-length` if it has
/// none, then the body.
fn encode_request(parts: &hyper::http::request::Parts, body: &[u8], host: &str, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let _ = write!(out, "{} {target} HTTP/1.1\r\n", parts.method);
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(hyper::header::HOST) {
        let _ = write!(out, "host: {host}\r\n");
    }
    if !parts.headers.contains_key(hyper::header::CONTENT_LENGTH) {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

struct ResponseHead {
    status: StatusCode,
    /// Bytes of the status line and headers, the blank line included.
    len: usize,
    framing: Framing,
    close: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// The head of the response at the start of `input`, or `None` while it is incomplete.
fn parse_response_head(input: &[u8]) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(input).map_err(|e| format!("response head: {e}"))? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|e| format!("status: {e}"))?;
    let mut framing = None;
    let mut close = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).map_err(|_| "content-length: not text")?;
            let n = text
                .trim()
                .parse::<usize>()
                .map_err(|e| format!("content-length: {e}"))?;
            framing.get_or_insert(Framing::Length(n));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") {
                return Err("a transfer-encoding other than chunked".into());
            }
            framing = Some(Framing::Chunked);
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    // a response to POST/GET without either is read to the connection's end: not supported
    let framing = framing.ok_or("a response without content-length or chunked framing")?;
    Ok(Some(ResponseHead {
        status,
        len,
        framing,
        close,
    }))
}

/// One worker's connection, of the client chosen with `use_client`.
enum Conn {
    Hyper(SendRequest<Full<Bytes>>),
    Raw(RawConn),
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Self, String> {
        if RAW_CLIENT.load(Ordering::Relaxed) {
            RawConn::connect(addr).await.map(Conn::Raw)
        } else {
            connect(addr).await.map(Conn::Hyper)
        }
    }

    /// Sends `req`, or when `None` the request written out in `bytes`.
    async fn send(&mut self, req: Option<Req>, bytes: &[u8]) -> Result<(StatusCode, Bytes), String> {
        match (self, req) {
            (Conn::Hyper(s), Some(req)) => send(s, req).await,
            (Conn::Raw(r), Some(req)) => r.send(req).await,
            (Conn::Raw(r), None) => r.send_bytes(bytes).await,
            (Conn::Hyper(_), None) => Err("a request written as bytes needs the raw client".into()),
        }
    }

    fn reusable(&self) -> bool {
        match self {
            Conn::Hyper(_) => true,
            Conn::Raw(r) => r.reusable(),
        }
    }
}

pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).ok();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

pub async fn send(sender: &mut SendRequest<Full<Bytes>>, req: Req) -> Result<(StatusCode, Bytes), String> {
    let fut = async {
        sender.ready().await.map_err(|e| format!("connection: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("request: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fut)
        .await
        .map_err(|_| format!("no response within {REQUEST_TIMEOUT:?}"))?
}

/// One request on a fresh connection (setup calls).
pub async fn one_shot(addr: SocketAddr, req: Req) -> Result<(StatusCode, Bytes), String> {
    let mut sender = connect(addr).await?;
    send(&mut sender, req).await
}

#[derive(Default, Clone)]
pub struct Stats {
    /// Successful responses completed inside the measured window.
    pub ok: u64,
    /// Successful responses in every phase (warm-up and the tail after the window too).
    pub issued_total: u64,
    /// Failed requests over the whole point (warm-up included): non-200, a response
    /// without a certificate, connection errors, timeouts.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Length of the measured window, seconds.
    pub window: f64,
    /// Latencies of the successful in-window requests, microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        if self.window > 0.0 {
            self.ok as f64 / self.window
        } else {
            0.0
        }
    }

    /// Nearest-rank percentile, milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies_us.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, n) - 1] as f64 / 1000.0
    }

    pub fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        self.issued_total += other.issued_total;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Runs `connections` closed-loop workers against `addr`. Responses completing during
/// `warmup` are discarded; the ones completing in the following `duration` are counted.
/// Workers stop sending at the end of the window and wait for their last response, so the
/// server is idle again when this returns.
pub async fn run_point(
    addr: SocketAddr,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    make: impl Into<Maker>,
    check: Check,
) -> Stats {
    let make = make.into();
    let start = Instant::now();
    let from = start + warmup;
    let to = from + duration;
    let mut handles = Vec::with_capacity(connections);
    for _ in 0..connections {
        let make = make.clone();
        handles.push(tokio::spawn(async move {
            let mut st = Stats::default();
            let mut sender: Option<Conn> = None;
            let mut bufs = (Vec::new(), Vec::new());
            let fail = |st: &mut Stats, e: String| {
                st.errors += 1;
                if st.first_error.is_none() {
                    st.first_error = Some(e);
                }
            };
            while Instant::now() < to {
                if sender.is_none() {
                    match Conn::open(addr).await {
                        Ok(s) => sender = Some(s),
                        Err(e) => {
                            fail(&mut st, e);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                }
                let s = sender.as_mut().expect("connected");
                let req = match &make {
                    Maker::Request(make) => Some(make()),
                    Maker::Bytes(make) => {
                        make(&mut bufs.0, &mut bufs.1);
                        None
                    }
                };
                let t0 = Instant::now();
                let res = s.send(req, &bufs.1).await;
                let t1 = Instant::now();
                if !s.reusable() {
                    sender = None;
                }
                let counted = t1 >= from && t1 <= to;
                match res {
                    Ok((status, body)) => match check(status, &body) {
                        Ok(()) => {
                            st.issued_total += 1;
                            if counted {
                                st.ok += 1;
                                let us = (t1 - t0).as_micros().min(u32::MAX as u128) as u32;
                                st.latencies_us.push(us);
                            }
                        }
                        Err(e) => fail(&mut st, e),
                    },
                    Err(e) => {
                        sender = None;
                        fail(&mut st, e);
                    }
                }
            }
            st
        }));
    }
    let mut total = Stats {
        window: duration.as_secs_f64(),
        ..Stats::default()
    };
    for h in handles {
        match h.await {
            Ok(st) => total.merge(st),
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert_with(|| format!("worker panicked: {e}"));
            }
        }
    }
    total.latencies_us.sort_unstable();
    total
}

/// A short description of a failed response for error reports.
pub fn describe_failure(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    format!("HTTP {}: {}", status.as_u16(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let st = Stats {
            latencies_us: (1..=100).map(|i| i * 1000).collect(),
            ok: 100,
            window: 2.0,
            ..Stats::default()
        };
        assert_eq!(st.percentile_ms(50.0), 50.0);
        assert_eq!(st.percentile_ms(99.0), 99.0);
        assert_eq!(st.percentile_ms(100.0), 100.0);
        assert_eq!(st.per_second(), 50.0);
        assert!(Stats::default().percentile_ms(50.0).is_nan());
    }

    #[test]
    fn a_response_head_is_read_once_complete() {
        let full = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        for cut in 0..full.len() - 2 {
            assert!(parse_response_head(&full[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        let head = parse_response_head(full).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.len, full.len() - 2);
        assert_eq!(head.framing, Framing::Length(2));
        assert!(!head.close);
        let closing = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let head = parse_response_head(closing).unwrap().unwrap();
        assert_eq!((head.status.as_u16(), head.close), (503, true));
    }

    #[test]
    fn framings_the_raw_client_cannot_read_are_errors() {
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\nx: y\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n").is_err());
    }

    #[test]
    fn a_request_is_encoded_with_host_and_length() {
        let req = Request::post("/?Action=Sign&A=%20b")
            .header("x-acs-action", "Sign")
            .body(Full::new(Bytes::from_static(b"abc")))
            .unwrap();
        let (parts, _) = req.into_parts();
        let mut out = Vec::new();
        encode_request(&parts, b"abc", "127.0.0.1:9", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /?Action=Sign&A=%20b HTTP/1.1\r\nx-acs-action: Sign\r\nhost: 127.0.0.1:9\r\ncontent-length: 3\r\n\r\nabc"
        );
    }

    /// Three responses on one keep-alive connection, each cut into pieces: chunked, then
    /// content-length, then one that closes the connection.
    #[tokio::test]
    async fn the_raw_client_reads_responses_written_in_pieces() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let responses: [&[&[u8]]; 3] = [
                &[
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chun",
                    b"ked\r\n\r\n5\r\nhel",
                    b"lo\r\n6\r\n world\r\n0\r\n\r\n",
                ],
                &[b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nno", b"pe"],
                &[b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"],
            ];
            let mut input = Vec::new();
            for pieces in responses {
                while !input.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut buf = [0u8; 1024];
                    let n = s.read(&mut buf).await.unwrap();
                    input.extend_from_slice(&buf[..n]);
                }
                let at = input.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                input.drain(..at);
                for piece in pieces {
                    s.write_all(piece).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let mut conn = RawConn::connect(addr).await.unwrap();
        let get = || Request::get("/x").body(Full::new(Bytes::new())).unwrap();
        assert_eq!(
            conn.send(get()).await.unwrap(),
            (StatusCode::OK, Bytes::from_static(b"hello world"))
        );
        assert!(conn.reusable());
        assert_eq!(
            conn.send(get()).await.unwrap(),
            (StatusCode::NOT_FOUND, Bytes::from_static(b"nope"))
        );
        assert_eq!(
            conn.send(get()).await.unwrap(),
            (StatusCode::OK, Bytes::from_static(b"{}"))
        );
        assert!(!conn.reusable());
        server.await.unwrap();
    }
}
