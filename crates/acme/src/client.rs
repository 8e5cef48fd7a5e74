//! The five order operations plus account set-up. Each operation reopens the order from its URL,
//! so nothing but that URL has to survive a restart.

use std::fmt;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeStatus, Identifier, Key, NewAccount, NewOrder, Order, OrderStatus,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::challenge::{domain_challenge, normalise_domains, split_order_url, tagged_order_url};
use crate::credentials::StoredCredentials;
use crate::error::describe;
use crate::http::{AcmeHttp, Timeouts};
use crate::{AcmeChallengeKind, AcmeError, AcmeNewOrder, AcmeOrderState};

/// An ACME account at one CA directory.
#[derive(Clone)]
pub struct AcmeClient {
    account: Account,
    directory_url: String,
}

impl fmt::Debug for AcmeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeClient")
            .field("directory_url", &self.directory_url)
            .field("account", &self.account.id())
            .finish_non_exhaustive()
    }
}

impl AcmeClient {
    /// Opens the account at `directory_url`: reuses the one in `stored_credentials` when they
    /// belong to this directory and the CA still knows the account, creates a new one otherwise.
    /// Returns the credentials to persist (sealed: they contain the account private key).
    /// `extra_root_pem` is trusted for the CA's HTTPS in addition to the public web roots.
    pub async fn connect(
        directory_url: &str,
        stored_credentials: Option<String>,
        extra_root_pem: Option<Vec<u8>>,
        contact: Option<String>,
    ) -> Result<(AcmeClient, String), AcmeError> {
        if !directory_url.starts_with("https://") {
            return Err(AcmeError::Invalid(
                "the ACME directory URL must be an https:// URL".into(),
            ));
        }
        let http = AcmeHttp::new(extra_root_pem.as_deref(), Timeouts::default())?;
        if let Some(text) = stored_credentials {
            let stored = StoredCredentials::parse(&text)?;
            if stored.directory_url == directory_url {
                if let Some(opened) = reopen(&http, directory_url, &stored).await? {
                    return Ok(opened);
                }
                tracing::warn!(
                    directory_url,
                    "the ACME CA no longer knows the stored account; creating a new one"
                );
            } else {
                tracing::info!(
                    directory_url,
                    "stored ACME account belongs to another directory; creating a new one"
                );
            }
        }
        let contact = contact.map(|c| if c.contains(':') { c } else { format!("mailto:{c}") });
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new_account = NewAccount {
            contact: &contacts,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = Account::builder_with_http(Box::new(http))
            .create(&new_account, directory_url.to_owned(), None)
            .await?;
        tracing::info!(directory_url, account = account.id(), "created ACME account");
        Ok(Self::opened(account, directory_url, credentials))
    }

    fn opened(account: Account, directory_url: &str, credentials: instant_acme::AccountCredentials) -> (Self, String) {
        let persist = StoredCredentials::new(directory_url, credentials).to_json();
        (
            AcmeClient {
                account,
                directory_url: directory_url.to_owned(),
            },
            persist,
        )
    }

    /// The account URL at the CA (not secret).
    pub fn account_id(&self) -> &str {
        self.account.id()
    }

    /// Places an order and reports, per domain, what the user must publish.
    pub async fn new_order(&self, domains: &[String], kind: AcmeChallengeKind) -> Result<AcmeNewOrder, AcmeError> {
        let domains = normalise_domains(domains, kind)?;
        let identifiers: Vec<Identifier> = domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut order = self.account.new_order(&NewOrder::new(&identifiers)).await?;
        let order_url = tagged_order_url(order.url(), kind);
        let thumbprint = self.account.key_thumbprint().to_owned();
        let mut challenges = Vec::with_capacity(domains.len());
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let authz = authz?;
            // A reused, already valid authorization needs nothing published.
            if authz.status == AuthorizationStatus::Valid {
                continue;
            }
            let domain = authz.identifier().to_string();
            match authz.challenges.iter().find(|c| c.r#type == kind.acme_type()) {
                Some(c) => challenges.push((domain.clone(), domain_challenge(kind, &domain, &c.token, &thumbprint))),
                None => {
                    return Err(AcmeError::Refused {
                        problem_type: None,
                        detail: format!("the CA offers no {} challenge for {domain}", kind.as_str()),
                    });
                }
            }
        }
        challenges.sort_by_key(|(d, _)| domains.iter().position(|x| x == d).unwrap_or(usize::MAX));
        tracing::debug!(order = %order_url, domains = domains.len(), "placed ACME order");
        Ok(AcmeNewOrder { order_url, challenges })
    }

    /// Tells the CA the challenges are in place. Idempotent: challenges already being checked or
    /// already valid are left alone, and an order past `pending` needs nothing.
    pub async fn ready(&self, order_url: &str) -> Result<(), AcmeError> {
        let (url, kind) = split_order_url(order_url)?;
        let kind = kind.ok_or_else(|| {
            AcmeError::Invalid("the order URL does not say which challenge to answer (no #dns-01 or #http-01)".into())
        })?;
        let mut order = self.open(url).await?;
        if order.state().status != OrderStatus::Pending {
            return Ok(());
        }
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            // Valid needs nothing; invalid/expired cannot be retried and `poll` reports why.
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            let domain = authz.identifier().to_string();
            let Some(mut challenge) = authz.challenge(kind.acme_type()) else {
                return Err(AcmeError::State(format!(
                    "the CA offers no {} challenge for {domain}",
                    kind.as_str()
                )));
            };
            if challenge.status == ChallengeStatus::Pending {
                challenge.set_ready().await?;
            }
        }
        Ok(())
    }

    /// The order's status; `Invalid` carries the CA's reason.
    pub async fn poll(&self, order_url: &str) -> Result<AcmeOrderState, AcmeError> {
        let (url, _) = split_order_url(order_url)?;
        let mut order = self.open(url).await?;
        Ok(match order.state().status {
            OrderStatus::Pending => AcmeOrderState::Pending,
            OrderStatus::Ready => AcmeOrderState::Ready,
            OrderStatus::Processing => AcmeOrderState::Processing,
            OrderStatus::Valid => AcmeOrderState::Valid,
            OrderStatus::Invalid => AcmeOrderState::Invalid(failure_reason(&mut order).await),
        })
    }

    /// Submits the CSR. Safe to repeat: an order already `processing` or `valid` counts as done.
    pub async fn finalize(&self, order_url: &str, csr_der: &[u8]) -> Result<(), AcmeError> {
        let (url, _) = split_order_url(order_url)?;
        let mut order = self.open(url).await?;
        match order.state().status {
            OrderStatus::Processing | OrderStatus::Valid => Ok(()),
            OrderStatus::Pending => Err(AcmeError::State(
                "the order is not ready: its domains are not validated yet".into(),
            )),
            OrderStatus::Invalid => Err(AcmeError::State(format!(
                "the order is invalid: {}",
                failure_reason(&mut order).await
            ))),
            OrderStatus::Ready => match order.finalize_csr(csr_der).await {
                Ok(()) => Ok(()),
                // Another finalize won the race: the order moved on between our read and our POST.
                Err(e) => {
                    let e = AcmeError::from(e);
                    if e.problem_type() == Some("orderNotReady")
                        && matches!(
                            self.open(url).await?.state().status,
                            OrderStatus::Processing | OrderStatus::Valid
                        )
                    {
                        return Ok(());
                    }
                    Err(e)
                }
            },
        }
    }

    /// The issued chain (PEM, leaf first) once the order is `valid`; `None` while `processing`.
    pub async fn certificate_chain(&self, order_url: &str) -> Result<Option<String>, AcmeError> {
        let (url, _) = split_order_url(order_url)?;
        let mut order = self.open(url).await?;
        match order.state().status {
            OrderStatus::Processing => Ok(None),
            OrderStatus::Pending | OrderStatus::Ready => Err(AcmeError::State(
                "the order has not been finalized: no certificate will come".into(),
            )),
            OrderStatus::Invalid => Err(AcmeError::State(format!(
                "the order is invalid: {}",
                failure_reason(&mut order).await
            ))),
            OrderStatus::Valid => {
                let Some(pem) = order.certificate().await? else {
                    return Ok(None);
                };
                let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>();
                match certs {
                    Ok(certs) if !certs.is_empty() => Ok(Some(pem)),
                    _ => Err(AcmeError::Transport(
                        "the CA's certificate download is not a PEM chain".into(),
                    )),
                }
            }
        }
    }

    async fn open(&self, url: &str) -> Result<Order, AcmeError> {
        Ok(self.account.order(url.to_owned()).await?)
    }
}

/// Checks the stored account still exists (`onlyReturnExisting`); `None` when the CA forgot it.
async fn reopen(
    http: &AcmeHttp,
    directory_url: &str,
    stored: &StoredCredentials,
) -> Result<Option<(AcmeClient, String)>, AcmeError> {
    let pkcs8 = stored.account.private_key().clone_key();
    let key = Key::from_pkcs8_der(pkcs8.clone_key())
        .map_err(|_| AcmeError::Credentials("the stored account key is not an ECDSA P-256 PKCS#8 key".into()))?;
    match Account::builder_with_http(Box::new(http.clone()))
        .from_key((key, PrivateKeyDer::Pkcs8(pkcs8)), directory_url.to_owned())
        .await
    {
        Ok((account, credentials)) => Ok(Some(AcmeClient::opened(account, directory_url, credentials))),
        Err(e) => {
            let e = AcmeError::from(e);
            if e.problem_type() == Some("accountDoesNotExist") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Why an invalid order failed: the order's own problem, then each failed authorization's
/// challenge errors, as the CA worded them.
async fn failure_reason(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    let order_problem = order.state().error.as_ref().map(describe);
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let authz = match authz {
            Ok(a) => a,
            Err(e) => {
                reasons.push(format!("could not read an authorization: {}", AcmeError::from(e)));
                continue;
            }
        };
        if authz.status == AuthorizationStatus::Valid || authz.status == AuthorizationStatus::Pending {
            continue;
        }
        let domain = authz.identifier().to_string();
        let failed: Vec<String> = authz
            .challenges
            .iter()
            .filter_map(|c| c.error.as_ref())
            .map(describe)
            .collect();
        if failed.is_empty() {
            reasons.push(format!("{domain}: authorization {:?}", authz.status).to_lowercase());
        } else {
            reasons.push(format!("{domain}: {}", failed.join("; ")));
        }
    }
    // CAs often copy the failed challenge's problem onto the order; the per-domain copy says more.
    if let Some(problem) = order_problem
        && !reasons.iter().any(|r| r.ends_with(&problem))
    {
        reasons.insert(0, problem);
    }
    if reasons.is_empty() {
        "the ACME CA marked the order invalid without giving a reason".into()
    } else {
        reasons.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The orders service drives the client from a spawned worker through boxed `Send` futures.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn operations_are_send(client: &AcmeClient) {
        fn send<T: Send + Sync + 'static>(_: &T) {}
        fn send_future<F: std::future::Future + Send>(_: F) {}
        send(client);
        send_future(AcmeClient::connect("https://x.test/dir", None, None, None));
        send_future(client.new_order(&[], AcmeChallengeKind::Dns01));
        send_future(client.ready("https://x.test/o#dns-01"));
        send_future(client.poll("https://x.test/o"));
        send_future(client.finalize("https://x.test/o", &[]));
        send_future(client.certificate_chain("https://x.test/o"));
    }
}
