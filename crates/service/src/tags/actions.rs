//! The tag and resource-group actions over every taggable resource of the caller.

use super::{MAX_TAGS_PER_RESOURCE, validate_param};
use crate::{Caller, Result, Service, ServiceError};
use opencas_store::{StoreError, TagKind, TagRow, TagRowFilter};
use serde::Serialize;

/// The API version a tag action arrives through: the same `ResourceType` names different
/// resources in each, and a certificate is named by `CertId` in one and `Identifier` in the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagApi {
    /// 2020-04-07 (SSL certificates): `instance` is a certificate order.
    Ssl,
    /// 2020-06-30 (private CA): `instance` is a CA.
    Pca,
}

/// Most resources one tag action touches at once.
pub const MAX_RESOURCES_PER_CALL: usize = 50;

/// Maps the wire `ResourceType` (case-insensitive) to the kind of resource it names.
pub fn resource_kind(api: TagApi, resource_type: &str) -> Result<TagKind> {
    match (api, resource_type.to_ascii_lowercase().as_str()) {
        (_, "certificate" | "cert") => Ok(TagKind::Certificate),
        (_, "ca") | (TagApi::Pca, "instance") => Ok(TagKind::Ca),
        (_, "csr") => Ok(TagKind::Csr),
        (_, "order") | (TagApi::Ssl, "instance") => Ok(TagKind::Order),
        _ => Err(ServiceError::invalid(
            "ResourceType",
            format!("The resource type {resource_type} is not supported."),
        )),
    }
}

fn resource_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NotFound.Resource",
        message: format!("The resource {id} does not exist."),
    }
}

#[derive(Debug, Clone)]
pub struct TagResourcesRequest {
    pub api: TagApi,
    pub resource_type: String,
    pub resource_ids: Vec<String>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct UntagResourcesRequest {
    pub api: TagApi,
    pub resource_type: String,
    pub resource_ids: Vec<String>,
    pub tag_keys: Vec<String>,
    pub all: bool,
}

#[derive(Debug, Clone)]
pub struct ListTagResourcesRequest {
    pub api: TagApi,
    pub resource_type: String,
    pub resource_ids: Vec<String>,
    /// `(key, value)`; an empty value matches any value of the key.
    pub tags: Vec<(String, String)>,
    pub next_token: Option<String>,
    pub max_results: i64,
}

#[derive(Debug, Clone)]
pub struct ListTagKeysRequest {
    pub resource_type: String,
    pub resource_group_id: Option<String>,
    pub current_page: i64,
    pub page_size: i64,
}

#[derive(Debug, Clone)]
pub struct MoveResourceGroupRequest {
    pub api: TagApi,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_group_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceItem {
    pub resource_id: String,
    pub resource_type: String,
    pub tag_key: String,
    pub tag_value: String,
}

/// One page of tag rows and the token of the next (empty on the last page).
#[derive(Debug)]
pub struct TagResourcePage {
    pub items: Vec<TagResourceItem>,
    pub next_token: String,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagKeyItem {
    pub tag_key: String,
    /// How many of the caller's resources carry the key.
    pub tag_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagKeysResponse {
    pub tag_keys: Vec<TagKeyItem>,
    pub total_count: i64,
    pub current_page: i64,
    pub page_size: i64,
    pub max_results: i64,
    /// The next page number, empty on the last page.
    pub next_token: String,
}

/// `NextToken`: the last row of the previous page, `(resource_key, tag_key)`, hex-encoded.
fn encode_token(row: &TagRow) -> String {
    hex::encode(format!("{}\0{}", row.resource_key, row.tag_key))
}

fn decode_token(token: &str) -> Result<(String, String)> {
    let bad = || ServiceError::invalid("NextToken", "The NextToken is not valid.");
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (resource, key) = text.split_once('\0').ok_or_else(bad)?;
    Ok((resource.to_owned(), key.to_owned()))
}

impl Service {
    /// Resolves every id to the caller's resource, refusing the whole call if one is unknown
    /// (another account's resource is unknown too).
    async fn resolve_all(&self, caller: Caller, kind: TagKind, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Err(ServiceError::MissingParameter("ResourceId"));
        }
        if ids.len() > MAX_RESOURCES_PER_CALL {
            return Err(ServiceError::invalid(
                "ResourceId",
                format!("At most {MAX_RESOURCES_PER_CALL} resources per call."),
            ));
        }
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            let key = self.store.resolve_taggable(caller.account_id, kind, id).await?;
            keys.push(key.ok_or_else(|| resource_not_found(id))?);
        }
        Ok(keys)
    }

    pub async fn tag_resources(&self, caller: Caller, req: TagResourcesRequest) -> Result<()> {
        let kind = resource_kind(req.api, &req.resource_type)?;
        if req.tags.is_empty() {
            return Err(ServiceError::MissingParameter("Tag"));
        }
        validate_param("Tag", &req.tags)?;
        let keys = self.resolve_all(caller, kind, &req.resource_ids).await?;
        let mut tx = self.store.begin().await?;
        for (key, id) in keys.iter().zip(&req.resource_ids) {
            let count = tx.upsert_tags(caller.account_id, kind, key, &req.tags).await?;
            if count > MAX_TAGS_PER_RESOURCE as i64 {
                // dropping `tx` rolls back every resource of this call
                return Err(ServiceError::invalid(
                    "Tag",
                    format!("The resource {id} would carry {count} tags; at most {MAX_TAGS_PER_RESOURCE} are allowed."),
                ));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn untag_resources(&self, caller: Caller, req: UntagResourcesRequest) -> Result<()> {
        let kind = resource_kind(req.api, &req.resource_type)?;
        // `All` only counts when no key is named.
        let keys_to_remove = match (req.tag_keys.is_empty(), req.all) {
            (false, _) => Some(req.tag_keys.as_slice()),
            (true, true) => None,
            (true, false) => {
                return Err(ServiceError::invalid(
                    "TagKey",
                    "Name the tag keys to remove with TagKey.N, or set All to true.",
                ));
            }
        };
        let keys = self.resolve_all(caller, kind, &req.resource_ids).await?;
        let mut tx = self.store.begin().await?;
        for key in &keys {
            tx.remove_tags(caller.account_id, kind, key, keys_to_remove).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_tag_resources(&self, caller: Caller, req: ListTagResourcesRequest) -> Result<TagResourcePage> {
        let kind = resource_kind(req.api, &req.resource_type)?;
        if req.tags.len() > MAX_TAGS_PER_RESOURCE {
            return Err(ServiceError::invalid(
                "Tag",
                format!("At most {MAX_TAGS_PER_RESOURCE} tags may be given."),
            ));
        }
        if req.resource_ids.len() > MAX_RESOURCES_PER_CALL {
            return Err(ServiceError::invalid(
                "ResourceId",
                format!("At most {MAX_RESOURCES_PER_CALL} resources per call."),
            ));
        }
        let empty = TagResourcePage {
            items: Vec::new(),
            next_token: String::new(),
            max_results: req.max_results,
        };
        let mut resource_keys = Vec::new();
        for id in &req.resource_ids {
            // an id the caller does not hold lists nothing rather than revealing it exists
            if let Some(key) = self.store.resolve_taggable(caller.account_id, kind, id).await? {
                resource_keys.push(key);
            }
        }
        if !req.resource_ids.is_empty() && resource_keys.is_empty() {
            return Ok(empty);
        }
        let filter = TagRowFilter {
            resource_keys,
            having: req
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), (!v.is_empty()).then(|| v.clone())))
                .collect(),
            after: req
                .next_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(decode_token)
                .transpose()?,
            limit: req.max_results + 1,
        };
        let mut rows = self.store.list_tag_resources(caller.account_id, kind, &filter).await?;
        let next_token = if rows.len() as i64 > req.max_results {
            rows.truncate(req.max_results as usize);
            rows.last().map(encode_token).unwrap_or_default()
        } else {
            String::new()
        };
        let show_num_id = kind == TagKind::Certificate && req.api == TagApi::Ssl;
        let items = rows
            .into_iter()
            .map(|r| TagResourceItem {
                resource_id: if show_num_id {
                    r.resource_num_id.to_string()
                } else {
                    r.resource_key
                },
                resource_type: req.resource_type.clone(),
                tag_key: r.tag_key,
                tag_value: r.tag_value,
            })
            .collect();
        Ok(TagResourcePage {
            items,
            next_token,
            ..empty
        })
    }

    pub async fn list_tag_keys(&self, caller: Caller, req: ListTagKeysRequest) -> Result<ListTagKeysResponse> {
        let kind = resource_kind(TagApi::Ssl, &req.resource_type)?;
        let paging = crate::Paging {
            current_page: req.current_page,
            show_size: req.page_size,
        };
        let (keys, total) = self
            .store
            .list_tag_keys(caller.account_id, kind, req.resource_group_id.as_deref(), paging.page())
            .await?;
        let next_token = if req.current_page < paging.page_count(total) {
            (req.current_page + 1).to_string()
        } else {
            String::new()
        };
        Ok(ListTagKeysResponse {
            tag_keys: keys
                .into_iter()
                .map(|(tag_key, tag_count)| TagKeyItem { tag_key, tag_count })
                .collect(),
            total_count: total,
            current_page: req.current_page,
            page_size: req.page_size,
            max_results: req.page_size,
            next_token,
        })
    }

    pub async fn move_resource_group(&self, caller: Caller, req: MoveResourceGroupRequest) -> Result<()> {
        let kind = resource_kind(req.api, &req.resource_type)?;
        let key = self
            .store
            .resolve_taggable(caller.account_id, kind, &req.resource_id)
            .await?
            .ok_or_else(|| resource_not_found(&req.resource_id))?;
        let mut tx = self.store.begin().await?;
        tx.move_resource_group(caller.account_id, kind, &key, &req.resource_group_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => resource_not_found(&req.resource_id),
                other => other.into(),
            })?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_per_version() {
        assert_eq!(resource_kind(TagApi::Pca, "instance").unwrap(), TagKind::Ca);
        assert_eq!(resource_kind(TagApi::Ssl, "instance").unwrap(), TagKind::Order);
        assert_eq!(resource_kind(TagApi::Ssl, "Certificate").unwrap(), TagKind::Certificate);
        assert_eq!(resource_kind(TagApi::Pca, "CSR").unwrap(), TagKind::Csr);
        assert!(resource_kind(TagApi::Ssl, "bucket").is_err());
    }

    #[test]
    fn next_token_round_trip() {
        let row = TagRow {
            resource_key: "abc".into(),
            resource_num_id: 7,
            tag_key: "env:x".into(),
            tag_value: "v".into(),
        };
        assert_eq!(
            decode_token(&encode_token(&row)).unwrap(),
            ("abc".into(), "env:x".into())
        );
        assert!(decode_token("zz").is_err());
        assert!(decode_token(&hex::encode("no-separator")).is_err());
    }
}
