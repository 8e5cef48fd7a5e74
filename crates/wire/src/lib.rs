//! The CAS wire protocol: routing, request decoding, authentication (signature v1, v3,
//! bearer), rate limits, typed parameter binding, JSON/XML rendering and the error
//! envelope. Handlers are thin: bind, call the service, render.

mod actions;
pub mod audit;
pub mod auth;
pub mod decode;
mod download;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod limits;
pub mod metrics;
pub mod params;
mod pki_endpoints;
pub mod ratelimit;
pub mod registry;
pub mod render;
pub mod server;
pub mod sign;

pub use error::WireError;
pub use ratelimit::RateLimitConfig;
pub use server::{AppState, Limits, WireConfig, router};
