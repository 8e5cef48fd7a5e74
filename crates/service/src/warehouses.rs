//! Certificate warehouses (API 2020-04-07): named containers of certificates, counted
//! against per-account quotas, deletable only when empty.

use crate::ca::{REGION_ID, instance_id as ca_instance_id};
use crate::certstore::PageRequest;
use crate::{Caller, Result, Service, ServiceError};
use opencas_pki::pem;
use opencas_store::warehouses::CONTRACT_BIZ;
use opencas_store::{NewWarehouse, StoreError, WarehouseFilter, WarehouseRecord, now_millis};
use serde::Serialize;

/// The warehouse types CreateWarehouse accepts.
pub const WAREHOUSE_TYPES: [&str; 6] = [
    "uploadedAuthorityCertificate",
    "pcaCertificate",
    "uploadedCertificate",
    "personal",
    "ssl",
    "pcaAuthorityCertificate",
];
pub const DEFAULT_WAREHOUSE_TYPE: &str = "uploadedCertificate";
pub const DEFAULT_BIZ: &str = "app";
const INSTANCE_PREFIX: &str = "cas-wh-";

/// ListCertWarehouse speaks older names for three of the types.
const LEGACY_TYPES: [(&str, &str); 3] = [
    ("uploadCA", "uploadedAuthorityCertificate"),
    ("uploadPCA", "uploadedCertificate"),
    ("aliyunPCA", "pcaCertificate"),
];

/// A type name of either vocabulary, as stored; `None` when it is neither.
pub fn canonical_type(name: &str) -> Option<&'static str> {
    WAREHOUSE_TYPES
        .iter()
        .copied()
        .find(|t| *t == name)
        .or_else(|| LEGACY_TYPES.iter().find(|(l, _)| *l == name).map(|(_, t)| *t))
}

fn legacy_type(stored: &str) -> &str {
    LEGACY_TYPES
        .iter()
        .find(|(_, t)| *t == stored)
        .map(|(l, _)| *l)
        .unwrap_or(stored)
}

pub fn instance_id(id: i64) -> String {
    format!("{INSTANCE_PREFIX}{id}")
}

/// The id behind a `cas-wh-<id>` instance id; anything else names no warehouse.
pub fn parse_instance_id(text: &str) -> Option<i64> {
    text.strip_prefix(INSTANCE_PREFIX)?
        .parse()
        .ok()
        .filter(|id: &i64| *id > 0)
}

pub(crate) fn warehouse_not_found(what: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFound.Warehouse",
        message: format!("The warehouse {what} does not exist."),
    }
}

#[derive(Debug, Clone)]
pub struct CreateWarehouseRequest {
    pub name: Option<String>,
    pub warehouse_type: Option<String>,
    pub biz: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateWarehouseResponse {
    pub warehouse_instance_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct ListCertWarehouseRequest {
    pub name: Option<String>,
    pub instance_id: Option<String>,
    pub warehouse_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertWarehouseItem {
    pub wh_id: i64,
    pub instance_id: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub warehouse_type: String,
    /// Warehouses here do not lapse.
    pub is_expired: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCertWarehouseResponse {
    pub cert_warehouse_list: Vec<CertWarehouseItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub show_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WarehouseItem {
    pub warehouse_instance_id: String,
    pub warehouse_name: String,
    pub warehouse_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListWarehouseResponse {
    pub data: Vec<WarehouseItem>,
    pub total_count: i64,
    pub max_results: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WarehouseQuotaResponse {
    pub app_total_quota: i64,
    pub app_use_count: i64,
    pub total_quota: i64,
    pub use_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeWarehouseCertResponse {
    pub cert_identifier: String,
    pub cert_status: String,
    pub cert_type: String,
    pub common_name: String,
    /// The certificate followed by its chain, PEM.
    pub content: String,
    /// SHA-256 of the DER certificate, hex.
    pub fingerprint: String,
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_ca_instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_ca_region_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_instance_id: Option<String>,
}

fn cert_warehouse_item(w: WarehouseRecord) -> CertWarehouseItem {
    CertWarehouseItem {
        wh_id: w.id,
        instance_id: instance_id(w.id),
        warehouse_type: legacy_type(&w.warehouse_type).to_owned(),
        name: w.name,
        is_expired: false,
    }
}

impl Service {
    pub async fn create_warehouse(
        &self,
        caller: Caller,
        req: CreateWarehouseRequest,
    ) -> Result<CreateWarehouseResponse> {
        let warehouse_type = match req.warehouse_type.as_deref() {
            None => DEFAULT_WAREHOUSE_TYPE,
            Some(t) => canonical_type(t).ok_or_else(|| {
                ServiceError::invalid(
                    "Type",
                    format!("Type must be one of {}, got '{t}'.", WAREHOUSE_TYPES.join(", ")),
                )
            })?,
        };
        let biz = req.biz.unwrap_or_else(|| DEFAULT_BIZ.to_owned());
        let contract = biz == CONTRACT_BIZ;
        // an unnamed warehouse still needs a name unique in the account
        let name = req
            .name
            .unwrap_or_else(|| format!("warehouse-{}", &crate::new_identifier()[..12]));
        let quota = if contract {
            self.config.contract_warehouse_quota
        } else {
            self.config.warehouse_quota
        };
        let mut tx = self.store.begin().await?;
        if tx.count_warehouses(caller.account_id, contract).await? >= quota {
            return Err(ServiceError::Conflict {
                code: "QuotaExceeded.Warehouse",
                message: format!(
                    "The account already holds its quota of {quota} {} warehouses.",
                    if contract {
                        "contract signing"
                    } else {
                        "certificate application"
                    }
                ),
            });
        }
        let id = tx
            .insert_warehouse(&NewWarehouse {
                account_id: caller.account_id,
                name: &name,
                warehouse_type,
                biz: &biz,
                created_at: now_millis(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ServiceError::Conflict {
                    code: "AlreadyExists.WarehouseName",
                    message: format!("A warehouse named '{name}' already exists."),
                },
                other => other.into(),
            })?;
        tx.commit().await?;
        Ok(CreateWarehouseResponse {
            warehouse_instance_id: instance_id(id),
        })
    }

    /// Refused while the warehouse holds a certificate: deleting it would orphan them.
    pub async fn delete_warehouse(&self, caller: Caller, warehouse_instance_id: &str) -> Result<()> {
        let id = parse_instance_id(warehouse_instance_id).ok_or_else(|| warehouse_not_found(warehouse_instance_id))?;
        let mut tx = self.store.begin().await?;
        let w = tx
            .find_warehouse(caller.account_id, id)
            .await?
            .ok_or_else(|| warehouse_not_found(warehouse_instance_id))?;
        if w.cert_count > 0 {
            return Err(ServiceError::Conflict {
                code: "OperationDenied.WarehouseNotEmpty",
                message: format!(
                    "The warehouse {warehouse_instance_id} still holds {} certificate(s); remove them first.",
                    w.cert_count
                ),
            });
        }
        tx.delete_warehouse(caller.account_id, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_cert_warehouse(
        &self,
        caller: Caller,
        page: crate::Paging,
        req: ListCertWarehouseRequest,
    ) -> Result<ListCertWarehouseResponse> {
        let mut filter = WarehouseFilter {
            name: req.name,
            ..Default::default()
        };
        if let Some(t) = req.warehouse_type {
            filter.types = vec![canonical_type(&t).map(str::to_owned).unwrap_or(t)];
        }
        if let Some(instance) = req.instance_id {
            // an id of no warehouse matches nothing rather than everything
            filter.ids = vec![parse_instance_id(&instance).unwrap_or(0)];
        }
        let (rows, total, _) = self
            .store
            .list_warehouses(caller.account_id, &filter, PageRequest::Numbered(page).window())
            .await?;
        Ok(ListCertWarehouseResponse {
            cert_warehouse_list: rows.into_iter().map(cert_warehouse_item).collect(),
            total_count: total,
            current_page: page.current_page,
            show_size: page.show_size,
        })
    }

    pub async fn list_warehouse(
        &self,
        caller: Caller,
        max_results: i64,
        after: Option<i64>,
        instance_ids: Vec<String>,
        types: Vec<String>,
    ) -> Result<ListWarehouseResponse> {
        let filter = WarehouseFilter {
            types: types
                .into_iter()
                .map(|t| canonical_type(&t).map(str::to_owned).unwrap_or(t))
                .collect(),
            ids: instance_ids.iter().map(|i| parse_instance_id(i).unwrap_or(0)).collect(),
            ..Default::default()
        };
        let page = PageRequest::Token { max_results, after };
        let (rows, total, next) = self
            .store
            .list_warehouses(caller.account_id, &filter, page.window())
            .await?;
        Ok(ListWarehouseResponse {
            data: rows
                .into_iter()
                .map(|w| WarehouseItem {
                    warehouse_instance_id: instance_id(w.id),
                    warehouse_name: w.name,
                    warehouse_type: w.warehouse_type,
                })
                .collect(),
            total_count: total,
            max_results,
            next_token: next.map(|id| id.to_string()),
        })
    }

    pub async fn cert_warehouse_quota(&self, caller: Caller) -> Result<WarehouseQuotaResponse> {
        let (app, contract) = self.store.warehouse_usage(caller.account_id).await?;
        Ok(WarehouseQuotaResponse {
            app_total_quota: self.config.warehouse_quota,
            app_use_count: app,
            total_quota: self.config.contract_warehouse_quota,
            use_count: contract,
        })
    }

    pub async fn describe_warehouse_cert(
        &self,
        caller: Caller,
        cert_identifier: &str,
    ) -> Result<DescribeWarehouseCertResponse> {
        let c = self
            .store
            .find_certificate(caller.account_id, cert_identifier)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "NotFound.Certificate",
                message: format!("The certificate {cert_identifier} does not exist."),
            })?;
        let issued_here = c.issuer_identifier.is_some();
        Ok(DescribeWarehouseCertResponse {
            content: format!("{}{}", pem::cert_der_to_pem(&c.cert_der), c.chain_pem),
            fingerprint: c.fingerprint_sha256,
            cert_identifier: c.identifier,
            cert_status: c.status,
            cert_type: c.cert_type,
            common_name: c.common_name,
            issuer: c.issuer,
            private_ca_instance_id: c.issuer_identifier.as_deref().map(ca_instance_id),
            private_ca_region_id: issued_here.then(|| REGION_ID.to_owned()),
            issuer_identifier: c.issuer_identifier,
            warehouse_instance_id: c.warehouse_id.map(instance_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_and_type_names() {
        assert_eq!(parse_instance_id(&instance_id(42)), Some(42));
        for bad in ["42", "cas-wh-", "cas-wh-x", "cas-wh--1", "cas-wh-0"] {
            assert_eq!(parse_instance_id(bad), None, "{bad}");
        }
        assert_eq!(canonical_type("ssl"), Some("ssl"));
        assert_eq!(canonical_type("uploadCA"), Some("uploadedAuthorityCertificate"));
        assert_eq!(canonical_type("SSL"), None);
        assert_eq!(legacy_type("pcaCertificate"), "aliyunPCA");
        assert_eq!(legacy_type("personal"), "personal");
    }
}
