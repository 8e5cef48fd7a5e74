//! `opencas serve`: open the data directory, then serve HTTP (or HTTPS) until SIGTERM or
//! SIGINT, finishing in-flight requests before the store is closed.

use crate::config::ServeConfig;
use crate::datadir;
use std::time::Duration;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Order workers per process.
const ORDER_WORKERS: usize = 4;

pub async fn run(config: ServeConfig) -> Result<(), String> {
    // Built before anything else so a bad resolver setting stops the start, not the first order.
    let domain_validator = opencas_va::Validator::new(config.validation.clone())?;
    let service = datadir::open(&config.data_dir, config.database.as_deref(), config.service.clone()).await?;
    let mut acme: std::collections::BTreeMap<String, std::sync::Arc<dyn opencas_service::orders::AcmeUpstream>> =
        Default::default();
    for (name, upstream) in &config.acme {
        let client = crate::acme_upstream::AcmeUpstreamClient::new(name, upstream, service.store().clone())?;
        acme.insert(name.clone(), std::sync::Arc::new(client));
    }
    let backends = opencas_service::orders::OrderBackends {
        validator: Some(std::sync::Arc::new(crate::domain_validator::VaDomainValidator(
            domain_validator,
        ))),
        acme,
    };
    let service = service.with_order_backends(backends);
    // The built-in issuer's hierarchy exists from the first start on, not from the first order.
    service
        .builtin_issuer()
        .await
        .map_err(|e| format!("built-in issuer: {e}"))?;
    if let Some(path) = datadir::ensure_initial_account(&service, &config.data_dir).await? {
        tracing::info!(path = %path.display(), "created the initial account; its credentials are in this file");
    }
    let stop_refresher = std::sync::Arc::new(tokio::sync::Notify::new());
    let refresher = tokio::spawn(refresh_crls(service.clone(), stop_refresher.clone()));
    let (stop_orders, orders_stopped) = tokio::sync::watch::channel(false);
    let nonce = opencas_service::orders::worker_nonce();
    let order_workers: Vec<_> = (0..ORDER_WORKERS)
        .map(|i| {
            let owner = format!("opencas-{}-{nonce}-{i}", std::process::id());
            tokio::spawn(run_order_jobs(service.clone(), owner, orders_stopped.clone()))
        })
        .collect();
    let limits = config.wire.limits.clone();
    let state = opencas_wire::AppState::new(service.clone(), config.wire);
    let app = opencas_wire::router(state);
    tracing::info!(listen = %config.listen, public_url = %config.public_url, tls = config.tls.is_some(), "serving");

    match &config.tls {
        None => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            crate::listener::serve(listener, app, &limits, shutdown_signal(), DRAIN_TIMEOUT).await;
        }
        Some((cert, key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_chain_file(cert, key)
                .await
                .map_err(|e| format!("TLS certificate/key: {e}"))?;
            let handle = axum_server::Handle::new();
            let on_signal = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                on_signal.graceful_shutdown(Some(DRAIN_TIMEOUT));
            });
            let mut server = axum_server::bind_rustls(config.listen, tls);
            crate::listener::configure(server.http_builder(), &limits);
            server
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await
                .map_err(|e| format!("cannot serve on {}: {e}", config.listen))?;
        }
    }
    // Let a refresh in progress finish: stopped mid-way, it would leave its CRL claimed
    // until the lease runs out.
    stop_refresher.notify_one();
    if tokio::time::timeout(DRAIN_TIMEOUT, refresher).await.is_err() {
        tracing::warn!("the CRL refresher did not stop in time");
    }
    let _ = stop_orders.send(true);
    if tokio::time::timeout(DRAIN_TIMEOUT, futures_join(order_workers))
        .await
        .is_err()
    {
        tracing::warn!("the order workers did not stop in time");
    }
    tracing::info!("stopped accepting; closing the store");
    service.store().close().await;
    tracing::info!("shutdown complete");
    Ok(())
}

/// The background CRL refresher: re-signs CRLs before their nextUpdate. Its schedule lives
/// in the store, so after a restart it resumes where it was, and replicas share the work.
async fn refresh_crls(service: opencas_service::Service, stop: std::sync::Arc<tokio::sync::Notify>) {
    let mut tick = tokio::time::interval(opencas_service::revocation::crl_refresh_tick(service.config()));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.notified() => return,
        }
        match service.refresh_due_crls().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(signed = n, "CRLs re-signed"),
            Err(e) => tracing::warn!(error = %e, "CRL refresher"),
        }
    }
}

/// A DV order worker: claims due order jobs (validation, issuance) by lease, so a restart
/// resumes them and replicas never run the same one. Several run side by side so one slow
/// domain check does not hold up every other order.
async fn run_order_jobs(
    service: opencas_service::Service,
    owner: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let period = Duration::from_millis(service.config().orders.poll_interval_ms.max(10));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match service.run_due_order_jobs(&owner, 16).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(ran = n, "order jobs"),
            Err(e) => tracing::warn!(error = %e, "order worker"),
        }
    }
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
