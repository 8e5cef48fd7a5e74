//! The order service's `AcmeUpstream` over the `opencas-acme` client, one per
//! `[acme.<name>]` section. The account is opened lazily, on the first order that needs it
//! (the CA may be unreachable when opencas starts), and its credentials — which hold the
//! account's private key — are kept sealed in the store so a restart reuses the account.

use crate::orders_config::AcmeUpstreamConfig;
use opencas_acme::AcmeClient;
use opencas_service::orders::{AcmeChallengeKind, AcmeNewOrder, AcmeOrderState, AcmeUpstream, DomainChallenge};
use opencas_store::{BoxFuture, Store};
use tokio::sync::OnceCell;

pub struct AcmeUpstreamClient {
    name: String,
    directory_url: String,
    extra_root_pem: Option<Vec<u8>>,
    contact: Option<String>,
    store: Store,
    client: OnceCell<AcmeClient>,
}

impl AcmeUpstreamClient {
    /// Reads the CA bundle now, so a missing file stops the start rather than the first order.
    pub fn new(name: &str, config: &AcmeUpstreamConfig, store: Store) -> Result<Self, String> {
        let extra_root_pem = config
            .ca_bundle
            .as_ref()
            .map(|p| std::fs::read(p).map_err(|e| format!("[acme.{name}] ca_bundle {}: {e}", p.display())))
            .transpose()?;
        Ok(Self {
            name: name.to_owned(),
            directory_url: config.directory_url.clone(),
            extra_root_pem,
            contact: config.contact.first().cloned(),
            store,
            client: OnceCell::new(),
        })
    }

    async fn client(&self) -> Result<&AcmeClient, String> {
        self.client
            .get_or_try_init(|| async {
                let stored = self
                    .store
                    .acme_credentials(&self.name)
                    .await
                    .map_err(|e| format!("stored ACME account: {e}"))?
                    .and_then(|(_, bytes)| String::from_utf8(bytes).ok());
                let (client, credentials) = AcmeClient::connect(
                    &self.directory_url,
                    stored.clone(),
                    self.extra_root_pem.clone(),
                    self.contact.clone(),
                )
                .await
                .map_err(|e| format!("ACME CA {}: {e}", self.name))?;
                if stored.as_deref() != Some(credentials.as_str()) {
                    self.store
                        .save_acme_credentials(&self.name, &self.directory_url, credentials.as_bytes())
                        .await
                        .map_err(|e| format!("saving the ACME account: {e}"))?;
                    tracing::info!(upstream = %self.name, account = client.account_id(), "ACME account opened");
                }
                Ok(client)
            })
            .await
    }
}

fn challenge_of(c: opencas_acme::DomainChallenge) -> DomainChallenge {
    match c {
        opencas_acme::DomainChallenge::DnsTxt { record_name, value } => DomainChallenge::DnsTxt { record_name, value },
        opencas_acme::DomainChallenge::HttpFile { domain, path, content } => {
            DomainChallenge::HttpFile { domain, path, content }
        }
    }
}

impl AcmeUpstream for AcmeUpstreamClient {
    fn new_order<'a>(
        &'a self,
        domains: &'a [String],
        kind: AcmeChallengeKind,
    ) -> BoxFuture<'a, Result<AcmeNewOrder, String>> {
        Box::pin(async move {
            let kind = match kind {
                AcmeChallengeKind::Dns01 => opencas_acme::AcmeChallengeKind::Dns01,
                AcmeChallengeKind::Http01 => opencas_acme::AcmeChallengeKind::Http01,
            };
            let order = self
                .client()
                .await?
                .new_order(domains, kind)
                .await
                .map_err(|e| e.to_string())?;
            Ok(AcmeNewOrder {
                order_url: order.order_url,
                challenges: order
                    .challenges
                    .into_iter()
                    .map(|(d, c)| (d, challenge_of(c)))
                    .collect(),
            })
        })
    }

    fn ready<'a>(&'a self, order_url: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.client().await?.ready(order_url).await.map_err(|e| e.to_string()) })
    }

    fn poll<'a>(&'a self, order_url: &'a str) -> BoxFuture<'a, Result<AcmeOrderState, String>> {
        Box::pin(async move {
            use opencas_acme::AcmeOrderState as S;
            Ok(
                match self.client().await?.poll(order_url).await.map_err(|e| e.to_string())? {
                    S::Pending => AcmeOrderState::Pending,
                    S::Ready => AcmeOrderState::Ready,
                    S::Processing => AcmeOrderState::Processing,
                    S::Valid => AcmeOrderState::Valid,
                    S::Invalid(reason) => AcmeOrderState::Invalid(reason),
                },
            )
        })
    }

    fn finalize<'a>(&'a self, order_url: &'a str, csr_der: &'a [u8]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.client()
                .await?
                .finalize(order_url, csr_der)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn certificate_chain<'a>(&'a self, order_url: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async move {
            self.client()
                .await?
                .certificate_chain(order_url)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
