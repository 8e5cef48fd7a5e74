use super::certstore::listing::next_token;
use crate::error::WireError;
use crate::params::{MAX_SHOW_SIZE, Params};
use crate::registry::{Body, Registry, to_body};
use opencas_service::warehouses::{CreateWarehouseRequest, ListCertWarehouseRequest};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "CreateWarehouse", |s, c, p| Box::pin(create(s, c, p)));
    r.add("2020-04-07", "DeleteWarehouse", |s, c, p| Box::pin(delete(s, c, p)));
    r.add("2020-04-07", "ListCertWarehouse", |s, c, p| {
        Box::pin(list_cert_warehouse(s, c, p))
    });
    r.add("2020-04-07", "ListWarehouse", |s, c, p| {
        Box::pin(list_warehouse(s, c, p))
    });
    r.add("2020-04-07", "GetCertWarehouseQuota", |s, c, _| Box::pin(quota(s, c)));
    r.add("2020-04-07", "DescribeWarehouseCert", |s, c, p| {
        Box::pin(describe_cert(s, c, p))
    });
}

async fn create(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let req = CreateWarehouseRequest {
        name: p.opt_str_max("Name", 128)?,
        warehouse_type: p.opt_str_max("Type", 64)?,
        biz: p.opt_str_max("Biz", 64)?,
    };
    to_body(s.create_warehouse(caller, req).await?)
}

async fn delete(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = p.req_str("WarehouseInstanceId")?;
    s.delete_warehouse(caller, &id).await?;
    Ok(Body::new())
}

async fn list_cert_warehouse(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let paging = p.paging(50)?;
    let req = ListCertWarehouseRequest {
        name: p.opt_str_max("Name", 128)?,
        instance_id: p.opt_str_max("InstanceId", 64)?,
        warehouse_type: p.opt_str_max("Type", 64)?,
    };
    to_body(s.list_cert_warehouse(caller, paging, req).await?)
}

/// A list the SDK sends as one JSON array text (`WarehouseTypes=["ssl"]`).
fn json_list(p: &Params, name: &str) -> Result<Vec<String>, WireError> {
    match p.opt_str(name) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str::<Vec<String>>(&text)
            .map_err(|_| WireError::invalid(name, format!("{name} must be a JSON array of strings."))),
    }
}

async fn list_warehouse(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let max_results = p.opt_i64("MaxResults", 1..=MAX_SHOW_SIZE)?.unwrap_or(20);
    let after = p.opt_str("NextToken").map(|t| next_token(&t)).transpose()?;
    let ids = json_list(&p, "WarehouseInstanceIds")?;
    let types = json_list(&p, "WarehouseTypes")?;
    to_body(s.list_warehouse(caller, max_results, after, ids, types).await?)
}

async fn quota(s: Service, caller: Caller) -> Result<Body, WireError> {
    to_body(s.cert_warehouse_quota(caller).await?)
}

async fn describe_cert(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let id = p.req_str("CertIdentifier")?;
    to_body(s.describe_warehouse_cert(caller, &id).await?)
}
