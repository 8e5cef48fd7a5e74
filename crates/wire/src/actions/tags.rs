//! Tag and resource-group actions of both API versions (2020-04-07 and 2020-06-30).

use crate::error::WireError;
use crate::params::Params;
use crate::registry::{Body, Registry, to_body};
use opencas_service::tags::{
    ListTagKeysRequest, ListTagResourcesRequest, MoveResourceGroupRequest, TagApi, TagResourcePage,
    TagResourcesRequest, UntagResourcesRequest,
};
use opencas_service::{Caller, Service};
use serde_json::json;

const SSL: &str = "2020-04-07";
const PCA: &str = "2020-06-30";

pub fn register(r: &mut Registry) {
    r.add(SSL, "TagResources", |s, c, p| {
        Box::pin(tag_resources(s, c, p, TagApi::Ssl))
    });
    r.add(PCA, "TagResources", |s, c, p| {
        Box::pin(tag_resources(s, c, p, TagApi::Pca))
    });
    r.add(SSL, "UntagResources", |s, c, p| {
        Box::pin(untag_resources(s, c, p, TagApi::Ssl))
    });
    r.add(PCA, "UntagResources", |s, c, p| {
        Box::pin(untag_resources(s, c, p, TagApi::Pca))
    });
    r.add(SSL, "ListTagResources", |s, c, p| {
        Box::pin(list_tag_resources(s, c, p, TagApi::Ssl))
    });
    r.add(PCA, "ListTagResources", |s, c, p| {
        Box::pin(list_tag_resources(s, c, p, TagApi::Pca))
    });
    r.add(SSL, "MoveResourceGroup", |s, c, p| {
        Box::pin(move_resource_group(s, c, p, TagApi::Ssl))
    });
    r.add(PCA, "MoveResourceGroup", |s, c, p| {
        Box::pin(move_resource_group(s, c, p, TagApi::Pca))
    });
    r.add(SSL, "ListTagKeys", |s, c, p| Box::pin(list_tag_keys(s, c, p)));
}

fn resource_type(p: &Params) -> Result<String, WireError> {
    p.opt_str_max("ResourceType", 64)?
        .ok_or_else(|| WireError::missing("ResourceType"))
}

async fn tag_resources(s: Service, caller: Caller, p: Params, api: TagApi) -> Result<Body, WireError> {
    let req = TagResourcesRequest {
        api,
        resource_type: resource_type(&p)?,
        resource_ids: p.list("ResourceId")?,
        tags: p.tags("Tag")?,
    };
    s.tag_resources(caller, req).await?;
    Ok(Body::new())
}

async fn untag_resources(s: Service, caller: Caller, p: Params, api: TagApi) -> Result<Body, WireError> {
    let req = UntagResourcesRequest {
        api,
        resource_type: resource_type(&p)?,
        resource_ids: p.list("ResourceId")?,
        tag_keys: p.list("TagKey")?,
        all: p.opt_bool("All")?.unwrap_or(false),
    };
    s.untag_resources(caller, req).await?;
    Ok(Body::new())
}

async fn list_tag_resources(s: Service, caller: Caller, p: Params, api: TagApi) -> Result<Body, WireError> {
    let req = ListTagResourcesRequest {
        api,
        resource_type: resource_type(&p)?,
        resource_ids: p.list("ResourceId")?,
        tags: p.tags("Tag")?,
        next_token: p.opt_str_max("NextToken", 1024)?,
        max_results: p.opt_i64("MaxResults", 1..=100)?.unwrap_or(20),
    };
    if api == TagApi::Ssl && req.resource_ids.is_empty() && req.tags.is_empty() {
        // 2020-04-07 documents that ResourceId and Tag cannot both be empty
        return Err(WireError::missing("ResourceId"));
    }
    let page = s.list_tag_resources(caller, req).await?;
    Ok(render_page(page, api))
}

/// The two versions wrap the same page differently.
fn render_page(page: TagResourcePage, api: TagApi) -> Body {
    let body = match api {
        TagApi::Ssl => json!({
            "MaxResults": page.max_results,
            "NextToken": page.next_token,
            "TagResources": { "TagResource": page.items },
        }),
        TagApi::Pca => json!({
            "Data": {
                "MaxResults": page.max_results,
                "NextToken": page.next_token,
                "TagResources": { "TagResources": page.items },
            }
        }),
    };
    match body {
        serde_json::Value::Object(map) => map.into(),
        _ => Body::new(),
    }
}

async fn list_tag_keys(s: Service, caller: Caller, p: Params) -> Result<Body, WireError> {
    // PageSize / CurrentPage, or MaxResults / NextToken (our NextToken is the next page number)
    let page_size = match p.opt_i64("PageSize", 1..=100)? {
        Some(n) => n,
        None => p.opt_i64("MaxResults", 1..=100)?.unwrap_or(20),
    };
    let current_page = match p.opt_i64("CurrentPage", 1..=1_000_000)? {
        Some(n) => n,
        None => match p.opt_str("NextToken").filter(|t| !t.is_empty()) {
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| WireError::invalid("NextToken", "The NextToken is not valid."))?,
            None => 1,
        },
    };
    let req = ListTagKeysRequest {
        resource_type: resource_type(&p)?,
        resource_group_id: p.opt_str_max("ResourceGroupId", 64)?,
        current_page,
        page_size,
    };
    to_body(s.list_tag_keys(caller, req).await?)
}

async fn move_resource_group(s: Service, caller: Caller, p: Params, api: TagApi) -> Result<Body, WireError> {
    let req = MoveResourceGroupRequest {
        api,
        resource_type: resource_type(&p)?,
        resource_id: p.req_str("ResourceId")?,
        resource_group_id: p
            .opt_str_max("ResourceGroupId", 64)?
            .ok_or_else(|| WireError::missing("ResourceGroupId"))?,
    };
    s.move_resource_group(caller, req).await?;
    Ok(Body::new())
}
