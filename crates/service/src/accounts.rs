//! Accounts and credentials: creation, rotation, disabling, and the lookups that
//! authentication needs. Credentials are generated here from the OS CSPRNG.

use crate::{Result, Service, ServiceError};
use opencas_store::{AccessKeyRecord, AccountRecord, AccountStatus, NewAccessKey, StoreError, now_millis};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What `account create` and `rotate-key` hand to the user, once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub account_id: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub api_key: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSummary {
    pub account_id: String,
    pub name: String,
    pub status: &'static str,
    pub access_key_ids: Vec<String>,
    pub created_at: i64,
}

impl From<AccountRecord> for AccountSummary {
    fn from(a: AccountRecord) -> Self {
        Self {
            account_id: a.id.to_string(),
            name: a.name,
            status: a.status.as_str(),
            access_key_ids: a.active_access_key_ids,
            created_at: a.created_at,
        }
    }
}

fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// 16 decimal digits, never starting with 0, as Alibaba account ids look.
fn random_account_id() -> i64 {
    rand::rng().random_range(1_000_000_000_000_000..10_000_000_000_000_000)
}

fn new_access_key_id() -> String {
    format!("LTAI{}", random_alnum(20))
}

fn new_api_key() -> String {
    format!("sk-{}", random_alnum(40))
}

/// API keys are bearer secrets: only their hash is stored.
pub fn api_key_hash(api_key: &str) -> String {
    hex::encode(Sha256::digest(api_key.as_bytes()))
}

fn check_name(name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "Name",
            "The account name must be 1-64 characters of letters, digits, '-', '_', '.', '@'.",
        ))
    }
}

impl Service {
    pub async fn create_account(&self, name: &str) -> Result<Credentials> {
        check_name(name)?;
        // A random id can collide with an existing one; retry a few times before giving up.
        for _ in 0..5 {
            let id = random_account_id();
            let access_key_id = new_access_key_id();
            let secret = random_alnum(30);
            let api_key = new_api_key();
            let key = NewAccessKey {
                access_key_id: &access_key_id,
                secret: &secret,
            };
            match self
                .store
                .insert_account(id, name, &api_key_hash(&api_key), key, now_millis())
                .await
            {
                Ok(()) => {
                    return Ok(Credentials {
                        account_id: id.to_string(),
                        access_key_id,
                        access_key_secret: secret,
                        api_key,
                    });
                }
                Err(StoreError::Conflict("account")) if self.account_name_taken(name).await? => {
                    return Err(ServiceError::Conflict {
                        code: "AccountAlreadyExists",
                        message: format!("An account named {name} already exists."),
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Internal("could not allocate a unique account id".into()))
    }

    async fn account_name_taken(&self, name: &str) -> Result<bool> {
        Ok(self.store.list_accounts().await?.iter().any(|a| a.name == name))
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountSummary>> {
        Ok(self.store.list_accounts().await?.into_iter().map(Into::into).collect())
    }

    pub async fn set_account_enabled(&self, account_id: i64, enabled: bool) -> Result<()> {
        let status = if enabled {
            AccountStatus::Active
        } else {
            AccountStatus::Disabled
        };
        self.store
            .set_account_status(account_id, status)
            .await
            .map_err(not_found_account)
    }

    /// Issues a new access key and API key; every older key stops working.
    pub async fn rotate_credentials(&self, account_id: i64) -> Result<Credentials> {
        let access_key_id = new_access_key_id();
        let secret = random_alnum(30);
        let api_key = new_api_key();
        let key = NewAccessKey {
            access_key_id: &access_key_id,
            secret: &secret,
        };
        self.store
            .rotate_credentials(account_id, &api_key_hash(&api_key), key, now_millis())
            .await
            .map_err(not_found_account)?;
        Ok(Credentials {
            account_id: account_id.to_string(),
            access_key_id,
            access_key_secret: secret,
            api_key,
        })
    }

    pub async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        Ok(self.store.find_access_key(access_key_id).await?)
    }

    /// `(account_id, active)` of the account owning `api_key`.
    pub async fn account_for_api_key(&self, api_key: &str) -> Result<Option<(i64, bool)>> {
        Ok(self.store.find_account_by_api_key_hash(&api_key_hash(api_key)).await?)
    }
}

fn not_found_account(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::NotFound {
            code: "AccountNotFound",
            message: "The account does not exist.".into(),
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_shapes() {
        assert!(new_access_key_id().starts_with("LTAI"));
        assert_eq!(new_access_key_id().len(), 24);
        assert_eq!(random_account_id().to_string().len(), 16);
        assert_ne!(new_api_key(), new_api_key());
        assert!(check_name("team-a").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("bad name").is_err());
    }
}
