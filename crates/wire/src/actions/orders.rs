use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::orders::{ListUserCertificateOrderRequest, ORDER_STATUSES, OrderType};
use opencas_service::{Caller, Service};

pub fn register(r: &mut Registry) {
    r.add("2020-04-07", "ListUserCertificateOrder", |s, c, p| {
        Box::pin(list_user_certificate_order(s, c, p))
    });
}

async fn list_user_certificate_order(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    let order_type = p
        .opt_enum("OrderType", &OrderType::API_VALUES)?
        .and_then(|t| OrderType::from_api(&t))
        .unwrap_or(OrderType::Cpack);
    let req = ListUserCertificateOrderRequest {
        paging: Some(p.paging(50)?),
        keyword: p.opt_str_max("Keyword", 256)?,
        order_type,
        status: p.opt_enum("Status", &ORDER_STATUSES)?,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
    };
    to_body(s.list_user_certificate_order(caller, req).await?)
}
