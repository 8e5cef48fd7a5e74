//! The action registry: `(Version, Action)` → handler. Only implemented actions are
//! registered; anything else answers `InvalidAction.NotFound`.

use crate::error::WireError;
use crate::params::Params;
use opencas_service::audit::EffectAudit;
use opencas_service::{Caller, Service};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

/// What an action answers: its fields, as a map a handler built or edited, or as the JSON
/// text of a typed service response serialized in one pass. A 50-row ListCert page through
/// `serde_json::Value` cost a String for every key and value, a map insert each and a
/// second walk to print them: a sixth of a keyword search's CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Body(Fields);

#[derive(Debug, Clone, PartialEq)]
enum Fields {
    Map(Map<String, Value>),
    /// The text of a JSON object.
    Json(String),
}

impl Default for Body {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Map<String, Value>> for Body {
    fn from(map: Map<String, Value>) -> Self {
        Self(Fields::Map(map))
    }
}

impl Body {
    /// No fields.
    pub fn new() -> Self {
        Map::new().into()
    }

    /// The top-level fields whose names `keep` accepts. From JSON text the others are
    /// skipped without being built into values: the audit record of a state-changing call
    /// wants the identifiers, not the certificate and chain PEM beside them.
    pub fn fields_named(&self, keep: impl Fn(&str) -> bool) -> Map<String, Value> {
        match &self.0 {
            Fields::Map(map) => map
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Fields::Json(text) => {
                let parsed = NamedFields(&keep).deserialize(&mut serde_json::Deserializer::from_str(text));
                debug_assert!(parsed.is_ok(), "a body's own JSON text does not parse: {text}");
                parsed.unwrap_or_default()
            }
        }
    }

    pub fn into_fields(self) -> Map<String, Value> {
        match self.0 {
            Fields::Map(map) => map,
            Fields::Json(text) => parse_object(&text),
        }
    }

    /// The JSON text of the fields with `key` = `value` in front. The body's own fields never
    /// include `key`: it is the renderer's (`RequestId`).
    pub fn json_with(self, key: &str, value: &str) -> String {
        let mut map = match self.0 {
            Fields::Json(text) => {
                let rest = text.strip_prefix('{').unwrap_or("}");
                let mut out = String::with_capacity(text.len() + key.len() + value.len() + 8);
                out.push('{');
                out.push_str(&Value::from(key).to_string());
                out.push(':');
                out.push_str(&Value::from(value).to_string());
                if rest != "}" {
                    out.push(',');
                }
                out.push_str(rest);
                return out;
            }
            Fields::Map(map) => map,
        };
        map.insert(key.into(), value.into());
        Value::Object(map).to_string()
    }
}

/// The map of a JSON object text `to_body` wrote, which therefore always parses.
fn parse_object(text: &str) -> Map<String, Value> {
    let parsed = serde_json::from_str(text);
    debug_assert!(parsed.is_ok(), "a body's own JSON text does not parse: {text}");
    parsed.unwrap_or_default()
}

/// Reads a JSON object keeping only the fields whose names the predicate accepts
/// (`Body::fields_named`); the values of the others are skipped as `IgnoredAny`.
struct NamedFields<'k, K>(&'k K);

impl<'de, K: Fn(&str) -> bool> DeserializeSeed<'de> for NamedFields<'_, K> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, K: Fn(&str) -> bool> Visitor<'de> for NamedFields<'_, K> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(name) = fields.next_key::<String>()? {
            if (self.0)(&name) {
                out.insert(name, fields.next_value()?);
            } else {
                fields.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Body, WireError>> + Send>>;
pub type Handler = fn(Service, Caller, Params) -> HandlerFuture;
/// A handler whose action's only effect can carry the call's audit records (see
/// `EffectAudit`); given `None`, the wire layer records the call before and after it.
pub type RecordingHandler = fn(Service, Caller, Params, Option<EffectAudit>) -> HandlerFuture;

#[derive(Clone, Copy)]
enum Handle {
    Plain(Handler),
    Recording(RecordingHandler),
}

/// The API versions this endpoint speaks, newest SSL service first: the order in which
/// `/api/v1/<Action>` looks an action up when no version is given.
pub const VERSIONS: [&str; 3] = ["2020-04-07", "2020-06-30", "2018-07-13"];

#[derive(Clone, Copy)]
pub struct Action {
    pub version: &'static str,
    pub name: &'static str,
    handle: Handle,
}

impl Action {
    /// Runs the action; `audit` is dropped by an action that cannot carry it.
    pub fn run(&self, service: Service, caller: Caller, params: Params, audit: Option<EffectAudit>) -> HandlerFuture {
        match self.handle {
            Handle::Plain(handler) => handler(service, caller, params),
            Handle::Recording(handler) => handler(service, caller, params, audit),
        }
    }

    /// Whether the action's effect can carry the call's audit records.
    pub fn records_its_effect(&self) -> bool {
        matches!(self.handle, Handle::Recording(_))
    }
}

#[derive(Default)]
pub struct Registry {
    actions: HashMap<(&'static str, &'static str), Action>,
}

impl Registry {
    pub fn add(&mut self, version: &'static str, name: &'static str, handler: Handler) {
        self.insert(Action {
            version,
            name,
            handle: Handle::Plain(handler),
        });
    }

    /// An action whose only effect is one issuance, which can carry the call's audit records.
    pub fn add_recording(&mut self, version: &'static str, name: &'static str, handler: RecordingHandler) {
        self.insert(Action {
            version,
            name,
            handle: Handle::Recording(handler),
        });
    }

    fn insert(&mut self, action: Action) {
        let (version, name) = (action.version, action.name);
        assert!(VERSIONS.contains(&version), "unknown version {version}");
        let previous = self.actions.insert((version, name), action);
        assert!(previous.is_none(), "{version} {name} registered twice");
    }

    /// The action `name` of `version`; `version` None means the first version that has it.
    pub fn find(&self, version: Option<&str>, name: &str) -> Result<Action, WireError> {
        match version {
            Some(v) if !VERSIONS.contains(&v) => Err(WireError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "InvalidVersion",
                format!(
                    "Specified parameter Version {v} is not valid; supported: {}.",
                    VERSIONS.join(", ")
                ),
            )),
            Some(v) => self
                .actions
                .get(&(v, name))
                .copied()
                .ok_or_else(|| WireError::action_not_found(name, v)),
            None => VERSIONS
                .iter()
                .find_map(|v| self.actions.get(&(*v, name)).copied())
                .ok_or_else(|| WireError::action_not_found(name, "any supported version")),
        }
    }

    /// Every registered action, in no particular order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.values()
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Turns a typed service response (a struct: a JSON object) into the body the renderer
/// takes, serialized straight to JSON text.
pub fn to_body<T: serde::Serialize>(response: T) -> Result<Body, WireError> {
    match serde_json::to_string(&response) {
        Ok(text) if text.starts_with('{') => Ok(Body(Fields::Json(text))),
        _ => Err(WireError::internal()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Page {
        total_count: i64,
        name: Option<String>,
        list: Vec<Item>,
    }

    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Item {
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }

    fn page() -> Page {
        let item = |id: &str, note: Option<&str>| Item {
            id: id.into(),
            note: note.map(Into::into),
        };
        Page {
            total_count: 2,
            name: None,
            list: vec![item("a\"<\u{1}é", Some("n")), item("b", None)],
        }
    }

    #[test]
    fn a_typed_body_has_the_fields_the_value_path_had() {
        let typed = to_body(page()).unwrap();
        let Value::Object(expected) = serde_json::to_value(page()).unwrap() else {
            unreachable!()
        };
        assert_eq!(typed.fields_named(|_| true), expected);
        assert_eq!(typed.clone().into_fields(), expected);
        let total = |k: &str| k == "TotalCount";
        let only_total: Map<String, Value> = [("TotalCount".to_owned(), Value::from(2))].into_iter().collect();
        assert_eq!(typed.fields_named(total), only_total);
        assert_eq!(Body::from(expected.clone()).fields_named(total), only_total);

        let mut with_id = expected.clone();
        with_id.insert("RequestId".into(), "R-\"1\"".into());
        let text = typed.json_with("RequestId", "R-\"1\"");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            Value::Object(with_id.clone())
        );
        let from_map = Body::from(expected).json_with("RequestId", "R-\"1\"");
        assert_eq!(
            serde_json::from_str::<Value>(&from_map).unwrap(),
            Value::Object(with_id)
        );
    }

    #[test]
    fn an_empty_body_gets_only_the_request_id() {
        #[derive(serde::Serialize)]
        struct Nothing {}
        for body in [to_body(Nothing {}).unwrap(), Body::new()] {
            assert!(body.fields_named(|_| true).is_empty());
            assert_eq!(body.json_with("RequestId", "R"), r#"{"RequestId":"R"}"#);
        }
    }

    #[test]
    fn a_response_that_is_not_an_object_is_refused() {
        assert!(to_body(vec![1, 2]).is_err());
        assert!(to_body("text").is_err());
        assert!(to_body(json!(null)).is_err());
    }
}
