//! Tags and resource groups: the limits every taggable resource shares, and the tag actions
//! (`TagResources`, `UntagResources`, `ListTagResources`, `ListTagKeys`, `MoveResourceGroup`).

mod actions;

pub use actions::*;

use crate::{Result, ServiceError};

pub const MAX_TAGS_PER_RESOURCE: usize = 20;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 128;

/// Checks tags given at creation or update: at most 20, keys 1-128 characters without the
/// reserved `aliyun` / `acs:` prefixes, values at most 128, no key twice.
pub fn validate(tags: &[(String, String)]) -> Result<()> {
    validate_param("Tags", tags)
}

/// `validate` for tags that arrive under the parameter `param` (`Tag` in the tag actions).
pub fn validate_param(param: &'static str, tags: &[(String, String)]) -> Result<()> {
    if tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(ServiceError::invalid(
            param,
            format!("At most {MAX_TAGS_PER_RESOURCE} tags per resource."),
        ));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        let lower = key.to_ascii_lowercase();
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(ServiceError::invalid(
                param,
                format!("Tag key must be 1-{MAX_KEY_CHARS} characters."),
            ));
        }
        if lower.starts_with("aliyun") || lower.starts_with("acs:") {
            return Err(ServiceError::invalid(
                param,
                "Tag keys may not start with 'aliyun' or 'acs:'.",
            ));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(ServiceError::invalid(
                param,
                format!("Tag value must be at most {MAX_VALUE_CHARS} characters."),
            ));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(ServiceError::invalid(param, format!("Tag key {key} is given twice.")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn limits() {
        assert!(validate(&[t("env", "prod"), t("team", "")]).is_ok());
        assert!(validate(&[t("", "x")]).is_err());
        assert!(validate(&[t("aliyun-x", "x")]).is_err());
        assert!(validate(&[t("acs:x", "x")]).is_err());
        assert!(validate(&[t("a", "1"), t("a", "2")]).is_err());
        let many: Vec<_> = (0..21).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(validate(&many).is_err());
    }
}
