//! The serialised account credentials the caller persists (sealed) between runs. They hold the
//! account's private key: nothing here implements `Debug` or echoes their content in errors.

use instant_acme::AccountCredentials;
use serde::{Deserialize, Serialize};

use crate::AcmeError;

const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredCredentials {
    pub version: u8,
    /// The directory the account lives in: credentials for another CA are not reused.
    pub directory_url: String,
    pub account: AccountCredentials,
}

impl StoredCredentials {
    pub(crate) fn new(directory_url: &str, account: AccountCredentials) -> Self {
        StoredCredentials {
            version: VERSION,
            directory_url: directory_url.to_owned(),
            account,
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, AcmeError> {
        // serde_json quotes offending values in its messages; report only where it broke.
        let stored: StoredCredentials = serde_json::from_str(text).map_err(|e| {
            AcmeError::Credentials(format!(
                "not the expected JSON ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if stored.version != VERSION {
            return Err(AcmeError::Credentials(format!(
                "unknown credentials version {}",
                stored.version
            )));
        }
        Ok(stored)
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("credentials serialise to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_do_not_echo_the_secret() {
        let secret = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";
        let text = format!(r#"{{"version":1,"directory_url":7,"account":"{secret}"}}"#);
        let err = StoredCredentials::parse(&text)
            .err()
            .expect("malformed credentials accepted")
            .to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(err.contains("line 1"), "{err}");
        let text = format!(
            r#"{{"version":1,"directory_url":"https://ca.test/dir","account":{{"id":1,"key_pkcs8":"{secret}"}}}}"#
        );
        let err = StoredCredentials::parse(&text)
            .err()
            .expect("malformed credentials accepted")
            .to_string();
        assert!(!err.contains(secret), "{err}");
    }

    #[test]
    fn unknown_version_refused() {
        let err = StoredCredentials::parse(
            r#"{"version":9,"directory_url":"https://x.test","account":{"id":"a","key_pkcs8":"AA","directory":null}}"#,
        )
        .err()
        .expect("version 9 accepted");
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
