//! The HTTP client instant-acme talks through: rustls with the public web roots plus an optional
//! extra root (a private ACME CA such as Pebble or step-ca), a connect timeout, a deadline on each
//! whole exchange (headers and body), and a cap on the body size.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::AcmeError;

/// ACME objects are small; a certificate chain is a few KiB. Anything larger is not an ACME answer.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub exchange: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            exchange: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub(crate) struct AcmeHttp {
    client: Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    exchange_timeout: Duration,
}

impl AcmeHttp {
    pub(crate) fn new(extra_root_pem: Option<&[u8]>, timeouts: Timeouts) -> Result<Self, AcmeError> {
        let roots = root_store(extra_root_pem)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| AcmeError::Invalid(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(timeouts.connect));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        Ok(AcmeHttp {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(https),
            exchange_timeout: timeouts.exchange,
        })
    }
}

fn root_store(extra_root_pem: Option<&[u8]>) -> Result<RootCertStore, AcmeError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_root_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| AcmeError::Invalid(format!("extra ACME root is not PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| AcmeError::Invalid(format!("extra ACME root is not a usable CA certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(AcmeError::Invalid(
                "extra ACME root PEM holds no CERTIFICATE block".into(),
            ));
        }
    }
    Ok(roots)
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let sent = self.client.request(req);
        let deadline = self.exchange_timeout;
        Box::pin(async move {
            let exchange = async move {
                let rsp = sent.await.map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
                let (parts, body) = rsp.into_parts();
                let body = Limited::new(body, MAX_BODY)
                    .collect()
                    .await
                    .map_err(instant_acme::Error::Other)?;
                Ok(BytesResponse {
                    parts,
                    body: Box::new(body.to_bytes()),
                })
            };
            match tokio::time::timeout(deadline, exchange).await {
                Ok(result) => result,
                Err(_) => Err(instant_acme::Error::Other(
                    format!("no complete answer within {deadline:?}").into(),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_root_must_be_a_certificate() {
        assert!(matches!(root_store(Some(b"not pem")), Err(AcmeError::Invalid(_))));
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(root_store(Some(key_only)), Err(AcmeError::Invalid(_))));
        let public = root_store(None).unwrap().len();
        assert!(public > 100, "webpki roots missing: {public}");
    }

    /// A CA that accepts the connection and then says nothing (not even a TLS hello) must not hang
    /// the worker: the exchange deadline ends it.
    #[tokio::test]
    async fn a_silent_server_hits_the_exchange_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        let http = AcmeHttp::new(
            None,
            Timeouts {
                connect: Duration::from_secs(5),
                exchange: Duration::from_millis(300),
            },
        )
        .unwrap();
        let req = Request::get(format!("https://127.0.0.1:{port}/dir"))
            .body(BodyWrapper::default())
            .unwrap();
        let err = AcmeError::from(http.request(req).await.err().expect("a silent server answered"));
        assert!(
            matches!(err, AcmeError::Transport(ref m) if m.contains("no complete answer within")),
            "{err:?}"
        );
        assert!(err.is_transient());
        silent.abort();
    }
}
