//! The action registry: `(Version, Action)` → handler. Only implemented actions are
//! registered; anything else answers `InvalidAction.NotFound`.

use crate::error::WireError;
use crate::params::Params;
use opencas_service::{Caller, Service};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

pub type Body = Map<String, Value>;
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Body, WireError>> + Send>>;
pub type Handler = fn(Service, Caller, Params) -> HandlerFuture;

/// The API versions this endpoint speaks, newest SSL service first: the order in which
/// `/api/v1/<Action>` looks an action up when no version is given.
pub const VERSIONS: [&str; 3] = ["2020-04-07", "2020-06-30", "2018-07-13"];

#[derive(Clone, Copy)]
pub struct Action {
    pub version: &'static str,
    pub name: &'static str,
    pub handler: Handler,
}

#[derive(Default)]
pub struct Registry {
    actions: HashMap<(&'static str, &'static str), Action>,
}

impl Registry {
    pub fn add(&mut self, version: &'static str, name: &'static str, handler: Handler) {
        assert!(VERSIONS.contains(&version), "unknown version {version}");
        let previous = self.actions.insert((version, name), Action { version, name, handler });
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

/// Turns a typed service response into the body map the renderer takes.
pub fn to_body<T: serde::Serialize>(response: T) -> Result<Body, WireError> {
    match serde_json::to_value(response) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(WireError::internal()),
    }
}
