//! The plain-HTTP accept loop. `axum::serve` gives no access to hyper's connection
//! settings, and without a timer hyper applies no header read timeout at all: a client
//! dribbling its head a byte a second would hold a connection (and its task) forever.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use opencas_wire::Limits;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// hyper's own limits, the backstop behind the wire layer's checks (which answer with the
/// error envelope): a head larger than this cannot be parsed and gets a bare 431.
pub fn configure(builder: &mut Builder<TokioExecutor>, limits: &Limits) {
    // headroom over the wire limits, so that those (with their envelope) answer first
    let head = limits.max_uri_bytes + limits.max_header_bytes + 16 * 1024;
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs.max(1)))
        .max_headers(limits.max_headers.saturating_mul(2).max(100))
        .max_buf_size(head.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(head).unwrap_or(u32::MAX));
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their request in flight for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    configure(&mut builder, limits);
    let first_bytes = Duration::from_secs(limits.header_read_timeout_secs.max(1));
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // out of file descriptors and the like: wait instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        // the peer address, as `into_make_service_with_connect_info` would give it (the audit
        // log records it)
        let with_peer = tower::ServiceExt::map_request(app.clone(), move |mut request: axum::http::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let service = TowerToHyperService::new(with_peer);
        let mut closed = closed.clone();
        tokio::spawn(async move {
            // The auto builder reads the first bytes (HTTP/1 or the HTTP/2 preface?) before
            // hyper's header timer runs: a client that connects and stays silent is cut here.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(first_bytes, stream.peek(&mut first)).await,
                Ok(Ok(1))
            ) {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended");
                    }
                    return;
                }
                _ = closed.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    drop(closed);
    let _ = closing.send(true);
    // every connection task holds a receiver; they are all gone when the last has finished
    if tokio::time::timeout(drain, closing.closed()).await.is_err() {
        tracing::warn!("connections still open after the drain timeout");
    }
}
