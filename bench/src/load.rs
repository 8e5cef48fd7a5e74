//! The load loop: N persistent HTTP/1.1 connections, each sending one request at a time
//! (closed loop, like wrk), for a warm-up and then a measured window.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub type Req = Request<Full<Bytes>>;
/// Builds the next request (fresh nonce, date and signature for opencas).
pub type MakeReq = Arc<dyn Fn() -> Req + Send + Sync>;
/// Accepts a response as one issued certificate, or says why not.
pub type Check = fn(StatusCode, &[u8]) -> Result<(), String>;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
    make: MakeReq,
    check: Check,
) -> Stats {
    let start = Instant::now();
    let from = start + warmup;
    let to = from + duration;
    let mut handles = Vec::with_capacity(connections);
    for _ in 0..connections {
        let make = make.clone();
        handles.push(tokio::spawn(async move {
            let mut st = Stats::default();
            let mut sender: Option<SendRequest<Full<Bytes>>> = None;
            let fail = |st: &mut Stats, e: String| {
                st.errors += 1;
                if st.first_error.is_none() {
                    st.first_error = Some(e);
                }
            };
            while Instant::now() < to {
                if sender.is_none() {
                    match connect(addr).await {
                        Ok(s) => sender = Some(s),
                        Err(e) => {
                            fail(&mut st, e);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                }
                let s = sender.as_mut().expect("connected");
                let req = make();
                let t0 = Instant::now();
                let res = send(s, req).await;
                let t1 = Instant::now();
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
}
