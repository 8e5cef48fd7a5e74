//! Typed parameter binding. Every accessor refuses a bad value with a specific
//! `InvalidParameter.<Name>` before any handler logic runs.

use crate::error::WireError;
use opencas_service::Paging;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Decoded request parameters (query, form body and JSON body merged).
#[derive(Debug, Default, Clone)]
pub struct Params(BTreeMap<String, String>);

/// The largest page number accepted; beyond it every page is empty anyway.
pub const MAX_PAGE: i64 = i32::MAX as i64;
pub const MAX_SHOW_SIZE: i64 = 1000;

impl Params {
    pub fn new(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }

    /// Every parameter name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets one parameter (for the audit record of a value that came in the path).
    pub fn insert(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }

    /// Every parameter, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// An optional string; an empty value counts as absent, as the SDKs never send one
    /// on purpose.
    pub fn opt_str(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    pub fn req_str(&self, name: &str) -> Result<String, WireError> {
        self.opt_str(name).ok_or_else(|| WireError::missing(name))
    }

    /// An optional string of at most `max_chars` characters.
    pub fn opt_str_max(&self, name: &str, max_chars: usize) -> Result<Option<String>, WireError> {
        match self.opt_str(name) {
            Some(v) if v.chars().count() > max_chars => Err(WireError::invalid(
                name,
                format!("{name} must be at most {max_chars} characters."),
            )),
            other => Ok(other),
        }
    }

    pub fn opt_i64(&self, name: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, WireError> {
        let Some(text) = self.opt_str(name) else {
            return Ok(None);
        };
        let value: i64 = text
            .trim()
            .parse()
            .map_err(|_| WireError::invalid(name, format!("{name} must be an integer, got '{}'.", truncate(&text))))?;
        if !range.contains(&value) {
            return Err(WireError::invalid(
                name,
                format!(
                    "{name} must be between {} and {}, got {value}.",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(Some(value))
    }

    /// One of `allowed`, compared exactly (the API's enum spellings are case-sensitive).
    pub fn opt_enum(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, WireError> {
        match self.opt_str(name) {
            Some(v) if !allowed.contains(&v.as_str()) => Err(WireError::invalid(
                name,
                format!("{name} must be one of {}, got '{}'.", allowed.join(", "), truncate(&v)),
            )),
            other => Ok(other),
        }
    }

    /// Booleans arrive as `True`/`False` from Python and `true`/`false` elsewhere.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, WireError> {
        match self.opt_str(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(WireError::invalid(
                name,
                format!("{name} must be true or false, got '{}'.", truncate(&v)),
            )),
        }
    }

    /// `CurrentPage` (default 1) and `ShowSize` (default `default_size`).
    pub fn paging(&self, default_size: i64) -> Result<Paging, WireError> {
        Ok(Paging {
            current_page: self.opt_i64("CurrentPage", 1..=MAX_PAGE)?.unwrap_or(1),
            show_size: self.opt_i64("ShowSize", 1..=MAX_SHOW_SIZE)?.unwrap_or(default_size),
        })
    }

    /// A comma-separated list, blanks dropped.
    pub fn comma_list(&self, name: &str) -> Vec<String> {
        self.opt_str(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Params {
    /// A flattened list `Name.1`, `Name.2`, … in index order. Gaps are refused, so that a
    /// client's list is never silently shortened.
    pub fn list(&self, name: &str) -> Result<Vec<String>, WireError> {
        let indices = self.indices(name)?;
        Ok(indices
            .into_iter()
            .map(|i| self.raw(&format!("{name}.{i}")).unwrap_or("").to_owned())
            .collect())
    }

    /// `Tags.N.Key` / `Tags.N.Value` pairs (a missing value is empty).
    pub fn tags(&self, name: &str) -> Result<Vec<(String, String)>, WireError> {
        self.pairs(name, "Key", "Value")
    }

    /// A flattened list of two-field objects, `Name.N.<first>` / `Name.N.<second>`; the
    /// first field is required, a missing second one is empty.
    pub fn pairs(&self, name: &str, first: &str, second: &str) -> Result<Vec<(String, String)>, WireError> {
        let indices = self.indices(name)?;
        indices
            .into_iter()
            .map(|i| {
                let a = self.raw(&format!("{name}.{i}.{first}")).unwrap_or("").to_owned();
                let b = self.raw(&format!("{name}.{i}.{second}")).unwrap_or("").to_owned();
                if a.is_empty() {
                    return Err(WireError::invalid(name, format!("{name}.{i}.{first} is missing.")));
                }
                Ok((a, b))
            })
            .collect()
    }

    /// The 1-based indices used under `name.`, checked to be 1..=n without gaps.
    fn indices(&self, name: &str) -> Result<Vec<usize>, WireError> {
        let prefix = format!("{name}.");
        let mut found: Vec<usize> = Vec::new();
        for key in self
            .0
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
        {
            let index = key[prefix.len()..].split('.').next().unwrap_or("");
            let n: usize = index
                .parse()
                .map_err(|_| WireError::invalid(name, format!("{key} is not a valid list element name.")))?;
            if !found.contains(&n) {
                found.push(n);
            }
        }
        found.sort_unstable();
        if found.iter().enumerate().any(|(i, n)| *n != i + 1) {
            return Err(WireError::invalid(
                name,
                format!("The elements of {name} must be numbered 1, 2, 3, …"),
            ));
        }
        Ok(found)
    }
}

/// Echoes at most 64 characters of a bad value back in a message.
fn truncate(v: &str) -> String {
    v.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn integers_are_checked() {
        let p = params(&[("A", "12"), ("B", "x"), ("C", "0"), ("D", "99999999999999999999")]);
        assert_eq!(p.opt_i64("A", 1..=100).unwrap(), Some(12));
        assert_eq!(p.opt_i64("B", 1..=100).unwrap_err().code, "InvalidParameter.B");
        assert_eq!(p.opt_i64("C", 1..=100).unwrap_err().code, "InvalidParameter.C");
        assert_eq!(p.opt_i64("D", 1..=100).unwrap_err().code, "InvalidParameter.D");
        assert_eq!(p.opt_i64("Z", 1..=100).unwrap(), None);
    }

    #[test]
    fn enums_bools_and_missing() {
        let p = params(&[("S", "ISSUE"), ("T", "issue"), ("B", "True"), ("E", "")]);
        assert_eq!(p.opt_enum("S", &["ISSUE", "REVOKE"]).unwrap().as_deref(), Some("ISSUE"));
        assert!(p.opt_enum("T", &["ISSUE", "REVOKE"]).is_err());
        assert_eq!(p.opt_bool("B").unwrap(), Some(true));
        assert_eq!(p.req_str("E").unwrap_err().code, "MissingParameter.E");
        assert_eq!(p.req_str("E").unwrap_err().status, 400);
    }

    #[test]
    fn lists_and_tags() {
        let p = params(&[
            ("E.1", "serverAuth"),
            ("E.2", "clientAuth"),
            ("Tags.1.Key", "env"),
            ("Tags.1.Value", "prod"),
            ("Tags.2.Key", "team"),
            ("Gap.1", "a"),
            ("Gap.3", "c"),
        ]);
        assert_eq!(p.list("E").unwrap(), ["serverAuth", "clientAuth"]);
        assert!(p.list("None").unwrap().is_empty());
        assert_eq!(
            p.tags("Tags").unwrap(),
            [("env".into(), "prod".into()), ("team".into(), String::new())]
        );
        assert_eq!(p.list("Gap").unwrap_err().code, "InvalidParameter.Gap");
        let bad = params(&[("Tags.1.Value", "x")]);
        assert!(bad.tags("Tags").is_err());
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let p = params(&[]);
        assert_eq!(
            p.paging(50).unwrap(),
            Paging {
                current_page: 1,
                show_size: 50
            }
        );
        let p = params(&[("ShowSize", "1001")]);
        assert_eq!(p.paging(50).unwrap_err().code, "InvalidParameter.ShowSize");
        let p = params(&[("CurrentPage", "-1")]);
        assert_eq!(p.paging(50).unwrap_err().code, "InvalidParameter.CurrentPage");
    }
}
