//! The service's `DomainValidator` over the `opencas-va` checks (DNS TXT, HTTP file).

use opencas_service::orders::{DomainChallenge, DomainValidator, ValidationFailure};
use opencas_store::BoxFuture;

pub struct VaDomainValidator(pub opencas_va::Validator);

impl DomainValidator for VaDomainValidator {
    fn check<'a>(&'a self, challenge: &'a DomainChallenge) -> BoxFuture<'a, Result<(), ValidationFailure>> {
        Box::pin(async move {
            let checked = match challenge {
                DomainChallenge::DnsTxt { record_name, value } => self.0.check_dns_txt(record_name, value).await,
                DomainChallenge::HttpFile { domain, path, content } => {
                    // A wildcard order proves control of the base name.
                    let host = domain.trim_start_matches("*.");
                    self.0.check_http_file(host, path, content).await
                }
            };
            checked.map_err(|f| ValidationFailure {
                retryable: f.is_retryable(),
                reason: f.to_string(),
            })
        })
    }
}
